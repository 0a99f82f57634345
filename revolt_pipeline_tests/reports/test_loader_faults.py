"""The report loader against a real PostgreSQL that restarts, or stops, in the middle of a load."""

import datetime
import threading
import uuid
from collections.abc import Iterator

import psycopg
import pyarrow as pa
import pytest
import sqlalchemy as sa

from revolt_pipeline.reports import loader, schema
from revolt_pipeline.retrying import Backoff, RetriesExhausted
from revolt_pipeline_tests.fixtures.faults import stall_first_insert, wait_for_stall
from revolt_pipeline_tests.fixtures.postgres import PostgresServer

pytestmark = pytest.mark.services

DAY_1 = datetime.date(2026, 11, 19)
DAY_2 = datetime.date(2026, 11, 20)
DAU = schema.daily_active_users_by_app_version
QUICK = Backoff(retries=3, first_delay=0.05, max_delay=0.2)


@pytest.fixture
def database(restartable_postgres: PostgresServer) -> Iterator[tuple[PostgresServer, str]]:
    name = f"faults_{uuid.uuid4().hex[:12]}"
    restartable_postgres.create_database(name)
    yield restartable_postgres, name
    restartable_postgres.drop_database(name)


@pytest.fixture
def engine(database: tuple[PostgresServer, str]) -> Iterator[sa.Engine]:
    server, name = database
    engine = loader.create_engine(server.url(name), retry=QUICK)
    loader.ensure_tables(engine)
    yield engine
    engine.dispose()


def dau_rows(day: datetime.date, users: dict[str, int]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "event_date": day,
                "platform": platform,
                "app_version": "all",
                "active_users": count,
                "identified_users": count,
                "anonymous_users": 0,
            }
            for platform, count in users.items()
        ],
        schema=loader.arrow_schema(DAU),
    )


def in_background(action: object) -> threading.Thread:
    """Run `action` in a thread; its exception, if any, is re-raised by `finish`."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            action()  # type: ignore[operator]
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.errors = errors  # type: ignore[attr-defined]
    thread.start()
    return thread


def finish(thread: threading.Thread) -> None:
    thread.join(60)
    assert not thread.is_alive()
    if thread.errors:  # type: ignore[attr-defined]
        raise thread.errors[0]  # type: ignore[attr-defined]


def test_a_restart_during_the_copy_is_retried_and_loads_the_days_exactly_once(
    database: tuple[PostgresServer, str], engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    server, name = database
    loader.replace_partitions(engine, DAU, [DAY_1], dau_rows(DAY_1, {"ios": 1, "web": 2}))
    stall_first_insert(server.conninfo(name), DAU.name)

    def restart_while_loading() -> None:
        wait_for_stall(server.conninfo(name))
        server.restart("fast")

    restarter = in_background(restart_while_loading)
    rows = pa.concat_tables([dau_rows(DAY_1, {"ios": 10, "web": 20, "all": 25}), dau_rows(DAY_2, {"ios": 3})])
    assert loader.replace_partitions(engine, DAU, [DAY_1, DAY_2], rows) == 4
    finish(restarter)

    assert {(r["event_date"], r["platform"]): r["active_users"] for r in loader.read_rows(engine, DAU)} == {
        (DAY_1, "all"): 25,
        (DAY_1, "ios"): 10,
        (DAY_1, "web"): 20,
        (DAY_2, "ios"): 3,
    }
    assert any("retrying" in record.getMessage() for record in caplog.records)


def test_a_server_that_stays_down_fails_the_load_clearly_and_the_table_keeps_its_previous_rows(
    database: tuple[PostgresServer, str], engine: sa.Engine
) -> None:
    server, name = database
    loader.replace_partitions(engine, DAU, [DAY_1], dau_rows(DAY_1, {"ios": 1, "web": 2}))
    before = loader.read_rows(engine, DAU)
    stall_first_insert(server.conninfo(name), DAU.name)

    def stop_while_loading() -> None:
        wait_for_stall(server.conninfo(name))
        server.stop("fast")

    stopper = in_background(stop_while_loading)
    try:
        with pytest.raises(RetriesExhausted) as failure:
            loader.replace_partitions(engine, DAU, [DAY_1], dau_rows(DAY_1, {"ios": 10, "web": 20}))
        finish(stopper)
    finally:
        server.start()

    message = str(failure.value)
    assert failure.value.attempts == QUICK.retries + 1
    assert "replacing the rows of daily_active_users_by_app_version for 2026-11-19" in message
    assert f"{server.host}:{server.port}/{name}" in message
    assert "previous rows" in message and "Last error: OperationalError" in message
    assert loader.read_rows(engine, DAU) == before


def test_errors_other_than_a_lost_connection_fail_at_once(
    database: tuple[PostgresServer, str], engine: sa.Engine
) -> None:
    server, name = database
    # A statement trigger counts the attempts: sequences are not rolled back with the transaction.
    with psycopg.connect(server.conninfo(name), autocommit=True) as connection:
        connection.execute("CREATE SEQUENCE attempts")
        connection.execute(
            "CREATE FUNCTION count_attempt() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM nextval('attempts'); RETURN NULL; END $$"
        )
        connection.execute(
            "CREATE TRIGGER count_attempt BEFORE DELETE ON daily_active_users_by_app_version "
            "FOR EACH STATEMENT EXECUTE FUNCTION count_attempt()"
        )
    duplicated = dau_rows(DAY_1, {"ios": 1})
    with pytest.raises(sa.exc.IntegrityError):
        loader.replace_partitions(engine, DAU, [DAY_1], pa.concat_tables([duplicated, duplicated]))
    with psycopg.connect(server.conninfo(name)) as connection:
        assert connection.execute("SELECT last_value FROM attempts").fetchone() == (1,)


def test_only_lost_or_refused_connections_count_as_connection_errors(engine: sa.Engine) -> None:
    refused = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 5})
    with pytest.raises(sa.exc.OperationalError) as lost:
        refused.connect()
    assert loader.is_connection_error(lost.value)
    with pytest.raises(sa.exc.ProgrammingError) as wrong, engine.connect() as connection:
        connection.execute(sa.text("SELECT * FROM no_such_table"))
    assert not loader.is_connection_error(wrong.value)
    sqlite = sa.create_engine("sqlite://")
    with pytest.raises(sa.exc.OperationalError) as locked, sqlite.connect() as connection:
        connection.execute(sa.text("SELECT * FROM no_such_table"))
    assert not loader.is_connection_error(locked.value)
