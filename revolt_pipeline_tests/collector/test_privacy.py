"""The collector's part of privacy (docs/privacy.md): events of deleted ids never land, and IP addresses are kept
only as the policy says, their country found from the full address first.

Deleted ids are on the suppression list in the store as pseudonyms; the collector drops (and counts) their new
events, answers them as accepted, re-reads the list while it runs, and drops what its spool still held of them as
it lands. Every test runs a real collector over HTTP on 127.0.0.1.
"""

import contextlib
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from revolt_pipeline.collector.server import CollectorServer
from revolt_pipeline.contract.pseudonyms import pseudonym
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import QUARANTINE
from revolt_pipeline.storage.suppression import SUPPRESSION_KEY, suppress
from revolt_pipeline.transforms.engine import duckdb_connection, parquet
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.fixtures.collector import (
    ADMIN_TOKEN,
    SOURCES,
    CollectorHarness,
    CollectorProcess,
    collector_config,
    read_landed,
)
from revolt_pipeline_tests.fixtures.s3 import S3Bucket

SALT = "a-test-privacy-salt"


@contextlib.contextmanager
def serve(tmp_path: Path, storage_url: str | None = None, **overrides: Any) -> Iterator[CollectorHarness]:
    """A collector on a thread with a privacy salt; `overrides` are CollectorConfig fields."""
    options: dict[str, Any] = {"privacy_salt": SALT, **overrides}
    config = collector_config(tmp_path, storage_url or (tmp_path / "store").as_uri(), **options)
    with CollectorServer(config) as server:
        harness = CollectorHarness(server.url, server.service.store, config, server)
        try:
            yield harness
        finally:
            harness.http.close()


def suppress_ids(store: ObjectStore, *ids: str) -> None:
    suppress(store, [pseudonym(SALT, identifier) for identifier in ids])


def track(message_id: str, **ids: Any) -> dict[str, Any]:
    return {"type": "track", "event": "Entry Saved", "messageId": message_id, **ids}


def landed_ids(records: list[dict[str, Any]]) -> list[str]:
    return sorted(record["messageId"] for record in records)


def stats(collector: CollectorHarness) -> dict[str, Any]:
    return collector.admin("GET", "/admin/stats")


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the collector did not get there in time"
        time.sleep(0.05)


# -- the suppression list -----------------------------------------------------------------------------------


def test_messages_of_suppressed_ids_are_dropped_counted_and_answered_as_accepted(tmp_path: Path) -> None:
    store = ObjectStore((tmp_path / "store").as_uri())
    suppress_ids(store, "user-gone", "anon-gone", "42")
    with serve(tmp_path) as collector:
        batch = [
            track("m1", userId="user-gone"),
            {"type": "page", "name": "Home", "messageId": "m2", "anonymousId": "anon-gone"},
            {"type": "alias", "messageId": "m3", "previousId": "user-gone", "userId": "user-renamed"},
            {"type": "identify", "messageId": "m4", "userId": 42},  # a numeric id is the same id as its text
            {"type": "track", "messageId": "m5", "userId": "user-gone"},  # invalid, and still not kept
            track("m6", userId="user-kept", anonymousId="anon-gone-not"),
            {"type": "track", "messageId": "m7", "userId": "user-kept"},  # invalid: quarantined as usual
        ]
        response = collector.post("/v1/batch", {"batch": batch})
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == 6 and [entry["index"] for entry in response.json()["rejected"]] == [6]
        # A request holding nothing but a suppressed message is answered like any accepted one.
        alone = collector.post("/v1/track", track("m8", userId="user-gone"))
        assert (alone.status_code, alone.json()) == (200, {"success": True, "accepted": 1})

        collector.flush()
        assert landed_ids(collector.landed()) == ["m6"]
        assert [record["payload"]["messageId"] for record in collector.landed(QUARANTINE)] == ["m7"]
        counts = stats(collector)
        assert counts["suppressedByStage"] == {"received": 6, "spooled": 0}
        assert counts["suppression"]["entries"] == 3 and counts["suppression"]["lastReadError"] is None
        metrics = collector.http.get(collector.url + "/metrics").text
        assert 'revolt_collector_events_suppressed_total{stage="received"} 6.0' in metrics
        assert "revolt_collector_suppression_entries 3.0" in metrics
        assert counts["acceptedBySource"] == {"web": 1}


def test_the_list_is_read_again_while_the_collector_runs(tmp_path: Path, s3_bucket: S3Bucket) -> None:
    with serve(
        tmp_path, s3_bucket.url("lake"), endpoint_url=s3_bucket.endpoint_url, suppression_refresh_seconds=0.2
    ) as (collector):
        assert collector.post("/v1/track", track("before", userId="user-1")).status_code == 200
        collector.flush()
        suppress_ids(collector.store, "user-1")
        wait_until(lambda: stats(collector)["suppression"]["entries"] == 1)
        assert collector.post("/v1/track", track("after", userId="user-1")).status_code == 200
        collector.flush()
        assert landed_ids(collector.landed()) == ["before"]  # what landed before the deletion is the deletion's
        assert stats(collector)["suppressedByStage"]["received"] == 1


