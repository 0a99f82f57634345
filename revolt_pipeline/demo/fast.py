"""`revolt demo --fast`: the demo's plan written straight into the cleaned layer, then every later layer and report
table built by the layer library, without the collector or Dagster: a year of demo data in minutes.

`revolt demo` sends its traffic through a collector and runs every job through Dagster, so it is capped at 60 days.
A year is what the dashboard's benchmark and a person trying the dashboard need, so this writes each delivered,
on-time message of the plan (`demo/generator.plan_traffic`, the same plan) as the cleaned event the cleaning layer
makes of it: stitched to the plan's person, at its true time, with the context the demo's SDK clients send
(`demo/sender.py`) and the country cleaning finds from its address or time zone. Everything after cleaning is the
real code, day by day in the jobs' order: sessions and the daily aggregates (`layers/cleaned.py`), people and active
users, funnels, lifecycle and retention (`layers/days.DayBuilder`), the models of the last day (churn,
recommendations, segments) and every report table their loaders fill. What it leaves out: the raw layer (so
`event_catalog` stays empty), the quarantine (the plan's duplicates and too-late messages are simply not written)
and the Dagster runs (the UI shows no materializations of these days).
"""

import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from revolt_pipeline.demo.generator import DEMO_FUNNELS_FILE, PlannedMessage, Traffic
from revolt_pipeline.demo.ml_history import delivered
from revolt_pipeline.demo.pipeline import _check_report_database, _check_store
from revolt_pipeline.demo.population import PLATFORMS, REGION_COUNTRIES, device_ip
from revolt_pipeline.demo.sender import _device_context
from revolt_pipeline.layers.cleaned import aggregate_day, sessionize_day
from revolt_pipeline.layers.commits import CLEANED_EVENTS, committing
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.layers.ml import build_churn_model, load_churn_scores
from revolt_pipeline.ml.training import ChurnSettings
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import create_engine
from revolt_pipeline.settings import Settings, write_once
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import events_key, events_quarantine_key
from revolt_pipeline.transforms.cleaning import clean_events
from revolt_pipeline.transforms.engine import copy_to_parquet, duckdb_connection
from revolt_pipeline.transforms.raw import consolidate_landed
from revolt_pipeline.transforms.rules import PipelineRules

Say = Callable[[str], None]
COLLECTOR_ID = "demo-fast"  # what the cleaned events name as the collector that received them
# The churn model needs this much history before its day (training cutoffs and their labels); shorter plans get
# no models, as `revolt demo` without --ml.
MODEL_MIN_DAYS = 56


@dataclass
class FastDemo:
    """What was built: the event days, the day the models are of (None: too short a history), rows per report
    table, and seconds per stage."""

    event_days: list[date]
    models_as_of: date | None
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _cleaned_schema(workdir: Path, rules: PipelineRules) -> tuple[pa.Schema, pa.Schema]:
    """The columns of the cleaned layer's events and quarantine, as cleaning writes them (from an empty day)."""
    day = date(2000, 1, 1)
    empty_raw, events, quarantine = (str(workdir / f"schema-{name}.parquet") for name in ("raw", "e", "q"))
    with duckdb_connection() as connection:
        consolidate_landed(connection, [], empty_raw)
        result = clean_events(connection, event_date=day, raw_files={day: empty_raw}, link_files=[], rules=rules)
        copy_to_parquet(connection, result.events_query, events)
        copy_to_parquet(connection, result.quarantine_query, quarantine)
    return pq.read_schema(events), pq.read_schema(quarantine)


def cleaned_rows(traffic: Traffic, messages: list[PlannedMessage]) -> dict[str, list[Any]]:
    """The cleaned layer's columns of the messages: what cleaning makes of each once its clock is corrected and its
    sender stitched (the plan's person)."""
    region = {device.index: person.region for person in traffic.people for device in person.devices}
    contexts: dict[int, str] = {}
    columns: dict[str, list[Any]] = defaultdict(list)
    for message in messages:
        device = traffic.devices[message.device]
        zone, _, locale = region[device.index]
        address = device_ip(device, region[device.index])
        context = _device_context(device)
        if device.index not in contexts:
            contexts[device.index] = json.dumps({**context, "locale": locale, "timezone": zone})
        skew_ms = round(device.skew.total_seconds() * 1000)
        received = message.send_time.astimezone(UTC)
        values = {
            "message_id": message.message_id,
            "type": message.kind,
            "event_name": message.name,
            "person_id": message.person_key,
            "user_id": message.user_id,
            "anonymous_id": message.anonymous_id,
            "event_time": message.event_time,
            "original_timestamp": message.event_time + device.skew,
            "sent_at": message.send_time + device.skew,
            "received_at": received,
            "received_date": received.date(),
            "clock_skew_ms": skew_ms,
            "timestamp_clamped": False,
            "source": device.source,
            "platform": device.platform,
            "collector": COLLECTOR_ID,
            "app_name": context["app"]["name"],
            "app_version": message.app_version,
            "app_build": context["app"]["build"],
            "device_id": device.device_id,
            "device_manufacturer": device.manufacturer,
            "device_model": device.model,
            "device_type": device.platform,
            "os_name": device.os_name,
            "os_version": device.os_version,
            "locale": locale,
            "timezone": zone,
            "library_name": PLATFORMS[device.platform][1],
            "library_version": "demo",
            "ip": address,
            "user_agent": context.get("userAgent"),
            "country": REGION_COUNTRIES[zone][0],
            "country_method": "ip" if address else "timezone",
            "group_id": message.group_id,
            "previous_id": message.previous_id,
            "properties": json.dumps(message.properties) if message.properties is not None else None,
            "traits": json.dumps(message.traits) if message.traits is not None else None,
            "context": contexts[device.index],
        }
        for name, value in values.items():
            columns[name].append(value)
    return columns


