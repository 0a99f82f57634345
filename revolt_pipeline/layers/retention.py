"""The retention layer of event days: `cohort_activity`, lifecycle and retention rows, built day after day.

A day reads the people layer's outputs (its people snapshot and the person days of its lifecycle window), the
`cohort_activity` snapshot of the day before, the day's sessionized events when retention is anchored on
events, and the identity links: never the history before them, so one day costs the same after a week or
a year. Days are built in order, after the people layer's days (the same runs: `people_job`).

A week's lifecycle row and a cohort's retention rows change with every day of their horizon: each is a lake
object of its own (keyed by the week or the cohort), rewritten by each of those days and committed under the
week's or cohort's date, so the report tables (partitioned by week and by cohort) load them like any day.
"""

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from revolt_pipeline.layers.cleaned import committed_identity_links
from revolt_pipeline.layers.commits import SESSIONIZED, Layer, committed, committed_days, committing
from revolt_pipeline.layers.people import PEOPLE
from revolt_pipeline.layers.report_tables import load_lake_days
from revolt_pipeline.layers.staging import local_copies
from revolt_pipeline.reports import schema
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import (
    active_users_key,
    cohort_activity_key,
    lifecycle_daily_key,
    lifecycle_weekly_key,
    people_key,
    person_days_key,
    person_platforms_key,
    retention_daily_key,
    retention_weekly_key,
    sessionized_events_key,
    sessions_key,
)
from revolt_pipeline.transforms.engine import copy_to_parquet, parquet
from revolt_pipeline.transforms.people import stitch_people
from revolt_pipeline.transforms.retention import (
    BY_APP_VERSION,
    BY_PLATFORM,
    DAY_PERIODS,
    NO_NAMED_EVENTS,
    WEEK_PERIODS,
    cohort_activity_query,
    day_activity_query,
    day_cohorts,
    horizon_start,
    lifecycle_daily_query,
    lifecycle_weekly_query,
    lifecycle_window,
    person_platforms_query,
    retention_daily_query,
    retention_weekly_query,
    week_cohorts,
    week_start,
)
from revolt_pipeline.transforms.rules import PipelineRules

__all__ = ["DAY_PERIODS", "WEEK_PERIODS", "RetentionDay", "build_retention_days", "load_retention_table"]

RETENTION = Layer(
    "retention",
    "cohort_activity, person_platforms, lifecycle_daily, lifecycle_daily_by_platform and "
    "lifecycle_daily_by_app_version",
)
# Objects keyed by a week or a cohort, rewritten by later days: each committed under its own date.
LIFECYCLE_WEEKS = Layer(
    "lifecycle_weekly",
    "lifecycle_weekly, lifecycle_weekly_by_platform and lifecycle_weekly_by_app_version (a week's rows, as of its "
    "last day built)",
)
# Each lifecycle table, by what it is broken down by: in total, per platform, per platform and app version.
DAY_LIFECYCLE_TABLES: dict[str, tuple[str, ...]] = {
    schema.lifecycle_daily.name: (),
    schema.lifecycle_daily_by_platform.name: BY_PLATFORM,
    schema.lifecycle_daily_by_app_version.name: BY_APP_VERSION,
}
WEEK_LIFECYCLE_TABLES: dict[str, tuple[str, ...]] = {
    schema.lifecycle_weekly.name: (),
    schema.lifecycle_weekly_by_platform.name: BY_PLATFORM,
    schema.lifecycle_weekly_by_app_version.name: BY_APP_VERSION,
}
# The active users of the day each daily breakdown's active people must equal (the check).
ACTIVES_OF = {
    schema.lifecycle_daily_by_platform.name: schema.active_users_daily_by_platform.name,
    schema.lifecycle_daily_by_app_version.name: schema.active_users_daily_by_app_version.name,
}
DAY_COHORTS = Layer(
    "retention_daily",
    "retention_daily and retention_daily_by_app_version (a day cohort's rows, as of the last day built)",
)
WEEK_COHORTS = Layer(
    "retention_weekly",
    "retention_weekly and retention_weekly_by_app_version (a week cohort's rows, as of the last day built)",
)
# Each cohort's tables, committed together: in total, and split by what the people were acquired on.
DAY_COHORT_TABLES = {schema.retention_daily.name: (), schema.retention_daily_by_app_version.name: BY_APP_VERSION}
WEEK_COHORT_TABLES = {schema.retention_weekly.name: (), schema.retention_weekly_by_app_version.name: BY_APP_VERSION}


