"""Feature routing: did each request go where the scenario's rules say, and what did each
route's traffic see (DESIGN.md: "routing correctness per rule, per-route metrics").

::

    scenario: stack.gateway.rules, default_route, load.requests (name -> fields)
      └─ harness.stack.rules.choose, the gateway's own matcher, on the fields each request spec
         makes the load user send ──> expected system and route per endpoint (or unknown: why)
    client records (requests.csv: endpoint, served_by, route, ok, latency_ms)
      ├─ per endpoint: correct = served_by == expected (the gateway's X-Served-By names the
      │  failing system on errors too, so an error still says where the request went)
      ├─ per rule, and overall: correctness with its Wilson interval
      └─ per route (the route column: the rule's name, "default", "kill_switch"...): requests,
         share, served by, error rate (Wilson), p50/p95/p99

Client records are the source because they exist with any gateway (an external one writes no
``decisions.csv``). With decision records alone there is no endpoint: the per-route figures
come from them and correctness stays unknown.

Not judged (counted in ``not_judged``): requests the kill switch routed (the rollback, not the
rules), requests routed by another pattern (a ``gateway_changes`` switch), requests of an
endpoint whose expectation is unknown, and requests no response attributed to a system (no
``X-Served-By``: the gateway itself failed; availability SLAs judge those).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from harness.analysis.data import RunData, is_in
from harness.analysis.model import (
    EndpointRouting,
    Interval,
    RouteFigures,
    RoutingFigures,
    RuleCorrectness,
    ServedBy,
)
from harness.analysis.stats import quantiles, wilson
from harness.analysis.systems import QS, _num
from harness.scenario import RequestSpec, Scenario
from harness.stack.rules import DEFAULT_ROUTE, choose

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Expectation", "expectations", "feature_figures"]

IntArray = npt.NDArray[np.int64]

#: Top-level fields the built-in load user sets per request (``harness.load.users``): the body
#: is ``{"user_id", "input", **fields}`` then ``label`` (when labels are sent).
PER_REQUEST_FIELDS = ("user_id", "input")
#: Routes that are not the feature rules' doing.
KILL_SWITCH = "kill_switch"
OTHER_ROUTES = ("shadow", "split", "fallback", "invalid")
SYSTEMS = ("legacy", "ai")  # served_by codes 0, 1; anything else is 2 ("none")


@dataclass(frozen=True)
class Expectation:
    """Where the rules send one endpoint's requests; ``system`` None when that cannot be known
    from the scenario alone (``why`` says why)."""

    system: str | None
    route: str | None
    why: str = ""


def _gateway_fields(spec: RequestSpec, labels: bool) -> tuple[dict[str, Any], set[str]]:
    """The fields the gateway sees from a request of ``spec``, and the top-level ones that vary
    per request (their values are not in the scenario)."""
    unknown = {f for f in PER_REQUEST_FIELDS if f not in spec.fields}
    if labels:  # set after the spec's fields: the truth label of each input
        unknown.add("label")
    fields = {k: v for k, v in spec.fields.items() if k not in unknown}
    if spec.method == "GET":  # a query string: every value arrives as text
        return {k: str(v) for k, v in fields.items()}, unknown
    return json.loads(json.dumps(fields)), unknown  # what the JSON body carries


def _expect(scenario: Scenario, spec: RequestSpec) -> Expectation:
    g = scenario.stack.gateway
    try:
        fields, unknown = _gateway_fields(spec, scenario.load.labels)
    except (TypeError, ValueError):
        return Expectation(None, None, "its fields are not JSON")
    choice = choose(g.rules, g.default_route, fields, unknown=unknown)
    if choice is None:
        field = next(r.field for r in g.rules if r.field.split(".", 1)[0] in unknown)
        return Expectation(
            None, None, f"a rule reads {field!r}, which differs from request to request"
        )
    return Expectation(choice.system, choice.route)


def expectations(scenario: Scenario) -> dict[str, Expectation]:
    """Expected system and route per endpoint (request spec name) of the scenario's load. Empty
    when a user's own locustfile sends the requests (their fields are not in the scenario)."""
    if scenario.load.locustfile:
        return {}
    out: dict[str, Expectation] = {}
    for spec in scenario.load.requests:
        e = _expect(scenario, spec)
        prev = out.get(spec.name)
        if prev is not None and prev != e:
            e = Expectation(None, None, "request specs of this name route differently")
        out[spec.name] = e
    return out


