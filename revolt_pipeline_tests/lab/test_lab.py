"""The notebooks' helper on both backends: a lake and report tables built by the layer library, read back by name
through the settings alone (a local folder and SQLite; S3 on moto's server and PostgreSQL)."""

import dataclasses
import gzip
import io
import uuid
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from revolt_pipeline.lab import Lab, layer_of
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.access import grant_readonly
from revolt_pipeline.reports.loader import create_engine, ensure_tables, read_rows
from revolt_pipeline.reports.views import VIEWS
from revolt_pipeline.settings import Settings
from revolt_pipeline.storage.layout import LANDING, landed_object_key
from revolt_pipeline_tests.fixtures.postgres import PostgresServer
from revolt_pipeline_tests.fixtures.s3 import S3Server
from revolt_pipeline_tests.transforms.harness import DEFAULT_RULES, at, duckdb_connection, landed

DAYS = [date(2026, 11, 16), date(2026, 11, 17), date(2026, 11, 18)]
# Who is active when: u1 twice a day, every day; u2 once, on the first and last day.
ACTIVITY = {DAYS[0]: ["u1", "u1", "u2"], DAYS[1]: ["u1", "u1"], DAYS[2]: ["u1", "u1", "u2"]}


@dataclass(frozen=True)
class Built:
    settings: Settings
    backend: str


def _records() -> list[dict[str, Any]]:
    records = []
    for day, users in ACTIVITY.items():
        for number, user in enumerate(users):
            when = at(f"{day.isoformat()} 10:{number:02d}")
            records.append(landed(f"{day}-{number}", when, user_id=user, event="Report Opened"))
    return records


def _settings(monkeypatch: pytest.MonkeyPatch, home: Path, **environment: str) -> Settings:
    """The settings a notebook would read, from the environment alone."""
    monkeypatch.setenv("REVOLT_HOME", str(home))
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env()


def _build(settings: Settings, work: Path) -> None:
    """Land the records and build every layer and report table of their days, as the cascade would."""
    store = settings.store
    lines = b"".join(orjson.dumps(record) + b"\n" for record in _records())
    store.put(landed_object_key(LANDING, at("2026-11-18 12:00"), "c1", "000001"), gzip.compress(lines))
    engine = create_engine(settings.report_db_url)
    try:
        ensure_tables(engine)
        with duckdb_connection() as connection:
            builder = DayBuilder(store, DEFAULT_RULES, work, connect=lambda: nullcontext(connection))
            builder.every_layer([date(2026, 11, 18)], engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="module", params=["local folder and SQLite", "S3 and PostgreSQL"])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    home = tmp_path_factory.mktemp("lab")
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "S3 and PostgreSQL":
            s3: S3Server = request.getfixturevalue("s3_server")
            postgres: PostgresServer = request.getfixturevalue("postgres_server")
            bucket = f"lab-{uuid.uuid4().hex[:20]}"
            s3.client().create_bucket(Bucket=bucket)
            settings = _settings(
                patch,
                home,
                REVOLT_STORAGE_URL=f"s3://{bucket}/lake",
                REVOLT_S3_ENDPOINT_URL=s3.endpoint_url,
                REVOLT_REPORT_DB_URL=postgres.create_database(f"lab_{uuid.uuid4().hex[:16]}"),
            )
        else:
            settings = _settings(patch, home)
    (home / "work").mkdir()
    _build(settings, home / "work")
    yield Built(settings, request.param)


@pytest.fixture
def lab(built: Built) -> Iterator[Lab]:
    with Lab(built.settings) as opened:
        yield opened


def test_the_lab_opens_the_store_and_database_the_settings_name(lab: Lab, built: Built) -> None:
    assert lab.store.url == built.settings.storage_url
    named = sa.make_url(built.settings.report_db_url)
    assert (lab.reports.url.host, lab.reports.url.port, lab.reports.url.database) == (
        named.host,
        named.port,
        named.database,
    )


