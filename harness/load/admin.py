"""A client for the gateway's admin API: change settings, flip the kill switch.

The reference gateway serves ``GET/POST /admin/settings`` and ``POST /admin/kill-switch``; a
user's own gateway can be driven the same way when it offers a compatible admin API
(``stack.external.admin_url``).
"""

from __future__ import annotations

from typing import Any

import httpx

from harness.errors import ComponentFailed
from harness.scenario import GatewaySettings

__all__ = ["GatewayAdmin"]


class GatewayAdmin:
    """Synchronous admin client (safe in a gevent-patched process)."""

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            resp = self._client.request(method, path, json=body)
        except httpx.HTTPError as err:
            raise ComponentFailed("gateway admin API", f"{method} {path}: {err}") from None
        if resp.status_code >= 400:
            raise ComponentFailed(
                "gateway admin API", f"{method} {path}: HTTP {resp.status_code}: {resp.text[:300]}"
            )
        data: dict[str, Any] = resp.json() if resp.content else {}
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
        self._client.close()