def test_spooled_events_of_a_newly_suppressed_id_do_not_land(tmp_path: Path) -> None:
    with serve(tmp_path, suppression_refresh_seconds=3600.0) as collector:
        batch = [track(f"a{n}", userId="user-a") for n in range(3)] + [
            track(f"b{n}", anonymousId="anon-b") for n in range(2)
        ]
        assert collector.post("/v1/batch", {"batch": batch}).status_code == 200
        suppress_ids(collector.store, "user-a")  # a deletion, while the events wait in the spool
        report = collector.flush()  # what a deletion calls next: the list is read again before anything lands
        assert report["suppression"]["entries"] == 1 and report["suppression"]["droppedFromSpool"] == 3
        assert landed_ids(collector.landed()) == ["b0", "b1"]
        today = datetime.now(UTC).date().isoformat()
        assert collector.admin("GET", f"/admin/landed?received_date={today}")["landed"]["events"] == 2
        assert stats(collector)["suppressedByStage"] == {"received": 0, "spooled": 3}


def test_events_spooled_before_a_crash_are_checked_against_the_list_when_they_land(
    tmp_path: Path, collector_process: Callable[..., CollectorProcess]
) -> None:
    env = {"REVOLT_PRIVACY_SALT": SALT, "REVOLT_SUPPRESSION_REFRESH_SECONDS": "3600"}
    collector = collector_process(env=env)
    batch = [track("a1", userId="user-a"), track("b1", userId="user-b")]
    response = httpx.post(
        collector.url + "/v1/batch", content=orjson.dumps({"batch": batch}), auth=(SOURCES["web"][1], "")
    )
    assert response.status_code == 200
    collector.kill()
    store = ObjectStore((tmp_path / "store").as_uri())
    suppress_ids(store, "user-a")
    restarted = collector_process(env=env)
    httpx.post(restarted.url + "/admin/flush", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)
    assert landed_ids(read_landed(store)) == ["b1"]


def test_an_unreadable_list_keeps_the_last_one_and_degrades_health(tmp_path: Path) -> None:
    store = ObjectStore((tmp_path / "store").as_uri())
    suppress_ids(store, "user-a")
    with serve(tmp_path, suppression_refresh_seconds=0.2) as collector:
        store.put(SUPPRESSION_KEY, b'{"pseudonyms": ["user-b in clear"]}')
        wait_until(lambda: stats(collector)["suppression"]["lastReadError"] is not None)
        health = collector.http.get(collector.url + "/health")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert [problem["code"] for problem in health.json()["problems"]] == ["suppression_list_unread"]
        assert collector.post("/v1/track", track("a1", userId="user-a")).status_code == 200  # still suppressed
        assert collector.post("/v1/track", track("b1", userId="user-b")).status_code == 200
        collector.flush()
        assert landed_ids(collector.landed()) == ["b1"]
        assert "revolt_collector_suppression_read_errors_total" in collector.http.get(collector.url + "/metrics").text

        store.delete(SUPPRESSION_KEY)
        suppress_ids(store, "user-a", "user-b")
        wait_until(lambda: stats(collector)["suppression"]["entries"] == 2)
        assert stats(collector)["suppression"]["lastReadError"] is None
        assert collector.http.get(collector.url + "/health").json()["status"] == "ok"