def _codes(column: pd.Series) -> tuple[IntArray, list[str]]:
    """Integer codes of a string column and the names they stand for (missing: "")."""
    import pandas as pd

    if isinstance(column.dtype, pd.CategoricalDtype):
        names = [str(c) for c in column.cat.categories]
        codes = column.cat.codes.to_numpy().astype(np.int64)
    else:
        raw, uniques = pd.factorize(column.astype("string").fillna(""), use_na_sentinel=True)
        codes, names = raw.astype(np.int64), [str(u) for u in uniques]
    if (codes < 0).any():  # missing values
        if "" not in names:
            names.append("")
        codes = np.where(codes < 0, names.index(""), codes)
    return codes, names


def _lut(names: list[str], table: dict[str, int], missing: int) -> IntArray:
    return np.array([table.get(n, missing) for n in names], dtype=np.int64)


def _groups(codes: IntArray, k: int) -> list[IntArray]:
    """Row indexes per code (one stable sort, not one pass per group)."""
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=k)
    return list(np.split(order, np.cumsum(counts)[:-1]))


def _served(row: IntArray) -> ServedBy:
    return {"legacy": int(row[0]), "ai": int(row[1]), "none": int(row[2])}


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


def _rate(k: int, n: int, lo: float, hi: float) -> tuple[float | None, Interval]:
    """``k / n`` and its interval, JSON-ready (None when ``n`` is 0; no ``-0.0``)."""
    return (_num(k / n) if n else None), [_num(float(lo) + 0.0), _num(float(hi) + 0.0)]


def _route_figures(
    order: list[str],
    rule_names: list[str],
    expected_system: dict[str, str],
    route_codes: IntArray,
    route_names: list[str],
    served: IntArray,
    error: npt.NDArray[np.bool_],
    latency: npt.NDArray[np.float64],
    confidence: float,
) -> list[RouteFigures]:
    """One entry per route: the rules' (in order) and the default, even when unused, then any
    other route seen (kill switch, another pattern's...), busiest first."""
    n, k = len(route_codes), len(route_names)
    req = np.bincount(route_codes, minlength=k)
    err = np.bincount(route_codes, weights=error, minlength=k).astype(np.int64)
    by = np.bincount(route_codes * 3 + served, minlength=k * 3).reshape(k, 3)
    lo, hi = wilson(err, req, confidence)
    rows = _groups(route_codes, k)
    at = {name: i for i, name in enumerate(route_names)}
    seen = sorted(
        (r for r in route_names if req[at[r]] and r not in order), key=lambda r: -req[at[r]]
    )
    out = []
    for name in [*order, *seen]:
        kind = "rule" if name in rule_names else "default" if name == DEFAULT_ROUTE else "other"
        i = at.get(name)
        nr = int(req[i]) if i is not None else 0
        entry: RouteFigures
        if i is None or not nr:
            entry = {
                "route": name,
                "kind": kind,
                "expected_system": expected_system.get(name),
                "requests": 0,
                "share": 0.0 if n else None,
                "served_by": _served(np.zeros(3, np.int64)),
                "errors": 0,
                "error_rate": None,
                "error_rate_ci": [None, None],
                "p50_ms": None,
                "p95_ms": None,
                "p99_ms": None,
            }
        else:
            q = quantiles(latency[rows[i]], QS, confidence)
            rate, ci = _rate(int(err[i]), nr, lo[i], hi[i])
            entry = {
                "route": name,
                "kind": kind,
                "expected_system": expected_system.get(name),
                "requests": nr,
                "share": _num(nr / n),
                "served_by": _served(by[i]),
                "errors": int(err[i]),
                "error_rate": rate,
                "error_rate_ci": ci,
                "p50_ms": _num(q[0.5].value),
                "p95_ms": _num(q[0.95].value),
                "p99_ms": _num(q[0.99].value),
            }
        out.append(entry)
    return out


