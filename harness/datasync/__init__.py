"""Data synchronisation under faults: stores, an event stream, the three write patterns.

::

    Locust user ──PUT /v1/records/ID──> gateway ── writes.WritePath (one of three patterns)
        (loadside: unique ids,            ├─ write_through: both systems now, a failure policy
         acked writes -> writes.csv)      ├─ dual_write: primary now, secondary async +
                                          │               reconciliation every period
                                          └─ event_sourced: publish to JetStream; each
                                                          system consumes and applies
    legacy/AI service ── service.StoreApp ──> fault proxy "<role>_db"  ──> PostgreSQL
                                        └──> fault proxy "<role>_bus" ──> NATS JetStream
    after the load: collect (final reconciliation, store dumps, replay) ──> <run>/datasync/
                    analysis.datasync ──> metrics.data_sync ──> grading, reports

Modules: :mod:`.daemons` (PostgreSQL and NATS as children), :mod:`.store` (the record store
on PostgreSQL or SQLite), :mod:`.bus` (JetStream), :mod:`.service` (the demo services' write
API), :mod:`.writes` (the gateway's patterns), :mod:`.loadside` (the Locust side),
:mod:`.collect` (what is read after the run).
"""

from __future__ import annotations

__all__: list[str] = []