@dataclass
class RetentionDay:
    """What one day of the retention layer wrote, and the rows its checks judge."""

    day: date
    cohort_people: int  # rows of cohort_activity
    cohort_activity_path: str
    lifecycle_daily: dict[str, Any]
    lifecycle_weekly: dict[str, Any]
    # The rows of the day's and the week's lifecycle by platform and by app version, by table name.
    lifecycle_by: dict[str, list[dict[str, Any]]]
    # The day's active users of the same grains (platform, app_version, dau), by lifecycle table name.
    actives_by: dict[str, list[dict[str, Any]]]
    retention_daily: list[dict[str, Any]]  # every open cohort's rows
    retention_weekly: list[dict[str, Any]]
    retention_daily_by_app_version: list[dict[str, Any]]  # the same, split by the acquisition's app version
    retention_weekly_by_app_version: list[dict[str, Any]]
    dau: int | None  # active_users_daily of the day and the day before, as the people layer counted them
    previous_dau: int | None
    wau: int | None  # of the day, when it is a Sunday (the ISO week)
    previous_wau: int | None  # of the Sunday before, when built
    paths: dict[str, str] = field(default_factory=dict)  # lake key -> local file written


def build_retention_days(
    store: ObjectStore, connection: duckdb.DuckDBPyConnection, days: list[date], rules: PipelineRules, workdir: Path
) -> list[RetentionDay]:
    """`cohort_activity`, lifecycle and retention of each day, in date order (each snapshot reads the last)."""
    with local_copies(store, committed_identity_links(store)) as link_files:
        person_map = stitch_people(connection, link_files)
        people_days = committed_days(store, PEOPLE)
        cohorts = {layer: committed_days(store, layer) for layer in (DAY_COHORTS, WEEK_COHORTS)}
        return [
            _retention_day(store, connection, day, rules, workdir, person_map, people_days, cohorts)
            for day in sorted(days)
        ]


def _previous_snapshot(store: ObjectStore, day: date) -> str | None:
    """The key of the `cohort_activity` of the day before; None when no retention day was built before `day`.

    A missing snapshot after an earlier one is a gap that would silently forget cohorts: refused."""
    before = day - timedelta(days=1)
    if committed(store, RETENTION, before, [cohort_activity_key(before)]):
        return cohort_activity_key(before)
    earlier = [built for built in committed_days(store, RETENTION) if built < day]
    if earlier:
        raise FileNotFoundError(
            f"no cohort_activity of {before} (the last before it is of {max(earlier)}): build people_job from "
            f"{max(earlier) + timedelta(days=1)} on, in order"
        )
    return None


@contextmanager
def _day_events(store: ObjectStore, day: date, anchored: bool) -> Iterator[str | None]:
    """The day's sessionized events as a relation when retention is anchored on events, else None."""
    if not anchored:
        yield None
        return
    keys = [sessionized_events_key(day), sessions_key(day)]
    if not committed(store, SESSIONIZED, day, keys):
        yield NO_NAMED_EVENTS
        return
    with local_copies(store, keys[:1]) as (path,):
        yield parquet(path)


def _one_value(path: str, column: str) -> int | None:
    rows = pq.read_table(path, columns=[column]).column(column).to_pylist()
    return int(rows[0]) if rows else None


