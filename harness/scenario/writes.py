"""The write path (``writes``): which pattern keeps the two systems' records in step, on which
stores, and how the run grades it (``harness.datasync``; docs/data-sync.md).

::

    writes:
      pattern: dual_write          # write_through | dual_write | event_sourced
      primary: ai                  # the system written first (dual_write, write_through)
      failure_policy: require_both # write_through: require_both | ack_primary (loses writes)
      reconcile_every: 2s          # dual_write: the reconciliation job's period
      store: postgres              # postgres (a server over TCP, started for you) | sqlite
      divergence_max: 0            # records allowed to differ after the final reconciliation
      external: {legacy_dsn: ..., ai_dsn: ..., nats_url: ...}   # your own database and broker

With ``store: postgres`` the fault proxies ``legacy_db``/``ai_db`` (when ``faults.proxies``
names them) sit between each system and its database; ``legacy_bus``/``ai_bus``/
``gateway_bus`` between each part and the broker (event_sourced): a database or broker outage is
a chaos event on one of them. SQLite has no network hop, so no fault can sit there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from harness.scenario.values import Address, Duration, PositiveInt, _Model, is_loopback

if TYPE_CHECKING:
    from harness.scenario.model import Scenario

__all__ = ["BUS_PROXIES", "STORE_PROXIES", "ExternalStores", "WritesSpec", "writes_problems"]

#: Fault proxies between each system and its database (store: postgres).
STORE_PROXIES = ("legacy_db", "ai_db")
#: Fault proxies between each part and the broker (pattern: event_sourced).
BUS_PROXIES = ("legacy_bus", "ai_bus", "gateway_bus")


class ExternalStores(_Model):
    """Your own database servers and broker instead of the ones the harness starts: the
    embedded demo systems keep their records there (tables ``records`` and ``applied`` are
    created when missing), through the fault proxies like the started ones."""

    legacy_dsn: Address | None = None
    """``postgresql://user:password@host:port/db`` of legacy's database."""
    ai_dsn: Address | None = None
    """The AI's database (may be the same server as legacy's, another database)."""
    nats_url: Address | None = None
    """``nats://host:port`` of a NATS server with JetStream enabled."""


class WritesSpec(_Model):
    """The write path of the embedded stack (the load's ``/v1/records`` request kinds)."""

    pattern: Literal["write_through", "dual_write", "event_sourced"]
    primary: Literal["legacy", "ai"] = "ai"
    failure_policy: Literal["require_both", "ack_primary"] = "require_both"
    """write_through: ``require_both`` acknowledges only what both stored; ``ack_primary``
    acknowledges what the primary stored and loses the secondary's failures."""
    reconcile_every: Duration = 2.0
    timeout: Duration = 2.0
    """Each write to a system, and each statement on a store."""
    store: Literal["postgres", "sqlite"] = "sqlite"
    """``sqlite``: the embedded default, no server; ``postgres``: a real server over TCP."""
    batch: PositiveInt = 200
    """Records per reconciliation request."""
    divergence_max: Annotated[int, Field(ge=0)] = 0
    """Records that may differ between the systems after the final reconciliation before the
    critical alert ``alert.critical.data_divergence`` fires."""
    settle_timeout: Duration = 20.0
    """After the load: how long the final reconciliation (or the consumers) may take."""
    replay: bool = True
    """event_sourced: replay the whole stream into a fresh AI store after the run, timed."""
    external: ExternalStores | None = None


def writes_problems(s: Scenario) -> list[tuple[str, str]]:
    """Cross-field problems of ``s.writes`` (the scenario model's check calls it)."""
    w = s.writes
    names = {p.name for p in s.faults.proxies}
    out: list[tuple[str, str]] = []
    if w is None:
        for i, ev in enumerate(s.chaos):
            if ev.target in (*STORE_PROXIES, *BUS_PROXIES):
                out.append((f"chaos[{i}].target", f"{ev.target!r} needs a 'writes' section"))
        return out
    if s.stack.mode != "embedded":
        out.append(("writes", "the write path is part of the embedded stack (stack.mode)"))
    for i, ev in enumerate(s.chaos):
        if (
            ev.target in STORE_PROXIES
            and w.store != "postgres"
            and not (w.external and (w.external.legacy_dsn or w.external.ai_dsn))
        ):
            out.append(
                (
                    f"chaos[{i}].target",
                    f"{ev.target!r} is a database link: it needs writes.store: postgres "
                    "(SQLite runs inside the service, no fault can sit between them)",
                )
            )
        if ev.target in BUS_PROXIES and w.pattern != "event_sourced":
            out.append(
                (f"chaos[{i}].target", f"{ev.target!r} is a broker link: it needs "
                 "writes.pattern: event_sourced")
            )  # fmt: skip
    ext = w.external
    for key in ("legacy_dsn", "ai_dsn", "nats_url"):
        url = getattr(ext, key) if ext is not None else None
        if url and not s.faults.allow_non_loopback and not is_loopback(url):
            out.append(
                (
                    f"writes.external.{key}",
                    "not a loopback address; load and chaos go only to this machine unless "
                    "faults.allow_non_loopback is true",
                )
            )
    if w.store == "sqlite" and names & set(STORE_PROXIES):
        out.append(
            ("faults.proxies", "legacy_db/ai_db need writes.store: postgres (SQLite has no link)")
        )
    return out
