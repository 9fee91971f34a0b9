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

Errors are ``{"error": message, "status": code}``: 400 a bad body or bad attributes, 403 a
browser (as Toxiproxy, which refuses ``Mozilla/`` user agents), 404 an unknown proxy or toxic,
409 a name that exists or an address in use. Request bodies are read as JSON whatever their
content type, so ``curl -d '{...}'`` works as with Toxiproxy.

Where we differ on purpose: a missing ``listen`` means ``127.0.0.1:0`` (Toxiproxy would listen
on every interface), listen addresses off loopback are refused unless the server allows remote,
unknown toxic attributes are a 400 (Toxiproxy ignores them, so a typo injects nothing), a
listen port in use is a 409 (Toxiproxy answers 500).
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from harness import __version__
from harness.faults.addresses import split_address
from harness.faults.collection import ProxyCollection, ProxyConfig
from harness.faults.errors import (
    Conflict,
    FaultProxyFault,
    InvalidRequest,
    InvalidToxic,
    NotFound,
    ToxicExists,
    ToxicNotFound,
    bad_request_body,
)
from harness.faults.http11 import Request, Response, json_response
from harness.faults.proxy import STREAMS, Proxy, ToxicEntry
from harness.faults.toxics import REGISTRY, new_toxic

__all__ = ["STATUS_OF", "TOXIPROXY_VERSION", "ControlAPI", "error_body", "status_of"]

TOXIPROXY_VERSION = "2.12.0"
"""The Toxiproxy release whose API this one follows."""

DEFAULT_LISTEN = "127.0.0.1:0"

Route = Callable[..., Awaitable[Response]]

STATUS_OF: tuple[tuple[type[FaultProxyFault], int], ...] = (
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


def error_body(err: FaultProxyFault) -> dict[str, Any]:
    """Toxiproxy's JSON error body: ``{"error": message, "status": code}``."""
    return {"error": err.message, "status": status_of(err)}


def bad_request(detail: str) -> InvalidRequest:
    """A body that could not be used, in Toxiproxy's words (``bad request body: ...``)."""
    return InvalidRequest(bad_request_body(detail))


class ControlAPI:
    """Maps requests to operations on a :class:`ProxyCollection`, one request at a time."""

    def __init__(self, collection: ProxyCollection) -> None:
        self.collection = collection

    async def __call__(self, request: Request) -> Response:
        if request.headers.get("user-agent", "").startswith("Mozilla/"):
            # Toxiproxy refuses browsers, so a web page cannot drive the API on loopback.
            return json_response(403, {"error": "User agent not allowed", "status": 403})
        route, args = self._route(request)
        try:
            async with self.collection.lock:
                return await route(request, *args)
        except FaultProxyFault as err:
            return json_response(status_of(err), error_body(err))

    def _route(self, request: Request) -> tuple[Route, list[str]]:
        seg, method = request.segments, request.method
        table: dict[str, Route]
        if seg == ["version"]:
            table = {"GET": self.version}
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
        return Response(
            200,
            json.dumps({"version": TOXIPROXY_VERSION, "dualsys": __version__}).encode() + b"\n",
            content_type="application/json;charset=utf-8",
        )

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
        body = _json_body(request)
        if not isinstance(body, list):
            raise bad_request(
                'expected a JSON array of proxies, e.g. [{"name": "ai", "listen": '
                '"127.0.0.1:21002", "upstream": "127.0.0.1:9002"}]'
            )
        configs = [_proxy_config(item, i + 1) for i, item in enumerate(body)]
        seen: set[str] = set()
        for config in configs:
            if config.name in seen:
                raise bad_request(f"duplicate proxy name {config.name!r} in one populate request")
            seen.add(config.name)
            split_address(config.listen, "listen")
            split_address(config.upstream, "upstream")
        proxies, error = await self.collection.populate(configs)
        listed = [p.to_json() for p in proxies]
        if error is not None:
            return json_response(status_of(error), {**error_body(error), "proxies": listed})
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
                f"stream was invalid, can be either upstream or downstream (got {stream!r})"
            )
        type_name = _string(body, "type", "")
        if type_name not in REGISTRY:
            raise InvalidToxic(
                f"invalid toxic type {type_name!r}: expected one of {', '.join(REGISTRY)}"
            )
        toxic_name = _string(body, "name", "") or f"{type_name}_{stream}"
        if proxy.find_toxic(toxic_name) is not None:
            raise ToxicExists(
                f"toxic already exists: {toxic_name!r} on proxy {proxy.name!r}; remove it "
                "first, update it, or give the new one another name"
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
        return json_response(status, {"error": message, "status": status})

    return route


def _json_body(request: Request) -> Any:
    if not request.body.strip():
        raise bad_request("empty body: expected JSON")
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
