"""Hostile bodies against `revolt collector serve`: never a 5xx, nothing altered or dropped after a 200, no key kept.

One collector process serves the module; each test marks its events with its own name and reads back
only what carries that mark.
"""

import base64
import gzip
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from revolt_pipeline.collector import ingest
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import LANDING, QUARANTINE
from revolt_pipeline_tests.fixtures.collector import ADMIN_TOKEN, SOURCES, CollectorHarness, CollectorProcess

WEB_KEY = SOURCES["web"][1]


@dataclass
class Collector:
    url: str
    store: ObjectStore
    http: httpx.Client

    def post(
        self, path: str, body: bytes, *, key: str | None = WEB_KEY, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return self.http.post(self.url + path, content=body, auth=(key, "") if key else None, headers=headers)

    def lines(self, area: str, mark: str) -> list[bytes]:
        """Every line landed in `area` so far that carries `mark`, in its raw bodies too, as bytes."""
        self.http.post(self.url + "/admin/flush", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        found = []
        for info in self.store.list(f"{area}/"):
            for line in gzip.decompress(self.store.get(info.key)).split(b"\n")[:-1]:
                record = orjson.loads(line)
                encoded = record.get("rawBodyBase64") or record.get("payloadBase64")
                decoded = base64.b64decode(encoded) if encoded else b""
                if mark.encode() in line or mark.encode() in decoded:
                    found.append(line)
        return found

    def statuses(self) -> dict[str, float]:
        return responses_by_status(self.http.get(self.url + "/metrics").text)


def responses_by_status(metrics: str) -> dict[str, float]:
    """`revolt_collector_requests_total` summed over routes, by status."""
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics):
        if family.name == "revolt_collector_requests":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    status = sample.labels["status"]
                    counts[status] = counts.get(status, 0.0) + sample.value
    return counts


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    home = tmp_path_factory.mktemp("hostile")
    process = CollectorProcess(home).start()
    try:
        with httpx.Client(timeout=30) as http:
            yield Collector(process.url, ObjectStore((home / "store").as_uri()), http)
    finally:
        process.stop()


@pytest.fixture(autouse=True)
def no_5xx(collector: Collector) -> Iterator[None]:
    """Every test: the collector answered no 5xx, by its own /metrics."""
    yield
    assert not {status for status in collector.statuses() if status.startswith("5")}


def track(mark: str, n: int, **extra: Any) -> bytes:
    message = {"type": "track", "event": mark, "userId": f"u-{n}", "messageId": f"{mark}-{n}", **extra}
    return orjson.dumps(message)


def batch(*messages: bytes, envelope: bytes = b"") -> bytes:
    return b'{"batch":[' + b",".join(messages) + b"]" + envelope + b"}"


def landed_messages(collector: Collector, mark: str) -> list[bytes]:
    """The `message` of each landed line, cut out by `messageBytes` exactly as a reader would."""
    messages = []
    for line in collector.lines(LANDING, mark):
        length = orjson.loads(line)["messageBytes"]
        messages.append(line[-1 - length : -1])
    return sorted(messages)


def quarantined(collector: Collector, mark: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in collector.lines(QUARANTINE, mark)]


def test_a_message_nested_1000_levels_deep_is_refused_alone_and_its_neighbours_land(collector: Collector) -> None:
    mark = "deep"
    deep = b'{"type":"track","event":"deep","userId":"u","properties":{"p":' + b"[" * 1000 + b"]" * 1000 + b"}}"
    response = collector.post("/v1/batch", batch(track(mark, 1), deep, track(mark, 3)))
    assert response.status_code == 200, response.text
    assert [(r["index"], r["reason"]) for r in response.json()["rejected"]] == [(1, "too_deep")]
    assert landed_messages(collector, mark) == sorted([track(mark, 1), track(mark, 3)])
    (record,) = quarantined(collector, mark)
    assert (record["reason"], record["index"], base64.b64decode(record["payloadBase64"])) == ("too_deep", 1, deep)

    alone = collector.post("/v1/track", deep.replace(b'"deep"', b'"alone-nested"'))
    assert (alone.status_code, alone.json()["code"]) == (400, "too_deep")
    assert [r["reason"] for r in quarantined(collector, "alone-nested")] == ["too_deep"]


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (b'"name":"\xff\xfe"', "invalid_utf8"),
        (b'"name":"cut \\ud83d"', "lone_surrogate"),
        (b'"plan":"free","plan":"team"', "duplicate_key"),
        (b'"nested":{"a":[{"x":1,"x":2}]}', "duplicate_key"),
    ],
)
def test_a_message_that_is_not_strict_json_is_refused_alone(collector: Collector, fault: bytes, reason: str) -> None:
    mark = f"strict-{reason}-{len(fault)}"
    bad = b'{"type":"track","event":"%s","userId":"u","properties":{%s}}' % (mark.encode(), fault)
    response = collector.post("/v1/batch", batch(track(mark, 0), bad))
    assert response.status_code == 200, response.text
    assert response.json()["rejected"][0]["reason"] == reason
    assert landed_messages(collector, mark) == [track(mark, 0)]
    (record,) = quarantined(collector, mark)
    assert record["reason"] == reason and base64.b64decode(record["payloadBase64"]) == bad

    alone = collector.post("/v1/track", bad)
    assert (alone.status_code, alone.json()["code"]) == (400, reason)


