"""Report loading replaces whole date partitions atomically, the same way on SQLite and on PostgreSQL."""

import datetime
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from revolt_pipeline.reports import loader, schema

DAY_1 = datetime.date(2026, 11, 19)
DAY_2 = datetime.date(2026, 11, 20)
DAY_3 = datetime.date(2026, 11, 21)
DAU = schema.daily_active_users_by_app_version


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'reports.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = loader.create_engine(url)
    loader.ensure_tables(engine)
    yield engine
    engine.dispose()


def dau_rows(day: datetime.date, platforms: dict[str, int]) -> pa.Table:
    """daily_active_users_by_app_version rows for `day`: one per platform, `active_users` as given."""
    return pa.Table.from_pylist(
        [
            {
                "event_date": day,
                "platform": platform,
                "app_version": "all",
                "active_users": users,
                "identified_users": users // 2,
                "anonymous_users": users - users // 2,
            }
            for platform, users in platforms.items()
        ],
        schema=loader.arrow_schema(DAU),
    )


def active_users(engine: sa.Engine) -> dict[tuple[datetime.date, str], int]:
    return {(row["event_date"], row["platform"]): row["active_users"] for row in loader.read_rows(engine, DAU)}


def test_replacing_one_date_leaves_other_dates_untouched(engine: sa.Engine) -> None:
    loader.replace_partitions(engine, DAU, [DAY_1], dau_rows(DAY_1, {"ios": 10, "web": 20}))
    loader.replace_partitions(engine, DAU, [DAY_2], dau_rows(DAY_2, {"ios": 11, "web": 21}))
    loader.replace_partitions(engine, DAU, [DAY_3], dau_rows(DAY_3, {"ios": 12}))

    inserted = loader.replace_partitions(engine, DAU, [DAY_2], dau_rows(DAY_2, {"ios": 99, "android": 5}))

    assert inserted == 2
    assert active_users(engine) == {
        (DAY_1, "ios"): 10,
        (DAY_1, "web"): 20,
        (DAY_2, "android"): 5,
        (DAY_2, "ios"): 99,
        (DAY_3, "ios"): 12,
    }


def test_replacing_twice_with_the_same_rows_is_idempotent(engine: sa.Engine) -> None:
    loader.replace_partitions(engine, DAU, [DAY_1], dau_rows(DAY_1, {"ios": 10}))
    rows = dau_rows(DAY_2, {"ios": 11, "web": 21, "all": 30})

    loader.replace_partitions(engine, DAU, [DAY_2], rows)
    first = loader.read_rows(engine, DAU)
    loader.replace_partitions(engine, DAU, [DAY_2], rows)

    assert loader.read_rows(engine, DAU) == first
    assert len(first) == 4


def test_replacing_with_fewer_rows_removes_the_old_ones(engine: sa.Engine) -> None:
    loader.replace_partitions(engine, DAU, [DAY_1], dau_rows(DAY_1, {"ios": 10, "web": 20, "android": 30}))

    loader.replace_partitions(engine, DAU, [DAY_1], dau_rows(DAY_1, {"web": 21}))

    assert active_users(engine) == {(DAY_1, "web"): 21}


def test_empty_rows_clear_the_date(engine: sa.Engine) -> None:
    loader.replace_partitions(
        engine,
        DAU,
        [DAY_1, DAY_2],
        pa.concat_tables([dau_rows(DAY_1, {"ios": 10}), dau_rows(DAY_2, {"ios": 11})]),
    )

    inserted = loader.replace_partitions(engine, DAU, [DAY_2], dau_rows(DAY_2, {}))

    assert inserted == 0
    assert active_users(engine) == {(DAY_1, "ios"): 10}


def test_several_dates_are_replaced_together(engine: sa.Engine) -> None:
    loader.replace_partitions(
        engine,
        DAU,
        [DAY_1, DAY_2, DAY_3],
        pa.concat_tables([dau_rows(DAY_1, {"ios": 10}), dau_rows(DAY_2, {"ios": 11}), dau_rows(DAY_3, {"ios": 12})]),
    )

    loader.replace_partitions(engine, DAU, [DAY_3, DAY_1], dau_rows(DAY_1, {"web": 1}))

    assert active_users(engine) == {(DAY_1, "web"): 1, (DAY_2, "ios"): 11}
    assert [row["platform"] for row in loader.read_rows(engine, DAU, [DAY_2])] == ["ios"]


