"""Every layer of some days, in the order the Dagster jobs build them, for code that runs without Dagster.

`raw_job` builds received days; `clean_job` the event days their rows belong to, with a day more on each
side for the sessions; `report_job` loads those event days into the report database. The assets call the
layer functions one layer at a time and Dagster orders them; tests and benchmarks call these instead, so
the order is stated here and nowhere else outside `defs/`.
"""

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar

import duckdb
import pyarrow as pa
import sqlalchemy as sa

from revolt_pipeline.layers.cleaned import AggregateDay, CleanDay, SessionDay, aggregate_day, clean_days, sessionize_day
from revolt_pipeline.layers.commits import committed_days
from revolt_pipeline.layers.funnels import FUNNELS, FunnelDays, build_funnel_days, load_funnel_steps
from revolt_pipeline.layers.people import (
    ACTIVE_USERS_TABLES,
    PEOPLE,
    PeopleDay,
    build_people_days,
    load_active_users,
    load_people,
    load_person_days,
)
from revolt_pipeline.layers.raw import RawDay, build_raw_day
from revolt_pipeline.layers.recommendations import (
    RecommendationsDay,
    RecommenderSettings,
    build_recommendations,
    load_recommendations,
)
from revolt_pipeline.layers.report_tables import AGGREGATE_TABLES, load_aggregate, load_event_catalog
from revolt_pipeline.layers.retention import RetentionDay, build_retention_days, load_retention_table
from revolt_pipeline.layers.segments import SegmenterSettings, SegmentsDay, build_segments, load_segment_table
from revolt_pipeline.reports import schema
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.transforms.engine import duckdb_connection
from revolt_pipeline.transforms.rules import PipelineRules

Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]
DayT = TypeVar("DayT", CleanDay, SessionDay, AggregateDay, PeopleDay)
Step = Callable[[str], AbstractContextManager[object]]


def _untimed(_name: str) -> AbstractContextManager[object]:
    return nullcontext()


