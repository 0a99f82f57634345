"""The ingestion resource: what the pipeline needs from the collector, over HTTP or in-process."""

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import dagster as dg

from revolt_pipeline.collector.admin_client import CollectorAdminClient
from revolt_pipeline.collector.reports import FlushReport, LandedReport
from revolt_pipeline.collector.server import in_process_collector

T = TypeVar("T")


class CollectorResource(dg.ConfigurableResource, ABC):
    """Make the collector land what it holds, and ask what it landed for a received date."""

    @abstractmethod
    def flush(self) -> FlushReport: ...

    @abstractmethod
    def landed(self, received_date: date) -> LandedReport: ...

    @abstractmethod
    def stats(self) -> dict[str, Any]: ...

    @abstractmethod
    def health(self) -> dict[str, Any]: ...


class HttpCollectorResource(CollectorResource):
    """A collector reached through its admin API, the production setup."""

    url: str
    admin_token: str
    timeout_seconds: float = 120.0

    def _call(self, request: Callable[[CollectorAdminClient], T]) -> T:
        client = CollectorAdminClient(self.url, self.admin_token, self.timeout_seconds)
        try:
            return request(client)
        finally:
            client.close()

    def flush(self) -> FlushReport:
        return self._call(CollectorAdminClient.flush)

    def landed(self, received_date: date) -> LandedReport:
        return self._call(lambda client: client.landed(received_date))

    def stats(self) -> dict[str, Any]:
        return self._call(CollectorAdminClient.stats)

    def health(self) -> dict[str, Any]:
        return self._call(CollectorAdminClient.health)


class InProcessCollectorResource(CollectorResource):
    """A collector running in this very process (`revolt demo`, tests): called directly, no HTTP."""

    collector_id: str

    def flush(self) -> FlushReport:
        server = in_process_collector(self.collector_id)
        return FlushReport.from_json(server.call(server.service.flush()))

    def landed(self, received_date: date) -> LandedReport:
        server = in_process_collector(self.collector_id)
        return LandedReport.from_json(server.call(_async(server.service.landed, received_date)))

    def stats(self) -> dict[str, Any]:
        server = in_process_collector(self.collector_id)
        return server.call(_async(server.service.stats))

    def health(self) -> dict[str, Any]:
        server = in_process_collector(self.collector_id)
        return server.call(_async(server.service.health))


async def _async(function: Any, *args: Any) -> Any:
    """Run a service method on the collector's event loop, where its spool state lives."""
    return function(*args)
