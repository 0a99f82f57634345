"""CORS on the ingest paths and the Segment settings document, against a real `revolt collector serve`."""

import base64
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from revolt_pipeline.collector.routes.browser import INGEST_PATHS
from revolt_pipeline.sources import add_source
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import QUARANTINE
from revolt_pipeline_tests.fixtures.collector import ADMIN_TOKEN, SOURCES, CollectorProcess, read_landed, write_sources

pytestmark = pytest.mark.services

WEB_KEY = SOURCES["web"][1]
IOS_KEY = SOURCES["ios"][1]
SHOP_KEY = "wk_shop_test"
SHOP = "https://shop.example.com"
ELSEWHERE = "https://elsewhere.example.org"
# What analytics-next asks for on a retried event: its Authorization and X-Retry-Count are not safelisted.
SDK_PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,x-retry-count",
}


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    """One collector for the module: the usual sources (web allows any origin) and a web shop restricted to its own."""
    home = tmp_path_factory.mktemp("cors")
    write_sources(home / "sources.toml")
    add_source(home / "sources.toml", "shop", "web", SHOP_KEY, [SHOP, "https://*.shop.example.com"])
    process = CollectorProcess(home).start()
    yield process
    process.stop()


def track(event: str = "Timer Started") -> bytes:
    return orjson.dumps({"type": "track", "event": event, "userId": "user-1", "messageId": f"m-{event}"})


def post(collector: CollectorProcess, path: str, body: bytes, key: str | None, origin: str | None) -> httpx.Response:
    headers = {"Content-Type": "text/plain"} | ({"Origin": origin} if origin else {})
    return httpx.post(collector.url + path, content=body, auth=(key, "") if key else None, headers=headers)


def vary(response: httpx.Response) -> set[str]:
    return {value.strip().lower() for value in response.headers.get("vary", "").split(",")}


@pytest.mark.parametrize("path", sorted(INGEST_PATHS))
def test_every_ingest_path_answers_the_sdk_preflight(collector: CollectorProcess, path: str) -> None:
    response = httpx.options(collector.url + path, headers={"Origin": ELSEWHERE, **SDK_PREFLIGHT})

    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ELSEWHERE
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = {name.strip().lower() for name in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "content-encoding", "x-retry-count"} <= allowed
    assert int(response.headers["access-control-max-age"]) > 0
    assert "origin" in vary(response)


@pytest.mark.parametrize(
    ("path", "body", "key", "status"),
    [
        ("/v1/batch", orjson.dumps({"batch": [orjson.loads(track())]}), WEB_KEY, 200),
        ("/v1/t", track(), WEB_KEY, 200),
        ("/v1/track", b'{"event": ', WEB_KEY, 400),
        ("/v1/batch", orjson.dumps({"batch": [orjson.loads(track())]}), "wk_nobody_here", 401),
        ("/v1/p", b"x" * (600 * 1024), WEB_KEY, 413),
    ],
)
def test_every_answer_to_an_allowed_origin_can_be_read_by_the_page(
    collector: CollectorProcess, path: str, body: bytes, key: str, status: int
) -> None:
    response = post(collector, path, body, key, ELSEWHERE)

    assert response.status_code == status
    assert response.headers["access-control-allow-origin"] == ELSEWHERE
    assert "origin" in vary(response)
    assert "retry-after" in response.headers["access-control-expose-headers"].lower()


def test_a_source_keeps_the_origins_it_allows(collector: CollectorProcess) -> None:
    for origin in (SHOP, "https://eu.shop.example.com"):
        response = post(collector, "/v1/t", track(), SHOP_KEY, origin)
        assert response.status_code == 200, response.text
        assert response.headers["access-control-allow-origin"] == origin


def test_a_source_refuses_another_origin_and_quarantines_what_it_sent(collector: CollectorProcess) -> None:
    body = track("Sent From A Forgotten Origin")
    response = post(collector, "/v1/t", body, SHOP_KEY, ELSEWHERE)

    assert response.status_code == 403
    assert response.json()["code"] == "origin_not_allowed" and ELSEWHERE in response.json()["message"]
    # Readable by the page, so the SDK drops it instead of retrying a network error.
    assert response.headers["access-control-allow-origin"] == ELSEWHERE
    httpx.post(collector.url + "/admin/flush", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).raise_for_status()
    store = ObjectStore((collector.home / "store").as_uri())
    quarantined = [record for record in read_landed(store, QUARANTINE) if record["reason"] == "origin_not_allowed"]
    assert len(quarantined) == 1
    assert quarantined[0]["source"] == "shop" and ELSEWHERE in quarantined[0]["detail"]
    assert base64.b64decode(quarantined[0]["rawBodyBase64"]) == body


def test_apps_send_no_origin_and_are_not_checked_but_a_page_using_their_key_is(collector: CollectorProcess) -> None:
    assert post(collector, "/v1/t", track(), IOS_KEY, None).status_code == 200
    assert post(collector, "/v1/t", track(), SHOP_KEY, None).status_code == 200
    refused = post(collector, "/v1/t", track(), IOS_KEY, ELSEWHERE)
    assert refused.status_code == 403 and refused.json()["code"] == "origin_not_allowed"


