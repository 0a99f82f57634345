"""Writes report tables into the report database (SQLite or PostgreSQL), one whole date partition at a time.

A pipeline run owns the rows of its dates and nothing else: `replace_partitions` deletes exactly those
dates and inserts the new rows in one transaction, so BI tools see either the old day or the new one,
and other days are never touched (unlike `to_sql(if_exists="replace")`, which wipes the whole table).

A lost connection (PostgreSQL restarted, a failover, a dropped link) costs one transaction, which the
server rolls back: the loader then runs the whole transaction again, a bounded number of times with
backoff. Any other error (a constraint, a value the column cannot hold) fails at once.
"""

import datetime
import io
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import sqlalchemy as sa

from revolt_pipeline.reports import schema
from revolt_pipeline.reports.views import VIEWS, Dialect, View
from revolt_pipeline.retrying import Backoff, call_with_retries
from revolt_pipeline.transforms.privacy import ID_COLUMNS

log = logging.getLogger(__name__)
T = TypeVar("T")

# Long enough for a concurrent writer or a checkpoint to finish, short enough to surface a stuck lock.
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Rows per executemany call on SQLite, and per CSV block fed to COPY: bounds memory, not speed.
SQLITE_CHUNK_ROWS = 10_000
COPY_CHUNK_ROWS = 50_000
# A server that accepts TCP but never answers must fail the attempt, not hold the run.
POSTGRES_CONNECT_TIMEOUT_S = 10
# The engine's execution option holding how its connections are retried (see `create_engine`).
RETRY_OPTION = "revolt_retry"
# SQLSTATEs that mean the session, not the statement, failed: the server shut down, crashed or is still
# starting, the session idled out, or no connection slot was free. Class 08 (connection exception) too.
_CONNECTION_SQLSTATES = {"57P01", "57P02", "57P03", "57P05", "53300"}

_SQLITE_DRIVERS = {"sqlite", "sqlite+pysqlite"}
# COPY needs psycopg 3; plain `postgresql://` means psycopg2 to SQLAlchemy 2.0 and psycopg 3 to 2.1,
# so it is pinned here rather than left to the installed version.
_POSTGRES_DRIVERS = {"postgresql", "postgresql+psycopg"}


def create_engine(url: str, retry: Backoff | None = None) -> sa.Engine:
    """An engine for the report database named by `url`: `sqlite:///path` or `postgresql+psycopg://...`.

    SQLite runs in WAL mode with a busy timeout, so BI tools can read the file while a run writes it.
    `retry` is how the functions here retry work on PostgreSQL after a lost connection (default `Backoff()`).
    """
    options = {RETRY_OPTION: retry or Backoff()}
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ValueError(f"not a database URL: {url!r} (expected sqlite:///path or postgresql+psycopg://...)") from exc

    if parsed.drivername in _SQLITE_DRIVERS:
        return _create_sqlite_engine(parsed, options)
    if parsed.drivername in _POSTGRES_DRIVERS:
        # pre_ping: a long-lived Dagster process must survive the server closing idle connections,
        # and a pool must not hand out connections a server restart has killed.
        connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S}
        return sa.create_engine(
            parsed.set(drivername="postgresql+psycopg"),
            pool_pre_ping=True,
            connect_args=connect_args,
            execution_options=options,
        )
    raise ValueError(
        f"unsupported report database URL scheme {parsed.drivername!r}: "
        "use sqlite:///path/to/reports.sqlite or postgresql+psycopg://user@host:port/dbname"
    )


def _create_sqlite_engine(url: sa.URL, options: dict[str, Any]) -> sa.Engine:
    in_memory = url.database in (None, "", ":memory:") or url.query.get("uri") == "true"
    if not in_memory:
        assert url.database is not None
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, execution_options=options)

    @sa.event.listens_for(engine, "connect")
    def _enable_concurrent_readers(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets readers proceed during a write; the timeout makes a second writer wait, not fail.
        # PRAGMAs take no bound parameters; the value is a module constant.
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_MS)}")
            _switch_to_wal(cursor)
        finally:
            cursor.close()

    return engine