def _retention_day(
    store: ObjectStore,
    connection: duckdb.DuckDBPyConnection,
    day: date,
    rules: PipelineRules,
    workdir: Path,
    person_map: str,
    people_days: set[date],
    cohorts: dict[Layer, set[date]],
) -> RetentionDay:
    if day not in people_days:
        raise FileNotFoundError(f"no people snapshot of {day}: build people for it first (people_job)")
    previous_key = _previous_snapshot(store, day)
    # Without a snapshot before it, the first day gathers the open cohorts' activity from the horizon's days.
    added = [day] if previous_key else [d for d in sorted(people_days) if horizon_start(day) <= d <= day]
    window = [d for d in lifecycle_window(day) if d in people_days]
    sunday_before = week_start(day) - timedelta(days=1)
    actives = {
        d: active_users_key(schema.active_users_daily.name, d)
        for d in {day, day - timedelta(days=1), sunday_before}
        if d in people_days
    }
    grain_actives = {table: active_users_key(grain, day) for table, grain in ACTIVES_OF.items()}
    # person_platforms of the day before, or (first day, or days built before it existed) every person day through
    # the day: read once, then the day's own.
    before = day - timedelta(days=1)
    previous_platforms = (
        person_platforms_key(before) if previous_key and store.exists(person_platforms_key(before)) else None
    )
    platforms_added = [day] if previous_platforms else [d for d in sorted(people_days) if d <= day]
    anchored = rules.anchored_retention
    path = {
        "state": str(workdir / f"cohort_activity-{day}.parquet"),
        "platforms": str(workdir / f"person_platforms-{day}.parquet"),
        **{
            name: str(workdir / f"{name}-{day}.parquet")
            for name in (*DAY_LIFECYCLE_TABLES, *WEEK_LIFECYCLE_TABLES, *DAY_COHORT_TABLES, *WEEK_COHORT_TABLES)
        },
    }
    with ExitStack() as stack:
        (people_file,) = stack.enter_context(local_copies(store, [people_key(day)]))
        previous = stack.enter_context(local_copies(store, [previous_key] if previous_key else []))
        platforms_before = stack.enter_context(local_copies(store, [previous_platforms] if previous_platforms else []))
        person_day_keys = sorted(set(window) | set(added) | set(platforms_added))
        person_day_files = dict(
            zip(
                person_day_keys,
                stack.enter_context(local_copies(store, [person_days_key(d) for d in person_day_keys])),
                strict=True,
            )
        )
        actives_files = dict(
            zip(actives, stack.enter_context(local_copies(store, list(actives.values()))), strict=True)
        )
        day_rows = [
            day_activity_query(
                d,
                person_day_files[d],
                stack.enter_context(_day_events(store, d, anchored)),
                person_map,
                rules.retention_start_event,
                rules.retention_return_event,
            )
            for d in added
        ]
        state = cohort_activity_query(
            previous[0] if previous else None, day_rows, people_file, day, person_map, rules.retention_start_event
        )
        cohort_people = copy_to_parquet(connection, state, path["state"])
        platforms = person_platforms_query(
            platforms_before[0] if platforms_before else None,
            {d: person_day_files[d] for d in platforms_added},
            day,
            person_map,
        )
        copy_to_parquet(connection, platforms, path["platforms"])
        window_files = {d: person_day_files[d] for d in window}
        for tables, query in (
            (DAY_LIFECYCLE_TABLES, lifecycle_daily_query),
            (WEEK_LIFECYCLE_TABLES, lifecycle_weekly_query),
        ):
            for name, by in tables.items():
                # A breakdown's new people: first active with its value (person_platforms), not first seen.
                firsts = path["platforms"] if by else people_file
                copy_to_parquet(connection, query(window_files, firsts, person_map, day, by), path[name])
        for tables, query in ((DAY_COHORT_TABLES, retention_daily_query), (WEEK_COHORT_TABLES, retention_weekly_query)):
            for name, by in tables.items():
                copy_to_parquet(
                    connection,
                    query(path["state"], day, rules.retention_start_event, rules.retention_return_event, by),
                    path[name],
                )
        grain_files = stack.enter_context(local_copies(store, list(grain_actives.values())))
        actives_by = {
            table: pq.read_table(file, columns=[*DAY_LIFECYCLE_TABLES[table], "dau"]).to_pylist()
            for table, file in zip(grain_actives, grain_files, strict=True)
        }
        dau = {d: _one_value(file, "dau") for d, file in actives_files.items()}
        wau = {d: _one_value(file, "wau") for d, file in actives_files.items()}
    cells = {name: pq.read_table(path[name]) for name in (*DAY_COHORT_TABLES, *WEEK_COHORT_TABLES)}
    monday = week_start(day)
    written = {
        **{lifecycle_daily_key(day, name): path[name] for name in DAY_LIFECYCLE_TABLES},
        **{lifecycle_weekly_key(monday, name): path[name] for name in WEEK_LIFECYCLE_TABLES},
    }
    with committing(store, RETENTION, day) as commit:
        commit.put_file(cohort_activity_key(day), path["state"])
        commit.put_file(person_platforms_key(day), path["platforms"])
        for name in DAY_LIFECYCLE_TABLES:
            commit.put_file(lifecycle_daily_key(day, name), path[name])
    with committing(store, LIFECYCLE_WEEKS, monday) as commit:
        for name in WEEK_LIFECYCLE_TABLES:
            commit.put_file(lifecycle_weekly_key(monday, name), path[name])
    for layer, tables, column, key_of, open_cohorts in (
        (DAY_COHORTS, DAY_COHORT_TABLES, "cohort_date", retention_daily_key, day_cohorts(day)),
        (WEEK_COHORTS, WEEK_COHORT_TABLES, "cohort_week", retention_weekly_key, week_cohorts(day)),
    ):
        total = next(iter(tables))
        present = set(cells[total].column(column).to_pylist())
        for cohort in open_cohorts:
            # A cohort is written once it has people, and kept up to date (emptied too) from then on.
            if cohort not in present and cohort not in cohorts[layer]:
                continue
            with committing(store, layer, cohort) as commit:
                for name in tables:
                    rows = cells[name]
                    local = str(workdir / f"{name}-{cohort}-as-of-{day}.parquet")
                    pq.write_table(rows.filter(pc.equal(rows.column(column), pa.scalar(cohort, pa.date32()))), local)
                    commit.put_file(key_of(cohort, name), local)
                    written[key_of(cohort, name)] = local
            cohorts[layer].add(cohort)
    return RetentionDay(
        day=day,
        cohort_people=cohort_people,
        cohort_activity_path=path["state"],
        lifecycle_daily=pq.read_table(path[schema.lifecycle_daily.name]).to_pylist()[0],
        lifecycle_weekly=pq.read_table(path[schema.lifecycle_weekly.name]).to_pylist()[0],
        lifecycle_by={
            name: pq.read_table(path[name]).to_pylist()
            for name, by in (*DAY_LIFECYCLE_TABLES.items(), *WEEK_LIFECYCLE_TABLES.items())
            if by
        },
        actives_by=actives_by,
        retention_daily=cells[schema.retention_daily.name].to_pylist(),
        retention_weekly=cells[schema.retention_weekly.name].to_pylist(),
        retention_daily_by_app_version=cells[schema.retention_daily_by_app_version.name].to_pylist(),
        retention_weekly_by_app_version=cells[schema.retention_weekly_by_app_version.name].to_pylist(),
        dau=dau.get(day),
        previous_dau=dau.get(day - timedelta(days=1)),
        wau=wau.get(day) if day.weekday() == 6 else None,
        previous_wau=wau.get(sunday_before),
        paths=written,
    )


