"""A client for the gateway's admin API: change settings, flip the kill switch.

The reference gateway serves ``GET/POST /admin/settings`` and ``POST /admin/kill-switch``; a
user's own gateway can be driven the same way when it offers a compatible admin API
(``stack.external.admin_url``). :data:`SETTINGS_READ`, :data:`SETTINGS_WRITE` and
:data:`KILL_SWITCH` name the three calls (the preflight names the one a gateway lacks).
"""

from __future__ import annotations

from typing import Any

import httpx

from harness.errors import ComponentFailed
from harness.scenario import GatewaySettings

__all__ = ["KILL_SWITCH", "SETTINGS_READ", "SETTINGS_WRITE", "AdminCallFailed", "GatewayAdmin"]

SETTINGS_READ = "GET /admin/settings"
SETTINGS_WRITE = "POST /admin/settings"
KILL_SWITCH = "POST /admin/kill-switch"


class AdminCallFailed(ComponentFailed):
    """One admin call failed: ``call`` is its name (``"POST /admin/kill-switch"``), ``status``
    the HTTP status (``None`` when nothing answered, or the answer was not a JSON object)."""

    def __init__(self, url: str, call: str, reason: str, status: int | None = None) -> None:
        self.url = url
        self.call = call
        self.status = status
        super().__init__("gateway admin API", f"{call} at {url}: {reason}")


class GatewayAdmin:
    """Synchronous admin client (safe in a gevent-patched process)."""

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        # trust_env=False: an HTTP proxy from the environment must not stand between the
        # harness and the gateway it drives.
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout, trust_env=False)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        call = f"{method} {path}"
        try:
            resp = self._client.request(method, path, json=body)
        except httpx.HTTPError as err:
            raise AdminCallFailed(
                self.base_url, call, f"no answer: {err or type(err).__name__}"
            ) from None
        if resp.status_code >= 400:
            raise AdminCallFailed(
                self.base_url,
                call,
                f"HTTP {resp.status_code}: {resp.text[:300]}",
                resp.status_code,
            )
        if not resp.content:
            return {}
        try:
            data = resp.json()
        except ValueError:
            raise AdminCallFailed(
                self.base_url, call, f"expected a JSON object, got {resp.text[:120]!r}"
            ) from None
        if not isinstance(data, dict):
            raise AdminCallFailed(
                self.base_url, call, f"expected a JSON object, got {type(data).__name__}"
            )
        return data

    def settings(self) -> dict[str, Any]:
        """The gateway's current settings."""
        return self._call("GET", "/admin/settings")

    def apply(self, settings: GatewaySettings) -> dict[str, Any]:
        """Change the named settings; returns the settings now in force."""
        return self._call("POST", "/admin/settings", settings.model_dump(exclude_none=True))

    def kill_switch(self, on: bool) -> dict[str, Any]:
        """Send 100% of traffic to legacy (on) or restore routing (off)."""
        return self._call("POST", "/admin/kill-switch", {"on": on})

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