def write_cleaned_days(store: ObjectStore, traffic: Traffic, workdir: Path, rules: PipelineRules) -> list[date]:
    """Commit the plan's delivered messages as the cleaned events of their days (UTC), every day from the first
    event's to the last's (a day without events empty); returns the days."""
    events_schema, quarantine_schema = _cleaned_schema(workdir, rules)
    messages = sorted(delivered(traffic), key=lambda m: (m.event_time, m.message_id))
    columns = cleaned_rows(traffic, messages)
    missing = set(events_schema.names) - set(columns)
    if missing:  # cleaning gained a column this does not know: say so rather than write a layer without it
        raise RuntimeError(f"the cleaned layer has columns the fast demo does not fill: {sorted(missing)}")
    table = pa.table(
        {name: pa.array(columns[name], type=events_schema.field(name).type) for name in events_schema.names}
    )
    del columns
    event_dates = [message.event_time.astimezone(UTC).date() for message in messages]
    first, last = event_dates[0], event_dates[-1]
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    offsets: dict[date, tuple[int, int]] = {}
    for index, day in enumerate(event_dates):
        begin, _ = offsets.get(day, (index, index))
        offsets[day] = (begin, index + 1)
    quarantine = workdir / "quarantine-empty.parquet"
    pq.write_table(quarantine_schema.empty_table(), quarantine)
    for day in days:
        begin, end = offsets.get(day, (0, 0))
        path = workdir / f"cleaned-{day}.parquet"
        pq.write_table(table.slice(begin, end - begin), path, compression="zstd")
        with committing(store, CLEANED_EVENTS, day) as commit:
            commit.put_file(events_key(day), str(path))
            commit.put_file(events_quarantine_key(day), str(quarantine))
        path.unlink()
    return days


@dataclass
class FastLake:
    """The days built in the lake: event days, the days of people, funnels and retention, the models' day."""

    event_days: list[date]
    people_days: list[date]
    funnel_days: list[date]
    retention_days: list[date]
    models_as_of: date | None


def fast_builder(store: ObjectStore, rules: PipelineRules, workdir: Path, memory_limit: str | None) -> DayBuilder:
    return DayBuilder(store, rules, workdir, connect=partial(duckdb_connection, memory_limit=memory_limit))


def build_fast_lake(
    builder: DayBuilder, traffic: Traffic, churn: ChurnSettings | None = None, say: Say = lambda _: None
) -> tuple[FastLake, dict[str, float]]:
    """Write the plan into the cleaned layer of the builder's store, build every later layer of its days and train
    the models for its last day (when the history is long enough); returns what was built and seconds per stage."""
    store, rules, workdir = builder.store, builder.rules, builder.workdir
    seconds: dict[str, float] = {}

    def stage(name: str, started: float) -> None:
        seconds[name] = round(time.monotonic() - started, 1)
        say(f"{name}: {seconds[name]:.0f} s")

    started = time.monotonic()
    days = write_cleaned_days(store, traffic, workdir, rules)
    stage(f"cleaned events of {len(days)} days", started)

    started = time.monotonic()
    with builder.connect() as connection:
        for day in days:
            sessionize_day(store, connection, day, rules, workdir)
    with builder.connect() as connection:
        for day in days:
            aggregate_day(store, connection, day, workdir)
    stage("sessions and daily aggregates", started)

    started = time.monotonic()
    people = [built.day for built in builder.people_days(days)]
    stage("people and active users", started)
    started = time.monotonic()
    funnels = [built.day for built in builder.funnel_days(days).days]
    stage("funnels", started)
    started = time.monotonic()
    retention = [built.day for built in builder.retention_days(people)]
    stage("lifecycle and retention", started)

    as_of = days[-1] if len(days) >= MODEL_MIN_DAYS else None
    if as_of is not None:
        started = time.monotonic()
        with builder.connect() as connection:
            build_churn_model(store, connection, as_of, churn or ChurnSettings(), workdir)
        builder.recommendations([as_of])
        builder.segments([as_of])
        stage(f"models as of {as_of}", started)
    return FastLake(days, people, funnels, retention, as_of), seconds


