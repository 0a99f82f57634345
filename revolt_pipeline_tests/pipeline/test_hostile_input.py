"""Hostile input through the whole pipeline: the day's reports load, and they say what the collector checked."""

import gzip
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from revolt_pipeline.storage.layout import raw_events_key
from revolt_pipeline.transforms.engine import duckdb_connection, sql_string
from revolt_pipeline_tests.pipeline.harness import (
    WEB_KEY,
    Pipeline,
    pipeline_environment,
    rfc3339,
    running_pipeline,
)

DAY = date(2026, 11, 18)
MORNING = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
BIG_ID = b"123456789012345678901234567890"


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    settings = pipeline_environment(monkeypatch, tmp_path)
    with running_pipeline(settings, MORNING) as running:
        yield running


def message(n: int, event: str, *, fault: bytes = b"", user: bytes = b'"u-%d"') -> bytes:
    """A track message as bytes, so faults that no serializer would write can be put in."""
    return (
        b'{"type":"track","messageId":"m-%d","userId":%s,"event":"%s","originalTimestamp":"%s",'
        b'"context":{"app":{"version":"4.2"}},"properties":{"price":1.10%s}}'
        % (n, user.replace(b"%d", b"%d" % n), event.encode(), rfc3339(MORNING + timedelta(minutes=n)).encode(), fault)
    )


class Sender:
    """Posts raw bodies to the pipeline's collector and keeps the event name of every message it accepted."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.accepted: Counter[str] = Counter()

    def post(self, path: str, body: bytes, names: list[str], headers: dict[str, str] | None = None) -> httpx.Response:
        response = self.pipeline.http.post(
            self.pipeline.server.url + path, content=body, auth=(WEB_KEY, ""), headers=headers
        )
        assert response.status_code < 500, response.text
        if response.status_code == 200:
            refused = {entry["index"] for entry in response.json().get("rejected", [])}
            self.accepted.update(name for index, name in enumerate(names) if index not in refused)
        return response


def test_hostile_input_neither_blocks_the_day_nor_changes_what_is_reported(pipeline: Pipeline) -> None:
    sender = Sender(pipeline)
    # A pretty-printed batch with Windows line breaks: raw newlines in a landed line broke the whole day.
    pretty = orjson.dumps(
        {"batch": [orjson.loads(message(n, "Timer Started")) for n in range(3)], "sentAt": rfc3339(MORNING)},
        option=orjson.OPT_INDENT_2,
    ).replace(b"\n", b"\r\n")
    assert sender.post("/v1/batch", pretty, ["Timer Started"] * 3).status_code == 200

    # Messages that are not strict JSON among good ones: only they are refused.
    faults = [
        message(10, "Checked").replace(b'"event":"Checked"', b'"event":"Checked","event":"Other"'),
        message(11, "Broken", fault=b',"name":"\xff"'),
        message(12, "Cut", fault=b',"name":"\\ud83d"'),
        message(13, "Deep", fault=b',"p":' + b"[" * 400 + b"]" * 400),
    ]
    mixed = [message(20, "Entry Saved"), *faults, message(21, "Entry Saved")]
    names = ["Entry Saved", "Checked", "Broken", "Cut", "Deep", "Entry Saved"]
    response = sender.post("/v1/batch", b'{"batch":[' + b",".join(mixed) + b"]}", names)
    assert [entry["index"] for entry in response.json()["rejected"]] == [1, 2, 3, 4]

    # A repeated "batch" key: refused whole, where its first events used to vanish after a 200.
    repeated = b'{"batch":[%s],"batch":[%s]}' % (message(30, "Hidden"), message(31, "Shown"))
    assert sender.post("/v1/batch", repeated, ["Shown"]).status_code == 400

    # Two gzip members: the second one's events land too.
    two_members = gzip.compress(b'{"batch":[' + message(40, "Exported") + b",") + gzip.compress(
        message(41, "Exported") + b"]}"
    )
    assert sender.post("/v1/batch", two_members, ["Exported"] * 2, {"Content-Encoding": "gzip"}).status_code == 200

    # A single message keeps its bytes: 1.10 and a 30-digit id, with its type put in after the brace.
    single = message(50, "Price Set", user=BIG_ID).replace(b'"type":"track",', b"")
    assert sender.post("/v1/track", single, ["Price Set"]).status_code == 200

    pipeline.complete(DAY)
    assert pipeline.run("raw_job", DAY.isoformat()).success
    assert {request.job_name for request, run in pipeline.follow_cascade() if run.success} == {
        "clean_job",
        "catalog_job",
        "report_job",
        "people_job",
        "funnels_job",
    }

    rows = pipeline.report_rows()
    reported = {row["event_name"]: row["events"] for row in rows["events_daily"] if row["event_date"] == DAY}
    assert reported == dict(sender.accepted) == {"Timer Started": 3, "Entry Saved": 2, "Exported": 2, "Price Set": 1}
    catalog = {(row["event_name"], row["property"], row["json_type"]) for row in rows["event_catalog"]}
    assert ("Price Set", "price", "number") in catalog

    raw = raw_messages(pipeline)
    assert raw["m-50"] == (b'{"type":"track",' + single[1:], BIG_ID.decode())
    assert raw["m-20"] == (message(20, "Entry Saved"), "u-20")
    assert b"\n" not in raw["m-0"][0] and orjson.loads(raw["m-0"][0]) == orjson.loads(message(0, "Timer Started"))


def raw_messages(pipeline: Pipeline) -> dict[str, tuple[bytes, str]]:
    """raw_events' message text and user id of the day, by message id."""
    store = pipeline.settings.store
    path = store.local_path(raw_events_key(DAY))
    assert path is not None
    with duckdb_connection(threads=1) as connection:
        found: list[Any] = connection.execute(
            f"SELECT message_id, message, user_id FROM read_parquet({sql_string(path)})"
        ).fetchall()
    return {message_id: (text.encode(), user_id) for message_id, text, user_id in found}


def test_a_pretty_printed_batch_does_not_block_the_day(pipeline: Pipeline) -> None:
    batch = {"batch": [orjson.loads(message(n, "Timer Started")) for n in range(2)], "sentAt": rfc3339(MORNING)}
    pretty = orjson.dumps(batch, option=orjson.OPT_INDENT_2)
    assert Sender(pipeline).post("/v1/batch", pretty, ["Timer Started"] * 2).status_code == 200
    pipeline.complete(DAY)
    assert pipeline.run("raw_job", DAY.isoformat()).success
    assert pipeline.run("clean_job", DAY.isoformat()).success
    assert pipeline.run("report_job", DAY.isoformat()).success
    assert pipeline.dau(DAY.isoformat()) == 2