def test_a_repeated_batch_key_refuses_the_request_and_quarantines_the_body(collector: Collector) -> None:
    mark = "repeated-batch"
    body = b'{"batch":[%s],"sentAt":"2026-11-20T10:00:00Z","batch":[%s]}' % (track(mark, 1), track(mark, 2))
    response = collector.post("/v1/batch", body)
    assert (response.status_code, response.json()["code"]) == (400, "duplicate_key")
    assert landed_messages(collector, mark) == []
    (record,) = quarantined(collector, mark)
    assert record["reason"] == "duplicate_key"
    assert base64.b64decode(record["rawBodyBase64"]) == body


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip"])
def test_every_member_of_a_gzip_body_lands(collector: Collector, encoding: str) -> None:
    mark = f"members-{encoding}"
    body = gzip.compress(b'{"batch":[' + track(mark, 1) + b",") + gzip.compress(track(mark, 2) + b"]}")
    response = collector.post("/v1/batch", body, headers={"Content-Encoding": encoding})
    assert response.json() == {"success": True, "accepted": 2}
    assert landed_messages(collector, mark) == sorted([track(mark, 1), track(mark, 2)])


def test_bytes_after_the_gzip_data_refuse_the_body_and_it_is_quarantined_inflated(collector: Collector) -> None:
    mark = "gzip-trailing"
    sent = batch(track(mark, 1))
    response = collector.post("/v1/batch", gzip.compress(sent) + b"appended", headers={"Content-Encoding": "gzip"})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_encoding")
    assert landed_messages(collector, mark) == []
    (record,) = quarantined(collector, mark)
    assert base64.b64decode(record["rawBodyBase64"]) == sent
    assert (record["contentEncoding"], record["rawBodyComplete"]) == ("gzip", False)


@pytest.mark.parametrize("path", ["/v1/track", "/v1/t"])
def test_single_messages_land_byte_for_byte(collector: Collector, path: str) -> None:
    mark = f"single{path[-2:]}"
    without_type = (
        b' {"event":"%s","userId":123456789012345678901234567890, "properties":{"price":1.10,"n":1E+2,'
        b'"z":-0,"text":"\\u00e9\xc3\xa9"},"messageId":"%s-1"}\t' % (mark.encode(), mark.encode())
    )
    with_type = b'{"event":"%s","type" : "track","anonymousId":"a","messageId":"%s-2"}' % (
        mark.encode(),
        mark.encode(),
    )
    for body in (without_type, with_type):
        response = collector.post(path, body)
        assert response.json() == {"success": True, "accepted": 1}, response.text
    assert landed_messages(collector, mark) == sorted([b'{"type":"track",' + without_type.strip()[1:], with_type])


