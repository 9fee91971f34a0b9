"""A small synchronous client of the Toxiproxy HTTP API (the real server or the embedded one).

The harness talks to every fault proxy through this client, never through private calls, so
the embedded server and a real Toxiproxy are interchangeable. It is plain sync httpx, so it
works in a gevent-patched process (the Locust side of a run) as well as anywhere else.

(The shipped ``toxiproxy-python`` keeps its server address in a class-level global, which does
not suit a harness that may drive two servers; the tests use it as the drop-in proof.)
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx

from harness import __version__
from harness.errors import HarnessError

__all__ = ["FaultProxyError", "ToxiproxyClient"]


class FaultProxyError(HarnessError):
    """A fault proxy call failed: ``status`` is the HTTP status (``None`` when the server could
    not be reached) and ``message`` what the server said."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ToxiproxyClient:
    """Sync client of the Toxiproxy HTTP API at ``url`` (e.g. ``http://127.0.0.1:8474``)."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        # trust_env=False: never send loopback API calls through an HTTP proxy from the env.
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout,
            trust_env=False,
            headers={"User-Agent": f"dualsys/{__version__}"},
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ToxiproxyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ToxiproxyClient({self.url!r})"

    # ---- transport -------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as err:
            raise FaultProxyError(
                f"cannot reach the fault proxy at {self.url} ({method} {path}): {err}"
            ) from err
        if response.status_code >= 400:
            raise FaultProxyError(
                f"fault proxy at {self.url}: {method} {path} -> HTTP {response.status_code}: "
                f"{_server_message(response)}",
                response.status_code,
            )
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    # ---- server ----------------------------------------------------------------------------

    def version(self) -> str:
        """The server's version (``GET /version``; JSON in Toxiproxy 2.6+, plain text before)."""
        data = self._call("GET", "/version")
        if isinstance(data, dict):
            return str(data.get("version", ""))
        return str(data).strip()

    def wait_ready(self, timeout: float = 10.0) -> str:
        """Poll ``/version`` until the server answers; its version. Raises after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.version()
            except FaultProxyError as err:
                if err.status is not None or time.monotonic() > deadline:
                    raise FaultProxyError(
                        f"fault proxy at {self.url} not ready after {timeout:g}s: {err.message}",
                        err.status,
                    ) from err
            time.sleep(0.05)

    def reset(self) -> None:
        """Enable every proxy and remove every toxic (``POST /reset``)."""
        self._call("POST", "/reset")

    # ---- proxies ---------------------------------------------------------------------------

    def proxies(self) -> dict[str, dict[str, Any]]:
        """Every proxy by name, with its toxics."""
        data: dict[str, dict[str, Any]] = self._call("GET", "/proxies")
        return data

    def populate(self, proxies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Create or replace proxies by name (unchanged ones are left alone); the proxies."""
        data = self._call("POST", "/populate", proxies)
        result: list[dict[str, Any]] = (data.get("proxies") or []) if isinstance(data, dict) else []
        return result

    def create_proxy(
        self, name: str, upstream: str, listen: str = "127.0.0.1:0", enabled: bool = True
    ) -> dict[str, Any]:
        """Create a proxy (409 when the name exists); the proxy, with the port it got."""
        body = {"name": name, "upstream": upstream, "listen": listen, "enabled": enabled}
        data: dict[str, Any] = self._call("POST", "/proxies", body)
        return data

    def get_proxy(self, name: str) -> dict[str, Any]:
        """One proxy, with its toxics."""
        data: dict[str, Any] = self._call("GET", f"/proxies/{_seg(name)}")
        return data

    def update_proxy(self, name: str, **fields: Any) -> dict[str, Any]:
        """Change ``listen``, ``upstream`` or ``enabled``."""
        data: dict[str, Any] = self._call("POST", f"/proxies/{_seg(name)}", fields)
        return data

    def set_enabled(self, name: str, enabled: bool) -> dict[str, Any]:
        """Take a proxy down (``False``: stop listening, drop connections) or up again."""
        return self.update_proxy(name, enabled=enabled)

    def delete_proxy(self, name: str) -> None:
        """Delete a proxy."""
        self._call("DELETE", f"/proxies/{_seg(name)}")

    # ---- toxics ----------------------------------------------------------------------------

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        """The toxics of ``proxy``."""
        data: list[dict[str, Any]] = self._call("GET", f"/proxies/{_seg(proxy)}/toxics")
        return data

    def add_toxic(self, proxy: str, body: dict[str, Any]) -> dict[str, Any]:
        """Add a toxic (``{"type", "name"?, "stream"?, "toxicity"?, "attributes"?}``)."""
        data: dict[str, Any] = self._call("POST", f"/proxies/{_seg(proxy)}/toxics", body)
        return data

    def get_toxic(self, proxy: str, toxic_name: str) -> dict[str, Any]:
        """One toxic of ``proxy``."""
        path = f"/proxies/{_seg(proxy)}/toxics/{_seg(toxic_name)}"
        data: dict[str, Any] = self._call("GET", path)
        return data

    def update_toxic(self, proxy: str, toxic_name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Change a toxic's ``attributes`` or ``toxicity``."""
        path = f"/proxies/{_seg(proxy)}/toxics/{_seg(toxic_name)}"
        data: dict[str, Any] = self._call("POST", path, body)
        return data

    def remove_toxic(self, proxy: str, toxic_name: str) -> None:
        """Remove a toxic."""
        self._call("DELETE", f"/proxies/{_seg(proxy)}/toxics/{_seg(toxic_name)}")


def _seg(name: str) -> str:
    return quote(name, safe="")


def _server_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    if isinstance(data, dict) and "error" in data:
        if data.get("detail"):  # the embedded server's advice beside Toxiproxy's message
            return f"{data['error']} ({data['detail']})"
        return str(data["error"])
    return response.text.strip()