def _endpoint_figures(
    expect: dict[str, Expectation],
    ep_codes: IntArray,
    ep_names: list[str],
    judged: npt.NDArray[np.bool_],
    correct: npt.NDArray[np.bool_],
    shown: npt.NDArray[np.bool_],
    served: IntArray,
    route_codes: IntArray,
    route_names: list[str],
    confidence: float,
    why_unnamed: str,
) -> list[EndpointRouting]:
    """One entry per endpoint: the scenario's request specs, then any other name recorded
    (unknown expectation: ``why_unnamed``). ``shown`` rows (those the rules routed) say where
    its requests went."""
    k, kr = len(ep_names), max(len(route_names), 1)
    req = np.bincount(ep_codes, minlength=k)
    nj = np.bincount(ep_codes, weights=judged, minlength=k).astype(np.int64)
    kc = np.bincount(ep_codes, weights=correct, minlength=k).astype(np.int64)
    codes = ep_codes[shown]
    by = np.bincount(codes * 3 + served[shown], minlength=k * 3).reshape(k, 3)
    via = np.bincount(codes * kr + route_codes[shown], minlength=k * kr).reshape(k, kr)
    lo, hi = wilson(kc, nj, confidence)
    at = {name: i for i, name in enumerate(ep_names)}
    out = []
    for name in dict.fromkeys([*expect, *(e for e in ep_names if e)]):
        x = expect.get(name) or Expectation(None, None, why_unnamed)
        i = at.get(name)
        entry: EndpointRouting
        if i is None:
            entry = {
                "endpoint": name,
                "expected_system": x.system,
                "expected_route": x.route,
                "known": x.system is not None,
                "why_unknown": x.why or None,
                "requests": 0,
                "judged": 0,
                "correct": 0,
                "misrouted": 0,
                "correctness": None,
                "correctness_ci": [None, None],
                "served_by": _served(np.zeros(3, np.int64)),
                "routes": {},
            }
        else:
            j, c = int(nj[i]), int(kc[i])
            rate, ci = _rate(c, j, lo[i], hi[i])
            entry = {
                "endpoint": name,
                "expected_system": x.system,
                "expected_route": x.route,
                "known": x.system is not None,
                "why_unknown": x.why or None,
                "requests": int(req[i]),
                "judged": j,
                "correct": c,
                "misrouted": j - c,
                "correctness": rate,
                "correctness_ci": ci,
                "served_by": _served(by[i]),
                "routes": {route_names[r]: int(v) for r, v in enumerate(via[i]) if v},
            }
        out.append(entry)
    return out


