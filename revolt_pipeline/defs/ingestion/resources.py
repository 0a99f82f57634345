"""The ingestion resource: what the pipeline needs from the collector, over HTTP or in-process."""

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import httpx
from pydantic import Field

from revolt_pipeline.collector.admin_client import CollectorAdminClient, CollectorAdminError, FlushReport, LandedReport
from revolt_pipeline.collector.server import in_process_collector
from revolt_pipeline.settings import ADMIN_TOKEN_ENV

T = TypeVar("T")


class CollectorUnavailable(dg.Failure, CollectorAdminError):
    """The collector cannot be reached, or refuses the pipeline's token.

    A Dagster Failure, so a failed run's error begins with what to start or set rather than with the
    machinery it went through; still a CollectorAdminError to callers outside Dagster.
    """


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
    """A collector reached through its admin API, the production setup.

    The admin token is a secret: give it as `dg.EnvVar("REVOLT_ADMIN_TOKEN")`, or give the file that holds
    it, so that Dagster's UI shows a variable's name or a path, never the token.
    """

    url: str
    admin_token: str | None = Field(
        default=None, description="The admin API's bearer token; pass it as an EnvVar, never as a value."
    )
    admin_token_file: str | None = Field(
        default=None, description="A file holding the admin token (the embedded default's REVOLT_HOME/admin-token)."
    )
    timeout_seconds: float = 120.0

    def _token(self) -> str:
        if self.admin_token:
            return self.admin_token
        if self.admin_token_file:
            try:
                return Path(self.admin_token_file).read_text().strip()
            except OSError as exc:
                raise CollectorUnavailable(
                    f"cannot read the admin token file: {exc}. The collector writes it the first time it starts "
                    f"(`revolt collector serve`, same REVOLT_HOME); or set {ADMIN_TOKEN_ENV} to its token"
                ) from None
        raise CollectorAdminError("the collector resource needs admin_token (an EnvVar) or admin_token_file")

    def _call(self, request: Callable[[CollectorAdminClient], T]) -> T:
        client = CollectorAdminClient(self.url, self._token(), self.timeout_seconds)
        try:
            return request(client)
        except CollectorAdminError as exc:
            explained = self._explained(exc)
            if explained is None:
                raise
            raise explained from None  # the message holds the cause; its stack is the HTTP client's
        finally:
            client.close()

    def _explained(self, error: CollectorAdminError) -> CollectorUnavailable | None:
        """The admin client's error with what to start or set, when the collector is down or refuses the token."""
        if isinstance(error.__cause__, httpx.TransportError):
            return CollectorUnavailable(
                f"{error}. The pipeline asks the collector to land what it holds before it reads a day: start it "
                "(`revolt collector serve`), or set REVOLT_COLLECTOR_URL to the address it listens on"
            )
        if " answered 401" in str(error) or " answered 403" in str(error):
            where = f"the token in {self.admin_token_file}" if self.admin_token_file else ADMIN_TOKEN_ENV
            return CollectorUnavailable(
                f"the collector at {self.url} refused the admin token ({where}): give the pipeline the token "
                f"the collector uses, in {ADMIN_TOKEN_ENV} (`revolt collector admin-token` prints it where the "
                f"collector runs). {error}"
            )
        return None

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
        return server.call(server.service.health())


async def _async(function: Any, *args: Any) -> Any:
    """Run a service method on the collector's event loop, where its spool state lives."""
    return function(*args)
