"""The report tables are BI-ready: one grain each, totals apart from breakdowns, and a catalog that says so.

What a BI user reads in Metabase or Superset comes from PostgreSQL's catalog (table and column COMMENTs,
primary keys, indexes), so that is where it is checked, besides the SQLAlchemy definition.
"""

import datetime
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

from revolt_pipeline.reports import loader, schema
from revolt_pipeline.transforms.aggregates import (
    AGGREGATES,
    BY_COUNTRY,
    BY_OS,
    DIMENSION_GRAINS,
    TOTAL,
    grains_of,
)

DAY = datetime.date(2026, 11, 19)
TOTAL_TABLES = [name for name, (_, grain) in AGGREGATES.items() if grain == TOTAL]
# The columns that count distinct people: a person in two rows is in both, so they must not be summed.
PEOPLE_COLUMNS = {
    "active_users",
    "identified_users",
    "anonymous_users",
    "users",
    "people",
    "entry_people",
    "exit_people",
}
# The columns a BI tool may add up across the rows of a table (within its grain).
SUMMABLE_COLUMNS = {
    "sessions",
    "events",
    "single_event_sessions",
    "split_sessions",
    "total_duration_seconds",
    *("occurrences", "entries", "exits", "transitions"),  # paths
}


def test_every_subject_has_a_total_table_and_a_table_per_breakdown() -> None:
    assert TOTAL_TABLES == [
        "daily_active_users",
        "sessions_daily",
        "events_daily",
        "session_duration_histogram",
        "session_duration_percentiles",
        "path_steps",
        "path_transitions",
    ]
    assert list(schema.AGGREGATE_TABLES) == [name + grain.suffix for name in TOTAL_TABLES for grain in grains_of(name)]
    for name in TOTAL_TABLES:
        total = schema.AGGREGATE_TABLES[name]
        platform = schema.AGGREGATE_TABLES[f"{name}_by_platform"]
        version = schema.AGGREGATE_TABLES[f"{name}_by_app_version"]
        assert "platform" not in total.c and "app_version" not in total.c
        assert "platform" in platform.c and "app_version" not in platform.c
        assert {"platform", "app_version"} <= set(version.c.keys())
        # The breakdowns keep every figure of the total, and add only their dimensions.
        assert [c.name for c in platform.columns if c.name != "platform"] == [c.name for c in total.columns]
        assert [c.name for c in version.columns if c.name != "app_version"] == [c.name for c in platform.columns]


def test_events_and_active_users_alone_are_broken_down_by_the_device_dimensions() -> None:
    """OS, device type, country, locale, source and SDK library: tables of events and of active users, no other."""
    names = [
        "_by_os", "_by_device_type", "_by_country", "_by_locale", "_by_source", "_by_library",
    ]  # fmt: skip
    assert [grain.suffix for grain in DIMENSION_GRAINS] == names
    by_dimension = {name for name in schema.metadata.tables if any(name.endswith(suffix) for suffix in names)}
    assert by_dimension == {
        f"{subject}{suffix}" for subject in ("events_daily", "active_users_daily") for suffix in names
    }
    events, total = schema.AGGREGATE_TABLES["events_daily_by_device_type"], schema.events_daily
    assert [c.name for c in events.columns if c.name != "device_type"] == [c.name for c in total.columns]
    # Events by OS and country are the app-version table's columns and the dimension's.
    by_os, by_version = schema.events_daily_by_os, schema.events_daily_by_app_version
    assert [c.name for c in by_os.columns if c.name not in ("os_name", "os_version")] == [
        c.name for c in by_version.columns
    ]
    for grain in DIMENSION_GRAINS:
        within = grain in (BY_OS, BY_COUNTRY)  # events by OS and country: per platform and app version too
        for table, platforms in (
            (schema.AGGREGATE_TABLES[f"events_daily{grain.suffix}"], within),
            (schema.ACTIVE_USERS_TABLES[grain], False),  # people do not add up across platforms
        ):
            key = [column.name for column in table.primary_key.columns]
            dimensions = ["platform", "app_version", *grain.dimensions] if platforms else list(grain.dimensions)
            assert key[1 : 1 + len(dimensions)] == dimensions, table.name
            assert ("platform" in table.c) == platforms, table.name
            assert [list(index.columns.keys()) for index in table.indexes] == [[dimensions[0]]], table.name
            if platforms:
                assert "SUM(events) grouped by day and" in table.comment, table.name


def test_primary_keys_are_the_grain_the_comment_states() -> None:
    for table in schema.metadata.sorted_tables:
        key = [column.name for column in table.primary_key.columns]
        if table.name in schema.SNAPSHOT_TABLES:  # as of one day, replaced whole: no day in the key
            assert f"Grain: one row per {' x '.join(key)}." in table.comment, table.name
            continue
        assert key[0] == schema.PARTITION_COLUMNS[table.name], table.name
        period = "ISO week" if key[0] == "week_start" else "day"
        assert f"Grain: one row per {' x '.join([period, *key[1:]])}" in table.comment.replace("received day", "day")


def test_every_table_and_column_has_a_comment_and_people_columns_say_they_do_not_add_up() -> None:
    for table in schema.metadata.sorted_tables:
        assert table.comment and "Grain: one row per" in table.comment, table.name
        for column in table.columns:
            assert column.comment and len(column.comment) > 20, f"{table.name}.{column.name}"
            if column.name in PEOPLE_COLUMNS:
                assert "do not add up across rows" in column.comment, f"{table.name}.{column.name}"
            if column.name in SUMMABLE_COLUMNS:
                assert "Sums" in column.comment, f"{table.name}.{column.name}"
                assert "do not add up" not in column.comment


