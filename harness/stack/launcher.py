"""Start, health-check and stop the system under test.

Embedded mode (the default) starts, in this order, each as a child process on loopback::

    fault proxy (only when no Toxiproxy URL is given)     python -m harness.faults
    with a write path (``writes``): PostgreSQL, NATS      python -m harness.datasync.daemons
    proxies "legacy_db", "ai_db", "*_bus" -> them         (those the scenario names)
    legacy service, AI service                            python -m harness.stack.services
    proxies "legacy" and "ai" -> the services             (Toxiproxy API: POST /populate)
    gateway -> the proxies' listen addresses              python -m harness.stack.gateway

so that every byte between the gateway and a backend (and, with a write path, between each
system and its database or the broker) crosses a fault proxy the chaos timeline can break.
Before the children stop, a write path's stores are settled, dumped into the run directory and
the stream replayed (:meth:`harness.datasync.stackpart.SyncParts.collect`). With
``stack.gateway_enabled: false`` no gateway starts: users go straight to legacy's proxy, and
the harness shadows their requests itself (``shadow:``, whose settings the load processes get
in the environment, :data:`~harness.scenario.shadow.SHADOW_ENV`).

External mode starts nothing but the embedded fault proxy when no Toxiproxy URL is given; it
creates the proxies that name an upstream and checks that the others exist.

A failed start stops whatever was started and raises :class:`ComponentFailed` naming the part
and quoting its last log lines; :meth:`Stack.stop` stops every child (reverse order, SIGTERM
then SIGKILL), however the run ended.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from harness.datasync.stackpart import SyncParts
from harness.errors import ComponentFailed, ScenarioError
from harness.faults.client import FaultProxyError, ToxiproxyClient
from harness.process import Child, tail
from harness.rundir import RunDir, new_run_dir
from harness.scenario import Scenario
from harness.scenario.shadow import SHADOW_ENV, export_shadow
from harness.stack.server import release, start_child
from harness.stack.services import service_args

__all__ = ["Stack", "StackInfo", "serve"]

#: The embedded stack's proxies, in front of the service of the same name.
_EMBEDDED = ("legacy", "ai")


@dataclass
class StackInfo:
    """Where the started stack listens (what the load, the chaos timeline and reports need)."""

    gateway_url: str
    """Where load goes."""
    admin_url: str | None
    """Gateway admin base URL (None if an external gateway has none)."""
    toxiproxy_url: str
    """The fault proxy's API."""
    proxies: dict[str, str] = field(default_factory=dict)
    """Proxy name -> listen ``host:port``."""
    services: dict[str, str] = field(default_factory=dict)
    """``legacy``/``ai`` -> direct URL (embedded only)."""
    pids: dict[str, int] = field(default_factory=dict)
    """Component -> pid of the children this stack started."""


