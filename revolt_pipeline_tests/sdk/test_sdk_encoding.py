"""Messages are the same JSON whether orjson is installed or only the standard library is."""

import json
import math
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from revolt_pipeline.sdk import encoding

VALUES: list[Any] = [
    {"type": "track", "event": "Zeit erfasst", "properties": {"ü": "naïve ☕", "n": 3, "f": 1.5, "ok": True}},
    {
        "when": datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        "day": date(2026, 11, 20),
    },
    {"id": uuid.UUID(int=7), "naive": datetime(2026, 11, 20, 10, 0)},
    {"nan": math.nan, "inf": [math.inf, -math.inf], "nested": {"x": math.nan}, "text": "a :NaN, in a string"},
    {"deep": [[{"a": None}]], "empty": {}},
]


@pytest.fixture(params=["orjson", "standard library"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "standard library":
        monkeypatch.setattr(encoding, "orjson", None)
    return request.param


@pytest.mark.parametrize("value", VALUES)
def test_both_paths_write_the_same_json(value: Any, path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text, size = encoding.encode_json(value)
    assert size == len(text.encode("utf-8"))
    with monkeypatch.context() as other:
        other.setattr(encoding, "orjson", None if path == "orjson" else encoding.orjson)
        assert encoding.encode_json(value)[0] == text


def test_non_finite_numbers_become_null_and_times_take_the_collector_form(path: str) -> None:
    text, _ = encoding.encode_json(VALUES[3] | {"at": datetime(2026, 11, 20, 8, 0, tzinfo=UTC)})
    assert json.loads(text) == {
        "nan": None,
        "inf": [None, None],
        "nested": {"x": None},
        "text": "a :NaN, in a string",
        "at": "2026-11-20T08:00:00.000Z",
    }
    assert json.loads(encoding.encode_json(VALUES[1])[0])["when"] == "2026-11-20T08:00:00.123Z"


@pytest.mark.parametrize("bad", [{"x": object()}, {"x": "\ud800"}])
def test_what_json_cannot_hold_is_refused(bad: Any, path: str) -> None:
    with pytest.raises((TypeError, ValueError)):
        encoding.encode_json(bad)