def test_every_layer_the_pipeline_built_is_found_by_its_name_and_the_landing_area_is_not(lab: Lab) -> None:
    names = {layer.name for layer in lab.layers()}
    assert {
        "raw_events",
        "identity_links",
        "events",
        "events_quarantine",
        "sessionized_events",
        "sessions",
        "aggregates/events_daily",
        "aggregates/daily_active_users",
        "person_days",
        "people",
        "active_users/active_users_daily",
        "cohort_activity",
        "lifecycle/lifecycle_daily",
        "retention/retention_daily",
    } <= names
    assert not {name for name in names if name.split("/")[0] in ("landing", "quarantine", "_commits", "watermarks")}
    events = lab.lake_layer("events")
    assert events.partitions == ("event_date",)
    # The cleaned layer builds a day more on each side of the days it received (for the sessions), empty.
    assert events.values == tuple(f"2026-11-{day}" for day in range(15, 20))
    assert [row["layer"] for row in lab.describe().to_dict("records")] == sorted(names)


def test_a_layer_queried_by_name_holds_every_event_sent_with_its_partition_day(lab: Lab) -> None:
    counted = lab.sql("SELECT event_date, count(*) AS events FROM events GROUP BY 1 ORDER BY 1").fetchall()
    assert counted == [(day, len(users)) for day, users in ACTIVITY.items()]
    # A nested layer, quoted by its key prefix, and a join across layers on one connection.
    dau = lab.sql(
        "SELECT d.event_date, d.active_users, count(DISTINCT e.person_id) AS people"
        ' FROM "aggregates/daily_active_users" d JOIN events e USING (event_date) GROUP BY ALL ORDER BY 1'
    ).fetchall()
    assert dau == [(day, len(set(users)), len(set(users))) for day, users in ACTIVITY.items()]


def test_a_few_days_of_a_layer_are_read_from_their_files_only(lab: Lab) -> None:
    middle = lab.layer("events", since="2026-11-17", until="2026-11-17")
    assert middle.aggregate("count(*)").fetchall() == [(len(ACTIVITY[DAYS[1]]),)]
    assert lab.layer("events", since=DAYS[1]).aggregate("count(*)").fetchall() == [(5,)]
    assert lab.lake_layer("events").keys_between("2026-11-18", None) == list(lab.lake_layer("events").keys[3:])


def test_the_latest_snapshot_of_people_has_everyone_once(lab: Lab) -> None:
    people = lab.latest("people").df()
    # The last snapshot is of the day after the last received one, which the cleaned layer built (empty).
    assert {day.date() for day in people["snapshot_date"]} == {date(2026, 11, 19)}
    assert sorted(people["user_id"]) == ["u1", "u2"]
    assert dict(zip(people["user_id"], people["days_active"], strict=True)) == {"u1": 3, "u2": 2}


def test_a_report_table_read_by_name_equals_what_the_loader_reads(lab: Lab) -> None:
    for table in (schema.daily_active_users, schema.lifecycle_daily, schema.retention_daily, schema.people):
        frame = lab.report(table.name)
        engine = create_engine(lab.settings.report_db_url)
        try:
            expected = read_rows(engine, table)
        finally:
            engine.dispose()
        assert len(frame) == len(expected) > 0, table.name
        got = frame.astype(object).where(frame.notna(), None).to_dict("records")
        for row, want in zip(got, expected, strict=True):
            assert {key: _plain(value) for key, value in row.items()} == {
                key: _plain(value) for key, value in want.items()
            }, table.name
    people = lab.report("people")
    assert {str(people[column].dtype) for column in ("first_seen_at", "last_seen_at", "created_at")} <= {
        "datetime64[us, UTC]",
        "datetime64[s, UTC]",
    }, "timestamps read as UTC on every backend"
    assert str(people["first_seen"].dtype).startswith("datetime64[") and people["first_seen"].dt.tz is None
    dau = lab.report("daily_active_users", columns=["event_date", "active_users"])
    assert list(dau.columns) == ["event_date", "active_users"]
    # The days around the received ones are built too, with no one active.
    assert [int(value) for value in dau["active_users"]] == [0, *(len(set(users)) for users in ACTIVITY.values()), 0]


