"""The throwaway PostgreSQL works end to end: SQLAlchemy + psycopg, COPY, and per-test isolation."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from revolt_pipeline_tests.fixtures.postgres import PostgresServer

pytestmark = pytest.mark.services

ROWS = [(1, "signup", 0.5), (2, "login", None), (3, 'purchase, "quoted"\ttab', 12.25)]


def test_url_shape(postgres_server: PostgresServer, postgres_url: str) -> None:
    url = sa.make_url(postgres_url)
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port, url.username) == ("127.0.0.1", postgres_server.port, "postgres")
    assert url.database and url.database.startswith("test_")


def test_copy_and_read_back(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE events (id int PRIMARY KEY, name text NOT NULL, value float8)"))
            # The raw psycopg connection under SQLAlchemy, for COPY (what the loaders use).
            dbapi_conn = conn.connection.driver_connection
            assert isinstance(dbapi_conn, psycopg.Connection)
            with dbapi_conn.cursor() as cur, cur.copy("COPY events (id, name, value) FROM STDIN") as copy:
                for row in ROWS:
                    copy.write_row(row)
        with engine.connect() as conn:
            got = conn.execute(sa.text("SELECT id, name, value FROM events ORDER BY id")).all()
        assert [tuple(r) for r in got] == ROWS
    finally:
        engine.dispose()


def test_databases_are_isolated(postgres_server: PostgresServer, postgres_url: str) -> None:
    other_url = postgres_server.create_database("isolation_check_other")
    try:
        first, second = sa.create_engine(postgres_url), sa.create_engine(other_url)
        with first.begin() as conn:
            conn.execute(sa.text("CREATE TABLE only_here (x int)"))
        with second.connect() as conn:
            exists = conn.execute(sa.text("SELECT to_regclass('public.only_here') IS NOT NULL")).scalar_one()
        assert exists is False
        first.dispose()
        second.dispose()
    finally:
        postgres_server.drop_database("isolation_check_other")


def test_each_test_gets_a_new_database(postgres_url: str) -> None:
    """A table created by another test must not be visible here."""
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            tables = conn.execute(sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar_one()
        assert tables == 0
    finally:
        engine.dispose()


def test_a_cluster_of_its_own_stops_and_restarts_on_the_same_port() -> None:
    from revolt_pipeline_tests.fixtures.postgres import running_postgres

    with running_postgres() as server:
        server.create_database("kept")
        with psycopg.connect(server.conninfo("kept"), autocommit=True) as conn:
            conn.execute("CREATE TABLE t (x int)")
            conn.execute("INSERT INTO t VALUES (1)")
            server.restart("fast")
            with pytest.raises(psycopg.OperationalError):
                conn.execute("SELECT 1")  # the restart ended the session
        server.stop("immediate")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(server.conninfo("kept"))
        server.start()
        with psycopg.connect(server.conninfo("kept")) as conn:
            assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_the_shared_server_cannot_be_stopped_by_a_test(postgres_server: PostgresServer) -> None:
    foreign = PostgresServer(postgres_server.host, postgres_server.port, postgres_server.user, postgres_server.bindir)
    with pytest.raises(RuntimeError):
        foreign.stop()
