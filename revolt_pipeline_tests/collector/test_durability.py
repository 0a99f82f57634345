"""A 200 means the events are on disk: they survive a crash and land exactly once."""

import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

from revolt_pipeline.collector.server import CollectorServer
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline_tests.fixtures.collector import (
    ADMIN_TOKEN,
    SOURCES,
    CollectorProcess,
    collector_config,
    read_landed,
)


def batch(start: int, size: int) -> bytes:
    messages = [
        {"type": "track", "event": "Entry Saved", "userId": f"u{n % 17}", "messageId": f"m-{n}"}
        for n in range(start, start + size)
    ]
    return orjson.dumps({"batch": messages})


def test_acknowledged_events_survive_kill_9_and_land_once(
    tmp_path: Path, collector_process: Callable[..., CollectorProcess]
) -> None:
    first = collector_process(tmp_path)
    acknowledged = 0
    with httpx.Client(timeout=30) as http:
        for start in range(0, 2000, 100):
            response = http.post(first.url + "/v1/batch", content=batch(start, 100), auth=(SOURCES["ios"][1], ""))
            assert response.status_code == 200
            acknowledged += response.json()["accepted"]
    store = ObjectStore((tmp_path / "store").as_uri())
    assert read_landed(store) == []  # still only in the spool
    first.kill()

    second = collector_process(tmp_path)
    with httpx.Client(timeout=60) as http:
        report = http.post(second.url + "/admin/flush", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert report.status_code == 200
    landed = read_landed(store)
    assert acknowledged == 2000
    assert len(landed) == 2000
    assert {record["messageId"] for record in landed} == {f"m-{n}" for n in range(2000)}


def test_a_segment_uploaded_again_after_a_crash_replaces_rather_than_duplicates(tmp_path: Path) -> None:
    config = collector_config(tmp_path, (tmp_path / "store").as_uri())
    saved = tmp_path / "saved-spool"
    with CollectorServer(config) as server, httpx.Client() as http:
        http.post(server.url + "/v1/batch", content=batch(0, 10), auth=(SOURCES["web"][1], ""))
        server.call(server.service.spools["landing"].seal(force=True))
        shutil.copytree(config.spool_dir / "events", saved)  # the spool as it was just before upload
        server.call(server.service.flush())
    # A crash between the upload and deleting the segment leaves the segment behind: put it back.
    for path in saved.glob("*.sealed"):
        shutil.copy(path, config.spool_dir / "events" / path.name)
    with CollectorServer(config) as server:
        server.call(server.service.flush())
        landed = read_landed(server.service.store)
        assert sorted(record["messageId"] for record in landed) == sorted(f"m-{n}" for n in range(10))
        assert server.service.landed(server.service.clock.now().date())["landed"]["events"] == 10


def test_a_torn_write_that_was_never_acknowledged_is_dropped_on_restart(tmp_path: Path) -> None:
    config = collector_config(tmp_path, (tmp_path / "store").as_uri())
    with CollectorServer(config) as server, httpx.Client() as http:
        http.post(server.url + "/v1/batch", content=batch(0, 5), auth=(SOURCES["web"][1], ""))
    # uvicorn's shutdown uploaded the spool; simulate a crash mid-write of a later request instead.
    events = config.spool_dir / "events"
    (events / "20261120T10-1795000000000abcdef.open").write_bytes(b'{"messageId":"m-ok"}\n{"messageId":"m-to')
    with CollectorServer(config) as server:
        server.call(server.service.flush())
        records = read_landed(server.service.store, prefix="received_date=2026-11-20/")
    assert records == [{"messageId": "m-ok"}]


def test_two_collectors_cannot_share_a_spool(tmp_path: Path) -> None:
    config = collector_config(tmp_path, (tmp_path / "store").as_uri())
    with CollectorServer(config):
        try:
            CollectorServer(config)
        except RuntimeError as error:
            assert "another collector is using the spool directory" in str(error)
        else:
            raise AssertionError("a second collector on the same spool must be refused")
