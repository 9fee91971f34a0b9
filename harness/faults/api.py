"""The Toxiproxy 2.x HTTP API: same paths, JSON shapes and status codes.

==========================================  ==========================================  ======
``GET    /version``                          ``{"version": ...}``                        200
``POST   /reset``                            enable every proxy, remove every toxic      204
``GET    /proxies``                          ``{name: proxy}``                           200
``POST   /proxies``                          create a proxy                              201
``POST   /populate``                         create or replace proxies by name           201
``GET    /proxies/{proxy}``                  the proxy with its toxics                   200
``POST   /proxies/{proxy}`` (or ``PATCH``)   update ``enabled``, ``listen``, ``upstream``  200
``DELETE /proxies/{proxy}``                  delete it                                   204
``GET    /proxies/{proxy}/toxics``           its toxics                                  200
``POST   /proxies/{proxy}/toxics``           add a toxic                                 200
``GET    /proxies/{proxy}/toxics/{toxic}``   one toxic                                   200
``POST   /proxies/{proxy}/toxics/{toxic}``   update ``attributes``, ``toxicity``         200
``DELETE /proxies/{proxy}/toxics/{toxic}``   remove it                                   204
==========================================  ==========================================  ======

``GET    /metrics`` (``metrics=True``)       Prometheus text, Toxiproxy's metric names   200

Errors are ``{"error": message, "status": code}`` with Toxiproxy's exact messages (``proxy not
found``, ``toxic already exists``...) and, when there is more to say, a ``detail`` field:
400 a bad body or bad attributes, 403 a browser (as Toxiproxy, which refuses ``Mozilla/`` user
agents), 404 an unknown proxy or toxic, 409 a name that exists, 500 a listen address in use (Go's
listen error, as Toxiproxy). Every response carries ``X-Toxiproxy-Request-Id``. Request bodies
are read as JSON whatever their content type, so ``curl -d '{...}'`` works as with Toxiproxy.

Where this differs from Toxiproxy on purpose is one table, in ``docs/faults.md``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from harness.faults.collection import ProxyCollection, ProxyConfig
from harness.faults.errors import (
    AddressInUse,
    Conflict,
    FaultProxyFault,
    InvalidAddress,
    InvalidRequest,
    InvalidToxic,
    NotFound,
    ToxicExists,
    ToxicNotFound,
    bad_request_body,
)
from harness.faults.http11 import Request, Response, json_response
from harness.faults.metrics import ProxyMetrics
from harness.faults.proxy import STREAMS, Proxy, ToxicEntry
from harness.faults.toxics import REGISTRY, new_toxic

__all__ = [
    "REQUEST_ID_HEADER",
    "STATUS_OF",
    "TOXIPROXY_VERSION",
    "ControlAPI",
    "error_body",
    "request_id",
    "status_of",
]

TOXIPROXY_VERSION = "2.12.0"
"""The Toxiproxy release whose API this one follows."""

DEFAULT_LISTEN = "127.0.0.1:0"

Route = Callable[..., Awaitable[Response]]

REQUEST_ID_HEADER = "X-Toxiproxy-Request-Id"
"""The header Toxiproxy puts a request id in (an xid: 20 characters of base32hex)."""

STATUS_OF: tuple[tuple[type[FaultProxyFault], int], ...] = (
    (AddressInUse, 500),
    (InvalidRequest, 400),
    (NotFound, 404),
    (Conflict, 409),
)
"""The one place a domain error becomes an HTTP status (the first kind that matches)."""


def status_of(err: FaultProxyFault) -> int:
    """The HTTP status Toxiproxy answers for ``err`` (500 for a kind it does not know)."""
    for kind, status in STATUS_OF:
        if isinstance(err, kind):
            return status
    return 500


def error_body(err: FaultProxyFault, status: int | None = None) -> dict[str, Any]:
    """Toxiproxy's JSON error body: ``{"error": message, "status": code}``, and ``detail``
    (ours: what to do about it) when there is one."""
    body: dict[str, Any] = {"error": err.message, "status": status or status_of(err)}
    if err.detail:
        body["detail"] = err.detail
    return body


def error_response(status: int, body: dict[str, Any]) -> Response:
    """An error as Toxiproxy writes it: Go's ``http.Error``, so plain-text content type (the
    body is JSON all the same) and ``nosniff``."""
    response = json_response(status, body)
    response.content_type = "text/plain; charset=utf-8"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


_B32HEX = "0123456789abcdefghijklmnopqrstuv"
_ID_COUNTER = [int.from_bytes(os.urandom(3), "big")]
_ID_MACHINE = os.urandom(3)


def request_id() -> str:
    """A new request id in the xid format Toxiproxy's logger uses (time, machine, pid,
    counter: 12 bytes as 20 base32hex characters), unique and sortable by time."""
    _ID_COUNTER[0] = (_ID_COUNTER[0] + 1) & 0xFFFFFF
    raw = (
        int(time.time()).to_bytes(4, "big")
        + _ID_MACHINE
        + (os.getpid() & 0xFFFF).to_bytes(2, "big")
        + _ID_COUNTER[0].to_bytes(3, "big")
    )
    bits = int.from_bytes(raw, "big") << 4  # 96 bits padded to 100 = 20 digits of 5 bits
    return "".join(_B32HEX[(bits >> (95 - 5 * i + 4)) & 31] for i in range(20))


def bad_request(detail: str) -> InvalidRequest:
    """A body that could not be used, in Toxiproxy's words (``bad request body: ...``)."""
    return InvalidRequest(bad_request_body(detail))