def load_fast_reports(builder: DayBuilder, engine: sa.Engine, lake: FastLake) -> dict[str, int]:
    """Load every report table of the lake's days into `engine` (its tables created); rows loaded by table."""
    loaded = builder.report_days(engine, lake.event_days, [])
    loaded.update(builder.active_user_reports(engine, lake.people_days))
    loaded.update(builder.people_reports(engine, lake.people_days))
    loaded.update(builder.funnel_reports(engine, lake.funnel_days))
    loaded.update(builder.retention_reports(engine, lake.retention_days))
    if lake.models_as_of is not None:
        loaded.update(builder.model_reports(engine, [lake.models_as_of]))
        loaded[schema.churn_scores.name] = load_churn_scores(
            engine, builder.store, schema.churn_scores, [lake.models_as_of]
        )
    return {name: rows.num_rows for name, rows in loaded.items()}


def build_fast_demo(
    store: ObjectStore,
    engine: sa.Engine,
    traffic: Traffic,
    rules: PipelineRules,
    workdir: Path,
    *,
    churn: ChurnSettings | None = None,
    memory_limit: str | None = None,
    say: Say = lambda _: None,
) -> FastDemo:
    """Write the plan into the cleaned layer of `store`, build every later layer of its days, train the models for
    its last day (when the history is long enough) and load every report table into `engine` (tables created)."""
    builder = fast_builder(store, rules, workdir, memory_limit)
    lake, seconds = build_fast_lake(builder, traffic, churn, say)
    started = time.monotonic()
    rows = load_fast_reports(builder, engine, lake)
    seconds["report tables"] = round(time.monotonic() - started, 1)
    say(f"report tables: {seconds['report tables']:.0f} s")
    return FastDemo(lake.event_days, lake.models_as_of, rows, seconds)


def run_fast_demo(settings: Settings, traffic: Traffic, say: Say = lambda _: None) -> FastDemo:
    """`revolt demo --fast`: the plan built into the store and report database the settings name (both checked
    first, and expected empty: the caller resets them), with the pipeline's rules and the demo's funnels."""
    from revolt_pipeline.defs.rules import pipeline_rules

    _check_report_database(settings.report_db_url)
    _check_store(settings)
    if settings.funnels_file is not None:  # the demo's funnels, unless the user wrote their own
        write_once(settings.funnels_file, DEMO_FUNNELS_FILE.read_text(encoding="utf-8"))
    engine = create_engine(settings.report_db_url)
    try:
        with tempfile.TemporaryDirectory(prefix="revolt-demo-fast-") as folder:
            return build_fast_demo(
                settings.store,
                engine,
                traffic,
                pipeline_rules(settings),
                Path(folder),
                churn=settings.churn,
                memory_limit=settings.duckdb_memory_limit,
                say=say,
            )
    finally:
        engine.dispose()


def summarize_fast_demo(built: FastDemo) -> list[str]:
    """What `revolt demo --fast` prints when done."""
    days = built.event_days
    lines = [
        f"built {len(days)} event days, {days[0]} to {days[-1]}, in {sum(built.seconds.values()):.0f} s "
        f"({', '.join(f'{name} {seconds:.0f} s' for name, seconds in built.seconds.items())})",
        f"report rows: {sum(built.rows.values()):,} in {sum(1 for rows in built.rows.values() if rows)} tables "
        f"(daily_active_users {built.rows.get('daily_active_users', 0):,}, people {built.rows.get('people', 0):,}, "
        f"events_daily {built.rows.get('events_daily', 0):,})",
    ]
    if built.models_as_of is None:
        lines.append(f"no models: they need at least {MODEL_MIN_DAYS} days of history")
    else:
        lines.append(f"models as of {built.models_as_of}: churn_scores, recommendations, person_segments loaded")
    lines.append("see them: revolt dashboard (no Dagster runs were made: the Dagster UI shows none of these days)")
    return lines


def settings_in(folder: Path, settings: Settings) -> Settings:
    """`settings` with everything a fast demo writes (the store, the report database, the funnels file) in
    `folder`: a throwaway demo that leaves the configured locations alone."""
    return replace(
        settings,
        home=folder,
        storage_url=(folder / "store").as_uri(),
        report_db_url=f"sqlite:///{folder / 'reports.sqlite'}",
        funnels_file=folder / "funnels.toml",
        report_db_url_from_env=False,
    )
