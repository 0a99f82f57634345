"""IP addresses as the collector keeps them, edited in a message's bytes, and the policy's setting."""

import ipaddress
import os
from pathlib import Path

import orjson
import pytest

from revolt_pipeline.contract.addresses import (
    ABSENT,
    address_country,
    kept_address,
    parse_address,
    truncate_address,
    with_message_ip_kept,
)
from revolt_pipeline.contract.json_bytes import object_members, parse_strict, without_member
from revolt_pipeline.settings import IP_POLICIES, Settings, SettingsError


@pytest.mark.parametrize(
    ("sent", "truncated"),
    [
        ("203.0.113.77", "203.0.113.0"),
        (" 8.8.8.8 ", "8.8.8.0"),
        ("::ffff:8.8.4.4", "8.8.4.0"),  # an IPv4 client of a dual-stack socket is an IPv4 address
        ("2001:db8:abcd:12:34::1", "2001:db8:abcd::"),  # the first 48 bits
        ("2001:4860:4860:0:0:0:0:8888", "2001:4860:4860::"),
        ("fe80::1:2:3:4%eth0", "fe80::"),  # the zone names a host's interface: it goes too
        ("::1", "::"),
    ],
)
def test_truncation_keeps_the_network_not_the_host(sent: str, truncated: str) -> None:
    assert kept_address(sent, "truncate") == truncated
    assert kept_address(sent, "keep") == sent and kept_address(sent, "drop") is None


@pytest.mark.parametrize("text", ["", "not an address", "8.8.8.8:443", "8.8.8.8, 10.0.0.1", "999.1.1.1", "[::1]"])
def test_text_that_is_no_address_is_not_kept_when_truncating(text: str) -> None:
    """It may still hold an address (a port after it, a proxy's list): nothing of it is kept."""
    assert parse_address(text) is None and kept_address(text, "truncate") is None


def test_every_policy_the_settings_accept_is_one_the_collector_applies() -> None:
    for policy in IP_POLICIES:
        kept_address("8.8.8.8", policy)
    with pytest.raises(ValueError, match="unknown IP policy"):
        kept_address("8.8.8.8", "hash")


def test_the_ip_policy_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [name for name in os.environ if name.startswith("REVOLT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("REVOLT_HOME", str(tmp_path))
    assert Settings.from_env().ip_policy == "truncate"
    monkeypatch.setenv("REVOLT_IP_POLICY", "DROP")
    assert Settings.from_env().ip_policy == "drop"
    monkeypatch.setenv("REVOLT_IP_POLICY", "anonymize")
    with pytest.raises(SettingsError, match="REVOLT_IP_POLICY must be one of truncate, keep, drop"):
        Settings.from_env()
    monkeypatch.delenv("REVOLT_IP_POLICY")
    monkeypatch.setenv("REVOLT_SUPPRESSION_REFRESH_SECONDS", "0")
    with pytest.raises(SettingsError, match="REVOLT_SUPPRESSION_REFRESH_SECONDS must be positive"):
        Settings.from_env()


def test_the_country_is_the_full_address_blocks_and_truncation_keeps_it() -> None:
    for full, country in (("8.8.8.8", "US"), ("193.99.144.85", "DE"), ("2001:4860:4860::8888", "US")):
        assert address_country(full) == country
        assert address_country(str(truncate_address(ipaddress.ip_address(full)))) == country
    assert address_country("10.1.2.3") is None and address_country("garbage") is None


@pytest.mark.parametrize(
    ("message", "truncated", "dropped"),
    [
        (
            b'{"type":"track","context":{"ip":"8.8.8.8","os":{"name":"iOS"}},"event":"ip"}',
            b'{"type":"track","context":{"ip":"8.8.8.0","os":{"name":"iOS"}},"event":"ip"}',
            b'{"type":"track","context":{"os":{"name":"iOS"}},"event":"ip"}',
        ),
        (  # whitespace as sent, the member last
            b'{ "context" : { "a" : [1, {"ip": "x"}] ,\t"ip" : "2001:4860:4860::8888" } }',
            b'{ "context" : { "a" : [1, {"ip": "x"}] ,\t"ip" : "2001:4860:4860::" } }',
            b'{ "context" : { "a" : [1, {"ip": "x"}] } }',
        ),
        (  # the name spelled with escapes, alone in its object
            b'{"context":{"\\u0069\\u0070":"1.1.1.1"}}',
            b'{"context":{"\\u0069\\u0070":"1.1.1.0"}}',
            b'{"context":{}}',
        ),
        (  # an ip elsewhere than the context is no address of the sender's, and is left alone
            b'{"properties":{"ip":"1.1.1.1"},"context":{"locale":"en"}}',
            b'{"properties":{"ip":"1.1.1.1"},"context":{"locale":"en"}}',
            b'{"properties":{"ip":"1.1.1.1"},"context":{"locale":"en"}}',
        ),
        (  # null holds no address; a number is no address, and goes
            b'{"context":{"ip":null}}',
            b'{"context":{"ip":null}}',
            b'{"context":{"ip":null}}',
        ),
        (
            b'{"context":{"ip":134744072,"x":1}}',
            b'{"context":{"x":1}}',
            b'{"context":{"x":1}}',
        ),
    ],
)
def test_a_messages_context_ip_is_edited_in_its_bytes(message: bytes, truncated: bytes, dropped: bytes) -> None:
    assert with_message_ip_kept(message, "truncate")[0] == truncated
    assert with_message_ip_kept(message, "drop")[0] == dropped
    assert with_message_ip_kept(message, "keep")[0] == message
    for edited in (truncated, dropped):
        parse_strict(edited)  # still strict JSON


def test_the_value_as_sent_is_returned_for_the_country() -> None:
    assert with_message_ip_kept(b'{"context":{"ip":"8.8.8.8"}}', "drop")[1] == "8.8.8.8"
    assert with_message_ip_kept(b'{"context":{"locale":"en"}}', "drop")[1] is ABSENT
    assert with_message_ip_kept(b'{"context":null,"x":"ip"}', "drop")[1] is ABSENT


def test_members_are_cut_with_one_comma_wherever_they_are() -> None:
    text = b'{"a": 1, "b": {"c": 2}, "d": "e"}'
    members = object_members(text, 0)
    assert members is not None and [name for name, *_ in members] == ["a", "b", "d"]
    assert [orjson.loads(without_member(text, members, index)) for index in range(3)] == [
        {"b": {"c": 2}, "d": "e"},
        {"a": 1, "d": "e"},
        {"a": 1, "b": {"c": 2}},
    ]
    assert object_members(b'["not", "an", "object"]', 0) is None
    assert object_members(b"{ }", 0) == []
