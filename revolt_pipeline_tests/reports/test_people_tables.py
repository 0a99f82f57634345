"""The report tables `person_days` and `people`, loaded day after day on SQLite and on PostgreSQL: a late identify
merges two people, an older day's load never rolls `people` back, and hostile ids and traits still load."""

import gzip
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from revolt_pipeline.layers.commits import committed_days
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.layers.people import PEOPLE, load_people
from revolt_pipeline.layers.staging import local_copies
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import (
    OutdatedReportTables,
    arrow_schema,
    create_engine,
    ensure_tables,
    read_rows,
    replace_snapshot,
    rows_in_snapshot,
)
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import LANDING, landed_object_key, people_key, people_report_key
from revolt_pipeline_tests.transforms.harness import DEFAULT_RULES, at, landed

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.services)]


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    url = (
        f"sqlite:///{tmp_path / 'reports.sqlite'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = create_engine(url)
    ensure_tables(engine)
    yield engine
    engine.dispose()


class Pipeline:
    """Batches received over days, each day built through every layer into the report database, as the
    cascade builds it."""

    def __init__(self, folder: Path, engine: sa.Engine) -> None:
        self.store = ObjectStore((folder / "store").as_uri())
        (folder / "work").mkdir()
        self.builder = DayBuilder(self.store, DEFAULT_RULES, folder / "work")
        self.engine = engine
        self.segment = 0

    def receive(self, records: list[dict[str, Any]], when: datetime) -> None:
        self.segment += 1
        lines = b"".join(orjson.dumps(record) + b"\n" for record in records)
        self.store.put(landed_object_key(LANDING, when, "c1", f"{self.segment:06d}"), gzip.compress(lines))
        self.builder.every_layer([when.date()], self.engine)

    def people(self) -> dict[str, dict[str, Any]]:
        return {row["person_id"]: row for row in read_rows(self.engine, schema.people)}

    def person_days(self) -> list[tuple[date, str]]:
        return [(row["event_date"], row["person_id"]) for row in read_rows(self.engine, schema.person_days)]

    def latest(self) -> date:
        return max(committed_days(self.store, PEOPLE))

    def view(self, name: str) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(sa.text(f"SELECT * FROM {name}"))]


