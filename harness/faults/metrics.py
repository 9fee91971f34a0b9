"""``GET /metrics``: the proxies' byte counters in Prometheus text, with Toxiproxy's names.

Toxiproxy (``-proxy-metrics``) counts, per link, ``toxiproxy_proxy_received_bytes_total`` (read
from the link's source) and ``toxiproxy_proxy_sent_bytes_total`` (written to its destination),
labelled ``direction``, ``proxy``, ``listener``, ``upstream``. The names and labels are the same
here; the counts are live (Toxiproxy adds a link's bytes when the link ends, so a long
connection shows nothing until it closes). prometheus-client writes the text format.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from harness.faults.proxy import Proxy

__all__ = ["LABELS", "ProxyMetrics"]

LABELS = ["direction", "proxy", "listener", "upstream"]
"""Toxiproxy's labels of its proxy metrics, in its order."""


class ProxyMetrics:
    """Renders the proxies' counters on demand (nothing is kept beside the proxies)."""

    def render(self, proxies: Iterable[Proxy]) -> tuple[bytes, str]:
        """The Prometheus text for ``proxies``, and its content type."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(list(proxies)))
        return generate_latest(registry), CONTENT_TYPE_LATEST


class _Collector:
    def __init__(self, proxies: list[Proxy]) -> None:
        self.proxies = proxies

    def collect(self) -> Iterator[Metric]:
        received = CounterMetricFamily(
            "toxiproxy_proxy_received_bytes",
            "The total number of bytes received by a proxy link in a direction",
            labels=LABELS,
        )
        sent = CounterMetricFamily(
            "toxiproxy_proxy_sent_bytes",
            "The total number of bytes sent by a proxy link in a direction",
            labels=LABELS,
        )
        for proxy in self.proxies:
            for direction, (got, gave) in proxy.byte_counts().items():
                labels = [direction, proxy.name, proxy.listen, proxy.upstream]
                received.add_metric(labels, got)
                sent.add_metric(labels, gave)
        yield received
        yield sent
