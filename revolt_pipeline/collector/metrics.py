"""Prometheus metrics of one collector, in a registry of its own so several can share a process."""

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics, generate_latest

# `*_created` series double the output and no dashboard of ours reads them.
disable_created_metrics()


class CollectorMetrics:
    def __init__(
        self,
        spool_depth: Callable[[], tuple[int, int]],
        upload_lag_seconds: Callable[[], float],
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

    def render(self) -> bytes:
        return generate_latest(self.registry)
