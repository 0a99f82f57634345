"""The funnels layer of event days: per-person progress through each funnel, and its daily and weekly step tables.

Funnel day D reads the sessionized events of D and of the days the longest conversion window reaches after it
(`PipelineRules.funnel_window`; days the cleaned layer never built have no events), re-stitched through every
identity link known: never the history before, so one day costs the same after a week or a year. It writes
the day's progress and its daily step tables under one commit (FUNNELS). The week of D is then counted
again from the progress of every day of that ISO week built so far, in total and by platform, and committed under
its Monday (FUNNEL_WEEKS): a week's row is as of the latest day built in it, whichever day was built last.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import sqlalchemy as sa

from revolt_pipeline.layers.cleaned import committed_identity_links
from revolt_pipeline.layers.commits import SESSIONIZED, Layer, committed, committed_days, committing
from revolt_pipeline.layers.report_tables import load_lake_days
from revolt_pipeline.layers.staging import local_copies
from revolt_pipeline.reports import schema
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import funnel_progress_key, funnel_steps_key, sessionized_events_key
from revolt_pipeline.transforms.engine import copy_to_parquet
from revolt_pipeline.transforms.funnels import (
    Funnel,
    FunnelFileError,
    count_progress,
    funnel_progress_query,
    funnel_steps_daily_query,
    funnel_steps_weekly_query,
    iso_week_start,
    parse_funnels,
    stage_funnel_events,
)
from revolt_pipeline.transforms.people import stitch_people
from revolt_pipeline.transforms.rules import PipelineRules

FUNNELS = Layer(
    "funnels",
    "funnel_progress, funnel_steps_daily, funnel_steps_daily_by_platform and funnel_steps_daily_by_app_version",
)
FUNNEL_WEEKS = Layer(
    "funnel_weeks", "funnel_steps_weekly and funnel_steps_weekly_by_platform (committed under the week's Monday)"
)
# Each step table, by what it is broken down by: what people entered on (the platform, or the platform's app version).
DAILY_TABLES: dict[str, tuple[str, ...]] = {
    schema.funnel_steps_daily.name: (),
    schema.funnel_steps_daily_by_platform.name: ("platform",),
    schema.funnel_steps_daily_by_app_version.name: ("platform", "app_version"),
}
WEEKLY_TABLES: dict[str, tuple[str, ...]] = {
    schema.funnel_steps_weekly.name: (),
    schema.funnel_steps_weekly_by_platform.name: ("platform",),
}

__all__ = [
    "DAILY_TABLES",
    "FUNNELS",
    "FUNNEL_WEEKS",
    "WEEKLY_TABLES",
    "FunnelDay",
    "FunnelWeek",
    "build_funnel_days",
    "read_funnels",
]


def read_funnels(path: Path) -> tuple[Funnel, ...]:
    """The funnels of the file at `path` (REVOLT_FUNNELS_FILE); none when there is no file: the funnel tables then
    hold no rows, and `funnel_progress` says so in its metadata."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ()
    except (OSError, UnicodeDecodeError) as exc:
        raise FunnelFileError(f"{path}: cannot read the funnels file: {exc}") from exc
    return parse_funnels(text, str(path))


@dataclass
class FunnelDay:
    day: date
    entered: dict[str, int]  # funnel -> people entering it on the day
    progress_path: str
    tables: dict[str, str]  # daily report table -> local Parquet file of the day's rows
    events_days: list[date] = field(default_factory=list)  # the event days read


@dataclass
class FunnelWeek:
    week_start: date
    as_of: date
    tables: dict[str, str]  # weekly report table -> local Parquet file of the week's rows


@dataclass
class FunnelDays:
    days: list[FunnelDay]
    weeks: list[FunnelWeek]


def build_funnel_days(
    store: ObjectStore, connection: duckdb.DuckDBPyConnection, days: list[date], rules: PipelineRules, workdir: Path
) -> FunnelDays:
    """The funnel progress and daily step tables of each day, then the weeks they belong to, counted again."""
    with local_copies(store, committed_identity_links(store)) as link_files:
        person_map = stitch_people(connection, link_files)
        built = [_funnel_day(store, connection, day, rules, workdir, person_map) for day in sorted(days)]
    weeks = sorted({iso_week_start(day.day) for day in built})
    return FunnelDays(built, [_funnel_week(store, connection, week, rules.funnels, workdir) for week in weeks])


def _funnel_day(
    store: ObjectStore,
    connection: duckdb.DuckDBPyConnection,
    day: date,
    rules: PipelineRules,
    workdir: Path,
    person_map: str,
) -> FunnelDay:
    read = [d for d in rules.funnel_window.days(day) if committed(store, SESSIONIZED, d, [sessionized_events_key(d)])]
    progress_path = str(workdir / f"funnel_progress-{day}.parquet")
    tables = {name: str(workdir / f"{name}-{day}.parquet") for name in DAILY_TABLES}
    with local_copies(store, [sessionized_events_key(d) for d in read]) as files:
        events = stage_funnel_events(connection, files, person_map)
    copy_to_parquet(connection, funnel_progress_query(rules.funnels, events, day), progress_path)
    for name, by in DAILY_TABLES.items():
        copy_to_parquet(connection, funnel_steps_daily_query(rules.funnels, progress_path, day, by), tables[name])
    with committing(store, FUNNELS, day) as commit:
        commit.put_file(funnel_progress_key(day), progress_path)
        for name, path in tables.items():
            commit.put_file(funnel_steps_key(name, day), path)
    return FunnelDay(day, count_progress(connection, progress_path), progress_path, tables, read)


def _funnel_week(
    store: ObjectStore, connection: duckdb.DuckDBPyConnection, week: date, funnels: tuple[Funnel, ...], workdir: Path
) -> FunnelWeek:
    built = sorted(day for day in committed_days(store, FUNNELS) if week <= day < week + timedelta(days=7))
    tables = {name: str(workdir / f"{name}-{week}.parquet") for name in WEEKLY_TABLES}
    with local_copies(store, [funnel_progress_key(day) for day in built]) as files:
        progress = dict(zip(built, files, strict=True))
        for name, by in WEEKLY_TABLES.items():
            copy_to_parquet(connection, funnel_steps_weekly_query(funnels, progress, week, by), tables[name])
    with committing(store, FUNNEL_WEEKS, week) as commit:
        for name, path in tables.items():
            commit.put_file(funnel_steps_key(name, week), path)
    return FunnelWeek(week, built[-1], tables)


def load_funnel_steps(engine: sa.Engine, store: ObjectStore, table: sa.Table, days: list[date]) -> pa.Table:
    """Replace the rows of a funnel step table for the days (daily tables) or their weeks (weekly) with the lake's;
    returns the rows."""
    if table.name in WEEKLY_TABLES:
        weeks = sorted({iso_week_start(day) for day in days})
        keys = {week: funnel_steps_key(table.name, week) for week in weeks}
        return load_lake_days(engine, store, table, keys, FUNNEL_WEEKS, "funnel_progress")
    keys = {day: funnel_steps_key(table.name, day) for day in days}
    return load_lake_days(engine, store, table, keys, FUNNELS, "funnel_progress")