@dataclass(frozen=True)
class DayBuilder:
    """Where and how days are built: the store, the rules, a folder for local files, and DuckDB.

    `connect` opens a DuckDB connection for each step, as each asset opens its own (pass
    `partial(duckdb_connection, memory_limit=settings.duckdb_memory_limit)` for the configured limit);
    `step(name)` wraps each step, for callers that time them. The local Parquet files the results
    name stay in `workdir`.
    """

    store: ObjectStore
    rules: PipelineRules
    workdir: Path
    connect: Connect = duckdb_connection
    step: Step = _untimed
    # The raw layer's connection when it is not `connect`'s (`layers/engines.EngineConnections.raw_connect`).
    raw_connect: Connect | None = None

    def raw_days(self, days: Iterable[date]) -> list[RawDay]:
        """`raw_events` of each received day."""
        with self.step("build_raw_day"), (self.raw_connect or self.connect)() as connection:
            return [build_raw_day(self.store, connection, day, self.rules, self.workdir) for day in days]

    def event_days(self, days: Iterable[date]) -> "EventDays":
        """`events`, then `sessions`, then `daily_aggregates` of each event day: each layer of every day before
        the next layer of any, since sessions read the cleaned events of the days around theirs."""
        days = sorted(days)
        built = EventDays()
        with self.step("clean_days"), self.connect() as connection:
            built.cleaned = list(clean_days(self.store, connection, days, self.rules, self.workdir))
        with self.step("sessionize_day"), self.connect() as connection:
            built.sessions = [sessionize_day(self.store, connection, day, self.rules, self.workdir) for day in days]
        with self.step("aggregate_day"), self.connect() as connection:
            built.aggregates = [aggregate_day(self.store, connection, day, self.workdir) for day in days]
        return built

    def people_days(self, changed: Iterable[date]) -> list[PeopleDay]:
        """`person_days`, `people` and active users from the first changed day through the last day built.

        Each snapshot reads the one before, so a change on day D reopens every later snapshot; a day in between
        the cleaned layer never built (nothing received) has no one active. A snapshot that finds people seen
        earlier now stitched into someone else reopens the days from when they were first seen, as the cascade
        does (`restitched_since`)."""
        changed = sorted(changed)
        if not changed:
            return []
        built: dict[date, PeopleDay] = {}
        first = changed[0]
        while True:
            history = committed_days(self.store, PEOPLE)
            earlier = [day for day in history if day < first]
            start = min(first, max(earlier) + timedelta(days=1)) if earlier else first
            last = max([changed[-1], *history])
            days = [start + timedelta(days=n) for n in range((last - start).days + 1)]
            with self.step("build_people_days"), self.connect() as connection:
                rebuilt = build_people_days(self.store, connection, days, self.rules, self.workdir)
            built.update({day.day: day for day in rebuilt})
            stale = [day.counts.restitched_since for day in rebuilt if day.counts.restitched_since is not None]
            if not stale or min(stale) >= start:
                return [built[day] for day in sorted(built)]
            first = min(stale)

    def report_days(self, engine: sa.Engine, event_days: list[date], received_days: list[date]) -> dict[str, pa.Table]:
        """The report tables of the event days and `event_catalog` of the received days; rows loaded by table."""
        loaded = {}
        for table in AGGREGATE_TABLES:
            with self.step(f"load_{table.name}"):
                loaded[table.name] = load_aggregate(engine, self.store, table, event_days)
        with self.step("load_event_catalog"):
            loaded[schema.event_catalog.name] = load_event_catalog(engine, self.store, received_days)
        return loaded

    def active_user_reports(self, engine: sa.Engine, days: list[date]) -> dict[str, pa.Table]:
        """The active-users report tables of the days; rows loaded by table."""
        loaded = {}
        for table, _ in ACTIVE_USERS_TABLES:
            with self.step(f"load_{table.name}"):
                loaded[table.name] = load_active_users(engine, self.store, table, days)
        return loaded

    def people_reports(self, engine: sa.Engine, days: list[date]) -> dict[str, pa.Table]:
        """`person_days` and `person_sessions` of the days, and `people` from the latest snapshot built; rows loaded
        by table."""
        with self.step("load_person_days"):
            loaded = {schema.person_days.name: load_person_days(engine, self.store, schema.person_days, days)}
        with self.step("load_person_sessions"):
            loaded[schema.person_sessions.name] = load_person_days(engine, self.store, schema.person_sessions, days)
        with self.step("load_people"):
            loaded[schema.people.name] = load_people(engine, self.store).rows
        return loaded

    def funnel_days(self, changed: Iterable[date]) -> FunnelDays:
        """The funnels of the changed event days and of the days before whose windows reach them, as
        `funnels_after_clean` rebuilds them (days the people layer found re-stitched are the caller's to add)."""
        days = sorted(self.rules.funnel_days_to_rebuild(set(changed)))
        with self.step("build_funnel_days"), self.connect() as connection:
            return build_funnel_days(self.store, connection, days, self.rules, self.workdir)

    def funnel_reports(self, engine: sa.Engine, days: list[date]) -> dict[str, pa.Table]:
        """The funnel step tables of the days (the weekly ones: of their weeks); rows loaded by table."""
        loaded = {}
        for table in schema.FUNNEL_TABLES:
            with self.step(f"load_{table.name}"):
                loaded[table.name] = load_funnel_steps(engine, self.store, table, days)
        return loaded

    def retention_days(self, days: Iterable[date]) -> list[RetentionDay]:
        """`cohort_activity`, lifecycle and retention of the days the people layer built (in order, after it)."""
        with self.step("build_retention_days"), self.connect() as connection:
            return build_retention_days(self.store, connection, sorted(days), self.rules, self.workdir)

    def retention_reports(self, engine: sa.Engine, days: list[date]) -> dict[str, pa.Table]:
        """The lifecycle and retention tables' rows the days changed; rows loaded by table."""
        loaded = {}
        for table in schema.RETENTION_TABLES:
            with self.step(f"load_{table.name}"):
                loaded[table.name] = load_retention_table(engine, self.store, table, days)
        return loaded

    def recommendations(
        self, days: Iterable[date], settings: RecommenderSettings | None = None
    ) -> list[RecommendationsDay]:
        """The item model, its evaluation and the suggestions as of the end of each day (from the sessionized days
        through it: models are trained on demand, `ml_job`, never by the cascade, so not by `every_layer` either)."""
        with self.step("build_recommendations"), self.connect() as connection:
            return build_recommendations(
                self.store, connection, sorted(days), self.workdir, settings or RecommenderSettings()
            )

    def segments(self, days: Iterable[date], settings: SegmenterSettings | None = None) -> list[SegmentsDay]:
        """The behavioural segments as of the end of each day (from the people's features as of it)."""
        with self.step("build_segments"), self.connect() as connection:
            return build_segments(self.store, connection, sorted(days), self.workdir, settings or SegmenterSettings())

    def model_reports(self, engine: sa.Engine, days: list[date]) -> dict[str, pa.Table]:
        """The recommendations and segments tables as of the days; rows loaded by table."""
        loaded = {}
        with self.step("load_recommendations"):
            loaded[schema.recommendations.name] = load_recommendations(engine, self.store, schema.recommendations, days)
        for table in schema.SEGMENT_TABLES:
            with self.step(f"load_{table.name}"):
                loaded[table.name] = load_segment_table(engine, self.store, table, days)
        return loaded

    def every_layer(self, received_days: Iterable[date], engine: sa.Engine | None = None) -> "BuiltDays":
        """The received days through every layer, as the cascade builds them; the report tables too if
        `engine` names a report database (its tables created)."""
        raw = self.raw_days(sorted(received_days))
        touched = {date.fromisoformat(day) for built in raw for day in built.profile.assigned_dates}
        event_dates = sorted(self.rules.days_to_clean({built.day for built in raw}, touched))
        layers = self.event_days(event_dates)
        built = BuiltDays(layers.cleaned, layers.sessions, layers.aggregates, raw=raw, event_dates=event_dates)
        built.people = self.people_days(event_dates)
        self._clean_restitched_days(built)
        event_dates = built.event_dates
        stitched = [day.counts.restitched_since for day in built.people if day.counts.restitched_since]
        built.funnels = self.funnel_days([*event_dates, *self._through_latest_funnel_day(stitched)])
        built.retention = self.retention_days([day.day for day in built.people])
        if engine is not None:
            built.reports = self.every_report(engine, built)
        return built

    def every_report(self, engine: sa.Engine, built: "BuiltDays") -> dict[str, pa.Table]:
        """The report tables of days `every_layer` built, loaded into `engine` (its tables created), as the
        cascade's report jobs load them: a lake built once can so be loaded into several report databases."""
        reports = self.report_days(engine, built.event_dates, [day.day for day in built.raw])
        reports.update(self.active_user_reports(engine, [day.day for day in built.people]))
        if built.people:
            reports.update(self.people_reports(engine, [day.day for day in built.people]))
        reports.update(self.funnel_reports(engine, [day.day for day in built.funnels.days]))
        reports.update(self.retention_reports(engine, [day.day for day in built.retention]))
        return reports

    def _clean_restitched_days(self, built: "BuiltDays") -> None:
        """Clean again the event days whose cleaned events the identity links now stitch to another person (and the
        days whose sessions read them), then people from them on, as `clean_after_restitch` and the cascade after
        it do: a late identify leaves the anonymous id in the days cleaned before it arrived."""
        cleaned_again: set[date] = set()
        while restitched := {day.day for day in built.people if day.person_day_counts.restitched_events}:
            if restitched & cleaned_again:  # cleaning and the people layer disagree on the links: never loop
                raise RuntimeError(
                    f"{min(restitched & cleaned_again)} cleaned again still holds events stitched otherwise"
                )
            days = sorted(self.rules.days_to_rebuild(restitched))
            cleaned_again.update(days)
            layers = self.event_days(days)
            built.cleaned = _replaced(built.cleaned, layers.cleaned)
            built.sessions = _replaced(built.sessions, layers.sessions)
            built.aggregates = _replaced(built.aggregates, layers.aggregates)
            built.people = _replaced(built.people, self.people_days(days))
            built.event_dates = sorted({*built.event_dates, *days})

    def _through_latest_funnel_day(self, since: list[date]) -> list[date]:
        """Every funnel day from the earliest of `since` through the latest built, as `funnels_after_restitch`
        rebuilds them: people seen then are now stitched into others."""
        if not since:
            return []
        last = max([*committed_days(self.store, FUNNELS), *since])
        return [min(since) + timedelta(days=n) for n in range((last - min(since)).days + 1)]


def _replaced(days: list[DayT], rebuilt: list[DayT]) -> list[DayT]:
    """`days` with the days of `rebuilt` in their place, in date order."""
    by_day = {day.day: day for day in days} | {day.day: day for day in rebuilt}
    return [by_day[day] for day in sorted(by_day)]


@dataclass
class EventDays:
    cleaned: list[CleanDay] = field(default_factory=list)
    sessions: list[SessionDay] = field(default_factory=list)
    aggregates: list[AggregateDay] = field(default_factory=list)


@dataclass
class BuiltDays(EventDays):
    raw: list[RawDay] = field(default_factory=list)
    event_dates: list[date] = field(default_factory=list)
    reports: dict[str, pa.Table] = field(default_factory=dict)
    people: list[PeopleDay] = field(default_factory=list)
    funnels: FunnelDays = field(default_factory=lambda: FunnelDays([], []))
    retention: list[RetentionDay] = field(default_factory=list)
