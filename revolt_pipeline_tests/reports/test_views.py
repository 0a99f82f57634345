"""The views with friendly names (reports/views.py): created with the tables on SQLite and PostgreSQL, right on
known rows, described in PostgreSQL's catalog, replaced only when changed, and read by the read-only role."""

import re
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest
import sqlalchemy as sa

from revolt_pipeline.reports import loader, schema
from revolt_pipeline.reports.access import grant_readonly
from revolt_pipeline.reports.views import DIALECTS, TOP_EVENTS_DAYS, VIEWS, View
from revolt_pipeline_tests.fixtures.postgres import PostgresServer

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.services)]
LAST = date(2026, 11, 20)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    url = (
        f"sqlite:///{tmp_path / 'reports.sqlite'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = loader.create_engine(url)
    loader.ensure_tables(engine)
    yield engine
    engine.dispose()


def _select(engine: sa.Engine, statement: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(sa.text(statement))]


def _columns(engine: sa.Engine, view: str) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(sa.text(f"SELECT * FROM {view} WHERE 1 = 0")).keys())


def test_every_view_reads_report_tables_only_and_states_its_grain() -> None:
    tables = {table.name for table in schema.metadata.sorted_tables}
    names = [view.name for view in VIEWS]
    assert len(set(names)) == len(names) and not set(names) & tables
    for view in VIEWS:
        assert "Grain: one row per" in view.comment, view.name
        assert view.reads and set(view.reads) <= tables, view.name
        for dialect in DIALECTS:
            named = set(re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", view.sql(dialect)))
            assert named - {"latest", "recent", "as_of"} == set(view.reads), (view.name, dialect.name)
        assert all(len(comment) > 10 for comment in view.columns.values()), view.name


def test_every_view_is_created_with_the_tables_and_has_the_columns_it_describes(engine: sa.Engine) -> None:
    for view in VIEWS:
        assert _columns(engine, view.name) == list(view.columns), view.name
        assert _select(engine, f"SELECT * FROM {view.name}") == []  # no rows yet, and no error


def _load(engine: sa.Engine, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    days = sorted({row[schema.PARTITION_COLUMNS[table.name]] for row in rows})
    loader.replace_partitions(engine, table, days, pa.Table.from_pylist(rows, schema=loader.arrow_schema(table)))


def test_the_views_answer_from_the_tables_rows(engine: sa.Engine) -> None:
    _load(
        engine,
        schema.active_users_daily,
        [{"event_date": LAST, "dau": 3, "wau": 5, "mau": 8, "stickiness": 0.375, "new_users": 1}],
    )
    # Every day of the window but one sends `Signed Up` once; `Opened` is sent 10 times on the last day only,
    # and 100 times the day before the window starts (outside it).
    events = [
        {
            "event_date": LAST - timedelta(days=n),
            "event_type": "track",
            "event_name": "Signed Up",
            "events": 1,
            "users": 1,
        }
        for n in range(1, TOP_EVENTS_DAYS)
    ]
    events += [
        {"event_date": LAST, "event_type": "track", "event_name": "Opened", "events": 10, "users": 4},
        {
            "event_date": LAST - timedelta(days=TOP_EVENTS_DAYS),
            "event_type": "track",
            "event_name": "Opened",
            "events": 100,
            "users": 50,
        },
    ]
    _load(engine, schema.events_daily, events)
    histogram = [
        {
            "session_date": LAST,
            "bucket": "0s",
            "bucket_order": 0,
            "lower_seconds": 0,
            "upper_seconds": 1,
            "sessions": 1,
        },
        {
            "session_date": LAST,
            "bucket": "2h+",
            "bucket_order": 7,
            "lower_seconds": 7200,
            "upper_seconds": None,
            "sessions": 3,
        },
    ]
    _load(engine, schema.session_duration_histogram, histogram)

    (trend,) = _select(engine, "SELECT * FROM active_users_trend")
    assert (trend["daily_active_users"], trend["weekly_active_users"], trend["monthly_active_users"]) == (3, 5, 8)
    assert float(trend["stickiness_percent"]) == 37.5 and trend["new_users"] == 1

    top = _select(engine, "SELECT * FROM top_events ORDER BY event_rank")
    assert [(row["event_rank"], row["event_name"], row["events"], row["days_sent"]) for row in top] == [
        (1, "Signed Up", TOP_EVENTS_DAYS - 1, TOP_EVENTS_DAYS - 1),
        (2, "Opened", 10, 1),
    ]
    assert [float(row["percent_of_events"]) for row in top] == [round(100 * 27 / 37, 2), round(100 * 10 / 37, 2)]
    assert top[1]["most_people_in_a_day"] == 4
    assert {(str(row["first_day"]), str(row["last_day"])) for row in top} == {
        (str(LAST - timedelta(days=TOP_EVENTS_DAYS - 1)), str(LAST))
    }

    buckets = _select(engine, "SELECT * FROM session_length_distribution ORDER BY bucket_order")
    assert [(row["bucket"], row["sessions"], float(row["percent_of_day"])) for row in buckets] == [
        ("0s", 1, 25.0),
        ("2h+", 3, 75.0),
    ]


def test_the_retention_heatmaps_keep_each_definition_apart(engine: sa.Engine) -> None:
    """With anchored retention configured, each cell has a row per definition, told apart by a column."""
    monday = date(2026, 11, 2)
    cells = [
        {
            "cohort_week": monday,
            "definition": definition,
            "period": period,
            "as_of": LAST,
            "start_event": start,
            "return_event": back,
            "cohort_size": size,
            "retained": retained,
            "retained_or_later": retained,
            "period_complete": True,
            "final": False,
        }
        for definition, start, back, size, retained in (
            ("first_seen", None, None, 8, [8, 2]),
            ("anchored", "Signed Up", "Timer Started", 3, [0, 1]),
        )
        for period, retained in enumerate(retained)
    ]
    _load(engine, schema.retention_weekly, cells)
    rows = _select(engine, "SELECT * FROM weekly_retention_heatmap ORDER BY definition DESC, week_number")
    assert [
        (row["definition"], row["week_number"], row["cohort_size"], row["retained"], float(row["retained_percent"]))
        for row in rows
    ] == [
        ("first_seen", 0, 8, 8, 100.0),
        ("first_seen", 1, 8, 2, 25.0),
        ("anchored", 0, 3, 0, 0.0),
        ("anchored", 1, 3, 1, 33.3),
    ]
    assert {(row["definition"], row["start_event"], row["return_event"]) for row in rows} == {
        ("first_seen", None, None),
        ("anchored", "Signed Up", "Timer Started"),
    }
    assert all(bool(row["week_complete"]) and not bool(row["cohort_final"]) for row in rows)


def _funnel_week(monday: date, as_of: date, reached: list[int]) -> list[dict[str, Any]]:
    def ratio(numerator: int, denominator: int) -> float | None:
        return numerator / denominator if denominator else None

    return [
        {
            "week_start": monday,
            "as_of_date": as_of,
            "funnel": "signup",
            "step": step,
            "step_name": f"step {step}",
            "entered": reached[0],
            "reached": count,
            "conversion_from_start": ratio(count, reached[0]),
            "conversion_from_previous": ratio(count, reached[max(step - 2, 0)]),
            "median_seconds_from_previous": None if step == 1 or not count else 60.0 * step,
            "median_seconds_from_start": None if step == 1 or not count else 90.0 * step,
        }
        for step, count in enumerate(reached, start=1)
    ]


def _funnel_conversion(engine: sa.Engine) -> list[tuple[Any, ...]]:
    return [
        (
            str(row["week_start"]),
            str(row["week_end"]),
            row["step"],
            row["entered"],
            row["reached"],
            row["dropped_from_previous"],
            float(row["conversion_from_start_percent"]),
            float(row["conversion_from_previous_percent"]),
            row["median_seconds_from_previous"],
        )
        for row in _select(engine, "SELECT * FROM funnel_conversion ORDER BY step")
    ]


def test_funnel_conversion_reads_the_latest_complete_week_anyone_entered_in(engine: sa.Engine) -> None:
    latest, under_way = date(2026, 11, 9), date(2026, 11, 16)
    weeks = [
        *_funnel_week(date(2026, 10, 26), date(2026, 11, 1), [4, 2, 1]),
        *_funnel_week(date(2026, 11, 2), date(2026, 11, 8), [5, 5, 5]),
        *_funnel_week(latest, date(2026, 11, 15), [8, 6, 3]),
        *_funnel_week(under_way, date(2026, 11, 18), [2, 1, 0]),  # its Sunday is not built yet
    ]
    _load(engine, schema.funnel_steps_weekly, weeks)
    expected = [
        ("2026-11-09", "2026-11-15", 1, 8, 8, 0, 100.0, 100.0, None),
        ("2026-11-09", "2026-11-15", 2, 8, 6, 2, 75.0, 75.0, 120.0),
        ("2026-11-09", "2026-11-15", 3, 8, 3, 3, 37.5, 50.0, 180.0),
    ]
    assert _funnel_conversion(engine) == expected
    # The week under way ends without anyone entering: an empty chart would tell nothing, the week before stays.
    _load(engine, schema.funnel_steps_weekly, _funnel_week(under_way, date(2026, 11, 22), [0, 0, 0]))
    assert _funnel_conversion(engine) == expected


def _definitions(connection: sa.Connection) -> dict[str, Any]:
    """Each view's rewrite rule's row version: it changes when the view is created or replaced."""
    return dict(
        connection.execute(
            sa.text(
                "SELECT c.relname, r.xmin::text FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class "
                "WHERE c.relkind = 'v' AND c.relnamespace = current_schema()::regnamespace"
            )
        ).all()
    )


@pytest.mark.services
def test_postgresql_holds_each_views_comment_and_replaces_only_what_changed(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = loader.create_engine(postgres_url)
    try:
        loader.ensure_tables(engine)
        with engine.connect() as connection:
            first = _definitions(connection)
            assert set(first) == {view.name for view in VIEWS}
            for view in VIEWS:
                comment = connection.execute(
                    sa.text("SELECT obj_description(to_regclass(:name), 'pg_class')"), {"name": view.name}
                ).scalar()
                assert comment == view.comment
                columns = dict(
                    connection.execute(
                        sa.text(
                            "SELECT attname, col_description(attrelid, attnum) FROM pg_attribute "
                            "WHERE attrelid = to_regclass(:name) AND attnum > 0"
                        ),
                        {"name": view.name},
                    ).all()
                )
                assert columns == view.columns, view.name

        loader.ensure_tables(engine)  # again: every view is as it should be, none is replaced
        with engine.connect() as connection:
            assert _definitions(connection) == first

        # A new version of one view drops a column and filters with LIKE: that view alone is made anew.
        changed = View(
            name=VIEWS[0].name,
            comment="Changed. Grain: one row per day.",
            columns={"day": "The day the windows end on."},
            select=lambda d: "SELECT event_date AS day FROM active_users_daily WHERE 'x%' LIKE '%'",
            reads=("active_users_daily",),
        )
        monkeypatch.setattr(loader, "VIEWS", (changed, *VIEWS[1:]))
        loader.ensure_tables(engine)
        with engine.connect() as connection:
            now = _definitions(connection)
        assert {name for name in now if now[name] != first.get(name)} == {changed.name}
        assert _columns(engine, changed.name) == ["day"]
    finally:
        engine.dispose()


@pytest.fixture
def owned_reports(postgres_server: PostgresServer) -> Iterator[tuple[str, str, PostgresServer]]:
    """A report database owned by the pipeline's role (as in production), its tables and views created."""
    suffix = uuid.uuid4().hex[:8]
    owner, database = f"pipeline_{suffix}", f"reports_{suffix}"
    with psycopg.connect(postgres_server.conninfo(), autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {owner} LOGIN")
        admin.execute(f"CREATE DATABASE {database} OWNER {owner}")
        admin.execute(f"REVOKE ALL ON DATABASE {database} FROM PUBLIC")
    url = f"postgresql+psycopg://{owner}@{postgres_server.host}:{postgres_server.port}/{database}"
    engine = loader.create_engine(url)
    loader.ensure_tables(engine)
    engine.dispose()
    yield url, database, postgres_server
    postgres_server.drop_database(database)


@pytest.mark.services
def test_the_read_only_role_reads_every_view_and_those_made_again_later(
    owned_reports: tuple[str, str, PostgresServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, database, server = owned_reports
    reader = f"bi_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.conninfo(), autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {reader} LOGIN")
    grant = grant_readonly(url, reader)
    assert {view.name for view in VIEWS} <= set(grant.tables)

    def as_reader(statement: str) -> type[Exception] | None:
        with psycopg.connect(
            host=server.host, port=server.port, user=reader, dbname=database, autocommit=True
        ) as connection:
            try:
                connection.execute(statement).fetchall()
            except psycopg.Error as error:
                return type(error)
        return None

    for view in VIEWS:
        assert as_reader(f"SELECT * FROM {view.name}") is None, view.name
    assert as_reader("CREATE OR REPLACE VIEW top_events AS SELECT 1 AS x") is psycopg.errors.InsufficientPrivilege
    assert as_reader("DROP VIEW people_activity") is psycopg.errors.InsufficientPrivilege

    # A later version drops and makes a view again: the owner's default privileges let the role read it.
    changed = View(
        name="people_activity",
        comment="Changed. Grain: one row per person_id.",
        columns={"person_id": "The person, after identity stitching."},
        select=lambda d: "SELECT person_id FROM people",
        reads=("people",),
    )
    monkeypatch.setattr(loader, "VIEWS", (*VIEWS[:-1], changed))
    engine = loader.create_engine(url)
    try:
        loader.ensure_tables(engine)
    finally:
        engine.dispose()
    assert as_reader("SELECT person_id FROM people_activity") is None
    assert grant_readonly(url, reader).changed is False  # still exactly read-only
