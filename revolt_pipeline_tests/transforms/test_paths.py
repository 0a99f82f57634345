"""Paths: steps named by kind, repeats collapsed, sessions counted once on their first day, late data, re-runs.

Days are built by the layer library as the cascade builds them (each received day through every layer) and
loaded into a SQLite report database, so the tests read the report tables a BI tool reads.
"""

import gzip
from contextlib import nullcontext
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from revolt_pipeline.layers.checks import path_checks
from revolt_pipeline.layers.cleaned import AggregateDay, aggregate_day
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import create_engine, ensure_tables, read_rows
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import LANDING, landed_object_key, sessions_key
from revolt_pipeline.transforms.aggregates import count_path_balance
from revolt_pipeline_tests.transforms.harness import DEFAULT_RULES, at, duckdb_connection, landed

D20, D21 = date(2026, 11, 20), date(2026, 11, 21)


class PathLake:
    """A store that receives batches over time, each received day built through every layer and loaded."""

    def __init__(self, folder: Path, connection: Any) -> None:
        self.store = ObjectStore((folder / "store").as_uri())
        (folder / "work").mkdir()
        self.engine = create_engine(f"sqlite:///{folder / 'reports.sqlite'}")
        ensure_tables(self.engine)
        self.builder = DayBuilder(self.store, DEFAULT_RULES, folder / "work", connect=lambda: nullcontext(connection))
        self.segment = 0
        self.aggregates: dict[date, AggregateDay] = {}

    def receive(self, records: list[dict[str, Any]], when: datetime) -> None:
        self.segment += 1
        lines = b"".join(orjson.dumps(record) + b"\n" for record in records)
        self.store.put(landed_object_key(LANDING, when, "c1", f"{self.segment:06d}"), gzip.compress(lines))
        self.rebuild([when.date()])

    def rebuild(self, received_days: list[date]) -> None:
        built = self.builder.every_layer(received_days, self.engine)
        self.aggregates.update({day.day: day for day in built.aggregates})

    def rows(self, table: str = "path_transitions", day: date | None = None) -> list[dict[str, Any]]:
        rows = read_rows(self.engine, schema.AGGREGATE_TABLES[table])
        return [row for row in rows if day is None or row["session_date"] == day]

    def everything(self) -> dict[str, list[dict[str, Any]]]:
        return {table.name: read_rows(self.engine, table) for table in schema.metadata.sorted_tables}


@pytest.fixture
def lake(tmp_path: Path) -> Any:
    with duckdb_connection(threads=1) as connection:
        lake = PathLake(tmp_path, connection)
        yield lake
        lake.engine.dispose()


def page(message_id: str, when: datetime, name: str | None, user: str = "ada", **extra: Any) -> dict[str, Any]:
    return landed(message_id, when, kind="page", event=name, user_id=user, **extra)


