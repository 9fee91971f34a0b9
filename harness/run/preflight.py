"""Checks before any load: is everything the run will need there, and wired as the scenario says?

::

    run_preflight(scenario, info) -> PreflightReport       (raises PreflightFailed: exit 3)
      ├─ fault proxy     the Toxiproxy API answers; every proxy of faults.proxies exists
      ├─ gateway         gateway_url answers (any HTTP status); DNS, refused or silent -> fail
      ├─ admin API       the calls the scenario will make: read the settings, write the very
      │                  values just read (a no-op), the kill switch set to its current state
      └─ route <proxy>   per chaos target: a few requests through the gateway, the proxy
                         disabled (about a second), the same requests again: the answers must
                         change (an error, a fallback, another served_by); skip: route_check

A user's own gateway is never changed by a check: only reads, and writes of the very values
just read. The route check does send a few requests through the gateway (marked with the
header ``X-Dualsys-Preflight: 1``), before the load's clock starts.

Each check is timed and kept (:class:`PreflightReport`, written to ``meta.json`` ``preflight``);
a check that cannot run because an earlier one failed is skipped, not failed twice.
"""

from __future__ import annotations

import functools
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from harness.errors import HarnessError
from harness.faults.client import FaultProxyError, ToxiproxyClient
from harness.load.admin import (
    KILL_SWITCH,
    SETTINGS_READ,
    SETTINGS_WRITE,
    AdminCallFailed,
    GatewayAdmin,
)
from harness.load.fieldmap import FieldReader
from harness.load.mix import RequestMix, UserConfig, make_source
from harness.rundir import PreflightMeta
from harness.scenario import GatewaySettings, HeaderMap, Scenario

__all__ = [
    "PREFLIGHT_HEADER",
    "Check",
    "PreflightFailed",
    "PreflightReport",
    "StackAddresses",
    "no_admin_note",
    "run_preflight",
]

#: Marks the route check's requests, so that a gateway (or its logs) can tell them apart.
PREFLIGHT_HEADER = "X-Dualsys-Preflight"

#: Name resolution, connecting and the first answer of the gateway check: together under 5 s.
RESOLVE_TIMEOUT = 1.5
CONNECT_TIMEOUT = 1.5
ANSWER_TIMEOUT = 1.5

#: Route check: requests sent with the proxy up (distinct users, so a split gateway sends some
#: to each system), then at most this many again with it down.
ROUTE_SAMPLE = 12
ROUTE_REPLAY = 6
ROUTE_TIMEOUT = 3.0


class StackAddresses(Protocol):
    """Where the started stack listens (:class:`harness.stack.launcher.StackInfo` is one)."""

    @property
    def gateway_url(self) -> str: ...
    @property
    def admin_url(self) -> str | None: ...
    @property
    def toxiproxy_url(self) -> str: ...


@dataclass
class Check:
    """One preflight check: ``ok`` False is a failure; ``skipped`` checks are ok and say why."""

    name: str
    ok: bool
    detail: str
    seconds: float = 0.0
    skipped: bool = False

    def line(self) -> str:
        """One line for the console: ``ok      gateway       http://...: HTTP 404 (0.01 s)``."""
        mark = "skip" if self.skipped else ("ok" if self.ok else "FAIL")
        return f"  {mark:<5} {self.name:<18} {self.detail} ({self.seconds:.2f} s)"


@dataclass
class PreflightReport:
    """Every check in order, and notes on what the run will not exercise."""

    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    route_check: bool = True

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        """The failed checks, in order."""
        return [c for c in self.checks if not c.ok]

    def lines(self) -> list[str]:
        """The checks and notes, for the console."""
        out = ["preflight:"] + [c.line() for c in self.checks]
        out += [f"  note  {n}" for n in self.notes]
        return out

    def as_meta(self, *, preflight_only: bool = False) -> PreflightMeta:
        """``meta.json`` ``preflight``."""
        return {
            "ok": self.ok,
            "checks": [asdict(c) for c in self.checks],
            "notes": list(self.notes),
            "route_check": self.route_check,
            "preflight_only": preflight_only,
        }


