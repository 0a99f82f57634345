"""The whole pipeline against a real collector on a simulated clock and a real Dagster instance."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest

from revolt_pipeline.clock import SimulatedClock
from revolt_pipeline.collector.server import CollectorServer
from revolt_pipeline.collector.service import CollectorConfig
from revolt_pipeline.definitions import build_definitions
from revolt_pipeline.defs.cascade import InProcessCascade, partition_range_tags
from revolt_pipeline.defs.ingestion.resources import InProcessCollectorResource
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import create_engine, read_rows
from revolt_pipeline.settings import Settings
from revolt_pipeline_tests.fixtures.collector import ADMIN_TOKEN, SOURCES, write_sources

WEB_KEY = SOURCES["web"][1]
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def pipeline_environment(monkeypatch: pytest.MonkeyPatch, home: Path, **overrides: str) -> Settings:
    """REVOLT_* settings for a throwaway home; `overrides` switch storage or the report database."""
    environment = {
        "REVOLT_HOME": str(home),
        "REVOLT_ADMIN_TOKEN": ADMIN_TOKEN,
        "REVOLT_SEGMENT_MAX_AGE_SECONDS": "3600",
        **overrides,
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    write_sources(home / "sources.toml")
    return Settings.from_env()


@dataclass
class Pipeline:
    settings: Settings
    server: CollectorServer
    clock: SimulatedClock
    definitions: dg.Definitions
    instance: dg.DagsterInstance
    http: httpx.Client
    cascade: InProcessCascade

    def send(self, moment: datetime, messages: list[dict[str, Any]], sent_at: datetime | None = None) -> None:
        """Deliver a batch at `moment` on the collector's clock; `sent_at` is the device's clock then."""
        self.clock.set(moment)
        body = {"batch": messages, "sentAt": rfc3339(sent_at or moment)}
        response = self.http.post(self.server.url + "/v1/batch", json=body, auth=(WEB_KEY, ""))
        assert response.status_code == 200, response.text

    def complete(self, day: date) -> None:
        """Move past the end of `day` and land everything, so its watermark has passed."""
        self.clock.set(datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1, minutes=1))
        self.server.call(self.server.service.flush())

    def run(self, job: str, first: str, last: str | None = None, **config: Any) -> dg.ExecuteInProcessResult:
        run_config: dict[str, Any] = dict(QUIET)
        if config:
            run_config["ops"] = config
        return self.definitions.resolve_job_def(job).execute_in_process(
            instance=self.instance,
            tags=partition_range_tags(first, last or first),
            run_config=run_config,
            raise_on_error=False,
        )

    def follow_cascade(self) -> list[tuple[dg.RunRequest, dg.ExecuteInProcessResult]]:
        """Evaluate the cascade's sensors and execute the runs they request, as the daemon would."""
        return self.cascade.follow()

    def metadata(self, asset: str, partition: str) -> dict[str, Any]:
        """The metadata of a partition's latest materialization, as the UI shows it for that partition."""
        records = self.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
        ).records
        assert records, f"{asset} has no materialization for {partition}"
        return {key: value.value for key, value in records[0].asset_materialization.metadata.items()}

    def report_rows(self) -> dict[str, list[dict[str, Any]]]:
        engine = create_engine(self.settings.report_db_url)
        try:
            tables = [*schema.AGGREGATE_TABLES.values(), schema.event_catalog]
            return {table.name: read_rows(engine, table) for table in tables}
        finally:
            engine.dispose()

    def dau(self, day: str) -> int | None:
        for row in self.report_rows()["daily_active_users"]:
            if row["event_date"].isoformat() == day:
                return row["active_users"]
        return None


@contextmanager
def running_pipeline(settings: Settings, start: datetime) -> Iterator[Pipeline]:
    clock = SimulatedClock(start)
    with CollectorServer(CollectorConfig.from_settings(settings), clock=clock) as server, httpx.Client() as http:
        definitions = build_definitions(
            settings, collector=InProcessCollectorResource(collector_id=server.collector_id)
        )
        instance_home = settings.home / "dagster"
        instance_home.mkdir(parents=True, exist_ok=True)
        with dg.DagsterInstance.from_config(str(instance_home)) as instance:
            yield Pipeline(
                settings, server, clock, definitions, instance, http, InProcessCascade(definitions, instance)
            )


def track(message_id: str, user: str, moment: datetime, event: str = "Timer Started", **extra: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": message_id,
        "userId": user,
        "event": event,
        "originalTimestamp": rfc3339(moment),
        "context": {"app": {"version": "4.2"}},
        **extra,
    }