def test_a_failed_insert_leaves_the_old_rows_in_place(engine: sa.Engine) -> None:
    loader.replace_partitions(engine, DAU, [DAY_1], dau_rows(DAY_1, {"ios": 10}))
    loader.replace_partitions(engine, DAU, [DAY_2], dau_rows(DAY_2, {"ios": 11, "web": 21}))
    before = loader.read_rows(engine, DAU)
    # Enough rows that several chunks are written before the duplicate primary key at the end fails.
    many = dau_rows(DAY_2, {f"platform-{i}": i for i in range(25_000)})
    failing = pa.concat_tables([many, dau_rows(DAY_2, {"platform-7": 1})])

    with pytest.raises(sa.exc.IntegrityError):
        loader.replace_partitions(engine, DAU, [DAY_2], failing)

    assert loader.read_rows(engine, DAU) == before


def test_rows_outside_the_partitions_are_refused_before_touching_the_database(engine: sa.Engine) -> None:
    loader.replace_partitions(
        engine,
        DAU,
        [DAY_1, DAY_2],
        pa.concat_tables([dau_rows(DAY_1, {"ios": 10}), dau_rows(DAY_2, {"ios": 11})]),
    )
    stray = pa.concat_tables([dau_rows(DAY_1, {"web": 1}), dau_rows(DAY_2, {"web": 2})])

    with pytest.raises(ValueError, match="outside the partitions being replaced"):
        loader.replace_partitions(engine, DAU, [DAY_1], stray)
    with pytest.raises(ValueError, match="outside the partitions"):
        loader.replace_partitions(engine, DAU, [], stray)

    assert active_users(engine) == {(DAY_1, "ios"): 10, (DAY_2, "ios"): 11}


def test_rows_must_have_exactly_the_tables_columns(engine: sa.Engine) -> None:
    loader.replace_partitions(engine, DAU, [DAY_1], dau_rows(DAY_1, {"ios": 10}))
    rows = dau_rows(DAY_1, {"web": 1})

    with pytest.raises(ValueError, match=r"missing \['anonymous_users'\]"):
        loader.replace_partitions(engine, DAU, [DAY_1], rows.drop_columns(["anonymous_users"]))
    with pytest.raises(ValueError, match=r"unexpected \['extra'\]"):
        loader.replace_partitions(engine, DAU, [DAY_1], rows.append_column("extra", pa.array([1])))

    assert active_users(engine) == {(DAY_1, "ios"): 10}


def test_columns_in_another_order_and_compatible_types_are_accepted(engine: sa.Engine) -> None:
    rows = pa.table(
        {
            "anonymous_users": pa.array([1], pa.int64()),
            "platform": ["ios"],
            "event_date": ["2026-11-19"],
            "active_users": pa.array([3], pa.int8()),
            "app_version": ["1.0"],
            "identified_users": [2],
        }
    )

    assert loader.replace_partitions(engine, DAU, [DAY_1], rows) == 1

    assert loader.read_rows(engine, DAU) == [
        {
            "event_date": DAY_1,
            "platform": "ios",
            "app_version": "1.0",
            "active_users": 3,
            "identified_users": 2,
            "anonymous_users": 1,
        }
    ]


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("platform", "x" * 65, "allows 64 characters"),
        ("platform", "nul\x00inside", "NUL character"),
        ("active_users", 2**31, "cannot be stored as int32"),
        ("active_users", None, "NOT NULL"),
        ("active_users", 1.5, "cannot be stored as int32"),
    ],
)
def test_values_postgresql_would_refuse_are_refused_on_every_backend(
    engine: sa.Engine, column: str, value: Any, message: str
) -> None:
    row = dau_rows(DAY_1, {"ios": 10}).to_pylist()[0] | {column: value}

    with pytest.raises(ValueError, match=message):
        loader.replace_partitions(engine, DAU, [DAY_1], pa.Table.from_pylist([row]))

    assert loader.read_rows(engine, DAU) == []


def test_a_value_that_escaped_the_report_text_rule_is_named_with_its_fix(engine: sa.Engine) -> None:
    rows = [dau_rows(DAY_1, {"ios": 1}).to_pylist()[0] | {"app_version": version} for version in ("a\x00b", "c\x00")]

    with pytest.raises(ValueError) as refused:
        loader.replace_partitions(engine, DAU, [DAY_1], pa.Table.from_pylist(rows))

    message = str(refused.value)
    assert "daily_active_users_by_app_version.app_version holds a NUL character" in message
    assert "2 rows, for example 'a\\x00b'" in message
    assert "What the report database holds" in message and "rebuilding the day's daily_aggregates" in message


awkward_metadata = sa.MetaData()
awkward = sa.Table(
    "awkward_values",
    awkward_metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("label", sa.String(100)),
    sa.Column("amount", sa.Float),
    sa.Column("count", sa.BigInteger),
    sa.Column("flag", sa.Boolean),
    sa.Column("seen_on", sa.Date),
)