class PreflightFailed(HarnessError):
    """A preflight check failed (exit 3): the message names each failed check's URL or
    feature; ``report`` holds every check."""

    def __init__(self, report: PreflightReport) -> None:
        self.report = report
        reasons = "; ".join(f"{c.name}: {c.detail}" for c in report.failures)
        super().__init__(f"preflight failed, nothing was sent to the gateway's users: {reasons}")


def no_admin_note() -> str:
    """The note of a run without an admin API (meta.json ``preflight.notes``, the report)."""
    return (
        "no gateway admin API (stack.external.admin_url): the kill switch and gateway "
        "changes were not exercised; rollback triggers are judged from the records only"
    )


def run_preflight(
    scenario: Scenario,
    info: StackAddresses,
    *,
    route_check: bool = True,
    embedded_route_check: bool = False,
) -> PreflightReport:
    """Run every check against the started stack ``info``; raise :class:`PreflightFailed`
    (carrying the whole report) when one fails, else return the report.

    The route check runs on a user's own gateway. On the embedded stack the launcher starts
    the gateway on the proxies' addresses, so there is nothing to find, and the check's
    requests would land in the run's ``decisions.csv`` before the load (analysis would count
    them): it runs there only with ``embedded_route_check`` (the tests prove it on the
    embedded stack that way)."""
    report = PreflightReport(route_check=route_check)
    checks = report.checks
    toxi = ToxiproxyClient(info.toxiproxy_url, timeout=CONNECT_TIMEOUT + ANSWER_TIMEOUT)
    try:
        checks.append(_timed("fault proxy", lambda: _fault_proxy(scenario, toxi)))
        checks.append(_timed("gateway", lambda: _gateway(scenario, info.gateway_url)))
        if info.admin_url is None:
            report.notes.append(no_admin_note())
            checks.append(Check("admin API", True, "none given", skipped=True))
        else:
            admin_url = info.admin_url
            checks.append(_timed("admin API", lambda: _admin(scenario, admin_url)))
        targets = list(dict.fromkeys(ev.target for ev in scenario.chaos))
        for target in targets:
            name = f"route {target}"
            if not route_check:
                checks.append(Check(name, True, "skipped (--no-route-check)", skipped=True))
            elif scenario.stack.mode == "embedded" and not embedded_route_check:
                checks.append(Check(name, True, _EMBEDDED_ROUTE, skipped=True))
            elif not report.ok:
                checks.append(Check(name, True, "not run: an earlier check failed", skipped=True))
            else:
                route = functools.partial(_route, scenario, info.gateway_url, toxi, target)
                checks.append(_timed(name, route))
    finally:
        toxi.close()
    if not report.ok:
        raise PreflightFailed(report)
    return report


# --------------------------------------------------------------------------------------------
# The checks. Each returns (ok, detail, skipped).

_EMBEDDED_ROUTE = (
    "embedded stack: the gateway is started on the proxies' addresses (no request sent, "
    "none would reach decisions.csv)"
)

#: (ok, detail, skipped)
_Result = tuple[bool, str, bool]


def _timed(name: str, fn: Callable[[], _Result]) -> Check:
    t = time.monotonic()
    ok, detail, skipped = fn()
    return Check(name, ok, detail, time.monotonic() - t, skipped)


def _fault_proxy(scenario: Scenario, client: ToxiproxyClient) -> _Result:
    try:
        version = client.version()
        existing = client.proxies()
    except FaultProxyError as err:
        return False, err.message, False
    # As the launcher: the default proxies of a scenario that names none are needed only
    # when a chaos event targets them.
    explicit = "proxies" in scenario.faults.model_fields_set
    targets = {e.target for e in scenario.chaos}
    missing = [
        p.name
        for p in scenario.faults.proxies
        if p.name not in existing and (explicit or p.name in targets)
    ]
    if missing:
        return (
            False,
            f"proxies {missing} do not exist on the fault proxy at {client.url} (give them "
            "an 'upstream' in faults.proxies to have them created)",
            False,
        )
    present = [p.name for p in scenario.faults.proxies if p.name in existing]
    disabled = [name for name in present if not existing[name].get("enabled")]
    if disabled:
        return False, f"proxies {disabled} are disabled on the fault proxy at {client.url}", False
    names = ", ".join(present) or "none needed"
    return True, f"{client.url} (version {version}); proxies: {names}", False


def _field(scenario: Scenario) -> str:
    return "stack.external.gateway_url" if scenario.stack.mode == "external" else "gateway"


