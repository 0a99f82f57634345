"""The lake resource: the object store holding landed events and every Parquet layer."""

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from revolt_pipeline.layers.staging import store_may_recover
from revolt_pipeline.retrying import Backoff, RetriesExhausted, call_with_retries
from revolt_pipeline.settings import Settings
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.transforms.engine import duckdb_connection

T = TypeVar("T")


class LakeResource(dg.ConfigurableResource):
    """Where landed events and Parquet layers live: REVOLT_STORAGE_URL (`file://` or `s3://`)."""

    url: str
    s3_endpoint_url: str | None = None
    s3_region: str = Settings.s3_region
    retries: int = Backoff.retries
    retry_seconds: float = Backoff.first_delay
    duckdb_memory_limit: str = Settings.duckdb_memory_limit
    _store: ObjectStore | None = PrivateAttr(default=None)

    @property
    def store(self) -> ObjectStore:
        if self._store is None:
            self._store = ObjectStore(self.url, s3_endpoint_url=self.s3_endpoint_url, s3_region=self.s3_region)
        return self._store

    def duckdb(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A DuckDB connection for building the lake's layers, within REVOLT_DUCKDB_MEMORY_LIMIT."""
        return duckdb_connection(memory_limit=self.duckdb_memory_limit)

    def retrying(self, context: dg.AssetExecutionContext, what: str, work: Callable[[], T]) -> T:
        """`work()`, run again with backoff while the store refuses or drops connections.

        Safe because every lake day is committed whole (layers/commits.py): an attempt cut short leaves its
        day uncommitted, and the next attempt rewrites it. Retrying here, rather than with a Dagster
        RetryPolicy, retries store faults only: a bug or bad data fails the step at once. When the retries
        run out, or the report database's do inside `work`, the step fails with a Failure saying why.
        """
        try:
            return call_with_retries(
                work,
                transient=store_may_recover,
                backoff=Backoff(retries=self.retries, first_delay=self.retry_seconds),
                what=f"{what} in {self.url}",
                consequence="Every day committed before the failure is complete; the day being written has no "
                "commit record, so nothing downstream reads it until it is built again.",
                warn=context.log.warning,
            )
        except RetriesExhausted as exhausted:
            cause: Any = exhausted.__cause__
            raise dg.Failure(
                description=str(exhausted),
                metadata={"attempts": exhausted.attempts, "last_error": f"{type(cause).__name__}: {cause}"},
            ) from exhausted
