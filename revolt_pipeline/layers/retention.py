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
    retention_daily_key,
    retention_weekly_key,
    sessionized_events_key,
    sessions_key,
)
from revolt_pipeline.transforms.engine import copy_to_parquet, parquet
from revolt_pipeline.transforms.people import stitch_people
from revolt_pipeline.transforms.retention import (
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
    retention_daily_query,
    retention_weekly_query,
    week_cohorts,
    week_start,
)
from revolt_pipeline.transforms.rules import PipelineRules

__all__ = ["DAY_PERIODS", "WEEK_PERIODS", "RetentionDay", "build_retention_days", "load_retention_table"]

RETENTION = Layer("retention", "cohort_activity and lifecycle_daily")
# Objects keyed by a week or a cohort, rewritten by later days: each committed under its own date.
LIFECYCLE_WEEKS = Layer("lifecycle_weekly", "lifecycle_weekly (a week's row, as of its last day built)")
DAY_COHORTS = Layer("retention_daily", "retention_daily (a day cohort's rows, as of the last day built)")
WEEK_COHORTS = Layer("retention_weekly", "retention_weekly (a week cohort's rows, as of the last day built)")


@dataclass
class RetentionDay:
    """What one day of the retention layer wrote, and the rows its checks judge."""

    day: date
    cohort_people: int  # rows of cohort_activity
    cohort_activity_path: str
    lifecycle_daily: dict[str, Any]
    lifecycle_weekly: dict[str, Any]
    retention_daily: list[dict[str, Any]]  # every open cohort's rows
    retention_weekly: list[dict[str, Any]]
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
    anchored = rules.anchored_retention
    path = {
        "state": str(workdir / f"cohort_activity-{day}.parquet"),
        "daily": str(workdir / f"lifecycle_daily-{day}.parquet"),
        "weekly": str(workdir / f"lifecycle_weekly-{day}.parquet"),
        "cells_daily": str(workdir / f"retention_daily-{day}.parquet"),
        "cells_weekly": str(workdir / f"retention_weekly-{day}.parquet"),
    }
    with ExitStack() as stack:
        (people_file,) = stack.enter_context(local_copies(store, [people_key(day)]))
        previous = stack.enter_context(local_copies(store, [previous_key] if previous_key else []))
        person_day_keys = sorted(set(window) | set(added))
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
        window_files = {d: person_day_files[d] for d in window}
        copy_to_parquet(connection, lifecycle_daily_query(window_files, people_file, person_map, day), path["daily"])
        copy_to_parquet(connection, lifecycle_weekly_query(window_files, people_file, person_map, day), path["weekly"])
        for name, query in (("cells_daily", retention_daily_query), ("cells_weekly", retention_weekly_query)):
            copy_to_parquet(
                connection,
                query(path["state"], day, rules.retention_start_event, rules.retention_return_event),
                path[name],
            )
        dau = {d: _one_value(file, "dau") for d, file in actives_files.items()}
        wau = {d: _one_value(file, "wau") for d, file in actives_files.items()}
    cells_daily = pq.read_table(path["cells_daily"])
    cells_weekly = pq.read_table(path["cells_weekly"])
    with committing(store, RETENTION, day) as commit:
        commit.put_file(cohort_activity_key(day), path["state"])
        commit.put_file(lifecycle_daily_key(day), path["daily"])
    monday = week_start(day)
    with committing(store, LIFECYCLE_WEEKS, monday) as commit:
        commit.put_file(lifecycle_weekly_key(monday), path["weekly"])
    written = {
        lifecycle_daily_key(day): path["daily"],
        lifecycle_weekly_key(monday): path["weekly"],
    }
    for layer, rows, column, key_of, open_cohorts in (
        (DAY_COHORTS, cells_daily, "cohort_date", retention_daily_key, day_cohorts(day)),
        (WEEK_COHORTS, cells_weekly, "cohort_week", retention_weekly_key, week_cohorts(day)),
    ):
        present = set(rows.column(column).to_pylist())
        for cohort in open_cohorts:
            # A cohort is written once it has people, and kept up to date (emptied too) from then on.
            if cohort not in present and cohort not in cohorts[layer]:
                continue
            local = str(workdir / f"{layer.name}-{cohort}-as-of-{day}.parquet")
            pq.write_table(rows.filter(pc.equal(rows.column(column), pa.scalar(cohort, pa.date32()))), local)
            with committing(store, layer, cohort) as commit:
                commit.put_file(key_of(cohort), local)
            cohorts[layer].add(cohort)
            written[key_of(cohort)] = local
    return RetentionDay(
        day=day,
        cohort_people=cohort_people,
        cohort_activity_path=path["state"],
        lifecycle_daily=pq.read_table(path["daily"]).to_pylist()[0],
        lifecycle_weekly=pq.read_table(path["weekly"]).to_pylist()[0],
        retention_daily=cells_daily.to_pylist(),
        retention_weekly=cells_weekly.to_pylist(),
        dau=dau.get(day),
        previous_dau=dau.get(day - timedelta(days=1)),
        wau=wau.get(day) if day.weekday() == 6 else None,
        previous_wau=wau.get(sunday_before),
        paths=written,
    )


def _partitions(table: sa.Table, days: list[date]) -> dict[date, str]:
    """The lake objects of `table` that the days change: their own day, their week, or their open cohorts."""
    if table is schema.lifecycle_daily:
        return {day: lifecycle_daily_key(day) for day in days}
    if table is schema.lifecycle_weekly:
        return {week_start(day): lifecycle_weekly_key(week_start(day)) for day in days}
    if table is schema.retention_daily:
        return {cohort: retention_daily_key(cohort) for day in days for cohort in day_cohorts(day)}
    if table is schema.retention_weekly:
        return {cohort: retention_weekly_key(cohort) for day in days for cohort in week_cohorts(day)}
    raise ValueError(f"{table.name} is not a lifecycle or retention table")


LAYERS = {
    schema.lifecycle_daily.name: RETENTION,
    schema.lifecycle_weekly.name: LIFECYCLE_WEEKS,
    schema.retention_daily.name: DAY_COHORTS,
    schema.retention_weekly.name: WEEK_COHORTS,
}


def load_retention_table(engine: sa.Engine, store: ObjectStore, table: sa.Table, days: list[date]) -> pa.Table:
    """Replace the rows the days changed (their day, week or open cohorts) with the lake's; returns the rows.

    Weeks and cohorts never written (before the first day built, or without people) are left out."""
    layer = LAYERS[table.name]
    built = committed_days(store, layer)
    keys = {partition: key for partition, key in _partitions(table, days).items() if partition in built}
    return load_lake_days(engine, store, table, keys, layer, "cohort_activity")
