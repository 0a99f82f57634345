"""`revolt demo`: demo traffic through an in-process collector, then every layer through Dagster.

The Dagster definitions are the ones the UI uses; only the collector resource is the in-process
one. Raw days run as one partition range, then the cascade's own sensors are evaluated and the runs
they request executed, so the demo cascades exactly as production does.
"""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg

from revolt_pipeline.defs.cascade import InProcessCascade, partition_range_tags, tagged_days
from revolt_pipeline.defs.ingestion.resources import InProcessCollectorResource
from revolt_pipeline.demo.generator import plan_traffic
from revolt_pipeline.demo.run import (
    ensure_demo_sources,
    in_process_collector,
    send_to_in_process_collector,
    write_ground_truth,
)
from revolt_pipeline.settings import Settings

Say = Callable[[str], None]


@dataclass
class DemoResult:
    truth: dict[str, Any]
    ground_truth_path: Path
    instance_home: Path
    received_range: tuple[str, str]
    event_range: tuple[str, str]
    run_ids: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def existing_demo_data(settings: Settings) -> list[str]:
    """What a previous run left that would mix with a new one."""
    leftovers = []
    if settings.storage_url.startswith("file://"):
        store = Path(settings.storage_url.removeprefix("file://"))
        if (store / "landing").exists():
            leftovers.append(str(store))
    return leftovers


def run_demo(
    settings: Settings,
    *,
    seed: int,
    users: int,
    days: int,
    start: date | None,
    say: Say,
    progress: Callable[[int, int], None] | None = None,
) -> DemoResult:
    from revolt_pipeline.definitions import build_definitions

    seconds: dict[str, float] = {}
    began = time.monotonic()
    traffic = plan_traffic(seed=seed, users=users, days=days, start=start)
    write_keys = ensure_demo_sources(settings.sources_file)
    truth, truth_path = write_ground_truth(settings, traffic, None)
    instance_home = settings.home / "dagster"
    instance_home.mkdir(parents=True, exist_ok=True)
    with in_process_collector(settings, traffic) as (server, clock):
        say(f"sending {len(traffic.messages):,} messages of {users} people over {days} days from {traffic.start}")
        send_to_in_process_collector(server, clock, traffic, write_keys, progress)
        seconds["send"] = time.monotonic() - began
        definitions = build_definitions(
            settings, collector=InProcessCollectorResource(collector_id=server.collector_id)
        )
        received = (traffic.messages[0].send_time.date().isoformat(), traffic.end.date().isoformat())
        run_ids: dict[str, str] = {}
        with dg.DagsterInstance.from_config(str(instance_home)) as instance:
            cascade = InProcessCascade(definitions, instance)
            stage = time.monotonic()
            say(f"raw_job: received days {received[0]} to {received[1]}")
            raw = _execute(definitions, "raw_job", instance, received)
            run_ids["raw_job"] = raw.run_id
            seconds["raw_job"] = time.monotonic() - stage
            ranges: dict[str, tuple[str, str]] = {}

            def execute(job: str, tags: Mapping[str, str]) -> dg.ExecuteInProcessResult:
                days = tagged_days(tags) or received
                say(f"{job}: {'received' if job == 'catalog_job' else 'event'} days {days[0]} to {days[1]}")
                stage = time.monotonic()
                result = _execute(definitions, job, instance, days)
                run_ids[job], ranges[job] = result.run_id, days
                seconds[job] = time.monotonic() - stage
                return result

            cascade.follow(execute)
            if "clean_job" not in ranges:
                raise RuntimeError("the raw days touched no event day inside the partitions")
            event_range = ranges["clean_job"]
    seconds["total"] = time.monotonic() - began
    return DemoResult(truth, truth_path, instance_home, received, event_range, run_ids, seconds)


def _execute(
    definitions: dg.Definitions, job: str, instance: dg.DagsterInstance, days: tuple[str, str]
) -> dg.ExecuteInProcessResult:
    result = definitions.resolve_job_def(job).execute_in_process(
        instance=instance,
        tags=partition_range_tags(*days),
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        raise_on_error=True,
    )
    failed = [
        evaluation
        for evaluation in result.get_asset_check_evaluations()
        if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    ]
    if failed:
        names = ", ".join(f"{check.asset_key.to_user_string()}:{check.check_name}" for check in failed)
        raise RuntimeError(f"{job} finished with failed asset checks: {names}")
    return result


def summarize(settings: Settings, result: DemoResult) -> list[str]:
    """What each layer holds after the demo, and where to find it."""
    import sqlalchemy as sa

    from revolt_pipeline.layers.staging import local_copies
    from revolt_pipeline.reports import schema
    from revolt_pipeline.reports.loader import create_engine
    from revolt_pipeline.transforms.engine import duckdb_connection, sql_list

    store = settings.store
    keys = {
        area: [i.key for i in store.list(area) if i.key.endswith(".parquet")]
        for area in ("raw_events", "events", "events_quarantine", "sessions")
    }
    counts: dict[str, int] = {}
    with duckdb_connection() as connection:
        for area, area_keys in keys.items():
            with local_copies(store, area_keys) as paths:
                counts[area] = (
                    connection.execute(f"SELECT count(*) FROM read_parquet({sql_list(paths)})").fetchone()[0]
                    if paths
                    else 0
                )
                if area == "events_quarantine" and paths:
                    reasons = connection.execute(
                        f"SELECT reason, count(*) FROM read_parquet({sql_list(paths)}) GROUP BY 1 ORDER BY 1"
                    ).fetchall()
    engine = create_engine(settings.report_db_url)
    with engine.connect() as connection:
        dau = dict(
            connection.execute(
                sa.select(schema.daily_active_users.c.event_date, schema.daily_active_users.c.active_users)
                .where(schema.daily_active_users.c.platform == "all")
                .order_by(schema.daily_active_users.c.event_date)
            ).all()
        )
        sessions = dict(
            connection.execute(
                sa.select(schema.sessions_daily.c.session_date, schema.sessions_daily.c.sessions).where(
                    schema.sessions_daily.c.platform == "all"
                )
            ).all()
        )
    engine.dispose()
    totals = result.truth["totals"]
    lines = [
        f"collector: {totals['messages_sent']:,} accepted, {totals['malformed']:,} refused and quarantined",
        f"raw_events: {counts['raw_events']:,} rows   events: {counts['events']:,}   "
        f"quarantined: {counts['events_quarantine']:,} (" + ", ".join(f"{reason} {n:,}" for reason, n in reasons) + ")",
        f"sessions: {counts['sessions']:,}",
        "day          active users   sessions",
    ]
    lines += [f"{day}   {users:>12,}   {sessions.get(day, 0):>8,}" for day, users in dau.items()]
    lines += [
        f"report database: {settings.report_db_url}",
        f"Parquet lake:    {settings.storage_url}",
        f"ground truth:    {result.ground_truth_path}",
        f"Dagster runs:    DAGSTER_HOME={result.instance_home} dagster dev -w workspace.yaml",
    ]
    return lines