def test_nothing_lands_before_the_list_was_read_once_yet_events_are_accepted(tmp_path: Path) -> None:
    store = ObjectStore((tmp_path / "store").as_uri())
    store.put(SUPPRESSION_KEY, b"not json")  # e.g. a half-restored backup
    with serve(tmp_path, suppression_refresh_seconds=3600.0) as collector:
        assert collector.post("/v1/track", track("b1", userId="user-b")).status_code == 200
        refused = collector.http.post(
            collector.url + "/admin/flush", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert refused.status_code == 503 and "suppression list" in refused.json()["message"]
        assert collector.landed() == []
        assert collector.http.get(collector.url + "/health").json()["status"] == "degraded"
        store.delete(SUPPRESSION_KEY)  # no list at all: no one is suppressed
        collector.flush()
        assert landed_ids(collector.landed()) == ["b1"]


# -- IP addresses -------------------------------------------------------------------------------------------

# Each address and the country iptocc assigns its block to; each truncated address stays in the same block.
US_V4, US_V6, DE_V4, JP_V4, AU_V4 = "8.8.8.8", "2001:4860:4860::8888", "193.99.144.85", "133.1.1.1", "1.1.1.1"


def post_addresses(collector: CollectorHarness) -> None:
    """A batch with a context.ip per message (one spelled with escapes) and one for the batch, from DE behind
    the local proxy; then a message that has none, and a refused message that has one."""
    body = (
        b'{"batch": ['
        b'{"type":"track","event":"A","messageId":"m1","userId":"u","context":{"ip": "8.8.8.8", "locale":"en-US"}},'
        b'{"type":"track","event":"A","messageId":"m2","userId":"u","context":{"ip":"2001:4860:4860::8888"}},'
        b'{"type":"track","event":"A","messageId":"m3","userId":"u"},'
        b'{"type":"track","event":"A","messageId":"m4","userId":"u","context":{"locale":"en","\\u0069p":"1.1.1.1"}},'
        b'{"type":"track","event":"A","messageId":"m5","userId":"u","context":{"ip":"8.8.8.8:443"}},'
        b'{"type":"track","messageId":"m6","userId":"u","context":{"ip":"8.8.8.8"}}'
        b'], "context": {"ip": "133.1.1.1"}}'
    )
    headers = {"X-Forwarded-For": DE_V4}
    assert collector.post("/v1/batch", body, headers=headers).status_code == 200
    assert collector.post("/v1/track", track("m7", userId="u"), headers=headers).status_code == 200
    collector.flush()


def by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {record["messageId"]: record for record in records}


def test_addresses_are_truncated_by_default_and_their_country_found_from_the_full_address(tmp_path: Path) -> None:
    with serve(tmp_path) as collector:
        post_addresses(collector)
        landed = by_id(collector.landed())
        quarantined = collector.landed(QUARANTINE)
        lines = [orjson.dumps(record) for record in landed.values()]
    ips = {key: record["message"].get("context", {}).get("ip") for key, record in landed.items()}
    assert ips == {"m1": "8.8.8.0", "m2": "2001:4860:4860::", "m3": None, "m4": "1.1.1.0", "m5": None, "m7": None}
    assert {key: record["ipCountry"] for key, record in landed.items()} == {
        "m1": "US",
        "m2": "US",
        "m3": "JP",  # the batch's context.ip, which the message's context inherits
        "m4": "AU",
        "m5": None,  # text that is no address: dropped, and no country
        "m7": "DE",  # no context.ip: the address the request came from
    }
    assert landed["m1"]["message"]["context"] == {"ip": "8.8.8.0", "locale": "en-US"}
    assert "ip" not in landed["m5"]["message"]["context"]
    assert {record["clientIp"] for record in landed.values()} == {"193.99.144.0"}
    assert landed["m1"]["batchContext"] == {"ip": "133.1.1.0"}
    assert quarantined[0]["payload"]["context"] == {"ip": "8.8.8.0"}
    for full in (US_V4, US_V6, DE_V4, JP_V4, AU_V4):
        assert not any(full.encode() in line for line in lines)

    # The raw layer's message holds no full address either, and cleaning keeps each event's country.
    day = datetime.now(UTC).date()
    builder = DayBuilder(collector.store, PipelineRules(), tmp_path / "work")
    (tmp_path / "work").mkdir()
    raw = builder.raw_days([day])[0]
    cleaned = builder.event_days([day]).cleaned[0]
    with duckdb_connection() as connection:
        messages = connection.execute(f"SELECT message FROM {parquet(raw.raw_path)}").fetchall()
        events = connection.execute(
            f"SELECT message_id, ip, country, country_method FROM {parquet(cleaned.events_path)} ORDER BY 1"
        ).fetchall()
    assert len(messages) == 6 and not any(full in text for (text,) in messages for full in (US_V4, US_V6, AU_V4))
    assert events == [
        ("m1", "8.8.8.0", "US", "ip"),
        ("m2", "2001:4860:4860::", "US", "ip"),
        ("m3", "133.1.1.0", "JP", "ip"),
        ("m4", "1.1.1.0", "AU", "ip"),
        # Its own context.ip, no address, was dropped: the batch's shows through, as it does for m3.
        ("m5", "133.1.1.0", "JP", "ip"),
        ("m7", "193.99.144.0", "DE", "ip"),
    ]


@pytest.mark.parametrize("policy", ["drop", "keep"])
def test_addresses_dropped_or_kept_as_the_policy_says_with_their_country(tmp_path: Path, policy: str) -> None:
    with serve(tmp_path, ip_policy=policy) as collector:
        post_addresses(collector)
        landed = by_id(collector.landed())
    countries = {key: record["ipCountry"] for key, record in landed.items()}
    assert countries == {"m1": "US", "m2": "US", "m3": "JP", "m4": "AU", "m5": None, "m7": "DE"}
    ips = {key: record["message"].get("context", {}).get("ip") for key, record in landed.items()}
    if policy == "drop":
        assert ips == {"m1": None, "m2": None, "m3": None, "m4": None, "m5": None, "m7": None}
        assert landed["m1"]["message"]["context"] == {"locale": "en-US"}
        assert {record["clientIp"] for record in landed.values()} == {None}
        assert landed["m1"]["batchContext"] == {}
    else:
        assert ips == {"m1": US_V4, "m2": US_V6, "m3": None, "m4": AU_V4, "m5": "8.8.8.8:443", "m7": None}
        assert {record["clientIp"] for record in landed.values()} == {DE_V4}
        assert landed["m1"]["batchContext"] == {"ip": JP_V4}
