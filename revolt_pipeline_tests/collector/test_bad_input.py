"""Bad input gets the right status and a body that says what was wrong, and loses nothing accepted."""

import gzip
from typing import Any

import orjson
import pytest

from revolt_pipeline_tests.fixtures.collector import SOURCES, CollectorHarness

WEB_KEY = SOURCES["web"][1]


def track(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Timer Started",
        "userId": f"user-{n}",
        "messageId": f"m-{n}",
        "originalTimestamp": "2026-11-20T10:00:00.000Z",
        **extra,
    }


@pytest.mark.parametrize(
    ("path", "body", "headers", "key", "status", "code"),
    [
        ("/v1/batch", b"{not json", {}, WEB_KEY, 400, "malformed_json"),
        ("/v1/track", b"\x00\x01binary", {}, WEB_KEY, 400, "malformed_json"),
        ("/v1/batch", b"not gzip at all", {"Content-Encoding": "gzip"}, WEB_KEY, 400, "invalid_encoding"),
        (
            "/v1/batch",
            gzip.compress(b'{"batch": []}', mtime=0),  # no timestamp: both xdist workers must name it alike
            {"Content-Encoding": "br"},
            WEB_KEY,
            415,
            "unsupported_encoding",
        ),
        ("/v1/batch", orjson.dumps({"batch": [track(1)]}), {}, "wk_nobody", 401, "unknown_write_key"),
        ("/v1/batch", orjson.dumps({"batch": [track(1)]}), {}, None, 401, "missing_write_key"),
        (
            "/v1/batch",
            orjson.dumps({"batch": [track(1)]}),
            {"Authorization": "Bearer x"},
            None,
            401,
            "invalid_authorization",
        ),
        ("/v1/batch", orjson.dumps({"batch": {"type": "track"}}), {}, WEB_KEY, 400, "invalid_batch"),
        (
            "/v1/batch",
            orjson.dumps({"batch": [track(1)], "sentAt": "yesterday"}),
            {},
            WEB_KEY,
            400,
            "invalid_timestamp",
        ),
        (
            "/v1/track",
            orjson.dumps(track(1, properties={"blob": "x" * 40_000})),
            {},
            WEB_KEY,
            413,
            "message_too_large",
        ),
        (
            "/v1/batch",
            orjson.dumps({"batch": [track(i, properties={"p": "x" * 20_000}) for i in range(30)]}),
            {},
            WEB_KEY,
            413,
            "batch_too_large",
        ),
        ("/v1/track", orjson.dumps({"event": "Timer Started"}), {}, WEB_KEY, 400, "missing_identity"),
        ("/v1/track", orjson.dumps({"event": 42, "userId": "u"}), {}, WEB_KEY, 400, "invalid_field"),
        ("/v1/track", orjson.dumps({"event": "e", "userId": True}), {}, WEB_KEY, 400, "invalid_field"),
        (
            "/v1/track",
            orjson.dumps({"event": "e", "userId": "u", "properties": [1, 2]}),
            {},
            WEB_KEY,
            400,
            "invalid_field",
        ),
        (
            "/v1/track",
            orjson.dumps({"event": "e", "userId": "u", "timestamp": "2026-11-20T10:00:00"}),
            {},
            WEB_KEY,
            400,
            "invalid_timestamp",
        ),
        ("/v1/track", orjson.dumps({"userId": "u"}), {}, WEB_KEY, 400, "missing_field"),
        (
            "/v1/page",
            orjson.dumps({"type": "track", "userId": "u", "event": "e"}),
            {},
            WEB_KEY,
            400,
            "type_mismatch",
        ),
        ("/v1/alias", orjson.dumps({"userId": "u"}), {}, WEB_KEY, 400, "missing_field"),
        ("/v1/group", orjson.dumps({"userId": "u", "groupId": ""}), {}, WEB_KEY, 400, "invalid_field"),
        (
            "/v1/batch",
            orjson.dumps({"batch": [{"type": "purchase", "userId": "u"}]}),
            {},
            WEB_KEY,
            400,
            "unknown_type",
        ),
        ("/v1/batch", orjson.dumps([track(1)]), {}, WEB_KEY, 400, "invalid_batch"),
        # Strict JSON (I-JSON): what two readers could read two ways is refused, with its own reason.
        ("/v1/track", b'{"event":"e","event":"f","userId":"u"}', {}, WEB_KEY, 400, "duplicate_key"),
        ("/v1/identify", b'{"userId":"u","traits":{"name":"\xe9"}}', {}, WEB_KEY, 400, "invalid_utf8"),
        ("/v1/track", b'{"event":"\\udc00","userId":"u"}', {}, WEB_KEY, 400, "lone_surrogate"),
        ("/v1/track", b'{"event":"e","userId":"u","p":' + b"[" * 300 + b"]" * 300 + b"}", {}, WEB_KEY, 400, "too_deep"),
        ("/v1/track", b'{"event":"e","userId":"u","n":' + b"9" * 5000 + b"}", {}, WEB_KEY, 400, "number_too_long"),
        ("/v1/track", b'{"event":"e","userId":"u","n":NaN}', {}, WEB_KEY, 400, "malformed_json"),
        (
            "/v1/batch",
            b'{"batch":[' + orjson.dumps(track(1)) + b'],"sentAt":null,"sentAt":null}',
            {},
            WEB_KEY,
            400,
            "duplicate_key",
        ),
        (
            "/v1/batch",
            gzip.compress(orjson.dumps({"batch": [track(1)]}), mtime=0) + b"\n",
            {"Content-Encoding": "gzip"},
            WEB_KEY,
            400,
            "invalid_encoding",
        ),
        (
            "/v1/batch",
            gzip.compress(orjson.dumps({"batch": [track(1)]}), mtime=0) + gzip.compress(b"", mtime=0) * 100,
            {"Content-Encoding": "gzip"},
            WEB_KEY,
            400,
            "invalid_encoding",
        ),
    ],
)
def test_bad_input_gets_its_status_and_reason(
    collector_server: CollectorHarness,
    path: str,
    body: bytes,
    headers: dict[str, str],
    key: str | None,
    status: int,
    code: str,
) -> None:
    response = collector_server.post(path, body, key=key, headers=headers)
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["success"] is False
    assert answer["code"] == code
    assert answer["message"]
    collector_server.flush()
    assert collector_server.landed() == []


