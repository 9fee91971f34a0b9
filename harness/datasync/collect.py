"""After the load: let the systems settle, dump both stores, replay the stream. A child process
(``python -m harness.datasync.collect --config JSON``, from :class:`.stackpart.SyncParts`),
run while the stack is still up and the faults are removed.

Writes into ``<run>/datasync/``::

    settle.json              what the final reconciliation / the consumers' settling reported
    legacy.records.csv       every record of legacy's store (id, version, data, written_at)
    legacy.applied.csv       every apply legacy logged (id, version, written_at, via, outcome, seq)
    ai.records.csv, ai.applied.csv
    replay.json              event_sourced: the stream replayed into a fresh AI store: events,
                             records, seconds, and whether the result equals the AI's store

then prints the ready line and exits. Every figure of ``metrics.data_sync`` is recomputed
from these files (``dualsys report`` needs no server).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.datasync import bus
from harness.datasync.store import APPLIED_FIELDS, RECORD_FIELDS, StoreUnavailable, open_store
from harness.process import announce_ready

__all__ = ["collect", "main", "replay"]


def _write_csv(path: Path, fields: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(fields)
        w.writerows(["" if v is None else v for v in row] for row in rows)


async def _settle(config: dict[str, Any]) -> dict[str, Any]:
    import httpx

    timeout = float(config.get("settle_timeout", 20.0))
    async with httpx.AsyncClient(timeout=timeout + 5.0) as client:
        try:
            r = await client.post(
                f"{config['gateway']}/admin/sync/settle", json={"timeout": timeout}
            )
            out: dict[str, Any] = r.json()
            return out
        except (httpx.HTTPError, ValueError) as err:
            return {"settled": False, "error": f"{type(err).__name__}: {err}"}


async def replay(bus_url: str, target: dict[str, Any]) -> dict[str, Any]:
    """Apply every message of the stream, from the first, to a fresh store ``target``;
    the time it took, and the events and records it saw."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    store = open_store(target)
    await store.open()
    nc = await bus.connect(bus_url, "dualsys-replay")
    try:
        js = nc.jetstream()
        info = await js.stream_info(bus.STREAM)
        last = int(info.state.last_seq or 0)
        events = 0
        t0 = time.perf_counter()
        if last:
            sub = await js.pull_subscribe(
                bus.SUBJECT,
                stream=bus.STREAM,
                config=ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL),
            )
            seq = 0
            while seq < last:
                msgs = await sub.fetch(500, timeout=5.0)
                for msg in msgs:
                    seq = int(msg.metadata.sequence.stream)
                    await store.apply(bus.decode(msg.data), "replay", seq)
                    events += 1
        seconds = time.perf_counter() - t0
        versions = await store.versions()
    finally:
        await nc.close()
        await store.close()
    return {
        "events": events,
        "stream_last_seq": last,
        "records": len(versions),
        "seconds": round(seconds, 6),
        "events_per_s": round(events / seconds, 3) if seconds > 0 else None,
        "versions": versions,
    }


async def collect(config: dict[str, Any]) -> dict[str, Any]:
    """Settle, dump, replay (see the module); returns what ``settle.json`` says."""
    out_dir = Path(config["dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    settled = await _settle(config)
    dumps: dict[str, dict[str, int]] = {}
    for role, store_config in config["stores"].items():
        store = open_store(store_config, direct=True)
        try:
            await store.open()
            records, applied = await store.dump()
            _write_csv(out_dir / f"{role}.records.csv", RECORD_FIELDS, records)
            _write_csv(out_dir / f"{role}.applied.csv", APPLIED_FIELDS, applied)
            dumps[role] = {r[0]: int(r[1]) for r in records}
        except StoreUnavailable as err:
            notes.append(f"{role}: the store could not be dumped: {err}")
        finally:
            await store.close()
    result: dict[str, Any] = {"settle": settled, "notes": notes, "dumped": sorted(dumps)}
    if config.get("replay") and config.get("bus"):
        try:
            rep = await replay(str(config["bus"]), config["replay"])
            versions = rep.pop("versions")
            ai = dumps.get("ai")
            rep["matches_ai"] = None if ai is None else versions == ai
            rep["differ_from_ai"] = (
                None
                if ai is None
                else sum(1 for k in set(ai) | set(versions) if ai.get(k) != versions.get(k))
            )
            (out_dir / "replay.json").write_text(json.dumps(rep, indent=1), encoding="utf-8")
        except Exception as err:  # a report without a replay beats no report
            notes.append(f"replay failed: {type(err).__name__}: {err}")
    (out_dir / "settle.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of the collection child."""
    parser = argparse.ArgumentParser(prog="python -m harness.datasync.collect")
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    result = asyncio.run(collect(json.loads(args.config)))
    for note in result["notes"]:
        print(f"dualsys: {note}", file=sys.stderr)
    announce_ready(dumped=result["dumped"], notes=result["notes"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
