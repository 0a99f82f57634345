"""The admin API the pipeline relies on, the watermark's promise, and the operational endpoints."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest

from revolt_pipeline.clock import SimulatedClock
from revolt_pipeline.collector.server import CollectorServer
from revolt_pipeline.contract import format_timestamp, parse_timestamp
from revolt_pipeline.storage.layout import watermark_key
from revolt_pipeline_tests.fixtures.collector import ADMIN_TOKEN, SOURCES, CollectorHarness, collector_config

START = datetime(2026, 11, 20, 23, 58, tzinfo=UTC)


def tracks(n: int, prefix: str = "m") -> dict:
    return {"batch": [{"type": "track", "event": "e", "userId": "u", "messageId": f"{prefix}-{i}"} for i in range(n)]}


@pytest.fixture
def simulated(tmp_path: Path):
    clock = SimulatedClock(START)
    home = tmp_path / "simulated"
    home.mkdir()
    config = collector_config(home, (home / "store").as_uri(), watermark_interval_seconds=0.0)
    with CollectorServer(config, clock=clock) as server:
        yield CollectorHarness(server.url, server.service.store, config, server), clock


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/admin/flush"),
        ("GET", "/admin/landed?received_date=2026-11-20"),
        ("GET", "/admin/stats"),
        ("POST", "/admin/clock"),
    ],
)
def test_admin_endpoints_need_the_token(collector_server: CollectorHarness, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {ADMIN_TOKEN}"}):
        response = collector_server.http.request(method, collector_server.url + path, headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"


@pytest.mark.parametrize("body", [b"not json", b"[1]", b'{"now": 5}', b'{"now": "yesterday"}', b""])
def test_a_bad_clock_request_is_a_400_not_a_crash(simulated, body: bytes) -> None:
    harness, clock = simulated
    response = harness.http.post(
        harness.url + "/admin/clock", content=body, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_timestamp"
    assert clock.now() == START


def test_landed_report_counts_per_received_date_across_midnight(simulated) -> None:
    harness, clock = simulated
    assert harness.post("/v1/batch", tracks(7, "before")).status_code == 200
    harness.post("/v1/track", {"userId": "u"})  # quarantined: no event
    clock.set(START + timedelta(minutes=5))  # 00:03 the next day
    assert harness.post("/v1/batch", tracks(3, "after")).status_code == 200

    before_flush = harness.admin("GET", "/admin/landed?received_date=2026-11-20")
    assert before_flush["pending"] == {"events": 7, "quarantined": 1}
    assert before_flush["landed"] == {"events": 0, "quarantined": 0}

    harness.flush()
    day_one = harness.admin("GET", "/admin/landed?received_date=2026-11-20")
    day_two = harness.admin("GET", "/admin/landed?received_date=2026-11-21")
    assert day_one["landed"] == {"events": 7, "quarantined": 1}
    assert day_one["pending"] == {"events": 0, "quarantined": 0}
    assert day_two["landed"] == {"events": 3, "quarantined": 0}
    assert [o["key"].split("/")[1:3] for o in day_one["objects"]] == [
        ["received_date=2026-11-20", "hour=23"],
        ["received_date=2026-11-20", "hour=23"],
    ]
    assert all(o["key"].startswith("landing/received_date=2026-11-21/hour=00/") for o in day_two["objects"])


@pytest.mark.parametrize("day", ["20-11-2026", "20261120", "2026-W47-5", ""])
def test_landed_report_refuses_a_date_not_written_yyyy_mm_dd(collector_server: CollectorHarness, day: str) -> None:
    """The one documented form: Python's ISO reader would also take `20261120` and ISO weeks."""
    response = collector_server.http.get(
        collector_server.url + "/admin/landed",
        params={"received_date": day},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_date"


def test_watermark_never_passes_an_event_that_has_not_landed(simulated) -> None:
    harness, clock = simulated
    harness.post("/v1/batch", tracks(2))
    clock.set(START + timedelta(hours=2))
    # Two hours later, the events received at START are still only spooled: the watermark waits.
    assert parse_timestamp(harness.admin("GET", "/admin/stats")["watermark"]) == START
    report = harness.flush()
    assert parse_timestamp(report["watermark"]) == START + timedelta(hours=2)
    published = orjson.loads(harness.store.get(watermark_key(harness.server.collector_id)))
    assert published["watermark"] == format_timestamp(START + timedelta(hours=2))
    assert published["collectorId"] == harness.server.collector_id


def test_the_watermark_is_published_by_the_background_uploader(simulated) -> None:
    harness, clock = simulated
    clock.set(START + timedelta(minutes=1))
    key = watermark_key(harness.server.collector_id)
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while datetime.now(UTC) < deadline:
        if harness.store.exists(key) and orjson.loads(harness.store.get(key))["watermark"] == format_timestamp(
            START + timedelta(minutes=1)
        ):
            return
    raise AssertionError("the uploader did not publish the watermark")


def test_simulated_clock_moves_only_forward_and_only_when_simulated(simulated, collector_server) -> None:
    harness, _ = simulated
    later = {"now": "2026-11-21T08:00:00Z"}
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert harness.http.post(harness.url + "/admin/clock", json=later, headers=headers).json() == {
        "now": "2026-11-21T08:00:00.000Z"
    }
    back = harness.http.post(harness.url + "/admin/clock", json={"now": "2026-11-20T00:00:00Z"}, headers=headers)
    assert back.status_code == 409
    system = collector_server.http.post(collector_server.url + "/admin/clock", json=later, headers=headers)
    assert system.status_code == 409
    assert system.json()["code"] == "not_simulated"


def test_health_and_metrics(collector_server: CollectorHarness) -> None:
    collector_server.post("/v1/batch", tracks(5))
    collector_server.post("/v1/batch", b"{oops")
    collector_server.post("/v1/batch", tracks(1), key="wk_unknown")
    health = httpx.get(collector_server.url + "/health").json()
    assert health["status"] == "ok"
    assert health["spoolEvents"] == 6  # 5 events and 1 quarantined body
    metrics = httpx.get(collector_server.url + "/metrics").text
    assert 'revolt_collector_events_accepted_total{source="web"} 5.0' in metrics
    assert 'revolt_collector_events_rejected_total{reason="malformed_json"} 1.0' in metrics
    assert 'revolt_collector_events_rejected_total{reason="unknown_write_key"} 1.0' in metrics
    assert "revolt_collector_spool_events 6.0" in metrics
    assert "revolt_collector_request_bytes_total" in metrics
    assert "revolt_collector_upload_lag_seconds" in metrics
    stats = collector_server.admin("GET", "/admin/stats")
    assert stats["acceptedBySource"] == {"web": 5}
    assert stats["rejectedByReason"] == {"malformed_json": 1, "unknown_write_key": 1}


def test_a_new_source_is_picked_up_without_restart(collector_server: CollectorHarness) -> None:
    from revolt_pipeline.sources import add_source

    assert collector_server.post("/v1/batch", tracks(1), key="wk_new_app").status_code == 401
    add_source(collector_server.config.sources_file, "desktop", "desktop", "wk_new_app")
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while collector_server.post("/v1/batch", tracks(1), key="wk_new_app").status_code != 200:
        assert datetime.now(UTC) < deadline, "the collector never re-read its sources file"
    assert SOURCES  # the original sources still work
    assert collector_server.post("/v1/batch", tracks(1)).status_code == 200