def test_a_plain_options_request_is_not_a_preflight(collector: CollectorProcess) -> None:
    response = httpx.options(collector.url + "/v1/batch")
    assert response.status_code == 204 and "POST" in response.headers["allow"]
    assert "access-control-allow-origin" not in response.headers


def test_an_origin_no_source_allows_gets_no_cors_answer(
    tmp_path: Path, collector_process: Callable[..., CollectorProcess]
) -> None:
    add_source(tmp_path / "sources.toml", "shop", "web", SHOP_KEY, [SHOP])
    add_source(tmp_path / "sources.toml", "ios", "ios", IOS_KEY)
    restricted = collector_process(tmp_path)

    refused = httpx.options(restricted.url + "/v1/batch", headers={"Origin": ELSEWHERE, **SDK_PREFLIGHT})
    assert refused.status_code == 403 and refused.json()["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in refused.headers
    allowed = httpx.options(restricted.url + "/v1/batch", headers={"Origin": SHOP, **SDK_PREFLIGHT})
    assert allowed.status_code == 204 and allowed.headers["access-control-allow-origin"] == SHOP
    answer = post(restricted, "/v1/t", track(), SHOP_KEY, ELSEWHERE)
    assert answer.status_code == 403 and "access-control-allow-origin" not in answer.headers


def test_the_settings_document_points_segment_sdks_at_this_collector(collector: CollectorProcess) -> None:
    response = httpx.get(f"{collector.url}/v1/projects/{WEB_KEY}/settings", headers={"Origin": ELSEWHERE})

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ELSEWHERE and "origin" in vary(response)
    assert response.headers["cache-control"].startswith("private")  # derived from the Host header
    settings = response.json()
    segment = settings["integrations"]["Segment.io"]
    assert segment["apiKey"] == WEB_KEY
    assert (segment["apiHost"], segment["protocol"]) == (f"127.0.0.1:{collector.port}/v1", "http")
    assert list(settings["integrations"]) == ["Segment.io"]  # no device-mode destination to download
    assert settings["metrics"]["sampleRate"] == 0  # no telemetry to Segment
    assert settings["remotePlugins"] == [] and settings["enabledMiddleware"] == {}
    for name in ("plan", "edgeFunction", "middlewareSettings", "metrics"):  # objects, as analytics-kotlin decodes them
        assert isinstance(settings[name], dict)


def test_the_settings_document_follows_the_host_and_scheme_the_app_used(collector: CollectorProcess) -> None:
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1 (FORWARDED_ALLOW_IPS), as from a TLS proxy in front.
    headers = {"Host": "events.example.com", "X-Forwarded-Proto": "https"}
    response = httpx.get(f"{collector.url}/v1/projects/{IOS_KEY}/settings", headers=headers)
    segment = response.json()["integrations"]["Segment.io"]
    assert (segment["apiHost"], segment["protocol"]) == ("events.example.com/v1", "https")

    assert httpx.get(f"{collector.url}/v1/projects/{IOS_KEY}/settings", headers={"Host": "a b"}).status_code == 400


@pytest.mark.parametrize("key", ["wk_nobody_here", "wk_%F0%9F%98%80_emoji", "short", "x" * 129])
def test_the_settings_of_an_unknown_write_key_are_not_found(collector: CollectorProcess, key: str) -> None:
    response = httpx.get(f"{collector.url}/v1/projects/{key}/settings", headers={"Origin": ELSEWHERE})
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "code": "unknown_write_key",
        "message": "the write key is not configured for any source",
    }
    assert response.headers["access-control-allow-origin"] == ELSEWHERE


def test_a_public_url_fixes_the_settings_host_for_every_client(
    tmp_path: Path, collector_process: Callable[..., CollectorProcess]
) -> None:
    public = collector_process(tmp_path, env={"REVOLT_COLLECTOR_PUBLIC_URL": "https://events.example.com/collect/"})
    response = httpx.get(f"{public.url}/v1/projects/{WEB_KEY}/settings", headers={"Host": "attacker.example"})
    segment = response.json()["integrations"]["Segment.io"]
    assert (segment["apiHost"], segment["protocol"]) == ("events.example.com/collect/v1", "https")
    assert response.headers["cache-control"].startswith("public")


def test_a_malformed_public_url_stops_the_collector_with_the_reason(tmp_path: Path) -> None:
    write_sources(tmp_path / "sources.toml")
    env = CollectorProcess(tmp_path, {"REVOLT_COLLECTOR_PUBLIC_URL": "events.example.com"}).env
    result = subprocess.run(
        [sys.executable, "-m", "revolt_pipeline.cli", "collector", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "REVOLT_COLLECTOR_PUBLIC_URL must be http(s)://host" in result.stderr