def test_write_keys_are_never_stored(collector: Collector) -> None:
    mark = "write-keys"
    key = WEB_KEY.encode()
    nested = (
        b'{"type":"track","event":"%s","userId":"u","writeKey":"%s","context":{"library":{"writeKey":"%s"}},'
        b'"properties":{"url":"https://x.test/?key=%s","list":[{"writeKey":"other"}]}}' % (mark.encode(), key, key, key)
    )
    refused = nested.replace(b'"userId":"u",', b"")  # no identity: quarantined as a message
    body = b'{"batch":[%s,%s],"writeKey":"%s","context":{"writeKey":"%s"}}' % (nested, refused, key, key)
    assert collector.post("/v1/batch", body, key=None).json()["accepted"] == 1
    # A body refused whole, as sent and gzip-compressed: the quarantine keeps it, inflated and redacted.
    broken = body[:-1]
    gzipped = {"Content-Encoding": "gzip"}
    assert collector.post("/v1/batch", broken, key=None).status_code == 400
    assert collector.post("/v1/batch", gzip.compress(broken), key=None, headers=gzipped).status_code == 400

    (line,) = collector.lines(LANDING, mark)
    assert key not in line and b"writeKey" not in line and b"other" not in line
    record = orjson.loads(line)
    assert record["message"]["properties"]["url"] == "https://x.test/?key=[redacted write key]"
    assert record["batchContext"] == {}
    stored = collector.lines(QUARANTINE, mark)
    assert len(stored) == 3
    for line in stored:
        record = orjson.loads(line)
        kept = line + base64.b64decode(record.get("rawBodyBase64") or "")
        assert key not in kept and b"other" not in kept
    assert {orjson.loads(line)["reason"] for line in stored} == {"missing_identity", "malformed_json"}


def decoded_strings(data: bytes) -> str:
    """`data` with its escapes of ASCII characters decoded, as a JSON reader would see a write key in it."""
    return re.sub(rb"\\u00([0-7][0-9a-fA-F])", lambda escape: bytes([int(escape[1], 16)]), data).decode(
        "utf-8", "replace"
    )


def test_a_write_key_spelled_with_escapes_is_never_stored(collector: Collector) -> None:
    """`\\u0077k_...` is the key to every JSON reader; a search for the key's bytes missed it."""
    mark = "escaped-key"
    escaped = b"".join(b"\\u%04x" % byte for byte in WEB_KEY.encode())
    single = b'{"write\\u004bey":"%s","event":"%s","userId":"u","properties":{"url":"x?k=%s"}}' % (
        escaped,
        mark.encode(),
        escaped,
    )
    assert collector.post("/v1/track", single, key=None).status_code == 200  # the escaped key authenticates
    in_batch = b'{"batch":[{"type":"track","event":"%s","userId":"u","context":{"k":"%s"}}]}' % (mark.encode(), escaped)
    assert collector.post("/v1/batch", in_batch).status_code == 200
    assert collector.post("/v1/batch", in_batch[:-1]).status_code == 400  # refused whole: quarantined

    landed = collector.lines(LANDING, mark)
    quarantined = collector.lines(QUARANTINE, mark)
    assert len(landed) == 2 and len(quarantined) == 1
    for line in [*landed, *quarantined]:
        record = orjson.loads(line)
        kept = decoded_strings(line) + decoded_strings(base64.b64decode(record.get("rawBodyBase64") or ""))
        assert WEB_KEY not in kept, line
    assert orjson.loads(landed[0])["message"]["properties"]["url"] == "x?k=[redacted write key]"