def moves(rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    return {(row["from_step"], row["to_step"]): row["transitions"] for row in rows}


def by_step(rows: list[dict[str, Any]], *columns: str) -> dict[str, tuple[int, ...]]:
    return {row["step"]: tuple(row[column] for column in columns) for row in rows}


def test_steps_are_named_by_kind_repeats_collapse_and_identify_is_no_step(lake: PathLake) -> None:
    lake.receive(
        [
            page("a1", at("2026-11-20 09:00"), "Home"),
            page("a2", at("2026-11-20 09:01"), "Home"),  # reloaded: one step, two events
            landed("a3", at("2026-11-20 09:02"), kind="identify", event=None, user_id="ada", traits={"plan": "x"}),
            page("a4", at("2026-11-20 09:03"), "Home"),  # still Home: the identify did not interrupt it
            page("a5", at("2026-11-20 09:04"), None, properties={"path": "/pricing"}),  # unnamed: its path
            landed("a6", at("2026-11-20 09:05"), event="Signup Started", user_id="ada"),
            page("a7", at("2026-11-20 09:06"), "Home"),  # back Home: a new occurrence
            landed("b1", at("2026-11-20 10:00"), kind="screen", event="Timesheet", user_id="bob", platform="ios"),
            landed("b2", at("2026-11-20 10:01"), kind="screen", event=" ", user_id="bob", platform="ios"),
            landed("c1", at("2026-11-20 11:00"), kind="identify", event=None, user_id="cyd"),  # no step at all
        ],
        at("2026-11-20 12:00"),
    )

    assert moves(lake.rows("path_transitions", D20)) == {
        ("page: Home", "page: /pricing"): 1,
        ("page: /pricing", "track: Signup Started"): 1,
        ("track: Signup Started", "page: Home"): 1,
        ("screen: Timesheet", "screen: (no name)"): 1,
    }
    steps = lake.rows("path_steps", D20)
    columns = ("events", "occurrences", "sessions_with_step", "entries", "exits")
    assert by_step(steps, *columns) == {
        "page: Home": (4, 2, 1, 1, 1),  # 4 events, 2 occurrences of one session: it entered and exited there
        "page: /pricing": (1, 1, 1, 0, 0),
        "track: Signup Started": (1, 1, 1, 0, 0),
        "screen: Timesheet": (1, 1, 1, 1, 0),
        "screen: (no name)": (1, 1, 1, 0, 1),
    }
    # Three sessions that day (sessions_daily), two with a step: cyd's identify enters and exits nowhere.
    (day,) = read_rows(lake.engine, schema.sessions_daily, [D20])
    assert day["sessions"] == 3
    assert sum(row["entries"] for row in steps) == sum(row["exits"] for row in steps) == 2
    by_platform = {row["platform"] for row in lake.rows("path_steps_by_platform", D20)}
    assert by_platform == {"web", "ios"}
    assert all(outcome.passed for outcome in path_checks(lake.aggregates[D20])), path_checks(lake.aggregates[D20])


def test_people_count_once_per_step_whatever_their_sessions(lake: PathLake) -> None:
    lake.receive(
        [
            page("a1", at("2026-11-20 09:00"), "Home"),
            page("a2", at("2026-11-20 09:01"), "Pricing"),
            page("b1", at("2026-11-20 10:00"), "Home", user="bob"),
            page("a3", at("2026-11-20 11:00"), "Home"),  # ada's second session, the same path
            page("a4", at("2026-11-20 11:01"), "Pricing"),
        ],
        at("2026-11-20 12:00"),
    )

    columns = ("sessions_with_step", "people", "entries", "entry_people", "exits", "exit_people")
    assert by_step(lake.rows("path_steps", D20), *columns) == {
        "page: Home": (3, 2, 3, 2, 1, 1),  # bob's session ended where it began
        "page: Pricing": (2, 1, 0, 0, 2, 1),
    }
    assert [(row["sessions_with_transition"], row["people"]) for row in lake.rows("path_transitions", D20)] == [(2, 1)]


def test_a_session_crossing_midnight_is_one_path_counted_on_the_day_it_started(lake: PathLake) -> None:
    lake.receive(
        [
            page("n1", at("2026-11-20 23:50"), "Home"),
            page("n2", at("2026-11-20 23:58"), "Pricing"),
            page("n3", at("2026-11-21 00:10"), "Signup"),
            page("m1", at("2026-11-21 09:00"), "Blog", user="bob"),
        ],
        at("2026-11-21 10:00"),
    )

    assert moves(lake.rows("path_transitions", D20)) == {
        ("page: Home", "page: Pricing"): 1,
        ("page: Pricing", "page: Signup"): 1,  # the move after midnight belongs to the session's day
    }
    assert lake.rows("path_transitions", D21) == []  # bob's session has a single step
    assert by_step(lake.rows("path_steps", D21), "entries", "exits") == {"page: Blog": (1, 1)}
    assert by_step(lake.rows("path_steps", D20), "entries", "exits") == {
        "page: Home": (1, 0),
        "page: Pricing": (0, 0),
        "page: Signup": (0, 1),
    }


def test_a_late_event_changes_the_path_of_its_session_and_nothing_else(lake: PathLake) -> None:
    lake.receive(
        [
            page("a1", at("2026-11-20 23:30"), "Home"),
            page("a2", at("2026-11-20 23:35"), "Pricing"),
            # 35 minutes later: a session of its own, on the 21st.
            page("a3", at("2026-11-21 00:10"), "Signup"),
            page("a4", at("2026-11-21 00:12"), "Welcome"),
            page("b1", at("2026-11-21 09:00"), "Blog", user="bob"),
            page("b2", at("2026-11-21 09:05"), "Pricing", user="bob"),
        ],
        at("2026-11-21 10:00"),
    )
    lake.receive([page("c1", at("2026-11-22 08:00"), "Home", user="cyd")], at("2026-11-22 09:00"))
    before = lake.everything()
    assert moves(lake.rows("path_transitions", D21)) == {
        ("page: Signup", "page: Welcome"): 1,
        ("page: Blog", "page: Pricing"): 1,
    }

    # Ada's phone was offline: a Features page at 23:50 arrives on the 23rd, within the lateness window. It
    # lies between her two sessions and joins them: one session of the 20th, none of hers left on the 21st.
    lake.receive([page("late", at("2026-11-20 23:50"), "Features")], at("2026-11-23 09:00"))
    after = lake.everything()

    assert moves(lake.rows("path_transitions", D20)) == {
        ("page: Home", "page: Pricing"): 1,
        ("page: Pricing", "page: Features"): 1,
        ("page: Features", "page: Signup"): 1,
        ("page: Signup", "page: Welcome"): 1,
    }
    assert moves(lake.rows("path_transitions", D21)) == {("page: Blog", "page: Pricing"): 1}
    assert by_step(lake.rows("path_steps", D21), "entries", "exits") == {"page: Blog": (1, 0), "page: Pricing": (0, 1)}
    # Exactly these rows changed: the paths and the sessions of the 20th and 21st (one session fewer on the 21st,
    # a longer one on the 20th), the 20th's events, Ada's person days and sessions and the people table (as of the
    # 23rd, the latest day built); the 22nd's, and every other table, are as they were.
    changed = {
        (table, day)
        for table in after
        for day in {_day(row) for row in before[table] + after[table]}
        if [row for row in before[table] if _day(row) == day] != [row for row in after[table] if _day(row) == day]
    }
    session_tables = [name for name in schema.AGGREGATE_TABLES if name.startswith(("path_", "session"))]
    assert changed == {(table, day) for table in session_tables for day in (D20, D21)} | {
        (table, D20) for table in schema.AGGREGATE_TABLES if table.startswith("events_daily")
    } | {("person_days", D20), ("person_days", D21), ("people", date(2026, 11, 23))} | {
        ("person_sessions", D20),
        ("person_sessions", D21),
    }
    assert all(outcome.passed for day in lake.aggregates.values() for outcome in path_checks(day))

    # Running every day again changes nothing.
    lake.rebuild([D21, date(2026, 11, 22), date(2026, 11, 23)])
    assert lake.everything() == after


def _day(row: dict[str, Any]) -> date:
    """The row's day: its date column, or the Monday of a weekly row's ISO week."""
    return next(value for key, value in row.items() if key.endswith(("_date", "week_start", "cohort_week")))


def test_step_names_the_report_database_cannot_hold_are_made_safe_and_stay_distinct(lake: PathLake) -> None:
    prefix = "Checkout " + "x" * 260
    lake.receive(
        [
            landed("l1", at("2026-11-20 09:00"), event=prefix + " card", user_id="ada"),
            landed("l2", at("2026-11-20 09:01"), event=prefix + " bank", user_id="ada"),
            landed("l3", at("2026-11-20 09:02"), kind="screen", event="Nul\x00Screen", user_id="ada"),
        ],
        at("2026-11-20 10:00"),
    )

    steps = [row["step"] for row in lake.rows("path_steps", D20)]
    assert len(steps) == 3 and all(len(step) <= 255 for step in steps)
    assert "screen: Nul\ufffdScreen" in steps
    cut = [step for step in steps if step.startswith("track: Checkout xxx")]
    assert len(cut) == 2 and all("…" in step for step in cut)  # cut, each with its own digest
    assert len(lake.rows("path_transitions", D20)) == 2


def test_the_checks_fail_when_a_days_paths_disagree_with_its_sessions(lake: PathLake) -> None:
    lake.receive(
        [page("a1", at("2026-11-20 09:00"), "Home"), page("a2", at("2026-11-20 09:01"), "Pricing")],
        at("2026-11-20 10:00"),
    )
    built = lake.aggregates[D20]
    assert [outcome.passed for outcome in path_checks(built)] == [True, True]
    # As a faulty transform would write them: the day's transitions lost their row, and one platform's steps
    # count an entry too many.
    transitions = pq.read_table(built.outputs["path_transitions"])
    pq.write_table(transitions.slice(0, 0), built.outputs["path_transitions"])
    steps = pq.read_table(built.outputs["path_steps_by_platform"])
    rows = steps.to_pylist()
    rows[0]["entries"] += 1
    pq.write_table(pa.Table.from_pylist(rows, schema=steps.schema), built.outputs["path_steps_by_platform"])

    sessions = lake.store.local_path(sessions_key(D20))
    assert sessions is not None
    with duckdb_connection(threads=1) as connection:
        balance = count_path_balance(connection, built.outputs, sessions)
    ends, flows = path_checks(AggregateDay(D20, built.outputs, built.made_safe, balance))
    assert ends.problems == ["path_steps_by_platform: web: 2 entries, 1 exits, 1 sessions with a step"]
    assert flows.problems == [
        "path_steps: all: page: Home: 1 occurrences, 1 entries + 0 in, 0 exits + 0 out",
        "path_steps: all: page: Pricing: 1 occurrences, 0 entries + 0 in, 1 exits + 0 out",
        "path_steps_by_platform: web: page: Home: 1 occurrences, 2 entries + 0 in, 0 exits + 1 out",
    ]


def test_sessions_written_before_paths_are_refused_with_what_to_rebuild(lake: PathLake, tmp_path: Path) -> None:
    lake.receive([page("a1", at("2026-11-20 09:00"), "Home")], at("2026-11-20 10:00"))
    sessions = lake.store.local_path(sessions_key(D20))
    assert sessions is not None
    pq.write_table(pq.read_table(sessions).drop_columns(["steps"]), sessions)

    with duckdb_connection(threads=1) as connection, pytest.raises(FileNotFoundError, match="older version") as refused:
        aggregate_day(lake.store, connection, D20, tmp_path / "work")
    assert "build sessionized_events and sessions for the day again" in str(refused.value)