def _switch_to_wal(cursor: Any) -> None:
    """Put the database in WAL mode, waiting for a concurrent opener as long as the busy timeout.

    SQLite answers `database is locked` at once, without its busy handler, to a connection asking for WAL
    while another connection is switching the same fresh file: two steps of one run opening a new report
    database hit this. So the switch is retried here; it is a no-op once the file is in WAL mode.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def is_connection_error(error: BaseException) -> bool:
    """True when the connection to PostgreSQL was lost or refused, rather than a statement failing.

    Only these are retried: the server rolls back the transaction of a lost session, so running it
    again is safe, and it may well succeed once the server is back. SQLite errors never qualify.
    """
    if not isinstance(error, sa.exc.DBAPIError):
        return False
    if error.connection_invalidated:  # SQLAlchemy's own disconnect detection
        return True
    original = error.orig
    if not isinstance(original, psycopg.Error):
        return False
    if original.sqlstate is None:  # raised by the client: connection refused, lost, timed out
        return isinstance(original, psycopg.OperationalError | psycopg.InterfaceError)
    return original.sqlstate.startswith("08") or original.sqlstate in _CONNECTION_SQLSTATES


def engine_retry(engine: sa.Engine) -> Backoff:
    """How work on `engine` is retried after a lost connection, as given to `create_engine`."""
    retry = engine.get_execution_options().get(RETRY_OPTION)
    return retry if isinstance(retry, Backoff) else Backoff()


def with_reconnects(engine: sa.Engine, work: Callable[[], T], what: str, consequence: str = "") -> T:
    """`work()`, run again (with backoff, a bounded number of times) after a lost or refused connection.

    `work` must be safe to repeat: one transaction, or reads only.
    """
    return call_with_retries(
        work,
        transient=is_connection_error,
        backoff=engine_retry(engine),
        what=f"{what} in {engine.url}",  # the URL's password prints as ***
        consequence=consequence,
        warn=log.warning,
    )


class OutdatedReportTables(Exception):
    """Report tables exist with other columns than this version's: loading into them would fail or mislead."""


def ensure_tables(engine: sa.Engine) -> None:
    """Create the report tables that do not exist yet, safe from concurrent processes and reconnecting;
    raise OutdatedReportTables, changing nothing, if an existing one has other columns.

    Two steps of one run (report_tables and event_catalog run in parallel) open a fresh database at once.
    `create_all` checks, then creates, so each holds the database's write lock (SQLite) or an advisory
    lock (PostgreSQL) from its check to its last view: the second finds everything made.
    """

    def create() -> None:
        with engine.begin() as connection:
            _lock_schema(connection)
            _refuse_outdated_tables(connection)
            schema.metadata.create_all(connection)
            _ensure_views(connection)

    with_reconnects(engine, create, "creating the report tables")


