"""The public segment-analytics-python SDK, pointed at our collector, delivers events unchanged."""

from datetime import UTC, datetime

from segment.analytics import Client as SegmentClient

from revolt_pipeline.contract.envelope import epoch_ms
from revolt_pipeline_tests.fixtures.collector import SOURCES, CollectorHarness


def test_segment_sdk_events_land_correctly(collector_server: CollectorHarness) -> None:
    errors: list[Exception] = []
    client = SegmentClient(
        write_key=SOURCES["backend"][1],
        host=collector_server.url,
        gzip=True,
        on_error=lambda error, batch: errors.append(error),
        upload_interval=0.1,
    )
    when = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    client.identify("user-1", {"email": "ada@example.com", "plan": "team"}, timestamp=when)
    client.track("user-1", "Timer Started", {"project": "apollo", "billable": True}, timestamp=when)
    client.page("user-1", "Docs", "Getting Started", {"path": "/docs/start"}, timestamp=when)
    client.screen("user-1", "Timer", "Running", {"seconds": 12}, timestamp=when)
    client.track(anonymous_id="anon-9", event="Signup Viewed", properties={"variant": "b"})
    client.flush()
    client.shutdown()
    assert errors == []

    collector_server.flush()
    landed = {
        record["type"] + ":" + str(record["message"].get("event", "")): record for record in collector_server.landed()
    }
    assert sorted(landed) == ["identify:", "page:", "screen:", "track:Signup Viewed", "track:Timer Started"]
    track = landed["track:Timer Started"]
    assert track["message"]["properties"] == {"project": "apollo", "billable": True}
    assert track["message"]["userId"] == "user-1"
    assert track["message"]["context"]["library"]["name"] == "analytics-python"
    assert track["source"] == "backend" and track["platform"] == "server"
    assert "writeKey" not in track["message"]
    # The SDK sends `timestamp` (server-side): it is the event time, corrected by the batch's sentAt.
    assert track["originalTimestamp"] == epoch_ms(when)
    assert abs(track["timestamp"] - track["originalTimestamp"]) < 60_000
    assert landed["identify:"]["message"]["traits"]["plan"] == "team"
    assert landed["page:"]["message"]["name"] == "Getting Started"
    assert landed["screen:"]["message"]["properties"] == {"seconds": 12}
    assert landed["track:Signup Viewed"]["message"]["anonymousId"] == "anon-9"
    assert len({record["messageId"] for record in landed.values()}) == 5