AWKWARD_LABELS = [
    "",
    "plain",
    "comma, inside",
    "double \"quotes\" and 'single'",
    '"',
    '""',
    "line\nbreak",
    "windows\r\nline break",
    "carriage\rreturn",
    "a\n\\.\nb",  # COPY's end-of-data marker alone on a line, inside a quoted value
    "\\.",
    "\\N",
    "NULL",
    "null",
    "back\\slash",
    "tab\there",
    "  padded  ",
    "ünïcödé ñ 東京 Ελληνικά",
    "emoji 😀👍🏽 and zero\u200bwidth",
    None,
]
AWKWARD_AMOUNTS = [
    0.1,
    1 / 3,
    -2.5,
    5e-324,
    1.7976931348623157e308,
    -1e-310,
    123456789.123456789,
    float("inf"),
    float("-inf"),
    0.0,
    None,
]


def awkward_rows(day: datetime.date) -> list[dict[str, Any]]:
    return [
        {
            "day": day,
            "id": i,
            "label": AWKWARD_LABELS[i % len(AWKWARD_LABELS)],
            "amount": AWKWARD_AMOUNTS[i % len(AWKWARD_AMOUNTS)],
            "count": [None, 2**53 + 1, -(2**63), 2**63 - 1, 0][i % 5],
            "flag": [True, False, None][i % 3],
            "seen_on": [datetime.date(1970, 1, 1), None, datetime.date(9999, 12, 31), day][i % 4],
        }
        for i in range(len(AWKWARD_LABELS) * len(AWKWARD_AMOUNTS))
    ]


def test_awkward_values_round_trip_exactly(engine: sa.Engine) -> None:
    awkward_metadata.create_all(engine)
    rows = awkward_rows(DAY_1)

    loaded = loader.replace_partitions(
        engine, awkward, [DAY_1], pa.Table.from_pylist(rows, schema=loader.arrow_schema(awkward)), "day"
    )

    assert loaded == len(rows)
    assert loader.read_rows(engine, awkward, [DAY_1], "day") == rows


def test_nan_is_refused_because_sqlite_would_store_null(engine: sa.Engine) -> None:
    awkward_metadata.create_all(engine)
    row = {
        "day": DAY_1,
        "id": 1,
        "label": "x",
        "amount": float("nan"),
        "count": 1,
        "flag": True,
        "seen_on": None,
    }

    with pytest.raises(ValueError, match="NaN"):
        loader.replace_partitions(engine, awkward, [DAY_1], pa.Table.from_pylist([row]), "day")


def test_a_table_without_a_registered_partition_column_needs_one(engine: sa.Engine) -> None:
    awkward_metadata.create_all(engine)
    rows = pa.Table.from_pylist([], schema=loader.arrow_schema(awkward))

    with pytest.raises(ValueError, match="pass partition_column="):
        loader.replace_partitions(engine, awkward, [DAY_1], rows)
    with pytest.raises(ValueError, match="must be a Date column"):
        loader.replace_partitions(engine, awkward, [DAY_1], rows, "label")


def test_partition_values_must_be_dates_not_datetimes(engine: sa.Engine) -> None:
    with pytest.raises(ValueError, match=r"must be datetime\.date"):
        loader.replace_partitions(
            engine,
            DAU,
            [datetime.datetime(2026, 11, 19, 0, 0)],
            dau_rows(DAY_1, {}),
        )


def test_read_rows_sorts_by_primary_key_and_filters_by_date(engine: sa.Engine) -> None:
    loader.replace_partitions(
        engine,
        DAU,
        [DAY_2, DAY_1],
        pa.concat_tables([dau_rows(DAY_2, {"web": 1, "all": 2}), dau_rows(DAY_1, {"ios": 3, "android": 4})]),
    )

    keys = [(row["event_date"], row["platform"]) for row in loader.read_rows(engine, DAU)]

    assert keys == [(DAY_1, "android"), (DAY_1, "ios"), (DAY_2, "all"), (DAY_2, "web")]
    assert [row["platform"] for row in loader.read_rows(engine, DAU, [DAY_2])] == ["all", "web"]
    assert loader.read_rows(engine, DAU, []) == []


def test_ensure_tables_is_idempotent(engine: sa.Engine) -> None:
    loader.replace_partitions(engine, DAU, [DAY_1], dau_rows(DAY_1, {"ios": 10}))

    loader.ensure_tables(engine)

    assert set(schema.metadata.tables) <= set(sa.inspect(engine).get_table_names())
    assert active_users(engine) == {(DAY_1, "ios"): 10}


def test_sqlite_database_gets_its_folder_wal_mode_and_a_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there" / "reports.sqlite"
    engine = loader.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == loader.SQLITE_BUSY_TIMEOUT_MS
        assert path.exists()
    finally:
        engine.dispose()