def test_refused_input_from_a_known_source_is_quarantined_with_its_payload(
    collector_server: CollectorHarness,
) -> None:
    collector_server.post("/v1/batch", b"{not json")
    collector_server.post("/v1/track", {"event": "Timer Started"})
    collector_server.post("/v1/batch", {"batch": [track(1)]}, key="wk_nobody")  # strangers are not stored
    collector_server.flush()
    quarantined = collector_server.landed("quarantine")
    assert [record["reason"] for record in quarantined] == ["malformed_json", "missing_identity"]
    assert quarantined[0]["rawBodyBase64"] == "e25vdCBqc29u"  # base64 of the body as sent
    assert quarantined[1]["payload"] == {"type": "track", "event": "Timer Started"}
    assert {record["source"] for record in quarantined} == {"web"}


def test_valid_neighbours_in_a_batch_are_kept(collector_server: CollectorHarness) -> None:
    batch = [
        track(0),
        track(1, userId=None),  # missing both ids
        track(2),
        track(3, event=7),  # wrong type
        track(4, properties={"blob": "x" * 33_000}),  # oversize message
        {"type": "screen", "anonymousId": "a-5", "name": "Timesheet", "messageId": "m-5"},
        track(6, timestamp="not a time"),
        "just a string",
        track(8),
    ]
    response = collector_server.post("/v1/batch", {"batch": batch, "sentAt": "2026-11-20T10:00:01.000Z"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["accepted"] == 4
    assert [(r["index"], r["reason"]) for r in answer["rejected"]] == [
        (1, "missing_identity"),
        (3, "invalid_field"),
        (4, "message_too_large"),
        (6, "invalid_timestamp"),
        (7, "not_an_object"),
    ]
    assert answer["rejected"][0]["messageId"] == "m-1"

    collector_server.flush()
    landed = collector_server.landed()
    assert sorted(record["messageId"] for record in landed) == ["m-0", "m-2", "m-5", "m-8"]
    quarantined = collector_server.landed("quarantine")
    assert sorted(record["index"] for record in quarantined) == [1, 3, 4, 6, 7]
    assert next(r for r in quarantined if r["index"] == 4)["payload"]["properties"]["blob"] == "x" * 33_000
    assert next(r for r in quarantined if r["index"] == 7)["payload"] == "just a string"


def test_a_batch_with_only_oversize_messages_gets_413(collector_server: CollectorHarness) -> None:
    response = collector_server.post("/v1/batch", {"batch": [track(1, properties={"blob": "x" * 40_000})]})
    assert response.status_code == 413
    assert response.json()["rejected"][0]["reason"] == "message_too_large"


def test_write_key_in_the_body_authenticates_and_is_not_stored(collector_server: CollectorHarness) -> None:
    body = {"batch": [{**track(1), "writeKey": WEB_KEY}], "writeKey": WEB_KEY}
    assert collector_server.post("/v1/batch", body, key=None).status_code == 200
    single = {**track(2), "writeKey": WEB_KEY}
    assert collector_server.post("/v1/t", single, key=None).status_code == 200
    collector_server.flush()
    landed = collector_server.landed()
    assert len(landed) == 2
    assert all("writeKey" not in record["message"] for record in landed)
    assert all(WEB_KEY not in orjson.dumps(record).decode() for record in landed)


def test_gzip_bodies_are_accepted(collector_server: CollectorHarness) -> None:
    body = gzip.compress(orjson.dumps({"batch": [track(n) for n in range(50)]}))
    response = collector_server.post("/v1/batch", body, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.json() == {"success": True, "accepted": 50}


def test_a_gzip_bomb_is_refused_without_inflating_it(collector_server: CollectorHarness) -> None:
    bomb = gzip.compress(b'{"batch": [' + b" " * 50_000_000 + b"]}")
    response = collector_server.post("/v1/batch", bomb, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert response.json()["code"] == "batch_too_large"
