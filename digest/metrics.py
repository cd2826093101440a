"""Prometheus metrics in a registry of our own, one per process (not prometheus_client's default registry,
which libraries and tests also write to); `serve` shares it between the web app and the scheduler.

The web app exposes them at /metrics:

    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

log = logging.getLogger(__name__)
QUEUED = ("pending", "retry", "sending")  # ledger states still waiting for a final outcome


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.papers_fetched = Counter(
            "digest_papers_fetched",
            "Papers stored by fetches, by source and kind of change",
            ["source", "change"],
            registry=r,
        )
        self.fetch_errors = Counter(
            "digest_fetch_errors", "Source fetches that failed", ["source"], registry=r
        )
        self.digests = Counter(
            "digest_digests",
            "Digest deliveries by outcome (sent, failed, retry, unknown, skipped)",
            ["outcome"],
            registry=r,
        )
        self.send_latency = Histogram(
            "digest_send_latency_seconds",
            "From a digest falling due to its delivery being recorded",
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600),
            registry=r,
        )
        self.job_runs = Counter(
            "digest_job_runs", "Scheduler job runs by job and result", ["job", "result"], registry=r
        )
        self.leader = Gauge(
            "digest_scheduler_leader", "1 while this process runs the scheduler's jobs", registry=r
        )

    def watch_ledger(self, read: Callable[[], dict[str, int]]) -> Callable[[], None]:
        """Publish the ledger's counts by status, read at each scrape: they cover every process.
        Returns the function that stops it (when the database it reads is closed)."""
        collector = _LedgerCollector(read)
        self.registry.register(collector)
        return lambda: self.registry.unregister(collector)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _LedgerCollector(Collector):
    def __init__(self, read: Callable[[], dict[str, int]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self._read()
        except Exception:  # a scrape must answer even when the database does not
            log.warning("metrics: cannot read the ledger", exc_info=True)
            return
        rows = GaugeMetricFamily(
            "digest_deliveries", "Ledger rows by status, all processes", labels=["status"]
        )
        for status, count in sorted(counts.items()):
            rows.add_metric([status], count)
        yield rows
        waiting = sum(counts.get(status, 0) for status in QUEUED)
        yield GaugeMetricFamily("digest_queue_depth", "Digests enqueued and not yet done", value=waiting)


_metrics = Metrics()  # one per process: the web app and the scheduler in `serve` share it


def process_metrics() -> Metrics:
    return _metrics


def render_metrics() -> bytes:
    return _metrics.render()


async def metrics_endpoint(_request: Request) -> Response:
    """Starlette/FastAPI endpoint: `app.add_route("/metrics", metrics_endpoint, include_in_schema=False)`."""
    return Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)