def _plain(value: Any) -> Any:
    """A value as both readers give it, whatever the backend: dates as dates, numbers as Python numbers."""
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if hasattr(value, "item"):
        value = value.item()
    if hasattr(value, "tzinfo") and value.tzinfo is not None:
        value = value.replace(tzinfo=None) if value.utcoffset().total_seconds() == 0 else value
    if hasattr(value, "hour") and (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
        return value.date() if hasattr(value, "date") else value
    return value


def test_views_of_the_report_database_are_read_like_tables(lab: Lab) -> None:
    views = {view.name for view in VIEWS}
    assert views and views <= set(lab.report_tables())
    for view in views:
        assert list(lab.report(view).columns), view


def test_report_sql_runs_in_the_databases_own_dialect_with_bound_parameters(lab: Lab) -> None:
    frame = lab.report_sql(
        "SELECT active_users FROM daily_active_users WHERE event_date = :day", {"day": DAYS[1].isoformat()}
    )
    assert frame["active_users"].tolist() == [1]


def test_a_layer_or_table_that_is_not_there_is_refused_by_name_with_what_is(lab: Lab) -> None:
    with pytest.raises(KeyError, match=r"no lake layer 'evnts' in .*layers there: .*events"):
        lab.layer("evnts")
    with pytest.raises(KeyError, match=r"no lake layer 'evnts' in .*\(nor a table of this connection\)"):
        lab.sql("SELECT count(*) FROM evnts")
    with pytest.raises(KeyError, match="no report table or view 'churn_scorez'"):
        lab.report("churn_scorez")


def test_layers_and_tables_written_later_are_read_by_name_with_nothing_new_in_the_lab(lab: Lab, built: Built) -> None:
    """What the ML assets will write: features by cutoff, a model's metrics, a scores table."""
    assert "features" not in {layer.name for layer in lab.layers()}
    features = pa.table({"person_id": ["p1", "p2"], "recency_days": [1, 9]})
    lab.store.put("features/cutoff_date=2026-11-17/features.parquet", _parquet(features))
    lab.store.put("models/churn/version=1/metrics.json", b'{"roc_auc": 0.81}')
    lab.refresh()
    assert lab.sql("SELECT cutoff_date, sum(recency_days) FROM features GROUP BY 1").fetchall() == [
        (date(2026, 11, 17), 10)
    ]
    assert lab.keys("models/churn") == ["models/churn/version=1/metrics.json"]
    assert lab.get_json("models/churn/version=1/metrics.json") == {"roc_auc": 0.81}

    scores = sa.Table(
        f"scores_{uuid.uuid4().hex[:8]}",
        sa.MetaData(),
        sa.Column("person_id", sa.String(64), primary_key=True),
        sa.Column("score", sa.Float),
    )
    scores.create(lab.reports)
    try:
        with lab.reports.begin() as connection:
            connection.execute(scores.insert(), [{"person_id": "p2", "score": 0.9}, {"person_id": "p1", "score": 0.2}])
        assert lab.report(scores.name).to_dict("records") == [
            {"person_id": "p1", "score": 0.2},
            {"person_id": "p2", "score": 0.9},
        ]
    finally:
        scores.drop(lab.reports)


def test_a_day_built_after_a_query_is_read_after_refresh(lab: Lab) -> None:
    day = pa.table({"person_id": ["p1", "p2"]})
    lab.store.put("visits/date=2026-11-16/visits.parquet", _parquet(day))
    lab.refresh()
    assert lab.sql("SELECT count(*) FROM visits").fetchall() == [(2,)]
    lab.store.put("visits/date=2026-11-17/visits.parquet", _parquet(day))
    assert lab.sql("SELECT count(*) FROM visits").fetchall() == [(2,)]  # as listed, until refreshed
    lab.refresh()
    assert lab.sql("SELECT date, count(*) FROM visits GROUP BY 1 ORDER BY 1").fetchall() == [
        (date(2026, 11, 16), 2),
        (date(2026, 11, 17), 2),
    ]


def test_a_column_added_to_a_layer_later_reads_as_null_on_its_older_days(lab: Lab) -> None:
    older = pa.table({"person_id": ["p1"], "score": [0.5]})
    newer = pa.table({"person_id": ["p2"], "score": [0.7], "band": ["high"]})
    lab.store.put("drifting/date=2026-11-16/drifting.parquet", _parquet(older))
    lab.store.put("drifting/date=2026-11-17/drifting.parquet", _parquet(newer))
    lab.refresh()
    assert lab.sql("SELECT date, person_id, band FROM drifting ORDER BY 1").fetchall() == [
        (date(2026, 11, 16), "p1", None),
        (date(2026, 11, 17), "p2", "high"),
    ]


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def test_the_lab_shows_where_it_reads_without_the_database_password(tmp_path: Path) -> None:
    settings = _settings_of(
        tmp_path, report_db_url="postgresql+psycopg://analyst:s3cret@127.0.0.1:1/reports", storage_url="s3://b/lake"
    )
    shown = repr(Lab(settings))
    assert "s3://b/lake" in shown and "127.0.0.1:1/reports" in shown
    assert "s3cret" not in shown


def _settings_of(home: Path, **fields: str) -> Settings:
    with pytest.MonkeyPatch.context() as patch:
        return _settings(patch, home, **{f"REVOLT_{name.upper()}": value for name, value in fields.items()})


@pytest.mark.parametrize(
    ("key", "place"),
    [
        ("events/event_date=2026-11-16/events.parquet", ("events", ("event_date",), "2026-11-16")),
        (
            "aggregates/events_daily/date=2026-11-16/events_daily.parquet",
            ("aggregates/events_daily", ("date",), "2026-11-16"),
        ),
        (
            "lifecycle/lifecycle_weekly/week_start=2026-11-16/x.parquet",
            ("lifecycle/lifecycle_weekly", ("week_start",), "2026-11-16"),
        ),
        ("models/churn/features.parquet", ("models/churn", (), None)),
        ("scores.parquet", ("scores", (), None)),
        ("landing/received_date=2026-11-16/hour=10/c1-000001.jsonl.gz", None),
        ("raw_profiles/received_date=2026-11-16.json", None),
        ("_commits/people/date=2026-11-16.json", None),
        ("date=2026-11-16/orphan.parquet", None),
    ],
)
def test_a_key_belongs_to_the_layer_named_by_the_folders_before_its_partitions(key: str, place: Any) -> None:
    assert layer_of(key) == place


def test_a_read_only_role_is_enough_to_read_the_report_tables(built: Built, tmp_path: Path) -> None:
    """What a notebook user is given in production: the role `revolt reports grant-readonly` makes."""
    if built.backend != "S3 and PostgreSQL":
        pytest.skip("roles are PostgreSQL's; SQLite is read as a file")
    role = f"analyst_{uuid.uuid4().hex[:8]}"
    grant_readonly(built.settings.report_db_url, role, create_password="not-needed-with-trust")
    as_analyst = sa.make_url(built.settings.report_db_url).set(username=role, password=None)
    settings = dataclasses.replace(built.settings, report_db_url=as_analyst.render_as_string(hide_password=False))
    with Lab(settings) as lab:
        assert lab.reports.url.username == role
        assert {"daily_active_users", "people", *(view.name for view in VIEWS)} <= set(lab.report_tables())
        assert lab.report("daily_active_users")["active_users"].sum() == sum(len(set(u)) for u in ACTIVITY.values())
        with pytest.raises(pd.errors.DatabaseError, match="permission denied"):
            lab.report_sql("DELETE FROM daily_active_users")
