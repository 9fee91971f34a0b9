"""The run's own facts for the report: requested against achieved load, scenario, versions,
machine, times, and any nested mapping flattened into labelled rows.

Sources: the resolved scenario, ``meta.json`` (as the runner writes it: ``load``,
``load_stats``, ``machine``, ``started``/``ended`` epoch seconds...) and the analysis' ``load``
block. Missing keys read ``n/a``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from harness.report.figures import Fact
from harness.report.numbers import (
    NA,
    as_float,
    as_mapping,
    dig,
    fmt_count,
    fmt_ms,
    fmt_num,
    fmt_rps,
    fmt_seconds,
)

__all__ = ["flat", "load_facts", "metadata_facts"]


def load_facts(
    scenario: Mapping[str, Any], meta: Mapping[str, Any], metrics: Mapping[str, Any]
) -> list[Fact]:
    """Requested against achieved load (the scenario and meta.json against the records)."""
    plan = as_mapping(dig(scenario, "load"))
    requested = as_mapping(meta.get("load"))
    stats = as_mapping(meta.get("load_stats"))
    achieved = as_mapping(metrics.get("load"))
    rps_plan = as_float(requested.get("requested_rps", plan.get("rate")))
    rps = achieved.get("rps", stats.get("achieved_rps"))
    rows = [
        Fact("load model", str(requested.get("model", NA))),
        Fact("shape", str(requested.get("shape", plan.get("shape", NA)))),
        Fact(
            "users, requested (peak)",
            fmt_count(
                requested.get("requested_users", achieved.get("requested_users", plan.get("users")))
            ),
        ),
        Fact("rate, requested", fmt_rps(rps_plan) if rps_plan else "not paced (closed model)"),
        Fact("rate, achieved", fmt_rps(rps)),
        Fact("peak rate over 1 s", fmt_rps(achieved.get("peak_rps_1s"))),
        Fact("requests recorded", fmt_count(achieved.get("requests", stats.get("records")))),
        Fact("distinct user ids", fmt_count(achieved.get("users"))),
        Fact("run length, achieved", fmt_seconds(achieved.get("duration_s"))),
        Fact("run length, planned", fmt_seconds(dig(scenario, "duration"))),
        Fact("load workers", fmt_count(requested.get("workers", plan.get("workers")))),
    ]
    om = as_mapping(metrics.get("open_model"))
    if om.get("self_limited"):
        rows.append(
            Fact(
                "load generator",
                f"dropped {fmt_count(om.get('dropped'))} arrivals (max_in_flight "
                f"{fmt_count(om.get('max_in_flight'))}): the offered load was below the plan",
            )
        )
    if meta.get("load_generator_saturated") or achieved.get("load_generator_saturated"):
        rows.append(Fact("load generator", "saturated: the achieved load may be below the plan"))
    if isinstance(achieved.get("workers"), Mapping):
        rows.append(
            Fact(
                "requests per load worker",
                ", ".join(f"{k} {fmt_count(v)}" for k, v in achieved["workers"].items()),
            )
        )
    if isinstance(stats.get("locust_failures"), int | float):
        rows.append(
            Fact(
                "Locust requests / failures",
                f"{fmt_count(stats.get('locust_requests'))} / "
                f"{fmt_count(stats.get('locust_failures'))}",
            )
        )
    return rows


def metadata_facts(
    scenario: Mapping[str, Any], meta: Mapping[str, Any], run_dir: str
) -> list[Fact]:
    """Scenario, versions, machine, times: what a reader needs to reproduce the run."""
    machine = as_mapping(meta.get("machine"))
    rows = [
        Fact("scenario", str(scenario.get("name") or NA)),
        Fact("description", str(scenario.get("description") or NA)),
        Fact("pattern", str(dig(scenario, "stack", "gateway", "pattern", default=NA))),
        Fact("stack", str(dig(scenario, "stack", "mode", default=NA))),
        Fact("seed", str(scenario.get("seed", NA))),
        Fact("started", _when(meta.get("started"))),
        Fact("ended", _when(meta.get("ended"))),
        Fact("status", str(meta.get("status", NA))),
        Fact("dualsys", str(meta.get("harness_version", NA))),
        Fact("Locust", str(meta.get("locust_version", NA))),
        Fact("records version", str(meta.get("records_version", NA))),
        Fact("machine", ", ".join(f"{k} {v}" for k, v in machine.items()) or NA),
        Fact("run directory", run_dir),
    ]
    if meta.get("harness_error"):
        rows.append(Fact("harness error", str(meta["harness_error"])))
    shown = {
        "harness_version",
        "locust_version",
        "records_version",
        "machine",
        "status",
        "started",
        "ended",
        "scenario",
        "load",
        "load_stats",
        "harness_error",
    }
    rows.extend(flat({k: v for k, v in meta.items() if k not in shown}))
    return rows


def _when(value: Any) -> str:
    v = as_float(value)
    if v is None:
        return str(value) if isinstance(value, str) and value else NA
    return datetime.fromtimestamp(v, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def flat(data: Any, prefix: str = "") -> list[Fact]:
    """A nested mapping as ``a.b.c: value`` rows; numbers get units by name (``_ms``, ``_s``)."""
    out: list[Fact] = []
    if not isinstance(data, Mapping):
        return out
    for key, value in data.items():
        label = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.extend(flat(value, f"{label}."))
        elif isinstance(value, list | tuple):
            if all(not isinstance(v, Mapping | list | tuple) for v in value):
                text = ", ".join(_scalar(str(key), v) for v in value)
                out.append(Fact(label, text or "none"))
            else:
                for i, item in enumerate(value):
                    out.extend(
                        flat(item, f"{label}[{i}].")
                        if isinstance(item, Mapping)
                        else [Fact(f"{label}[{i}]", str(item))]
                    )
        else:
            out.append(Fact(label, _scalar(str(key), value)))
    return out


def _scalar(key: str, value: Any) -> str:
    if value is None:
        return NA
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    v = as_float(value)
    if v is None:
        return NA if isinstance(value, float) else str(value)
    name = key.lower()
    stamp = name in ("started", "ended", "t0") or name.endswith(("_at", "_ts"))
    if stamp and 1e9 < v < 1e11:
        return _when(v)
    if name.endswith("_ms"):
        return fmt_ms(v)
    if name.endswith(("_s", "_seconds")):
        return f"{fmt_num(v)} s"
    return fmt_num(v, 4)
