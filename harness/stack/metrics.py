"""The gateway's Prometheus metrics, served on ``/metrics`` for users who watch a run live.

The run directory's decision records are the source of truth for reports; these are the same
facts, aggregated, for a dashboard. Each gateway has its own registry (several gateways can live
in one test process).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from harness.stack.backend import Call
from harness.stack.exchange import Exchange

__all__ = ["CONTENT_TYPE_LATEST", "GatewayMetrics"]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    """Per-system request counts, latency histograms, fallbacks, agreement, shadow drops."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "dualsys_gateway_requests",
            "User requests by who answered",
            ["pattern", "route", "served_by", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "dualsys_gateway_request_seconds",
            "Gateway time per user request",
            ["pattern", "served_by"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.backend_requests = Counter(
            "dualsys_backend_requests",
            "Backend calls by system, outcome and shadow",
            ["system", "outcome", "shadow"],
            registry=r,
        )
        self.backend_latency = Histogram(
            "dualsys_backend_request_seconds",
            "Backend call time",
            ["system"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.fallbacks = Counter(
            "dualsys_fallbacks", "Fallbacks to legacy by reason", ["reason"], registry=r
        )
        self.comparisons = Counter(
            "dualsys_shadow_comparisons",
            "Shadow comparisons by result (agree | disagree)",
            ["result"],
            registry=r,
        )
        self.shadow_dropped = Counter(
            "dualsys_shadow_dropped",
            "Shadow calls dropped because the queue was full",
            registry=r,
        )
        self.shadow_queue = Gauge("dualsys_shadow_queue_depth", "Shadow calls waiting", registry=r)
        self.cost = Counter("dualsys_cost", "Backend cost by system", ["system"], registry=r)
        self.breaker_state = Gauge(
            "dualsys_circuit_breaker_state",
            "Fallback breaker: 0 closed, 1 open, 2 half-open",
            registry=r,
        )
        self.ai_share = Gauge("dualsys_ai_share", "Configured AI share (split)", registry=r)
        self.kill_switch = Gauge("dualsys_kill_switch", "1 while the kill switch is on", registry=r)

    def backend(self, c: Call, shadow: bool, cost: float) -> None:
        """Count one backend call."""
        self.backend_requests.labels(c.system, c.outcome, "1" if shadow else "0").inc()
        if c.latency_ms is not None:
            self.backend_latency.labels(c.system).observe(c.latency_ms / 1000.0)
        if cost:
            self.cost.labels(c.system).inc(cost)

    def user(self, ex: Exchange) -> None:
        """Count one user request (what the user got)."""
        served_by = ex.served_by or "none"
        self.requests.labels(ex.pattern, ex.route, served_by, str(ex.status)).inc()
        self.latency.labels(ex.pattern, served_by).observe(ex.latency_ms / 1000.0)
        if ex.fallback:
            self.fallbacks.labels(ex.fallback_reason).inc()

    def compared(self, agree: int | None) -> None:
        """Count one shadow comparison (nothing when one side did not answer)."""
        if agree is not None:
            self.comparisons.labels("agree" if agree else "disagree").inc()

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)
