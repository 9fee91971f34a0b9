"""Errors of the fault proxy's API, as Toxiproxy reports them: a status and a JSON body.

Each message starts with Toxiproxy's own wording (``proxy not found``, ``bad request body``...) so
that tools matching it keep working, and goes on with what to do about it.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "bad_request",
    "conflict",
    "not_found",
]


class ApiError(Exception):
    """An API failure: ``status`` and ``message`` become ``{"error": ..., "status": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        """The JSON error body Toxiproxy sends."""
        return {"error": self.message, "status": self.status}


def bad_request(detail: str) -> ApiError:
    """400: the body could not be used (Toxiproxy's ``bad request body``)."""
    return ApiError(400, f"bad request body: {detail}")


def not_found(what: str, name: str, known: list[str]) -> ApiError:
    """404: ``what`` (``proxy``, ``toxic``) named ``name`` does not exist."""
    listed = ", ".join(sorted(known)) if known else "none"
    return ApiError(404, f"{what} not found: no {what} named {name!r} (existing: {listed})")


def conflict(message: str) -> ApiError:
    """409: a name that exists, or an address in use."""
    return ApiError(409, message)