def _gateway(scenario: Scenario, url: str) -> _Result:
    """The gateway answers at all: any HTTP status will do (its root may well be a 404)."""
    where = f"{_field(scenario)} {url}"
    parts = urlsplit(url)
    host = parts.hostname or ""
    problem = _resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
    if problem:
        return False, f"{where}: cannot resolve host {host!r}: {problem}", False
    timeout = httpx.Timeout(ANSWER_TIMEOUT, connect=CONNECT_TIMEOUT)
    try:
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            resp = client.get(url, headers={PREFLIGHT_HEADER: "1"})
    except httpx.ConnectTimeout:
        return False, f"{where}: no connection within {CONNECT_TIMEOUT:g} s", False
    except httpx.TimeoutException:
        return False, f"{where}: connected, but no answer within {ANSWER_TIMEOUT:g} s", False
    except httpx.HTTPError as err:
        return False, f"{where}: {_why(err)}", False
    return True, f"{url} answers (HTTP {resp.status_code})", False


def _resolve(host: str, port: int) -> str | None:
    """None when ``host`` resolves within :data:`RESOLVE_TIMEOUT`, else why not.

    getaddrinfo has no timeout of its own and httpx cannot bound it: a thread can."""
    box: list[str | None] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            box.append(None)
        except OSError as err:
            box.append(str(err))

    t = threading.Thread(target=lookup, name="preflight-resolve", daemon=True)
    t.start()
    t.join(RESOLVE_TIMEOUT)
    if not box:
        return f"no answer from name resolution within {RESOLVE_TIMEOUT:g} s"
    return box[0]


def _why(err: BaseException) -> str:
    cause = err.__cause__ or err.__context__
    text = str(err) or type(err).__name__
    if isinstance(cause, ConnectionRefusedError) or "refused" in text.lower():
        return "connection refused (nothing listens there)"
    return text


def _admin(scenario: Scenario, url: str) -> _Result:
    """The calls the run will make, each proven with a no-op: read the settings, write back the
    values just read (the run writes them at its end to restore the gateway), and set the kill
    switch to the state it is in."""
    changes = scenario.load.gateway_changes
    kill = scenario.grading.rollback.auto_kill_switch
    if not changes and not kill:
        return True, f"{url}: this scenario makes no admin call", True
    needs = ["load.gateway_changes"] if changes else []
    needs += ["grading.rollback.auto_kill_switch"] if kill else []
    who = " and ".join(needs)
    admin = GatewayAdmin(url, timeout=CONNECT_TIMEOUT + ANSWER_TIMEOUT)
    try:
        current = admin.settings()
        # The settings the run will touch must be readable, or it could not put them back.
        touched = {k for ch in changes for k in ch.set.model_dump(exclude_none=True)}
        touched |= {"kill_switch"} if kill else set()
        unread = sorted(k for k in touched if current.get(k) is None)
        if unread:
            return (
                False,
                f"{who} need {SETTINGS_READ} at {url} to show {unread}, "
                "to put them back after the run; it showed "
                f"{sorted(current) or 'nothing'}",
                False,
            )
        fields = GatewaySettings.model_fields
        same = {k: v for k, v in current.items() if k in fields and v is not None}
        try:
            admin.apply(GatewaySettings.model_validate(same))
        except ValueError as err:  # pydantic: the gateway's own values are not ours
            return (
                False,
                f"{SETTINGS_READ} at {url} returned settings dualsys cannot write: {err}",
                False,
            )
        if kill:
            admin.kill_switch(bool(current["kill_switch"]))
    except AdminCallFailed as err:
        return False, f"{who} need {err.call} at {url}, which failed: {err.reason}", False
    finally:
        admin.close()
    calls = [SETTINGS_READ, SETTINGS_WRITE] + ([KILL_SWITCH] if kill else [])
    return True, f"{url} answers {', '.join(calls)} (checked with no-op writes)", False


# --------------------------------------------------------------------------------------------
# The route check


@dataclass
class _Probe:
    method: str
    path: str
    kwargs: dict[str, Any]


