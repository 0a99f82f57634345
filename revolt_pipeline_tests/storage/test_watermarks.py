"""A received day is complete only when every collector's watermark has passed its end."""

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import watermark_key
from revolt_pipeline.storage.watermarks import lagging_collectors, read_watermarks

MIDNIGHT = datetime(2026, 11, 21, tzinfo=UTC)


def publish(store: ObjectStore, collector: str, watermark: str) -> None:
    store.put(watermark_key(collector), orjson.dumps({"collectorId": collector, "watermark": watermark}))


def test_every_replica_must_have_passed_the_moment(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path.as_uri())
    publish(store, "collector-a", "2026-11-21T00:00:30.000Z")
    publish(store, "collector-b", "2026-11-20T23:59:59.999Z")
    watermarks = read_watermarks(store)
    assert sorted(watermarks) == ["collector-a", "collector-b"]
    assert list(lagging_collectors(watermarks, MIDNIGHT)) == ["collector-b"]
    publish(store, "collector-b", "2026-11-21T00:00:00.000Z")
    assert lagging_collectors(read_watermarks(store), MIDNIGHT) == {}


def test_an_unreadable_watermark_is_an_error_not_a_pass(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path.as_uri())
    publish(store, "collector-a", "yesterday")
    with pytest.raises(ValueError, match="unreadable watermark"):
        read_watermarks(store)