class ControlAPI:
    """Maps requests to operations on a :class:`ProxyCollection`, one request at a time."""

    def __init__(self, collection: ProxyCollection, metrics: ProxyMetrics | None = None) -> None:
        self.collection = collection
        self.metrics = metrics
        """Serve ``/metrics`` (Toxiproxy serves it only when metrics are enabled)."""

    async def __call__(self, request: Request) -> Response:
        response = await self._answer(request)
        response.headers[REQUEST_ID_HEADER] = request_id()
        return response

    async def _answer(self, request: Request) -> Response:
        if request.headers.get("user-agent", "").startswith("Mozilla/"):
            # Toxiproxy refuses browsers, so a web page cannot drive the API on loopback.
            response = Response(403, b"User agent not allowed\n", "text/plain; charset=utf-8")
            response.headers["X-Content-Type-Options"] = "nosniff"
            return response
        route, args = self._route(request)
        try:
            async with self.collection.lock:
                return await route(request, *args)
        except FaultProxyFault as err:
            return error_response(status_of(err), error_body(err))

    def _route(self, request: Request) -> tuple[Route, list[str]]:
        seg, method = request.segments, request.method
        table: dict[str, Route]
        if seg == ["version"]:
            table = {"GET": self.version}
        elif seg == ["metrics"] and self.metrics is not None:
            table = {"GET": self.metrics_page}
        elif seg == ["reset"]:
            table = {"POST": self.reset}
        elif seg == ["populate"]:
            table = {"POST": self.populate}
        elif seg == ["proxies"]:
            table = {"GET": self.proxy_index, "POST": self.proxy_create}
        elif len(seg) == 2 and seg[0] == "proxies":
            table = {
                "GET": self.proxy_show,
                "POST": self.proxy_update,
                "PATCH": self.proxy_update,
                "DELETE": self.proxy_delete,
            }
        elif len(seg) == 3 and seg[0] == "proxies" and seg[2] == "toxics":
            table = {"GET": self.toxic_index, "POST": self.toxic_create}
        elif len(seg) == 4 and seg[0] == "proxies" and seg[2] == "toxics":
            table = {
                "GET": self.toxic_show,
                "POST": self.toxic_update,
                "PATCH": self.toxic_update,
                "DELETE": self.toxic_delete,
            }
        else:
            return _fail(404, f"no such endpoint: {request.target}"), []
        route = table.get(method)
        if route is None:
            allowed = ", ".join(table)
            return _fail(405, f"{method} is not allowed on {request.target}; use {allowed}"), []
        return route, [s for i, s in enumerate(seg) if i in (1, 3)]

    # ---- server ------------------------------------------------------------------------------

    async def version(self, request: Request) -> Response:
        # Byte for byte what Toxiproxy 2.12 writes (JSON since 2.6; plain text before).
        return Response(
            200,
            f'{{"version": "{TOXIPROXY_VERSION}"}}\n'.encode(),
            content_type="application/json;charset=utf-8",
        )

    async def metrics_page(self, request: Request) -> Response:
        assert self.metrics is not None
        body, content_type = self.metrics.render(self.collection.proxies.values())
        return Response(200, body, content_type=content_type)

    async def reset(self, request: Request) -> Response:
        await self.collection.reset()
        return json_response(204, None)

    # ---- proxies -----------------------------------------------------------------------------

    async def proxy_index(self, request: Request) -> Response:
        return json_response(200, {n: p.to_json() for n, p in self.collection.proxies.items()})

    async def proxy_create(self, request: Request) -> Response:
        config = _proxy_config(_json_body(request))
        proxy = await self.collection.create(config)
        return json_response(201, proxy.to_json())

    async def populate(self, request: Request) -> Response:
        """Toxiproxy's semantics: entries are applied in order; at the first that fails, the
        ones before it stay created and the answer is the error with the proxies done."""
        body = _json_body(request)
        if not isinstance(body, list):
            raise bad_request(
                'expected a JSON array of proxies, e.g. [{"name": "ai", "listen": '
                '"127.0.0.1:21002", "upstream": "127.0.0.1:9002"}]'
            )
        configs: list[ProxyConfig] = []
        stop: FaultProxyFault | None = None
        for i, item in enumerate(body):
            try:
                configs.append(_proxy_config(item, i + 1))
            except FaultProxyFault as err:
                stop = err
                break
        proxies, error = await self.collection.populate(configs)
        error = error or stop
        listed = [p.to_json() for p in proxies]
        if error is not None:
            # A field missing is Toxiproxy's ApiError (400); anything else failing to start a
            # proxy (an address, a port in use) is a plain Go error there: 500.
            failed_to_start = isinstance(error, InvalidAddress | AddressInUse)
            status = 500 if failed_to_start else status_of(error)
            return error_response(status, {**error_body(error, status), "proxies": listed})
        return json_response(201, {"proxies": listed})

    async def proxy_show(self, request: Request, name: str) -> Response:
        return json_response(200, self.collection.get(name).to_json())

    async def proxy_update(self, request: Request, name: str) -> Response:
        proxy = self.collection.get(name)
        body = _json_body(request)
        if not isinstance(body, dict):
            raise bad_request('expected a JSON object, e.g. {"enabled": false}')
        listen = _string(body, "listen", proxy.listen) or DEFAULT_LISTEN
        upstream = _string(body, "upstream", proxy.upstream)
        enabled = _boolean(body, "enabled", proxy.enabled)
        await proxy.update(listen, upstream, enabled)
        return json_response(200, proxy.to_json())

    async def proxy_delete(self, request: Request, name: str) -> Response:
        await self.collection.remove(name)
        return json_response(204, None)

    # ---- toxics ------------------------------------------------------------------------------

    async def toxic_index(self, request: Request, name: str) -> Response:
        proxy = self.collection.get(name)
        return json_response(200, [entry.to_json() for entry in proxy.toxic_list()])

    async def toxic_create(self, request: Request, name: str) -> Response:
        proxy = self.collection.get(name)
        body = _json_body(request)
        if not isinstance(body, dict):
            raise bad_request(
                'expected a JSON object, e.g. {"type": "latency", "attributes": {"latency": 300}}'
            )
        stream = _string(body, "stream", "downstream") or "downstream"
        if stream not in STREAMS:
            raise InvalidToxic(
                "stream was invalid, can be either upstream or downstream",
                f"got {stream!r} (lower case only)",
            )
        type_name = _string(body, "type", "")
        if type_name not in REGISTRY:
            raise InvalidToxic(
                "invalid toxic type", f"got {type_name!r}; expected one of {', '.join(REGISTRY)}"
            )
        allowed = getattr(REGISTRY[type_name], "streams", STREAMS)
        if stream not in allowed:
            raise InvalidToxic(
                bad_request_body(f"toxic '{type_name}' runs on the {' or '.join(allowed)} stream"),
                "it changes responses, which travel downstream (server to client)",
            )
        toxic_name = _string(body, "name", "") or f"{type_name}_{stream}"
        if proxy.find_toxic(toxic_name) is not None:
            raise ToxicExists(
                "toxic already exists",
                f"{toxic_name!r} on proxy {proxy.name!r}; remove it first, update it, or give "
                "the new one another name",
            )
        toxicity = _toxicity(body, 1.0)
        try:
            toxic = new_toxic(type_name, _attributes(body))
        except ValueError as err:
            raise InvalidToxic(bad_request_body(str(err))) from None
        entry = ToxicEntry(toxic_name, stream, toxicity, toxic)
        proxy.add_toxic(entry)
        return json_response(200, entry.to_json())

    async def toxic_show(self, request: Request, name: str, toxic_name: str) -> Response:
        return json_response(200, _toxic(self.collection.get(name), toxic_name).to_json())

    async def toxic_update(self, request: Request, name: str, toxic_name: str) -> Response:
        proxy = self.collection.get(name)
        entry = _toxic(proxy, toxic_name)
        body = _json_body(request)
        if not isinstance(body, dict):
            raise bad_request('expected a JSON object, e.g. {"attributes": {"latency": 500}}')
        toxicity = _toxicity(body, entry.toxicity)
        try:
            toxic = new_toxic(entry.type, _attributes(body), base=entry.toxic)
        except ValueError as err:
            raise InvalidToxic(bad_request_body(str(err))) from None
        await proxy.update_toxic(entry, toxic, toxicity)
        return json_response(200, entry.to_json())

    async def toxic_delete(self, request: Request, name: str, toxic_name: str) -> Response:
        proxy = self.collection.get(name)
        await proxy.remove_toxic(_toxic(proxy, toxic_name))
        return json_response(204, None)