def _lock_schema(connection: sa.Connection) -> None:
    """Hold the report database's schema for the rest of `connection`'s transaction."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('revolt report schema'))")
    else:
        # The driver starts no transaction before DDL; an immediate one takes the write lock now,
        # waiting out the busy timeout, so the check and the creation are one step.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


# How to fill a table again after dropping the older version's: the tables that mixed each day's totals with its
# per-platform rows before totals and breakdowns were split, and `people`, which a load replaces whole.
_REBUILD_AFTER_DROP = {
    "daily_active_users": "clean_job (daily_aggregates) and report_job over the days the reports should hold",
    "sessions_daily": "clean_job (daily_aggregates) and report_job over the days the reports should hold",
    "events_daily": "clean_job (daily_aggregates) and report_job over the days the reports should hold",
    # Gained platform and app_version: the lake's files written before lack them too.
    "events_daily_by_os": "clean_job (daily_aggregates) and report_job over the days the reports should hold",
    "events_daily_by_country": "clean_job (daily_aggregates) and report_job over the days the reports should hold",
    "people": "people_job over the latest day built (people is loaded whole from its snapshot)",
    "event_catalog": "catalog_job over the received days the catalog should hold (raw_events first for days whose "
    "profiles predate the PII scanner, to count their likely personal values)",
}


def _refuse_outdated_tables(connection: sa.Connection) -> None:
    """Before totals and breakdowns were split, daily_active_users, sessions_daily and events_daily held
    both, with platform and app_version columns; `people` has gained columns since (its first values), and
    events by OS and country platform and app_version; `create_all` leaves an existing table as it is."""
    inspector = sa.inspect(connection)
    outdated = [
        table.name
        for table in schema.metadata.sorted_tables
        if inspector.has_table(table.name)
        and {column["name"] for column in inspector.get_columns(table.name)} != set(table.columns.keys())
    ]
    if outdated:
        names = ", ".join(outdated)
        rebuild = sorted(
            {_REBUILD_AFTER_DROP.get(name, "the jobs of their assets over their days") for name in outdated}
        )
        raise OutdatedReportTables(
            f"the report tables {names} have the columns of an older version (which mixed each day's totals "
            "with its per-platform rows, or lacked columns added since). Nothing was changed. "
            f"Drop them (DROP TABLE {names}; on PostgreSQL DROP TABLE {names} CASCADE, which drops the views over "
            f"them too: they are made again), then build them again: {'; '.join(rebuild)} "
            "(docs/pipeline.md, Upgrading)"
        )


def _ensure_views(connection: sa.Connection) -> None:
    """Create every view of `reports/views.py`, or replace one whose SELECT or COMMENTs changed.

    A view left as it is takes no lock: replacing one waits for the BI queries reading it, and the queries
    arriving meanwhile wait behind it. So PostgreSQL compares first, through a temporary view of the new
    SELECT (`pg_get_viewdef` writes both the same way); SQLite keeps each view's statement as it was given.
    """
    if connection.dialect.name == "postgresql":
        for view in VIEWS:
            _ensure_postgresql_view(connection, view.name, view.sql(Dialect("postgresql")), view)
    else:
        for view in VIEWS:
            _ensure_sqlite_view(connection, view.name, view.sql(Dialect("sqlite")))


def drop_views(engine: sa.Engine) -> None:
    """Drop every view of `reports/views.py` there is, in one transaction: before the tables they read are dropped."""
    with engine.begin() as connection:
        for view in reversed(VIEWS):
            connection.execute(
                sa.text(f"DROP VIEW IF EXISTS {connection.dialect.identifier_preparer.quote(view.name)}")
            )


def _ensure_sqlite_view(connection: sa.Connection, name: str, select: str) -> None:
    quoted = connection.dialect.identifier_preparer.quote(name)
    statement = f"CREATE VIEW {quoted} AS {select}"
    existing = connection.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'view' AND name = :name"), {"name": name}
    ).scalar()
    if existing == statement:
        return
    connection.exec_driver_sql(f"DROP VIEW IF EXISTS {quoted}")
    connection.exec_driver_sql(statement)


def _ensure_postgresql_view(connection: sa.Connection, name: str, select: str, view: View) -> None:
    preparer = connection.dialect.identifier_preparer
    quoted = preparer.quote(name)
    comments = {None: view.comment, **view.columns}
    if _postgresql_view_is_current(connection, name, select, comments):
        return
    savepoint = connection.begin_nested()
    try:
        _postgresql_ddl(connection, f"CREATE OR REPLACE VIEW {quoted} AS {select}")
        savepoint.commit()
    except sa.exc.DBAPIError as error:
        savepoint.rollback()
        # A column renamed, dropped or of another type: CREATE OR REPLACE cannot, so the view is made anew
        # (the owner's default privileges give the read-only role SELECT on it again).
        if getattr(error.orig, "sqlstate", None) not in ("42P16", "42804"):
            raise
        _postgresql_ddl(connection, f"DROP VIEW {quoted}")
        _postgresql_ddl(connection, f"CREATE VIEW {quoted} AS {select}")
    made = [row[0] for row in connection.execute(_VIEW_COLUMNS, {"name": name})]
    if made != list(view.columns):
        raise ValueError(
            f"view {name} has the columns {made}, its entry in reports/views.py names {list(view.columns)}"
        )
    # COMMENT takes no bound parameter: the comments are this module's constants, quoted by the dialect.
    literal = sa.String().literal_processor(connection.dialect)
    assert literal is not None
    _postgresql_ddl(connection, f"COMMENT ON VIEW {quoted} IS {literal(view.comment)}")
    for column, comment in view.columns.items():
        _postgresql_ddl(connection, f"COMMENT ON COLUMN {quoted}.{preparer.quote(column)} IS {literal(comment)}")


def _postgresql_ddl(connection: sa.Connection, statement: str) -> None:
    """`statement`, on the driver's cursor of the connection's transaction, with no parameters: a view's SQL or
    comment may hold `%` (LIKE '%web%'), which psycopg would take for a placeholder given any parameters."""
    dbapi = connection.dialect.loaded_dbapi
    try:
        with connection.connection.driver_connection.cursor() as cursor:
            cursor.execute(statement)
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(statement, None, exc, dbapi.Error, dialect=connection.dialect) from exc


_VIEW_COLUMNS = sa.text(
    "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = to_regclass(:name) AND a.attnum > 0 "
    "AND NOT a.attisdropped ORDER BY a.attnum"
)


def _postgresql_view_is_current(connection: sa.Connection, name: str, select: str, comments: dict[Any, str]) -> bool:
    """True when the view exists with this SELECT (as PostgreSQL writes it back) and these COMMENTs."""
    existing = connection.execute(
        sa.text(
            "SELECT c.oid, pg_get_viewdef(c.oid) FROM pg_class c WHERE c.oid = to_regclass(:name) AND c.relkind = 'v'"
        ),
        {"name": name},
    ).first()
    if existing is None:
        return False
    oid, definition = existing
    found = dict(
        connection.execute(
            sa.text(
                "SELECT NULL, obj_description(:oid, 'pg_class') UNION ALL "
                "SELECT a.attname, col_description(:oid, a.attnum) FROM pg_attribute a "
                "WHERE a.attrelid = :oid AND a.attnum > 0 AND NOT a.attisdropped"
            ),
            {"oid": oid},
        ).all()
    )
    if found != comments:
        return False
    savepoint = connection.begin_nested()
    try:
        # A temporary view needs TEMPORARY on the database: without it, the view is simply replaced.
        _postgresql_ddl(connection, f"CREATE TEMPORARY VIEW revolt_view_probe AS {select}")
        probe = connection.execute(sa.text("SELECT pg_get_viewdef('revolt_view_probe'::regclass)")).scalar()
    except sa.exc.DBAPIError:
        savepoint.rollback()
        return False
    savepoint.rollback()  # drops the probe
    return probe == definition


def rows_in_database(engine: sa.Engine, table: sa.Table, days: list[datetime.date]) -> int:
    """How many rows the report database holds for `days`, all together."""
    column = table.c[schema.PARTITION_COLUMNS[table.name]]
    statement = sa.select(sa.func.count()).select_from(table).where(column.in_(days))

    def count() -> int:
        with engine.connect() as connection:
            return connection.execute(statement).scalar_one()

    return with_reconnects(engine, count, f"counting the rows of {table.name}")


def rows_in_database_per_day(engine: sa.Engine, table: sa.Table, days: list[datetime.date]) -> dict[datetime.date, int]:
    """How many rows the report database holds for each of `days`, in one query."""
    column = table.c[schema.PARTITION_COLUMNS[table.name]]
    statement = sa.select(column, sa.func.count()).where(column.in_(days)).group_by(column)

    def count() -> dict[datetime.date, int]:
        with engine.connect() as connection:
            return {**dict.fromkeys(days, 0), **{day: count for day, count in connection.execute(statement)}}

    return with_reconnects(engine, count, f"counting the rows of {table.name} per day")


def arrow_schema(table: sa.Table) -> pa.Schema:
    """The Arrow schema `replace_partitions` loads `table` from, in the table's column order.

    Useful to build rows (or an empty table, to clear a date) with the types the database will store.
    """
    return pa.schema(
        [pa.field(column.name, _arrow_type(column), nullable=bool(column.nullable)) for column in table.columns]
    )


def _arrow_type(column: sa.Column[Any]) -> pa.DataType:
    # Integer widths follow PostgreSQL's, so a value too large for production fails on SQLite too.
    sql_type = column.type.impl if isinstance(column.type, sa.types.TypeDecorator) else column.type
    if isinstance(sql_type, sa.Boolean):
        return pa.bool_()
    if isinstance(sql_type, sa.BigInteger):
        return pa.int64()
    if isinstance(sql_type, sa.SmallInteger):
        return pa.int16()
    if isinstance(sql_type, sa.Integer):
        return pa.int32()
    if isinstance(sql_type, sa.Float):  # before Numeric: Float is a Numeric
        return pa.float64()
    if isinstance(sql_type, sa.DateTime):
        return pa.timestamp("us", tz="UTC")
    if isinstance(sql_type, sa.Date):
        return pa.date32()
    if isinstance(sql_type, sa.String):
        return pa.string()
    raise ValueError(f"column {column.table.name}.{column.name}: type {sql_type!r} is not supported by the loader")


def replace_partitions(
    engine: sa.Engine,
    table: sa.Table,
    partition_values: Sequence[datetime.date],
    rows: pa.Table,
    partition_column: str | None = None,
) -> int:
    """Replace the rows of `table` for the dates `partition_values` with `rows`, in one transaction.

    `rows` must have exactly the table's columns, and every row must belong to one of the dates; an
    empty `rows` clears those dates. Rows are checked before the database is touched, so bad input
    raises ValueError without side effects. `partition_column` overrides `schema.PARTITION_COLUMNS`
    (for tables outside the report schema). Returns the number of rows inserted.
    """
    column_name = _partition_column(table, partition_column)
    dates = _partition_dates(partition_values)
    conformed = _conform_rows(table, column_name, dates, rows)
    if not dates:
        return 0

    started = time.perf_counter()
    delete = sa.delete(table).where(table.c[column_name].in_(dates))

    def replace() -> int:
        with engine.begin() as connection:
            deleted = connection.execute(delete).rowcount
            if conformed.num_rows:
                if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
                    _insert_with_copy(connection, table, conformed)
                else:
                    _insert_with_executemany(connection, table, conformed)
        return deleted

    days = ", ".join(day.isoformat() for day in dates)
    deleted = with_reconnects(
        engine,
        replace,
        f"replacing the rows of {table.name} for {days}",
        consequence="Each attempt was one transaction: the table holds its previous rows for these days "
        "(or, had a commit gone through unacknowledged, the new ones), never a part of either.",
    )
    log.info(
        "replaced %s for %s: deleted %d rows, inserted %d rows in %.2f s",
        table.name,
        days,
        deleted,
        conformed.num_rows,
        time.perf_counter() - started,
    )
    return conformed.num_rows


def replace_snapshot(engine: sa.Engine, table: sa.Table, rows: pa.Table, as_of: datetime.date) -> datetime.date:
    """Replace every row of the snapshot table `table` with `rows`, all of the day `as_of`, in one transaction;
    unless the table holds a later day's snapshot already, which it keeps. Returns the day the table is as of.

    So a run of an older day, or one finishing after a later day's, never rolls the table back.
    """
    column_name = schema.SNAPSHOT_TABLES[table.name]
    conformed = _conform_rows(table, column_name, [as_of], rows)
    column = table.c[column_name]

    def replace() -> datetime.date:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Held to the commit: a concurrent load waits, then sees this one's day.
                connection.execute(
                    sa.text(
                        f"LOCK TABLE {connection.dialect.identifier_preparer.format_table(table)} "
                        "IN SHARE ROW EXCLUSIVE MODE"
                    )
                )
            held = connection.execute(sa.select(sa.func.max(column))).scalar()
            if held is not None and held > as_of:
                return held
            connection.execute(sa.delete(table))
            if conformed.num_rows:
                if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
                    _insert_with_copy(connection, table, conformed)
                else:
                    _insert_with_executemany(connection, table, conformed)
        return as_of

    held = with_reconnects(
        engine,
        replace,
        f"replacing the rows of {table.name} with its snapshot of {as_of}",
        consequence="Each attempt was one transaction: the table holds its previous snapshot (or, had a commit "
        "gone through unacknowledged, the new one), never a part of either.",
    )
    if held > as_of:
        log.info("kept %s as of %s: the snapshot of %s is older", table.name, held, as_of)
    else:
        log.info("replaced %s with its snapshot of %s: %d rows", table.name, as_of, conformed.num_rows)
    return held


def rows_in_snapshot(engine: sa.Engine, table: sa.Table) -> tuple[datetime.date | None, int]:
    """The day the snapshot table `table` is as of, and how many rows it holds."""
    column = table.c[schema.SNAPSHOT_TABLES[table.name]]
    statement = sa.select(sa.func.max(column), sa.func.count()).select_from(table)

    def count() -> tuple[datetime.date | None, int]:
        with engine.connect() as connection:
            day, rows = connection.execute(statement).one()
        return (datetime.date.fromisoformat(day) if isinstance(day, str) else day), rows

    return with_reconnects(engine, count, f"counting the rows of {table.name}")


def _partition_column(table: sa.Table, override: str | None) -> str:
    name = override or schema.PARTITION_COLUMNS.get(table.name)
    if name is None:
        raise ValueError(f"table {table.name!r} has no partition column: pass partition_column=")
    if name not in table.c:
        raise ValueError(f"table {table.name!r} has no column {name!r} to partition by")
    column_type = table.c[name].type
    if not isinstance(column_type, sa.Date) or isinstance(column_type, sa.DateTime):
        raise ValueError(f"partition column {table.name}.{name} must be a Date column, not {column_type!r}")
    return name


def _partition_dates(partition_values: Sequence[datetime.date]) -> list[datetime.date]:
    # A datetime is a date to isinstance, but would not compare equal to the stored dates.
    for value in partition_values:
        if not isinstance(value, datetime.date) or isinstance(value, datetime.datetime):
            raise ValueError(f"partition values must be datetime.date, got {value!r}")
    return sorted(set(partition_values))


def _conform_rows(table: sa.Table, partition_column: str, dates: list[datetime.date], rows: pa.Table) -> pa.Table:
    """`rows` in the table's column order and types, or ValueError saying what does not fit.

    Checks what SQLite would accept but PostgreSQL would not (string lengths, integer widths, NUL
    characters, NaN), so the embedded database cannot hide a load that fails in production.
    """
    expected, given = [c.name for c in table.columns], rows.column_names
    if len(set(given)) != len(given) or set(given) != set(expected):
        missing, extra = sorted(set(expected) - set(given)), sorted(set(given) - set(expected))
        duplicated = sorted({name for name in given if given.count(name) > 1})
        raise ValueError(
            f"rows do not match the columns of {table.name}: missing {missing}, unexpected {extra}, "
            f"duplicated {duplicated}"
        )

    columns = []
    for column, field in zip(table.columns, arrow_schema(table), strict=True):
        values = rows.column(column.name)
        try:
            values = values.cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ValueError(f"column {table.name}.{column.name} cannot be stored as {field.type}: {exc}") from exc
        _check_values(table, column, values)
        columns.append(values)
    conformed = pa.Table.from_arrays(columns, schema=arrow_schema(table))

    inside = pc.fill_null(pc.is_in(conformed.column(partition_column), value_set=pa.array(dates, pa.date32())), False)
    outside = conformed.column(partition_column).filter(pc.invert(inside))
    if len(outside):
        examples = sorted({str(value) for value in outside.unique().to_pylist()})[:5]
        raise ValueError(
            f"{len(outside)} rows of {table.name} have a {partition_column} outside the partitions being "
            f"replaced ({', '.join(day.isoformat() for day in dates) or 'none'}): for example {examples}"
        )
    return conformed


def _check_values(table: sa.Table, column: sa.Column[Any], values: pa.ChunkedArray) -> None:
    where = f"column {table.name}.{column.name}"
    if not column.nullable and values.null_count:
        raise ValueError(f"{where} is NOT NULL but {values.null_count} rows hold null")
    if pa.types.is_floating(values.type) and pc.any(pc.is_nan(values)).as_py():
        raise ValueError(f"{where} holds NaN, which SQLite stores as NULL: use null or a number")
    if pa.types.is_string(values.type):
        # A guard: the pipeline makes client text fit on its way (transforms/report_text.py), so a value
        # refused here is a bug of ours, or a lake file written before that rule.
        with_nul = values.filter(pc.fill_null(pc.match_substring(values, "\x00"), False))
        if len(with_nul):
            raise ValueError(
                f"{where} holds a NUL character, which PostgreSQL text cannot store: {len(with_nul)} rows, "
                f"for example {_example(with_nul)}. {_NOT_MADE_SAFE}"
            )
        length = getattr(column.type, "length", None)
        lengths = pc.utf8_length(values)
        longest = pc.max(lengths).as_py()
        if length is not None and longest is not None and longest > length:
            too_long = values.filter(pc.fill_null(pc.greater(lengths, length), False))
            raise ValueError(
                f"{where} allows {length} characters, a value has {longest}: {len(too_long)} rows, "
                f"for example {_example(too_long)}. {_NOT_MADE_SAFE}"
            )


_NOT_MADE_SAFE = (
    "Text bound for the report tables is made safe before it is aggregated (docs/event-contract.md, "
    '"What the report database holds"), so this value escaped that rule: a bug to report. Data written by an '
    "older version is fixed by rebuilding the day's daily_aggregates (or raw_events, for event_catalog)."
)


def _example(values: pa.ChunkedArray, chars: int = 60) -> str:
    first = values[0].as_py()
    return repr(first if len(first) <= chars else first[:chars] + "...")


def _insert_with_copy(connection: sa.Connection, table: sa.Table, rows: pa.Table) -> None:
    """Insert through PostgreSQL COPY fed with CSV from pyarrow: about 4x faster than executemany here.

    The raw psycopg connection is the one SQLAlchemy's transaction runs on, so COPY is part of it.
    pyarrow quotes every string and writes null as an empty unquoted field, which is exactly how
    PostgreSQL's CSV format tells NULL from an empty string.
    """
    preparer = connection.dialect.identifier_preparer
    # Only identifiers, quoted by the dialect, go into the statement: the values travel as COPY data.
    column_list = ", ".join(preparer.quote(name) for name in rows.column_names)
    statement = f"COPY {preparer.format_table(table)} ({column_list}) FROM STDIN (FORMAT csv, ENCODING 'UTF8')"
    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    driver_connection = connection.connection.driver_connection
    dbapi = connection.dialect.loaded_dbapi
    try:
        with driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
            for batch in rows.to_batches(max_chunksize=COPY_CHUNK_ROWS):
                block = io.BytesIO()
                pa_csv.write_csv(batch, block, options)
                copy.write(block.getbuffer())
    except dbapi.Error as exc:
        # The same exception types as the executemany path (IntegrityError, ...), whatever the backend.
        raise sa.exc.DBAPIError.instance(statement, None, exc, dbapi.Error, dialect=connection.dialect) from exc


def _insert_with_executemany(connection: sa.Connection, table: sa.Table, rows: pa.Table) -> None:
    insert = sa.insert(table)
    for batch in rows.to_batches(max_chunksize=SQLITE_CHUNK_ROWS):
        if batch.num_rows:  # an empty list would execute one INSERT ... DEFAULT VALUES
            connection.execute(insert, batch.to_pylist())


def read_rows(
    engine: sa.Engine,
    table: sa.Table,
    partition_values: Sequence[datetime.date] | None = None,
    partition_column: str | None = None,
) -> list[dict[str, Any]]:
    """Rows of `table` (of the given dates only, if any) as dicts, sorted by primary key.

    Sorted in Python, so the order is the same on every backend whatever the database's collation.
    """
    statement = sa.select(table)
    if partition_values is not None:
        column_name = _partition_column(table, partition_column)
        statement = statement.where(table.c[column_name].in_(_partition_dates(partition_values)))

    def read() -> list[dict[str, Any]]:
        with engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(statement)]

    result = with_reconnects(engine, read, f"reading {table.name}")
    key_columns = [column.name for column in table.primary_key.columns] or [c.name for c in table.columns]
    # (is not None, value) keeps None sortable in tables without a primary key.
    result.sort(key=lambda row: tuple((row[name] is not None, row[name]) for name in key_columns))
    return result


def rows_naming(engine: sa.Engine, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Each report table's rows whose id columns (`transforms/privacy.ID_COLUMNS`) hold one of `ids`: what the
    report database holds about a person, for an export. Tables not created yet hold nothing."""

    def read() -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        existing = set(sa.inspect(engine).get_table_names())
        with engine.connect() as connection:
            for table in schema.metadata.sorted_tables:
                columns = [table.c[name] for name in ID_COLUMNS if name in table.c]
                if table.name not in existing or not columns:
                    continue
                statement = sa.select(table).where(sa.or_(*(column.in_(list(ids)) for column in columns)))
                rows = [dict(row._mapping) for row in connection.execute(statement)]
                if rows:
                    found[table.name] = rows
        return found

    return with_reconnects(engine, read, "reading a person's rows")


