"""What `person_holdings` finds in each kind of object, on a local store: every place an id can be written."""

import base64
import gzip
import json
import pickle
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from revolt_pipeline.layers.privacy import PersonMatcher, person_holdings, redact_json
from revolt_pipeline.storage import ObjectStore

IDS = {"user-1", "anon-é"}


def _parquet(store: ObjectStore, key: str, table: pa.Table, tmp_path: Path) -> None:
    path = tmp_path / "table.parquet"
    pq.write_table(table, path)
    store.put_file(key, path)


def test_each_kind_of_object_is_searched_by_what_can_name_a_person(tmp_path: Path) -> None:
    store = ObjectStore((tmp_path / "store").as_uri())
    _parquet(
        store,
        "events/event_date=2026-11-20/events.parquet",
        pa.table({"person_id": ["user-1", "user-10", None], "user_id": [None, "user-10", "user-1"], "n": [1, 2, 3]}),
        tmp_path,
    )
    # Quarantined rows name their person only inside the message as sent, escaped to ASCII or not.
    messages = ['{"anonymousId": "anon-é"}', '{"userId": "user-10"}', '{"userId": "user-1"}', '{"x": "anon-\\u00e9"}']
    quarantine = pa.table({"message_id": ["a", "b", "c", "d"], "message": messages})
    _parquet(store, "events_quarantine/q.parquet", quarantine, tmp_path)
    _parquet(store, "aggregates/events_daily/d.parquet", pa.table({"events": [5]}), tmp_path)
    refused = base64.b64encode(json.dumps({"userId": "user-1"}).encode()).decode()
    landed = [
        {"messageId": "m1", "message": {"userId": "user-1", "type": "track"}},
        {"messageId": "m2", "message": {"userId": "user-10", "type": "track"}},
        {"reason": "invalid_json", "payload": None, "payloadBase64": refused},
    ]
    store.put("landing/l.jsonl.gz", gzip.compress(b"\n".join(json.dumps(r).encode() for r in landed)))
    store.put("models/m/model.pkl", pickle.dumps({"seen": ["anon-é"]}))
    store.put("raw_profiles/p.json", json.dumps({"names": ["user-10"]}).encode())

    found = {holding.key: holding.rows for holding in person_holdings(store, sorted(IDS))}

    assert [row["n"] for row in found["events/event_date=2026-11-20/events.parquet"]] == [1, 3]
    assert [row["message_id"] for row in found["events_quarantine/q.parquet"]] == ["a", "c", "d"]
    assert [record.get("messageId") for record in found["landing/l.jsonl.gz"]] == ["m1", None]
    assert found["models/m/model.pkl"] == [{"mentions": "anon-é"}]
    assert set(found) == {
        "events/event_date=2026-11-20/events.parquet",
        "events_quarantine/q.parquet",
        "landing/l.jsonl.gz",
        "models/m/model.pkl",
    }  # neither "user-10" nor a table without ids is anyone asked for


@pytest.mark.parametrize(
    ("text", "blanked", "paths"),
    [
        ('{"a": "user-1", "b": ["x", "anon-é"]}', '{"a": null, "b": ["x", null]}', ["$.a", "$.b[1]"]),
        ('{"a":"\\u0075ser-1"}', '{"a":null}', ["$.a"]),  # escaped, still the id
        ('{"a": "user-10", "b": "say \\"user-1\\" ok"}', None, []),  # inside longer strings: no one
        ('{ "x": 1 , "user-1" : {"n": "anon-é"} }', '{ "x": 1 }', ["$.user-1(key)", "$.user-1.n"]),  # keyed: gone
        ('{"user-1": 1, "x": 2}', '{"x": 2}', ["$.user-1(key)"]),
        ('["user-1"]\n', "[null]\n", ["$[0]"]),
    ],
)
def test_blanking_replaces_exactly_the_json_strings_equal_to_an_id(
    text: str, blanked: str | None, paths: list[str]
) -> None:
    redaction = redact_json(text, IDS)
    assert redaction is not None
    assert redaction.text == (text if blanked is None else blanked) and redaction.paths == paths


def test_text_that_is_not_json_is_not_blanked() -> None:
    assert redact_json('{"a": "user-1"', IDS) is None


def test_a_refused_body_of_someone_else_is_blanked_in_base64_and_one_that_does_not_parse_is_the_persons() -> None:
    matcher = PersonMatcher.of(IDS)

    def record(body: bytes) -> bytes:
        return json.dumps({"reason": "invalid_json", "payloadBase64": base64.b64encode(body).decode()}).encode() + b"\n"

    plan = matcher.record_plan(record(b'{"batch": [{"userId": "user-2", "properties": {"by": "user-1"}}]}'))
    assert plan.redacted is not None and not plan.removed
    blanked = base64.b64decode(json.loads(plan.redacted)["payloadBase64"])
    assert blanked == b'{"batch": [{"userId": "user-2", "properties": {"by": null}}]}'
    assert plan.names == [{"path": "$.payloadBase64(decoded).batch[0].properties.by", "id": "user-1"}]
    assert matcher.record_plan(record(b'{"userId": "user-2", "by": "user-1"')).removed  # cannot be blanked
    assert matcher.record_plan(record(b'{"userId": "user-1"}')).removed  # the person's own
    assert not matcher.record_plan(record(b'{"userId": "user-2"}')).names_person