def _as_date(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _traits(value: Any) -> Any:
    """The traits column as read back: JSON text from SQLite, already parsed from PostgreSQL's jsonb."""
    return orjson.loads(value) if isinstance(value, str) else value


def _days_before_the_identify(pipeline: Pipeline) -> None:
    for day, records in [
        ("2026-11-10", [landed("a1", at("2026-11-10 10:00"), user_id=None, anonymous_id="anon", kind="page")]),
        ("2026-11-11", [landed("a2", at("2026-11-11 10:00"), user_id=None, anonymous_id="anon", kind="page")]),
        ("2026-11-12", [landed("u1", at("2026-11-12 10:00"), user_id="u1", platform="ios")]),
        ("2026-11-13", [landed("o1", at("2026-11-13 10:00"), user_id="other")]),
        ("2026-11-14", [landed("o2", at("2026-11-14 10:00"), user_id="other", platform="android")]),
    ]:
        pipeline.receive(records, at(f"{day} 10:30"))


def test_a_late_identify_merges_two_people_in_both_tables(tmp_path: Path, engine: sa.Engine) -> None:
    """An anonymous visitor of the 10th and 11th is identified as u1 (seen on the 12th) on the 15th: from then
    on `people` holds one u1, first seen on the 10th, and every person day of the visitor is u1's."""
    pipeline = Pipeline(tmp_path, engine)
    _days_before_the_identify(pipeline)
    before = pipeline.people()
    assert set(before) == {"anon", "u1", "other"}
    # As of the latest day built: cleaning builds the day after a received day too (its sessions may reach it).
    assert {_as_date(row["snapshot_date"]) for row in before.values()} == {pipeline.latest()} == {date(2026, 11, 15)}
    assert (date(2026, 11, 10), "anon") in pipeline.person_days()
    assert before["other"]["first_platform"] == "web" and before["other"]["latest_platform"] == "android"

    identify = landed(
        "i1", at("2026-11-15 09:00"), user_id="u1", anonymous_id="anon", kind="identify", traits={"plan": "team"}
    )
    pipeline.receive([identify], at("2026-11-15 09:30"))

    people = pipeline.people()
    assert set(people) == {"u1", "other"}  # the visitor is gone: merged into u1
    u1 = people["u1"]
    assert (_as_date(u1["first_seen"]), _as_date(u1["last_seen"]), u1["identified"], u1["user_id"]) == (
        date(2026, 11, 10),
        date(2026, 11, 15),
        True,
        "u1",
    )
    assert (u1["events"], u1["sessions"], u1["days_active"], u1["plan"]) == (4, 4, 4, "team")
    assert (u1["first_platform"], u1["latest_platform"]) == ("web", "web")
    assert _as_date(u1["snapshot_date"]) == pipeline.latest() == date(2026, 11, 16)
    assert _traits(u1["traits"]) == {"plan": "team"}
    assert u1["first_seen_at"] is not None and u1["last_seen_at"] is not None

    days = pipeline.person_days()
    assert [person for day, person in days if day in (date(2026, 11, 10), date(2026, 11, 11))] == ["u1", "u1"]
    assert {person for _, person in days} == {"u1", "other"}  # exact distinct people over any period
    (day_12,) = [row for row in read_rows(engine, schema.person_days) if row["event_date"] == date(2026, 11, 12)]
    assert (day_12["events"], day_12["sessions"], day_12["platforms"], day_12["identified"]) == (1, 1, "ios", True)

    activity = {row["person_id"]: row for row in pipeline.view("people_activity")}
    assert set(activity) == {"u1", "other"}
    assert (activity["u1"]["active_days_last_30"], activity["u1"]["days_since_last_seen"]) == (4, 1)
    assert (activity["other"]["events_last_30"], activity["other"]["days_since_last_seen"]) == (2, 2)


def test_an_older_days_load_never_rolls_people_back(tmp_path: Path, engine: sa.Engine) -> None:
    pipeline = Pipeline(tmp_path, engine)
    _days_before_the_identify(pipeline)
    assert rows_in_snapshot(engine, schema.people) == (date(2026, 11, 15), 3)

    # The snapshot of the 12th, loaded late (a run of that day finishing after the 15th's): the table keeps the 15th.
    with local_copies(pipeline.store, [people_report_key("people", date(2026, 11, 12))]) as (path,):
        older = pq.read_table(path).select(arrow_schema(schema.people).names)
    assert older.num_rows == 2
    assert replace_snapshot(engine, schema.people, older, date(2026, 11, 12)) == date(2026, 11, 15)
    assert set(pipeline.people()) == {"anon", "u1", "other"}

    # A run of the 12th rebuilds the people layer through the last day built, and loads the latest snapshot.
    pipeline.builder.people_days([date(2026, 11, 12)])
    loaded = load_people(engine, pipeline.store)
    assert (loaded.loaded, loaded.held, loaded.rows.num_rows) == (date(2026, 11, 15), date(2026, 11, 15), 3)
    assert rows_in_snapshot(engine, schema.people) == (date(2026, 11, 15), 3)


def test_ids_and_traits_the_database_cannot_hold_as_sent_are_made_safe_and_load(
    tmp_path: Path, engine: sa.Engine
) -> None:
    """A NUL in a user id, in a trait and as a JSON escape in the traits (which PostgreSQL's jsonb refuses); and an
    id with U+FFFD where the other has its NUL, which must stay another person."""
    pipeline = Pipeline(tmp_path, engine)
    traits = {"name": "Ada\x00Lovelace", "note": "a\x00b", "email": "ada@x.io"}
    pipeline.receive(
        [
            landed("h1", at("2026-11-10 10:00"), user_id="bad\x00id", kind="identify", traits=traits),
            landed("h2", at("2026-11-10 10:05"), user_id="bad\ufffdid"),
        ],
        at("2026-11-10 10:30"),
    )
    people = pipeline.people()
    assert len(people) == 2 and "bad\ufffdid" in people
    (nul,) = [person for person in people if person != "bad\ufffdid"]
    assert nul.startswith("bad\ufffdid\u2026") and len(nul) == len("bad\ufffdid") + 9
    assert (people[nul]["name"], people[nul]["email"]) == ("Ada\ufffdLovelace", "ada@x.io")
    assert _traits(people[nul]["traits"])["note"] == "a\ufffdb"
    assert {person for _, person in pipeline.person_days()} == set(people)


# The columns this version added to the people layer's lake snapshot, and to the `people` report table.
ADDED_TO_SNAPSHOTS = ("first_app_version",)
ADDED_TO_THE_TABLE = ("first_app_version", "first_os_name", "first_os_version", "first_locale", "first_country")


def _as_the_previous_version_wrote_it(pipeline: Pipeline, engine: sa.Engine) -> None:
    """Every people snapshot and its report rows without the columns added since, and the `people` report table
    as the previous version created it."""
    for day in committed_days(pipeline.store, PEOPLE):
        for key, added in (
            (people_key(day), ADDED_TO_SNAPSHOTS),
            (people_report_key("people", day), ADDED_TO_THE_TABLE),
        ):
            with local_copies(pipeline.store, [key]) as (path,):
                rows = pq.read_table(path)
            older = rows.drop_columns(list(added))
            sink = pa.BufferOutputStream()
            pq.write_table(older, sink)
            pipeline.store.put(key, sink.getvalue().to_pybytes())
    with engine.begin() as connection:
        connection.execute(sa.text("DROP VIEW IF EXISTS people_activity"))  # the views are made with the tables
        for column in ADDED_TO_THE_TABLE:
            connection.execute(sa.text(f"ALTER TABLE people DROP COLUMN {column}"))


def test_a_people_lake_of_the_previous_version_builds_on_and_its_table_is_refused_with_what_to_do(
    tmp_path: Path, engine: sa.Engine
) -> None:
    """Snapshots written before `first_app_version` existed still build the next days (its value is then the first
    one sent from those days on); the older `people` table and report rows are refused, saying what to do."""
    pipeline = Pipeline(tmp_path, engine)
    pipeline.receive([landed("u1", at("2026-11-10 10:00"), user_id="u1", app_version="1.0")], at("2026-11-10 10:30"))
    pipeline.receive(
        [landed("u2", at("2026-11-11 10:00"), user_id="u1", app_version="2.0", platform="ios")], at("2026-11-11 10:30")
    )
    assert pipeline.people()["u1"]["first_app_version"] == "1.0"
    _as_the_previous_version_wrote_it(pipeline, engine)

    with pytest.raises(OutdatedReportTables) as refused:
        ensure_tables(engine)
    message = str(refused.value)
    assert "people have the columns of an older version" in message and "DROP TABLE people" in message
    assert "people_job over the latest day built" in message
    with pytest.raises(FileNotFoundError, match="written by an older version; build people for 2026-11-12 again"):
        load_people(engine, pipeline.store)

    # As the message says: drop the table; the next people run builds on the older snapshots and loads the table.
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE people"))
    ensure_tables(engine)
    pipeline.receive(
        [
            landed("u3", at("2026-11-13 10:00"), user_id="u1", app_version="3.0", platform="android"),
            landed("n1", at("2026-11-13 11:00"), user_id="new", app_version="1.1", context={"locale": "de-DE"}),
        ],
        at("2026-11-13 11:30"),
    )
    people = pipeline.people()
    new = people["new"]
    assert (new["first_app_version"], new["first_os_name"], new["first_locale"]) == ("1.1", "iOS", "de-DE")
    # u1 was first seen before the column existed: her first app version is the first sent since.
    assert (people["u1"]["first_seen"], people["u1"]["first_app_version"]) == (date(2026, 11, 10), "3.0")

    # Rebuilding people from its first day gives everyone the value they first sent.
    pipeline.builder.people_days([min(committed_days(pipeline.store, PEOPLE))])
    load_people(engine, pipeline.store)
    assert pipeline.people()["u1"]["first_app_version"] == "1.0"