def test_a_key_redacted_into_another_member_name_refuses_the_message_alone(collector: Collector) -> None:
    """`{"<key>": 1, "[redacted write key]": 2}` would land with one name twice, which no reader agrees on."""
    mark = "redacted-twice"
    clash = b'{"type":"identify","userId":"%s","traits":{"%s":1,"[redacted write key]":2}}' % (
        mark.encode(),
        WEB_KEY.encode(),
    )
    neighbour = b'{"type":"identify","userId":"%s"}' % mark.encode()
    answer = collector.post("/v1/batch", b'{"batch":[%s,%s]}' % (clash, neighbour)).json()
    assert answer["accepted"] == 1 and [entry["reason"] for entry in answer["rejected"]] == ["duplicate_key"]
    (line,) = collector.lines(QUARANTINE, mark)
    assert WEB_KEY.encode() not in base64.b64decode(orjson.loads(line)["payloadBase64"])
    (landed,) = collector.lines(LANDING, mark)
    assert orjson.loads(landed)["message"] == orjson.loads(neighbour)


def test_a_pretty_printed_batch_lands_one_record_per_line(collector: Collector) -> None:
    mark = "pretty"
    messages = [
        b'{\r\n    "type": "track",\r\n    "event": "pretty",\r\n    "userId": "u-%d",\n'
        b'    "properties": {"price": 1.50}\r\n  }' % n
        for n in range(3)
    ]
    body = b'{\r\n  "batch": [\r\n  %s\r\n  ],\r\n  "context": {\r\n    "ip": "10.0.0.1"\r\n  }\r\n}' % (
        b",\r\n  ".join(messages)
    )
    assert collector.post("/v1/batch", body).json() == {"success": True, "accepted": 3}
    lines = collector.lines(LANDING, mark)
    assert len(lines) == 3
    # The batch's context as sent, its address truncated (REVOLT_IP_POLICY's default).
    assert all(orjson.loads(line)["batchContext"] == {"ip": "10.0.0.0"} for line in lines)
    # Byte for byte but for line breaks, which became spaces.
    assert landed_messages(collector, mark) == sorted(m.replace(b"\r", b" ").replace(b"\n", b" ") for m in messages)


def test_an_unexpected_error_answers_422_quarantines_the_body_and_logs_it(
    collector_server: CollectorHarness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(raw: bytes) -> Any:
        raise KeyError("a bug in validation")

    monkeypatch.setattr(ingest, "validate_message", broken)
    body = batch(track("bug", 1))
    with caplog.at_level(logging.ERROR, logger="revolt.collector"):
        response = collector_server.post("/v1/batch", body)
    assert response.status_code == 422
    assert response.json()["code"] == "processing_failed"
    assert any(record.exc_info and "a bug in validation" in str(record.exc_info[1]) for record in caplog.records)
    collector_server.flush()
    assert collector_server.landed() == []
    (record,) = collector_server.landed(QUARANTINE)
    assert record["reason"] == "processing_failed" and "a bug in validation" in record["detail"]
    assert base64.b64decode(record["rawBodyBase64"]) == body
    metrics = collector_server.http.get(collector_server.url + "/metrics").text
    assert responses_by_status(metrics).get("422") == 1.0
    assert 'revolt_collector_events_rejected_total{reason="processing_failed"} 1.0' in metrics


def test_a_body_in_an_encoding_the_collector_cannot_read_is_recorded_but_not_kept(collector: Collector) -> None:
    # It could hold a write key the collector cannot see to redact: the record says what came, not what it said.
    response = collector.post("/v1/batch", b"\x00compressed", headers={"Content-Encoding": "br"})
    assert (response.status_code, response.json()["code"]) == (415, "unsupported_encoding")
    records = [orjson.loads(line) for line in collector.lines(QUARANTINE, "unsupported_encoding")]
    assert records and all(r["rawBodyBase64"] is None and r["contentEncoding"] == "br" for r in records)