def feature_figures(data: RunData, confidence: float) -> RoutingFigures:
    """``metrics["routing"]``: routing correctness per endpoint, per rule and overall, and
    figures per route (keys in :mod:`harness.analysis`); ``{"applies": False}`` unless the
    gateway's pattern is feature."""
    sc = data.scenario
    g = sc.stack.gateway
    if g.pattern != "feature":
        return {"applies": False}
    from_requests = data.has_requests
    df = data.requests if from_requests else data.decisions
    n = len(df)
    expect = expectations(sc) if from_requests else {}
    rule_names = [r.name for r in g.rules]
    order = list(dict.fromkeys([*rule_names, DEFAULT_ROUTE]))
    expected_system: dict[str, str] = {r.name: r.route for r in reversed(g.rules)}  # first wins
    expected_system[DEFAULT_ROUTE] = g.default_route

    # every row as codes: route, who served it (legacy 0, ai 1, none 2), expected system
    route_codes, route_names = _codes(df["route"])
    served_raw, served_names = _codes(df["served_by"])
    served = _lut(served_names, {s: i for i, s in enumerate(SYSTEMS)}, 2)[served_raw]
    if from_requests:
        error = df["ok"].to_numpy() != 1
        ep_codes, ep_names = _codes(df["endpoint"])
    else:
        status = df["status"].to_numpy()
        error = (status < 200) | (status >= 300)
        ep_codes, ep_names = np.zeros(n, np.int64), [""]
    table = {e: SYSTEMS.index(x.system) for e, x in expect.items() if x.system in SYSTEMS}
    expected = _lut(ep_names, table, -1)[ep_codes]
    latency = df["latency_ms"].to_numpy(dtype=np.float64, na_value=np.nan)

    # which rows the rules routed, and which of those can be judged
    killed = is_in(df["route"], (KILL_SWITCH,)) | is_in(df["fallback_reason"], (KILL_SWITCH,))
    if "kill_switch" in df:
        killed |= df["kill_switch"].to_numpy() == 1
    others = tuple(r for r in OTHER_ROUTES if r not in order)
    other = is_in(df["route"], others) & ~killed
    routed = ~killed & ~other
    unknown = routed & (expected < 0)
    unattributed = routed & ~unknown & (served == 2)
    judged = routed & ~unknown & ~unattributed
    correct = judged & (served == expected)

    routes = _route_figures(
        order,
        rule_names,
        expected_system,
        route_codes,
        route_names,
        served,
        error,
        latency,
        confidence,
    )
    endpoints = (
        _endpoint_figures(
            expect,
            ep_codes,
            ep_names,
            judged,
            correct,
            routed,
            served,
            route_codes,
            route_names,
            confidence,
            "load.locustfile sends the requests: their fields are not in the scenario"
            if sc.load.locustfile
            else "no request spec of the scenario's load has this name",
        )
        if from_requests
        else []
    )
    per_rule: list[RuleCorrectness] = []
    for name in order:
        eps = [e for e in endpoints if e["expected_route"] == name]
        j, c = sum(e["judged"] for e in eps), sum(e["correct"] for e in eps)
        rate, ci = _rate(c, j, *wilson(c, j, confidence))
        per_rule.append(
            {
                "route": name,
                "system": expected_system[name],
                "endpoints": [e["endpoint"] for e in eps],
                "judged": j,
                "correct": c,
                "misrouted": j - c,
                "correctness": rate,
                "correctness_ci": ci,
            }
        )
    j, c = int(judged.sum()), int(correct.sum())
    rate, ci = _rate(c, j, *wilson(c, j, confidence))
    bad = [e for e in endpoints if e["misrouted"]]
    worst = min(bad, key=lambda e: (e["correctness"], -e["misrouted"])) if bad else None
    return {
        "applies": True,
        "pattern": g.pattern,
        "source": ("requests" if from_requests else "decisions") if n else None,
        "default_route": g.default_route,
        "rules": [
            {
                "name": r.name,
                "field": r.field,
                "op": r.op,
                "value": _jsonable(r.value),
                "route": r.route,
            }
            for r in g.rules
        ],
        "requests": n,
        "expectations_known": any(e["known"] for e in endpoints),
        "judged": j,
        "correct": c,
        "misrouted": j - c,
        "correctness": rate,
        "correctness_ci": ci,
        "worst_endpoint": worst["endpoint"] if worst else None,
        "not_judged": {
            "kill_switch": int(killed.sum()),
            "other_pattern": int(other.sum()),
            "unknown_expectation": int(unknown.sum()),
            "no_served_by": int(unattributed.sum()),
        },
        "routes": routes,
        "endpoints": endpoints,
        "per_rule": per_rule,
    }