# ---- request bodies --------------------------------------------------------------------------


def _fail(status: int, message: str) -> Route:
    async def route(request: Request) -> Response:
        return error_response(status, {"error": message, "status": status})

    return route


def _json_body(request: Request) -> Any:
    if not request.body.strip():
        raise InvalidRequest(bad_request_body("EOF"), "the body was empty: expected JSON")
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as err:
        raise bad_request(f"invalid JSON: {err}") from None


def _string(body: dict[str, Any], key: str, default: str) -> str:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise bad_request(f"{key!r} must be a string, got {value!r}")
    return value


def _boolean(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad_request(f"{key!r} must be true or false, got {value!r}")
    return value


def _toxicity(body: dict[str, Any], default: float) -> float:
    value = body.get("toxicity", default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise bad_request(f"'toxicity' must be a number between 0 and 1, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise bad_request(f"'toxicity' must be between 0 and 1 (a probability), got {value!r}")
    return float(value)


def _attributes(body: dict[str, Any]) -> dict[str, Any]:
    attributes = body.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise bad_request(f"'attributes' must be a JSON object, got {attributes!r}")
    return attributes


def _proxy_config(body: Any, index: int | None = None) -> ProxyConfig:
    where = f" at proxy {index}" if index is not None else ""
    if not isinstance(body, dict):
        raise bad_request(
            f'expected a JSON object{where}, e.g. {{"name": "ai", "listen": "127.0.0.1:0", '
            '"upstream": "127.0.0.1:9002"}'
        )
    name = _string(body, "name", "")
    upstream = _string(body, "upstream", "")
    if not name:
        raise InvalidRequest(f"missing required field: name{where}")
    if not upstream:
        raise InvalidRequest(f"missing required field: upstream{where}")
    listen = _string(body, "listen", "") or DEFAULT_LISTEN
    return ProxyConfig(name, listen, upstream, _boolean(body, "enabled", True))


def _toxic(proxy: Proxy, name: str) -> ToxicEntry:
    entry = proxy.find_toxic(name)
    if entry is None:
        raise ToxicNotFound(name, [e.name for e in proxy.toxic_list()])
    return entry