# Deletion requests (issue 12): a person's rows deleted from every report table, and the audit trail of the requests
# (`schema.privacy_requests`), whose statements live here like every other of the report database.


def delete_rows_naming(engine: sa.Engine, ids: Sequence[str]) -> dict[str, int]:
    """Delete each report table's rows whose id columns hold one of `ids` (what `rows_naming` finds), in one
    transaction; returns the rows deleted per table (tables that lost none left out). Safe to repeat."""

    def delete() -> dict[str, int]:
        deleted: dict[str, int] = {}
        existing = set(sa.inspect(engine).get_table_names())
        with engine.begin() as connection:
            for table in schema.metadata.sorted_tables:
                columns = [table.c[name] for name in ID_COLUMNS if name in table.c]
                if table.name not in existing or not columns:
                    continue
                statement = sa.delete(table).where(sa.or_(*(column.in_(list(ids)) for column in columns)))
                count = connection.execute(statement).rowcount
                if count:
                    deleted[table.name] = count
        return deleted

    return with_reconnects(engine, delete, "deleting a person's rows")


def json_mentioning(engine: sa.Engine, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Each report table's rows whose JSON columns (`schema.JsonText`: `people.traits`) name one of `ids` as a JSON
    string: another person's trait whose value is the person's id. Each row as its primary key and those columns'
    text (`{"person_id": ..., "traits": "{...}"}`), which is what names the person."""

    def read() -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        existing = set(sa.inspect(engine).get_table_names())
        with engine.connect() as connection:
            for table, columns, condition in _json_mentions(ids):
                if table.name not in existing:
                    continue
                texts = [sa.cast(column, sa.Text).label(column.name) for column in columns]
                statement = sa.select(*table.primary_key.columns, *texts).where(condition)
                rows = [dict(row._mapping) for row in connection.execute(statement)]
                if rows:
                    found[table.name] = rows
        return found

    return with_reconnects(engine, read, "reading the report rows that mention a person")


def blank_json_mentions(engine: sa.Engine, ids: Sequence[str], blank: Callable[[str], str | None]) -> dict[str, int]:
    """Replace each JSON column `json_mentioning` finds by `blank(its text)` (the text with the ids blanked; None:
    SQL NULL), in one transaction; returns the rows changed per table. Safe to repeat: a blanked row names no one."""

    def update() -> dict[str, int]:
        changed: dict[str, int] = {}
        existing = set(sa.inspect(engine).get_table_names())
        with engine.begin() as connection:
            for table, columns, condition in _json_mentions(ids):
                if table.name not in existing:
                    continue
                keys = list(table.primary_key.columns)
                texts = [sa.cast(column, sa.Text).label(column.name) for column in columns]
                for row in connection.execute(sa.select(*keys, *texts).where(condition)).mappings().all():
                    values = {column.name: blank(row[column.name]) for column in columns if row[column.name]}
                    where = sa.and_(*(key == row[key.name] for key in keys))
                    connection.execute(sa.update(table).where(where).values(**values))
                    changed[table.name] = changed.get(table.name, 0) + 1
        return changed

    return with_reconnects(engine, update, "blanking a person's ids in others' report rows")


def _json_mentions(ids: Sequence[str]) -> Iterator[tuple[sa.Table, list[sa.Column[Any]], sa.ColumnElement[bool]]]:
    """Per report table with JSON columns: those columns, and the condition that one names an id as a JSON string
    (its characters as they are, or escaped to ASCII; PostgreSQL writes jsonb as the former)."""
    quoted = sorted({text for value in ids for text in (json.dumps(value), json.dumps(value, ensure_ascii=False))})
    for table in schema.metadata.sorted_tables:
        columns = [column for column in table.columns if isinstance(column.type, schema.JsonText)]
        if columns and quoted:
            texts = [sa.cast(column, sa.Text) for column in columns]
            yield table, columns, sa.or_(*(text.contains(value, autoescape=True) for text in texts for value in quoted))


def ensure_audit_tables(engine: sa.Engine) -> None:
    """Create `privacy_requests` if it does not exist yet (under the schema lock `ensure_tables` takes), readable
    by its owner alone."""

    def create() -> None:
        with engine.begin() as connection:
            _lock_schema(connection)
            schema.audit_metadata.create_all(connection)
            _keep_to_owner(connection, schema.audit_metadata)

    with_reconnects(engine, create, "creating the privacy requests table")


def _keep_to_owner(connection: sa.Connection, metadata: sa.MetaData) -> None:
    """Take back every privilege other roles hold on `metadata`'s tables (PostgreSQL; a SQLite file has no roles).

    The audit holds the ids of people being deleted until their request is done. It lives beside the report
    tables, where the default privileges `revolt reports grant-readonly` sets give BI roles every new table: taken
    back here in the transaction that creates it, so no BI session ever sees it, and on every later call.
    """
    if connection.dialect.name != "postgresql":
        return
    quote = connection.dialect.identifier_preparer.quote
    for table in metadata.sorted_tables:
        grantees = connection.execute(
            sa.text(
                "SELECT DISTINCT a.grantee = 0, pg_get_userbyid(a.grantee) FROM pg_class c, aclexplode(c.relacl) a "
                "WHERE c.oid = to_regclass(:name) AND a.grantee <> c.relowner"
            ),
            {"name": quote(table.name)},
        ).all()
        for public, grantee in grantees:
            connection.exec_driver_sql(
                f"REVOKE ALL ON TABLE {quote(table.name)} FROM {'PUBLIC' if public else quote(grantee)}"
            )


def record_privacy_request(engine: sa.Engine, row: dict[str, Any]) -> None:
    """Insert one request (a row of `privacy_requests`), creating the table first if need be."""
    ensure_audit_tables(engine)

    def insert() -> None:
        with engine.begin() as connection:
            connection.execute(sa.insert(schema.privacy_requests).values(**row))

    with_reconnects(engine, insert, "recording a privacy request")


def privacy_requests(engine: sa.Engine, statuses: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The requests (of the given statuses), oldest first; none before the first is recorded."""
    table = schema.privacy_requests
    statement = sa.select(table).order_by(table.c.requested_at, table.c.request_id)
    if statuses is not None:
        statement = statement.where(table.c.status.in_(list(statuses)))

    def read() -> list[dict[str, Any]]:
        if not sa.inspect(engine).has_table(table.name):
            return []
        with engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(statement)]

    return with_reconnects(engine, read, "reading the privacy requests")


def update_privacy_request(engine: sa.Engine, request_id: str, values: dict[str, Any]) -> None:
    """Set `values` on one request (its status, what was removed, ...), in one transaction."""
    table = schema.privacy_requests

    def update() -> None:
        with engine.begin() as connection:
            connection.execute(sa.update(table).where(table.c.request_id == request_id).values(**values))

    with_reconnects(engine, update, "updating a privacy request")