def _partitions(table: sa.Table, days: list[date]) -> dict[date, str]:
    """The lake objects of `table` that the days change: their own day, their week, or their open cohorts."""
    if table.name in DAY_LIFECYCLE_TABLES:
        return {day: lifecycle_daily_key(day, table.name) for day in days}
    if table.name in WEEK_LIFECYCLE_TABLES:
        return {week_start(day): lifecycle_weekly_key(week_start(day), table.name) for day in days}
    if table.name in DAY_COHORT_TABLES:
        return {cohort: retention_daily_key(cohort, table.name) for day in days for cohort in day_cohorts(day)}
    if table.name in WEEK_COHORT_TABLES:
        return {cohort: retention_weekly_key(cohort, table.name) for day in days for cohort in week_cohorts(day)}
    raise ValueError(f"{table.name} is not a lifecycle or retention table")


LAYERS = {
    **dict.fromkeys(DAY_LIFECYCLE_TABLES, RETENTION),
    **dict.fromkeys(WEEK_LIFECYCLE_TABLES, LIFECYCLE_WEEKS),
    **dict.fromkeys(DAY_COHORT_TABLES, DAY_COHORTS),
    **dict.fromkeys(WEEK_COHORT_TABLES, WEEK_COHORTS),
}


def load_retention_table(engine: sa.Engine, store: ObjectStore, table: sa.Table, days: list[date]) -> pa.Table:
    """Replace the rows the days changed (their day, week or open cohorts) with the lake's; returns the rows.

    Weeks and cohorts never written (before the first day built, or without people) are left out."""
    layer = LAYERS[table.name]
    built = committed_days(store, layer)
    keys = {partition: key for partition, key in _partitions(table, days).items() if partition in built}
    return load_lake_days(engine, store, table, keys, layer, "cohort_activity")