class Stack:
    """The system under test of one run: start it, check it is alive, stop it."""

    fault_proxy_ready_timeout = 10.0
    """How long a fault proxy named by URL may take to answer (a container may be starting)."""

    def __init__(self, scenario: Scenario, run: RunDir) -> None:
        self.scenario = scenario
        self.run = run
        self.info: StackInfo | None = None
        self._children: list[Child] = []
        self._sync: SyncParts | None = None
        self.collect_error: str | None = None
        """Why the write path's stores could not be collected at stop (None: they were)."""

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> StackInfo:
        """Start every part; on any failure stop what was started and raise ComponentFailed."""
        try:
            if self.scenario.stack.mode == "external":
                self.info = self._start_external()
            else:
                self.info = self._start_embedded()
        except BaseException:
            self.stop()
            raise
        return self.info

    def check(self) -> None:
        """Raise :class:`ComponentFailed` if any child this stack started has died."""
        for child in self._children:
            child.check()

    def stop(self) -> None:
        """Stop every child, last started first, each even if stopping another failed.
        Safe to call twice; raises the first failure once all were tried."""
        first: BaseException | None = None
        sync, self._sync = self._sync, None
        if sync is not None and self.info is not None:
            try:  # while every part still runs: settle, dump the stores, replay the stream
                sync.collect(self.info.gateway_url)
            except Exception as err:  # stopping matters more; analysis says what is missing
                self.collect_error = f"{type(err).__name__}: {err}"
        os.environ.pop(SHADOW_ENV, None)  # the shadow's settings were this run's only
        while self._children:
            child = self._children.pop()
            try:
                release(child)
            except Exception as err:  # keep going: the next child's port matters as much
                first = first or err
        if first is not None:
            raise first

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ parts

    def _spawn(self, name: str, args: list[str]) -> Child:
        child = start_child(name, args, self.run.logs / f"{name}.log")
        self._children.append(child)
        return child

    def _fault_proxy(self) -> tuple[str, ToxiproxyClient]:
        url = self.scenario.faults.effective_url()
        name = "fault_proxy"
        if url is None:
            child = self._spawn(
                name, ["-m", "harness.faults", "--host", "127.0.0.1", "--port", "0"]
            )
            url = str(child.info["url"])
        client = ToxiproxyClient(url)
        try:
            client.wait_ready(self.fault_proxy_ready_timeout)
        except FaultProxyError as err:
            client.close()
            raise ComponentFailed(name, err.message, self._last_lines(name)) from None
        return url, client

    def _start_embedded(self) -> StackInfo:
        s = self.scenario
        url, client = self._fault_proxy()
        with client:
            sync = self._sync = SyncParts(s, self.run.path, self._spawn) if s.writes else None
            if sync is not None:
                self._link_stores(client, url, sync)
            services: dict[str, str] = {}
            for role in _EMBEDDED:
                spec = s.stack.legacy if role == "legacy" else s.stack.ai
                args = service_args(
                    role, spec, seed=s.seed, legacy_accuracy=s.stack.legacy.accuracy
                )
                child = self._spawn(role, args + (sync.service_args(role) if sync else []))
                services[role] = str(child.info["url"])
            wanted = []
            for p in s.faults.proxies:
                upstream = p.upstream
                if upstream is None and p.name in services:
                    upstream = services[p.name].removeprefix("http://")
                if upstream is not None:
                    wanted.append(
                        {"name": p.name, "listen": p.listen, "upstream": upstream, "enabled": True}
                    )
            proxies = self._populate(client, url, wanted)
            self._export_shadow(proxies)
            if not s.stack.gateway_enabled:
                # no gateway: users go straight to legacy through its fault proxy
                return StackInfo(
                    gateway_url=f"http://{proxies['legacy']}",
                    admin_url=None,
                    toxiproxy_url=url,
                    proxies=proxies,
                    services=services,
                    pids={c.name: c.pid for c in self._children},
                )
            prices = {
                "legacy": s.stack.legacy.cost.model_dump(),
                "ai": s.stack.ai.cost.model_dump(),
            }
            gateway = self._spawn(
                "gateway",
                [
                    "-m",
                    "harness.stack.gateway",
                    "--config",
                    s.stack.gateway.model_dump_json(),
                    "--legacy-url",
                    f"http://{proxies['legacy']}",
                    "--ai-url",
                    f"http://{proxies['ai']}",
                    "--decisions",
                    str(self.run.decisions),
                    "--prices",
                    _json(prices),
                    "--seed",
                    str(s.seed),
                    # the comparator's options as plain JSON: the child builds it without pydantic
                    "--comparison",
                    _json(_comparison(s)),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    *(sync.gateway_args() if sync else []),
                ],
            )
        gateway_url = str(gateway.info["url"])
        return StackInfo(
            gateway_url=gateway_url,
            admin_url=gateway_url,
            toxiproxy_url=url,
            proxies=proxies,
            services=services,
            pids={c.name: c.pid for c in self._children},
        )

    def _link_stores(self, client: ToxiproxyClient, url: str, sync: SyncParts) -> None:
        """Start the write path's servers and the proxies in front of them (before the
        services, whose DSNs name the proxies' listen addresses)."""
        upstreams = sync.start_servers()
        wanted = [
            {"name": p.name, "listen": p.listen, "upstream": upstreams[p.name], "enabled": True}
            for p in self.scenario.faults.proxies
            if p.name in upstreams
        ]
        if not wanted:
            return
        try:
            client.populate(wanted)
            existing = client.proxies()
        except FaultProxyError as err:
            raise ComponentFailed(
                "fault_proxy", err.message, self._last_lines("fault_proxy")
            ) from None
        sync.proxied = {name: str(existing[name]["listen"]) for name in upstreams}

    def _start_external(self) -> StackInfo:
        s = self.scenario
        ext = s.stack.external
        assert ext is not None  # the scenario model guarantees it in external mode
        url, client = self._fault_proxy()
        with client:
            wanted = [
                {"name": p.name, "listen": p.listen, "upstream": p.upstream, "enabled": True}
                for p in s.faults.proxies
                if p.upstream
            ]
            proxies = self._populate(client, url, wanted)
            self._export_shadow(proxies)
        return StackInfo(
            gateway_url=ext.gateway_url,
            admin_url=ext.admin_url,
            toxiproxy_url=url,
            proxies=proxies,
            services={},
            pids={c.name: c.pid for c in self._children},
        )

    def _populate(
        self, client: ToxiproxyClient, url: str, wanted: list[dict[str, Any]]
    ) -> dict[str, str]:
        """Create ``wanted`` proxies, then the listen address of every proxy the scenario
        names (ComponentFailed when one does not exist on the server)."""
        name = "fault_proxy"
        try:
            if wanted:
                client.populate(wanted)
            existing = client.proxies()
        except FaultProxyError as err:
            raise ComponentFailed(name, err.message, self._last_lines(name)) from None
        out: dict[str, str] = {}
        # The default proxies (legacy, ai) of a scenario that names none are needed only when
        # a chaos event targets them: a run of your own gateway without faults needs no proxy.
        explicit = "proxies" in self.scenario.faults.model_fields_set
        targets = {e.target for e in self.scenario.chaos}
        for p in self.scenario.faults.proxies:
            proxy = existing.get(p.name)
            if proxy is None and not explicit and p.name not in targets:
                continue
            if proxy is None:
                raise ComponentFailed(
                    name,
                    f"proxy {p.name!r} does not exist on the fault proxy at {url} "
                    "(give it an 'upstream' in faults.proxies to have it created)",
                )
            if not proxy.get("enabled", True):
                # A crashed earlier run can leave a shared server's proxy down, and populate
                # leaves a matching proxy as it is (Toxiproxy's rule): bring it back up. Not
                # reset(), which would also remove the shared server's own toxics.
                try:
                    client.set_enabled(p.name, True)
                except FaultProxyError as err:
                    raise ComponentFailed(name, err.message, self._last_lines(name)) from None
            self._remove_stale_toxics(client, p.name)
            out[p.name] = str(proxy["listen"])
        return out

    def _remove_stale_toxics(self, client: ToxiproxyClient, proxy: str) -> None:
        """Toxics a killed earlier run left on a shared server (the chaos timeline names its
        own ``dualsys_*``) would distort this run from its first second and clash with its
        faults: remove them; the server's other toxics are not ours to touch."""
        try:
            for toxic in client.toxics(proxy):
                name = str(toxic.get("name", ""))
                if name.startswith("dualsys_"):
                    client.remove_toxic(proxy, name)
        except FaultProxyError as err:
            raise ComponentFailed(
                "fault_proxy", err.message, self._last_lines("fault_proxy")
            ) from None

    def _export_shadow(self, proxies: dict[str, str]) -> None:
        """Hand the harness shadow's settings (``shadow:``) to this machine's load processes
        (:func:`harness.scenario.shadow.export_shadow`); a missing address is a scenario error."""
        try:
            export_shadow(self.scenario, proxies)
        except ValueError as err:
            raise ScenarioError("scenario", [str(err)]) from None

    def _last_lines(self, name: str) -> list[str]:
        return tail(self.run.logs / f"{name}.log")


