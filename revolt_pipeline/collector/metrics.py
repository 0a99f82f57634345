"""Prometheus metrics of one collector, in a registry of its own so several can share a process."""

from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics, generate_latest

if TYPE_CHECKING:
    from revolt_pipeline.collector.suppression import SuppressionList

# `*_created` series double the output and no dashboard of ours reads them.
disable_created_metrics()


class CollectorMetrics:
    def __init__(
        self,
        spool_depth: Callable[[], tuple[int, int]],
        upload_lag_seconds: Callable[[], float],
        suppression: "SuppressionList | None" = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.accepted = Counter(
            "revolt_collector_events_accepted",
            "Events acknowledged (durably spooled), by source.",
            ["source"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "revolt_collector_events_rejected",
            "Messages or requests refused, by reason. Messages refused from a known source are quarantined.",
            ["reason"],
            registry=self.registry,
        )
        self.request_bytes = Counter(
            "revolt_collector_request_bytes", "Request body bytes received, as sent.", registry=self.registry
        )
        self.requests = Counter(
            "revolt_collector_requests",
            "HTTP responses, by status and route (its template): every route, an unhandled error as 500, and "
            'the answers the HTTP layer gives itself (400, 408, 431, 503), as route "none" when before routing.',
            ["status", "route"],
            registry=self.registry,
        )
        self.open_connections = Gauge(
            "revolt_collector_open_connections", "HTTP connections open now.", registry=self.registry
        )
        self.idle_connections_closed = Counter(
            "revolt_collector_idle_connections_closed",
            "Idle keep-alive connections closed: after their timeout, or to make room at the connection limit.",
            registry=self.registry,
        )
        self.landed_objects = Counter(
            "revolt_collector_landed_objects",
            "Objects uploaded to storage, by area.",
            ["area"],
            registry=self.registry,
        )
        self.upload_errors = Counter(
            "revolt_collector_upload_errors", "Failed upload attempts (retried).", registry=self.registry
        )
        depth_events = Gauge(
            "revolt_collector_spool_events", "Events on local disk not yet landed.", registry=self.registry
        )
        depth_events.set_function(lambda: float(spool_depth()[0]))
        depth_bytes = Gauge(
            "revolt_collector_spool_bytes", "Bytes on local disk not yet landed.", registry=self.registry
        )
        depth_bytes.set_function(lambda: float(spool_depth()[1]))
        lag = Gauge(
            "revolt_collector_upload_lag_seconds",
            "Now minus the watermark: how far behind landing is.",
            registry=self.registry,
        )
        lag.set_function(upload_lag_seconds)
        self.suppressed = Counter(
            "revolt_collector_events_suppressed",
            "Events of ids on the suppression list dropped (answered as accepted), by stage: `received` as they "
            "arrived, `spooled` from the spool as they were about to land.",
            ["stage"],
            registry=self.registry,
        )
        self.suppression_read_errors = Counter(
            "revolt_collector_suppression_read_errors",
            "Failed reads of the suppression list (the last list read stays in use).",
            registry=self.registry,
        )
        if suppression is not None:
            entries = Gauge(
                "revolt_collector_suppression_entries",
                "Pseudonyms on the suppression list in use.",
                registry=self.registry,
            )
            entries.set_function(lambda: float(len(suppression.entries)))
            age = Gauge(
                "revolt_collector_suppression_age_seconds",
                "Seconds since the suppression list was last read; +Inf until it is read once.",
                registry=self.registry,
            )
            age.set_function(lambda: _or_infinity(suppression.age_seconds()))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _or_infinity(seconds: float | None) -> float:
    return float("inf") if seconds is None else seconds
