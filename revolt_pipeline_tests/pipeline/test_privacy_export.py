"""`revolt privacy export` on the demo's data, on a local folder and SQLite, and on S3 and PostgreSQL: what it
finds of a person equals what each layer holds of them, read independently of the export."""

import json
import stat
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from revolt_pipeline.cli import main
from revolt_pipeline.layers.privacy import PersonExport, export_person
from revolt_pipeline.reports.loader import create_engine
from revolt_pipeline.settings import Settings
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.transforms.engine import duckdb_connection
from revolt_pipeline_tests.pipeline.conftest import DemoRun

pytestmark = pytest.mark.xdist_group("demo")


def _layer(store: ObjectStore, layer: str) -> pa.Table:
    tables = []
    for info in store.list(layer):
        with store.filesystem.open_input_file(store.path(info.key)) as source:
            tables.append(pq.read_table(source))
    return pa.concat_tables(tables, promote_options="permissive")


def _export(settings: Settings, requested: list[str]) -> PersonExport:
    engine = create_engine(settings.report_db_url)
    try:
        with duckdb_connection() as connection:
            return export_person(settings.store, connection, engine, requested)
    finally:
        engine.dispose()


def _exported(found: PersonExport, layer: str) -> list[dict[str, Any]]:
    return [row for holding in found.objects if holding.key.startswith(layer + "/") for row in holding.rows]


def _busiest_identified_person(events: pa.Table) -> str:
    identified = events.filter(events["user_id"].is_valid()).to_pylist()
    return Counter(row["person_id"] for row in identified).most_common(1)[0][0]


@pytest.fixture(params=["embedded_demo", "production_demo"])
def demo_run(request: pytest.FixtureRequest) -> DemoRun:
    return request.getfixturevalue(request.param)


def test_an_export_holds_exactly_what_each_layer_holds_of_the_person(demo_run: DemoRun) -> None:
    store = demo_run.settings.store
    events = _layer(store, "events")
    person = _busiest_identified_person(events)
    anonymous = sorted({row["anonymous_id"] for row in events.to_pylist() if row["person_id"] == person} - {None})
    assert anonymous, "the busiest identified person used an app before logging in"

    found = _export(demo_run.settings, [anonymous[0]])  # any one id of theirs will do

    # Every id stitched to them, and no one else's: the ids their events carry, nothing the events of others do.
    of_person = [row for row in events.to_pylist() if row["person_id"] == person]
    carried = {row[name] for row in of_person for name in ("user_id", "anonymous_id")} - {None}
    assert carried <= set(found.ids) and person in found.ids
    others = {row["anonymous_id"] for row in events.to_pylist() if row["person_id"] != person}
    assert not (set(found.ids) - {person}) & others

    def keys(rows: list[dict[str, Any]]) -> Counter:
        return Counter(row["message_id"] for row in rows)

    assert keys(_exported(found, "events")) == keys(of_person)
    for layer in ("sessionized_events", "sessions", "person_days"):
        table = _layer(store, layer)
        assert len(_exported(found, layer)) == sum(1 for p in table["person_id"].to_pylist() if p == person) > 0
    # Each raw row became an event or a quarantined row, and came from one landed record.
    raw, quarantined = _exported(found, "raw_events"), _exported(found, "events_quarantine")
    assert keys(raw) == keys(of_person) + keys(quarantined)
    assert sorted(record["messageId"] for record in _exported(found, "landing")) == sorted(keys(raw).elements())
    assert len(_exported(found, "identity_links")) > 0

    # The report database: the person's row of people, and each of their person days.
    assert [row["person_id"] for row in found.report_tables["people"]] == [person]
    days = sorted(row["event_date"] for row in _exported(found, "person_days"))
    assert sorted(row["event_date"] for row in found.report_tables["person_days"]) == days


def test_an_unknown_id_finds_nothing(embedded_demo: DemoRun) -> None:
    found = _export(embedded_demo.settings, ["nobody-by-this-id"])
    assert found.ids == ["nobody-by-this-id"] and found.objects == [] and found.report_tables == {}


def test_the_command_writes_a_private_json_document(embedded_demo: DemoRun, tmp_path: Path) -> None:
    settings = embedded_demo.settings
    person = _busiest_identified_person(_layer(settings.store, "events"))
    output = tmp_path / "export.json"
    env = {"REVOLT_HOME": str(settings.home), "REVOLT_STORAGE_URL": settings.storage_url}
    env["REVOLT_REPORT_DB_URL"] = settings.report_db_url
    result = CliRunner().invoke(main, ["privacy", "export", "--user-id", person, "-o", str(output)], env=env)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    document = json.loads(output.read_text())
    assert document["requested_ids"] == [person] and person in document["ids"]
    assert document["report_tables"]["people"][0]["person_id"] == person
    assert any(key.startswith("events/") for key in document["objects"])

    refused = CliRunner().invoke(main, ["privacy", "export"], env=env)
    assert refused.exit_code == 2 and "--user-id ID or --anonymous-id ID" in refused.output
