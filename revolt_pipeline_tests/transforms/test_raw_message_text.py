"""raw_events keeps each message's text as landed, not a JSON reader's re-serialization of it."""

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

from revolt_pipeline.contract import Message, Receipt, landed_record, validate_message
from revolt_pipeline.contract.envelope import epoch_ms
from revolt_pipeline.transforms.raw import consolidate_landed
from revolt_pipeline_tests.transforms.harness import duckdb_connection

RECEIVED = epoch_ms(datetime(2026, 11, 20, 10, tzinfo=UTC))
MESSAGES = [
    b'{"type":"track","event":"Price Set","userId":123456789012345678901234567890,'
    b'"properties":{"price":1.10,"e":1E+2,"z":-0,"tiny":1e-400,"huge":1e400,"text":"\\u00e9\xc3\xa9 \\ud83d\\ude00"}}',
    b'{ "type" : "identify" ,   "anonymousId": "a\\"1",  "traits": {"message": {"messageBytes": 3}} }',
    b'{"type":"page","userId":"u","name":",\\"message\\":{}}"}',
]
CONTEXTS = [None, b'{"x":{"message":{"y":1}},"s":",\\"message\\":{\\"z\\":2}}"}', b"{}"]


def landed_line(raw: bytes, context: bytes | None) -> bytes:
    message = validate_message(raw)
    assert isinstance(message, Message)
    receipt = Receipt(RECEIVED, None, context, "web", "web", "c1")
    return landed_record(message, raw, receipt, receipt.shared_fields())


def raw_rows(tmp_path: Path, lines: list[bytes]) -> list[tuple]:
    landed = tmp_path / "landed.jsonl.gz"
    landed.write_bytes(gzip.compress(b"".join(line + b"\n" for line in lines)))
    output = str(tmp_path / "raw.parquet")
    with duckdb_connection(threads=1) as connection:
        assert consolidate_landed(connection, [str(landed)], output) == len(lines)
        return connection.execute(
            f"SELECT message, user_id, anonymous_id, event_name, properties, context FROM read_parquet('{output}') "
            "ORDER BY type"
        ).fetchall()


def test_raw_events_hold_each_message_exactly_as_landed(tmp_path: Path) -> None:
    lines = [landed_line(raw, context) for raw in MESSAGES for context in CONTEXTS]
    rows = raw_rows(tmp_path, lines)
    assert sorted(row[0].encode() for row in rows) == sorted(raw for raw in MESSAGES for _ in CONTEXTS)
    by_message = {row[0].encode(): row for row in rows}
    track = by_message[MESSAGES[0]]
    assert track[1] == "123456789012345678901234567890"  # the id as sent, not a float
    assert track[3] == "Price Set"
    assert json.loads(track[4])["text"] == "éé 😀"  # orjson would refuse 1e400
    assert by_message[MESSAGES[1]][2] == 'a"1'
    assert by_message[MESSAGES[2]][3] == ',"message":{}}'


def test_lines_landed_before_message_bytes_keep_their_reserialized_message(tmp_path: Path) -> None:
    line = landed_line(MESSAGES[0], None)
    old = line.replace(b'"messageBytes":%d,' % len(MESSAGES[0]), b"")
    (row,) = raw_rows(tmp_path, [old])
    assert json.loads(row[0])["properties"]["price"] == 1.1
    assert row[3] == "Price Set"