def test_a_sqlite_reader_sees_the_old_day_while_a_replacement_is_uncommitted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'reports.sqlite'}"
    writer, reader = loader.create_engine(url), loader.create_engine(url)
    try:
        loader.ensure_tables(writer)
        loader.replace_partitions(writer, DAU, [DAY_1], dau_rows(DAY_1, {"ios": 10}))
        with writer.begin() as connection:
            connection.execute(sa.delete(DAU))
            connection.execute(sa.insert(DAU), dau_rows(DAY_1, {"web": 1}).to_pylist())
            assert active_users(reader) == {(DAY_1, "ios"): 10}
        assert active_users(reader) == {(DAY_1, "web"): 1}
    finally:
        writer.dispose()
        reader.dispose()


def test_plain_postgresql_urls_use_psycopg_3_for_copy() -> None:
    engine = loader.create_engine("postgresql://reports@db.example:5432/reports")

    assert engine.dialect.driver == "psycopg"


@pytest.mark.parametrize(
    "url",
    ["mysql+pymysql://u@h/db", "postgresql+psycopg2://u@h/db", "sqlite+aiosqlite:///x.db", "reports.db"],
)
def test_unsupported_urls_are_refused_clearly(url: str) -> None:
    with pytest.raises(ValueError, match="sqlite:///"):
        loader.create_engine(url)


@pytest.mark.services
def test_bulk_load_of_200k_rows_into_postgresql(postgres_url: str) -> None:
    engine = loader.create_engine(postgres_url)
    try:
        loader.ensure_tables(engine)
        n = 200_000
        rows = pa.table(
            {
                "event_date": pa.array([DAY_1] * n, pa.date32()),
                "platform": pa.array(["ios", "android", "web", "all"] * (n // 4)),
                "app_version": pa.array([f"1.{i % 50}" for i in range(n)]),
                "event_type": pa.array(["track"] * n),
                "event_name": pa.array([f'Event, "{i}" ✓' for i in range(n)]),
                "events": pa.array(range(n), pa.int32()),
                "users": pa.array([i % 1000 for i in range(n)], pa.int32()),
            }
        )

        started = time.perf_counter()
        loaded = loader.replace_partitions(engine, schema.events_daily_by_app_version, [DAY_1], rows)
        elapsed = time.perf_counter() - started

        print(f"\nloaded {loaded} rows into PostgreSQL in {elapsed:.2f} s: {loaded / elapsed:,.0f} rows/s")
        assert loaded == n
        with engine.connect() as connection:
            count, total = connection.execute(
                sa.select(sa.func.count(), sa.func.sum(schema.events_daily_by_app_version.c.events))
            ).one()
        assert (count, total) == (n, sum(range(n)))
    finally:
        engine.dispose()


# Each child imports the loader, says it is ready, then waits for the word to create the tables of each round's
# fresh database: the three then check and create at the same instant, as two steps of one run do.
_CREATE_WHEN_TOLD = """
import sys, time
from pathlib import Path
from revolt_pipeline.reports.loader import create_engine, ensure_tables
folder, urls = Path(sys.argv[1]), sys.argv[2:]
for number, url in enumerate(urls):
    (folder / f"ready-{number}-{time.monotonic_ns()}").touch()
    while not (folder / f"go-{number}").exists():
        time.sleep(0.001)
    engine = create_engine(url)
    ensure_tables(engine)
    engine.dispose()
"""


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def test_tables_are_created_safely_by_concurrent_processes(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two steps of one run create the tables at the same moment on a fresh database."""
    import subprocess
    import sys

    rounds, creators = 4, 3
    if backend == "sqlite":
        urls = [f"sqlite:///{tmp_path / f'fresh-{number}.sqlite'}" for number in range(rounds)]
    else:
        server = request.getfixturevalue("postgres_server")
        urls = [server.create_database(f"fresh_{uuid.uuid4().hex[:16]}") for _ in range(rounds)]
    children = [
        subprocess.Popen([sys.executable, "-c", _CREATE_WHEN_TOLD, str(tmp_path), *urls], stderr=subprocess.PIPE)
        for _ in range(creators)
    ]
    try:
        for number in range(rounds):
            deadline = time.monotonic() + 120
            while len(list(tmp_path.glob(f"ready-{number}-*"))) < creators:
                exited = [child for child in children if child.poll() is not None]
                assert not exited, [child.communicate()[1].decode() for child in exited]
                assert time.monotonic() < deadline, f"the creators did not reach round {number}"
                time.sleep(0.005)
            (tmp_path / f"go-{number}").touch()
        errors = [child.communicate(timeout=120)[1].decode() for child in children]
    finally:
        for child in children:
            child.kill()
    assert [child.returncode for child in children] == [0] * creators, errors
    for url in urls:
        engine = loader.create_engine(url)
        try:
            tables = set(sa.inspect(engine).get_table_names())
        finally:
            engine.dispose()
        assert tables >= {table.name for table in schema.metadata.sorted_tables}