def test_a_total_table_holds_one_row_per_day(tmp_path: Path) -> None:
    engine = loader.create_engine(f"sqlite:///{tmp_path / 'reports.sqlite'}")
    try:
        loader.ensure_tables(engine)
        row = {"event_date": DAY, "active_users": 3, "identified_users": 2, "anonymous_users": 1}
        with pytest.raises(sa.exc.IntegrityError):
            loader.replace_partitions(engine, schema.daily_active_users, [DAY], pa.Table.from_pylist([row, row]))
        assert loader.replace_partitions(engine, schema.daily_active_users, [DAY], pa.Table.from_pylist([row])) == 1
    finally:
        engine.dispose()


def test_report_tables_of_an_older_version_are_refused_with_what_to_do(tmp_path: Path) -> None:
    engine = loader.create_engine(f"sqlite:///{tmp_path / 'reports.sqlite'}")
    try:
        with engine.begin() as connection:  # daily_active_users as it was: totals and platforms in one table
            connection.exec_driver_sql(
                "CREATE TABLE daily_active_users (event_date DATE, platform VARCHAR(64), app_version VARCHAR(64), "
                "active_users INTEGER, identified_users INTEGER, anonymous_users INTEGER, "
                "PRIMARY KEY (event_date, platform, app_version))"
            )
        with pytest.raises(loader.OutdatedReportTables) as refused:
            loader.ensure_tables(engine)
        message = str(refused.value)
        assert "daily_active_users have the columns of an older version" in message
        assert "DROP TABLE daily_active_users;" in message and "clean_job" in message and "report_job" in message
        # Nothing was created or changed: the old table is as it was, and alone.
        assert sa.inspect(engine).get_table_names() == ["daily_active_users"]
    finally:
        engine.dispose()


def test_events_by_os_and_country_without_platforms_are_refused_and_rebuilt_from_the_lake(tmp_path: Path) -> None:
    """The tables from before events by OS and country had a platform and app version: the lake's files of the
    same days lack them too, so the message says to build daily_aggregates again, not only to load."""
    engine = loader.create_engine(f"sqlite:///{tmp_path / 'reports.sqlite'}")
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "CREATE TABLE events_daily_by_os (event_date DATE, os_name VARCHAR(64), os_version VARCHAR(64), "
                "event_type VARCHAR(16), event_name VARCHAR(255), events INTEGER, users INTEGER, "
                "PRIMARY KEY (event_date, os_name, os_version, event_type, event_name))"
            )
        with pytest.raises(loader.OutdatedReportTables) as refused:
            loader.ensure_tables(engine)
        message = str(refused.value)
        assert "events_daily_by_os have the columns of an older version" in message
        assert "clean_job (daily_aggregates) and report_job" in message
        assert sa.inspect(engine).get_table_names() == ["events_daily_by_os"]
    finally:
        engine.dispose()


@pytest.mark.services
def test_postgresql_catalog_holds_the_comments_keys_and_indexes(postgres_url: str) -> None:
    engine = loader.create_engine(postgres_url)
    try:
        loader.ensure_tables(engine)
        loader.ensure_tables(engine)  # again: nothing to create, nothing outdated
        with engine.connect() as connection:
            table_comments = dict(
                connection.execute(
                    sa.text(
                        "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = current_schema() AND c.relkind = 'r'"
                    )
                ).all()
            )
            column_comments = {
                (table, column): comment
                for table, column, comment in connection.execute(
                    sa.text(
                        "SELECT c.relname, a.attname, col_description(c.oid, a.attnum) FROM pg_class c "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
                        "WHERE n.nspname = current_schema() AND c.relkind = 'r'"
                    )
                )
            }
            # Each index: its table, whether it is the primary key, and its columns in order.
            indexes = connection.execute(
                sa.text(
                    "SELECT t.relname, i.indisprimary, array_agg(a.attname ORDER BY k.ord) FROM pg_index i "
                    "JOIN pg_class t ON t.oid = i.indrelid "
                    "JOIN pg_namespace n ON n.oid = t.relnamespace "
                    "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
                    "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
                    "WHERE n.nspname = current_schema() GROUP BY t.relname, i.indexrelid, i.indisprimary"
                )
            ).all()
    finally:
        engine.dispose()

    tables = schema.metadata.sorted_tables
    assert set(table_comments) == {table.name for table in tables}
    for table in tables:
        assert table_comments[table.name] == table.comment
        for column in table.columns:
            assert column_comments[(table.name, column.name)] == column.comment, f"{table.name}.{column.name}"
        primary = [list(columns) for name, is_primary, columns in indexes if name == table.name and is_primary]
        assert primary == [[column.name for column in table.primary_key.columns]], table.name
        leading = {columns[0] for name, _, columns in indexes if name == table.name}
        date_filter = {"people": "last_seen"}.get(table.name) or schema.PARTITION_COLUMNS[table.name]
        assert date_filter in leading, table.name  # the date filter
        platform = next((name for name in ("platform", "latest_platform") if name in table.c), None)
        if platform:
            assert platform in leading, table.name  # the platform filter, on any day (people: their latest)
    assert column_comments[("daily_active_users_by_platform", "active_users")].startswith(
        "People with at least one event. Distinct people: do not add up across rows"
    )
