"""The fault proxy's layers: no import circle, and a domain that knows nothing of HTTP.

The domain (proxies, connections, links, toxics, the collection, addresses) raises the plain
errors of :mod:`harness.faults.errors`; only :mod:`harness.faults.api` gives them a status.
"""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

from harness.faults import api
from harness.faults.addresses import split_address
from harness.faults.collection import ProxyCollection, ProxyConfig
from harness.faults.errors import (
    AddressInUse,
    FaultProxyFault,
    InvalidAddress,
    InvalidRequest,
    InvalidToxic,
    ProxyExists,
    ProxyNotFound,
    ToxicExists,
    ToxicNotFound,
)
from tests.conftest import REPO

PACKAGE = REPO / "harness" / "faults"
DOMAIN = [
    "harness.faults.addresses",
    "harness.faults.collection",
    "harness.faults.connection",
    "harness.faults.errors",
    "harness.faults.link",
    "harness.faults.proxy",
    *sorted(f"harness.faults.toxics.{p.stem}" for p in (PACKAGE / "toxics").glob("*.py")),
]
HTTP_LAYER = {"harness.faults.api", "harness.faults.http11", "harness.faults.server"}


def _path(module: str) -> Path:
    rel = Path(*module.split("."))
    package = REPO / rel / "__init__.py"
    return package if package.exists() else REPO / rel.with_suffix(".py")


def _imports(module: str) -> set[str]:
    """Every harness.faults module ``module`` imports, TYPE_CHECKING blocks included."""
    tree = ast.parse(_path(module).read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("harness.faults") and _path(m).exists()} - {module}


def _modules() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def test_no_import_circle_in_the_package() -> None:
    graph = {m: _imports(m) - {"harness.faults"} for m in _modules()}
    # Packages' own __init__ re-exports are not edges of the layering (they import downwards).
    for package in ("harness.faults", "harness.faults.toxics"):
        graph[package] = set()
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            pytest.fail("import circle: " + " -> ".join([*path[path.index(node) :], node]))
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, [*path, node])
        done.add(node)

    for module in graph:
        visit(module, [])


@pytest.mark.parametrize("module", DOMAIN)
def test_the_domain_knows_nothing_of_http(module: str) -> None:
    source = _path(module).read_text()
    tree = ast.parse(source)
    assert not _imports(module) & HTTP_LAYER
    if module.startswith("harness.faults.toxics.http_"):
        return  # they speak HTTP on the proxied stream (statuses of responses), not the API's
    statuses = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and type(node.value) is int and 100 <= node.value <= 599
    ]
    assert statuses == [], f"{module} names HTTP statuses {statuses}"
    assert "status" not in {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}


def test_domain_operations_raise_plain_errors() -> None:
    async def scenario() -> None:
        collection = ProxyCollection()
        with pytest.raises(ProxyNotFound, match=r"proxy not found \(no proxy named 'ghost'"):
            collection.get("ghost")
        await collection.create(ProxyConfig("a", "127.0.0.1:0", "127.0.0.1:1"))
        try:
            with pytest.raises(ProxyExists, match="proxy already exists"):
                await collection.create(ProxyConfig("a", "127.0.0.1:0", "127.0.0.1:1"))
            taken = collection.get("a").listen
            with pytest.raises(AddressInUse, match="already in use"):
                await collection.create(ProxyConfig("b", taken, "127.0.0.1:1"))
            with pytest.raises(InvalidAddress, match="not on loopback"):
                await collection.create(ProxyConfig("c", "0.0.0.0:0", "127.0.0.1:1"))
            with pytest.raises(ProxyNotFound, match=r"existing: a\)"):
                await collection.remove("b")
        finally:
            await collection.close()

    asyncio.run(scenario())
    with pytest.raises(InvalidAddress, match="expected host:port"):
        split_address("nowhere", "upstream")


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidRequest("x"), 400),
        (InvalidAddress("x"), 400),
        (InvalidToxic("x"), 400),
        (ProxyNotFound("p", []), 404),
        (ToxicNotFound("t", ["u"]), 404),
        (ProxyExists("x"), 409),
        (ToxicExists("x"), 409),
        (AddressInUse("x"), 500),
        (FaultProxyFault("x"), 500),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_only_the_api_maps_errors_to_statuses(error: FaultProxyFault, status: int) -> None:
    assert api.status_of(error) == status
    assert api.error_body(error) == {
        "error": error.message,
        "status": status,
        **({"detail": error.detail} if error.detail else {}),
    }
    assert not hasattr(error, "status")
