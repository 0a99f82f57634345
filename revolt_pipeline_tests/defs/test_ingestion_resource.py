"""The ingestion resource reports the same things over HTTP and in-process."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from revolt_pipeline.collector.admin_client import CollectorAdminError
from revolt_pipeline.defs.ingestion.resources import (
    CollectorResource,
    HttpCollectorResource,
    InProcessCollectorResource,
)
from revolt_pipeline_tests.fixtures.collector import ADMIN_TOKEN, CollectorHarness


@pytest.fixture(params=["http", "http_token_file", "in_process"])
def resource(request: pytest.FixtureRequest, collector_server: CollectorHarness, tmp_path: Path) -> CollectorResource:
    if request.param == "http":
        return HttpCollectorResource(url=collector_server.url, admin_token=ADMIN_TOKEN)
    if request.param == "http_token_file":
        token_file = tmp_path / "admin-token"
        token_file.write_text(ADMIN_TOKEN + "\n")
        return HttpCollectorResource(url=collector_server.url, admin_token_file=str(token_file))
    assert collector_server.server is not None
    return InProcessCollectorResource(collector_id=collector_server.server.collector_id)


def test_flush_and_landed_report_through_the_resource(
    resource: CollectorResource, collector_server: CollectorHarness
) -> None:
    batch = [{"type": "track", "event": "e", "userId": "u", "messageId": f"m{n}"} for n in range(12)]
    assert collector_server.post("/v1/batch", {"batch": [*batch, {"type": "track"}]}).status_code == 200
    today = datetime.now(UTC).date()
    before = resource.landed(today)
    assert (before.pending_events, before.landed_events, before.acknowledged_events) == (12, 0, 12)

    report = resource.flush()
    assert report.spool_events == 0
    assert sorted(o.area for o in report.uploaded) == ["landing", "quarantine"]
    after = resource.landed(today)
    assert (after.landed_events, after.landed_quarantined, after.pending_events) == (12, 1, 0)
    assert after.acknowledged_events == 12
    assert after.watermark >= report.watermark
    assert {o.key.split("/")[0] for o in after.objects} == {"landing", "quarantine"}
    assert resource.health()["status"] == "ok"
    assert resource.stats()["acceptedBySource"] == {"web": 12}


def test_the_resource_works_inside_an_asset(resource: CollectorResource, collector_server: CollectorHarness) -> None:
    @dg.asset
    def flushed(collector: CollectorResource) -> int:
        return len(collector.flush().uploaded)

    collector_server.post("/v1/batch", {"batch": [{"type": "identify", "userId": "u"}]})
    result = dg.materialize([flushed], resources={"collector": resource})
    assert result.success
    assert result.output_for_node("flushed") == 1


def test_unreachable_or_unauthorized_collectors_fail_clearly(
    tmp_path: Path, collector_server: CollectorHarness
) -> None:
    with pytest.raises(CollectorAdminError, match="answered 401"):
        HttpCollectorResource(url=collector_server.url, admin_token="wrong").flush()
    with pytest.raises(CollectorAdminError, match="cannot reach the collector"):
        HttpCollectorResource(url="http://127.0.0.1:9", admin_token="x", timeout_seconds=2).flush()
    with pytest.raises(CollectorAdminError, match="needs admin_token"):
        HttpCollectorResource(url=collector_server.url).flush()
    with pytest.raises(CollectorAdminError, match="cannot read the admin token file"):
        HttpCollectorResource(url=collector_server.url, admin_token_file=str(tmp_path / "missing")).flush()
    with pytest.raises(LookupError, match="no collector 'elsewhere' runs in this process"):
        InProcessCollectorResource(collector_id="elsewhere").flush()


def test_the_code_location_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVOLT_HOME", str(tmp_path))
    monkeypatch.setenv("REVOLT_COLLECTOR_URL", "http://127.0.0.1:18088")
    import importlib

    import revolt_pipeline.definitions as definitions

    defs = importlib.reload(definitions).defs
    collector = defs.resources["collector"]
    assert isinstance(collector, HttpCollectorResource)
    assert collector.url == "http://127.0.0.1:18088"
    # The embedded default's token stays in its file: the resource (and so Dagster's UI) holds the path.
    assert collector.admin_token is None
    assert collector.admin_token_file == str(tmp_path / "admin-token")
    assert (tmp_path / "admin-token").stat().st_mode & 0o777 == 0o600