def _comparison(s: Scenario) -> dict[str, Any]:
    """The gateway's comparator options: the scenario's ``comparison``, and under ``by_path``
    each request kind's own (``load.requests[].comparison``: the gateway tells kinds apart
    by their path, so two kinds on one path must not ask for different comparators)."""
    out = s.comparison.as_config()
    by_path: dict[str, dict[str, Any]] = {}
    for i, req in enumerate(s.load.requests):
        own = getattr(req, "comparison", None)  # the field comes with the request templates
        if own is None:
            continue
        config = own.as_config()
        if by_path.get(req.path, config) != config:
            raise ScenarioError(
                "scenario",
                [
                    f"load.requests[{i}].comparison: another request kind on path "
                    f"{req.path!r} asks for a different comparison; the gateway tells request "
                    "kinds apart by their path"
                ],
            )
        by_path[req.path] = config
    if by_path:
        out["by_path"] = by_path
    return out


def _json(data: Any) -> str:
    import json

    return json.dumps(data, separators=(",", ":"))


# --------------------------------------------------------------------------------------------


def serve(scenario: Scenario, out: Path) -> int:
    """``dualsys serve``: start the stack, print its addresses, keep it up until Ctrl-C or
    SIGTERM, then stop every process. Raises ComponentFailed when a part dies meanwhile."""
    run = new_run_dir(out, scenario.name)
    run.scenario.write_text(scenario.to_yaml(), encoding="utf-8")
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    stack = Stack(scenario, run)
    try:
        info = stack.start()
        print(f"dualsys: stack of '{scenario.name}' is up (Ctrl-C stops it)")
        print(f"  gateway      {info.gateway_url}   (pattern {scenario.stack.gateway.pattern})")
        if info.admin_url:
            print(
                f"  admin        {info.admin_url}/admin/settings, "
                f"{info.admin_url}/admin/kill-switch"
            )
            print(f"  metrics      {info.admin_url}/metrics")
        for role, url in info.services.items():
            print(f"  {role:<12} {url}   (direct, no fault proxy)")
        print(f"  fault proxy  {info.toxiproxy_url}")
        for name, listen in info.proxies.items():
            print(f"  proxy {name:<6} {listen}")
        print(f"  decisions    {run.decisions}")
        print(f"  logs         {run.logs}", flush=True)
        while not stopping.wait(0.5):
            stack.check()
        print("dualsys: stopping the stack", flush=True)
    finally:
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
