"""The collector records the sender's address beside each message (`clientIp`), as Segment's API fills
`context.ip`: the peer's, or the client a trusted proxy names in X-Forwarded-For, and never what an untrusted
peer claims."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from revolt_pipeline.collector.ingest import client_address
from revolt_pipeline.collector.server import CollectorServer
from revolt_pipeline_tests.fixtures.collector import CollectorHarness, collector_config

MESSAGE = {"type": "track", "event": "Opened", "userId": "u1", "messageId": "m1"}


def serve(tmp_path: Path, trusted_proxies: str) -> Iterator[CollectorHarness]:
    # Addresses as received (REVOLT_IP_POLICY=keep): what the default truncates is tested in test_privacy.py.
    config = collector_config(
        tmp_path, (tmp_path / "store").as_uri(), trusted_proxies=trusted_proxies, ip_policy="keep"
    )
    with CollectorServer(config) as server:
        harness = CollectorHarness(server.url, server.service.store, config, server)
        yield harness
        harness.http.close()


@pytest.fixture
def behind_local_proxy(tmp_path: Path) -> Iterator[CollectorHarness]:
    """A collector that believes X-Forwarded-For from 127.0.0.1, a proxy on the same host (the default)."""
    yield from serve(tmp_path, "127.0.0.1,::1")


@pytest.fixture
def trusting_nobody(tmp_path: Path) -> Iterator[CollectorHarness]:
    yield from serve(tmp_path, "none")


def landed_client_ips(collector: CollectorHarness, forwarded: list[str | None]) -> list[str | None]:
    for number, header in enumerate(forwarded):
        headers = {"X-Forwarded-For": header} if header is not None else {}
        response = collector.post("/v1/track", {**MESSAGE, "messageId": f"m{number}"}, headers=headers)
        assert response.status_code == 200, response.text
    collector.flush()
    return [record["clientIp"] for record in sorted(collector.landed(), key=lambda r: r["messageId"])]


def test_the_peer_address_is_recorded_and_a_trusted_proxy_names_the_client(behind_local_proxy) -> None:
    assert landed_client_ips(
        behind_local_proxy,
        [
            None,  # no proxy: the peer itself
            "8.8.8.8",  # the proxy on this host names the client
            "1.2.3.4, 8.8.8.8",  # the client claimed 1.2.3.4 itself: the proxy's own entry, the rightmost, wins
            "not-an-address",  # a proxy passing garbage: no address rather than text
        ],
    ) == ["127.0.0.1", "8.8.8.8", "8.8.8.8", None]


def test_an_untrusted_peer_cannot_claim_an_address(trusting_nobody) -> None:
    assert landed_client_ips(trusting_nobody, [None, "8.8.8.8"]) == ["127.0.0.1", "127.0.0.1"]


def test_client_addresses_are_kept_in_one_canonical_form() -> None:
    assert client_address("::ffff:8.8.8.8") == "8.8.8.8"  # a dual-stack socket's IPv4 client
    assert client_address("2001:4860:4860:0:0:0:0:8888") == "2001:4860:4860::8888"
    assert client_address(" 8.8.8.8 ") == "8.8.8.8"
    assert client_address("") is None and client_address(None) is None and client_address("8.8.8.8:443") is None