def _probes(scenario: Scenario, n: int) -> list[_Probe]:
    """``n`` requests as the load builds them (its own mix; a stream of its own)."""
    config = UserConfig.from_scenario(scenario)
    mix = RequestMix(config, -1, 0, make_source(config))  # a dataset: its first rows
    out = []
    for _ in range(n):
        nxt = mix.next_request()
        if nxt is None:  # a dataset shorter than n rows
            break
        method, path, kwargs = nxt
        sent = {k: v for k, v in kwargs.items() if k not in ("name", "context")}
        out.append(_Probe(method, path, sent))
    return out


def _answer(client: httpx.Client, reader: FieldReader, p: _Probe) -> tuple[str, ...]:
    """What a user would see of one answer: status class, served_by, fallback and reason, read
    and mapped by the same :class:`FieldReader` the run's recorder uses."""
    try:
        resp = client.request(p.method, p.path, **p.kwargs)
    except httpx.HTTPError as err:
        return ("no answer", type(err).__name__, "", "")
    body: Any = None
    if reader.needs_body:
        try:
            body = resp.json()
        except ValueError:
            body = None
    served, fallback, reason, *_ = reader.read(resp.headers, body)
    status = "ok" if resp.status_code < 400 else f"HTTP {resp.status_code}"
    return (status, served, "1" if fallback else "", reason)


def _route(scenario: Scenario, gateway_url: str, toxi: ToxiproxyClient, target: str) -> _Result:
    """Disable ``target`` briefly; the same requests must then be answered differently."""
    probes = _probes(scenario, ROUTE_SAMPLE)
    ext = scenario.stack.external
    reader = FieldReader(ext.headers if ext else HeaderMap())
    timeout = min(ROUTE_TIMEOUT, scenario.load.request_timeout)
    headers = {PREFLIGHT_HEADER: "1"}
    with httpx.Client(
        base_url=gateway_url, timeout=timeout, trust_env=False, headers=headers
    ) as client:
        before = [_answer(client, reader, p) for p in probes]
        # One probe per distinct answer first (each system the gateway chose), then the rest.
        first = {a: i for i, a in reversed(list(enumerate(before)))}
        order = sorted(first.values()) + [i for i in range(len(probes)) if i not in first.values()]
        chosen = order[:ROUTE_REPLAY]
        try:
            toxi.set_enabled(target, False)
        except FaultProxyError as err:
            return False, f"cannot disable proxy {target!r}: {err.message}", False
        try:
            after = {i: _answer(client, reader, probes[i]) for i in chosen}
        finally:
            try:
                toxi.set_enabled(target, True)
            except FaultProxyError as err:
                # The run must not start on a proxy left down by its own check.
                raise HarnessError(
                    f"preflight: could not re-enable proxy {target!r}: {err.message}"
                ) from None
    changed = [i for i in chosen if after[i] != before[i]]
    if changed:
        i = changed[0]
        return (
            True,
            (
                f"with proxy {target!r} down, {len(changed)}/{len(chosen)} answers changed "
                f"(e.g. {_show(before[i])} -> {_show(after[i])})"
            ),
            False,
        )
    seen = {a[1] for a in before}
    if target in ("legacy", "ai") and target not in seen and _known_systems(seen):
        # No answer came from the target's system (split sent nobody there, shadow keeps it
        # off the users' path, fallback uses legacy only on failure): nothing to see.
        return (
            True,
            (
                f"inconclusive: no answer of {len(before)} came from {target!r} "
                f"(served_by: {sorted(seen)}), so disabling it could not show; route not checked"
            ),
            True,
        )
    return (
        False,
        (
            f"chaos target {target!r} does not route through its proxy: with the proxy down, "
            f"{len(chosen)} requests through {gateway_url} were answered as before "
            f"({_show(before[chosen[0]])}); faults on {target!r} would change nothing "
            "(point the gateway at the proxy's listen address, or skip with --no-route-check)"
        ),
        False,
    )


def _known_systems(seen: set[str]) -> bool:
    """True when every served_by value seen maps to a system ("legacy"/"ai")."""
    return bool(seen) and seen <= {"legacy", "ai"}


def _show(answer: tuple[str, ...]) -> str:
    status, served, fallback, reason = answer
    parts = [status, f"served_by={served!r}"]
    if fallback:
        parts.append(f"fallback={fallback!r}")
    if reason:
        parts.append(f"reason={reason!r}")
    return " ".join(parts)
