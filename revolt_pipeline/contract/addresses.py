"""IP addresses as the collector keeps them: read in one canonical form, their country found, then truncated or dropped.

The policy (`REVOLT_IP_POLICY`): `truncate` (the default) keeps the network, not the host: the last octet of an
IPv4 address and all but the first 48 bits of an IPv6 one become zero (`203.0.113.0`, `2001:db8:1::`), as
Snowplow and Google Analytics anonymize; `keep` keeps the address as sent; `drop` keeps none. The country is found
from the full address first (`iptocc`, the Regional Internet Registries' allocations, offline), so truncation
costs reports nothing.
"""

import ipaddress
import re
from functools import lru_cache
from typing import Any

import jiter
import orjson
from iptocc import country_code

from revolt_pipeline.contract.json_bytes import object_members, without_member

KEEP, TRUNCATE, DROP = "keep", "truncate", "drop"  # the values of REVOLT_IP_POLICY (`settings.IP_POLICIES`)
_IPV4_NETWORK = int(ipaddress.IPv4Address("255.255.255.0"))
_IPV6_NETWORK = ((1 << 48) - 1) << 80

# A member named `ip`, its letters possibly written as `\u` escapes: the cheap test of whether a message may hold
# one before walking it (`properties.ip` passes too, and is then left alone).
_IP_NAME = re.compile(rb'"(?:i|\\u0069)(?:p|\\u0070)"', re.IGNORECASE)
ABSENT: Any = object()  # a context without an `ip` member

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> IPAddress | None:
    """The address `text` writes (trimmed; IPv4 mapped into IPv6, `::ffff:1.2.3.4`, as IPv4), or None."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def truncate_address(address: IPAddress) -> IPAddress:
    """The address with its host part zeroed: the last octet of IPv4, all but the first 48 bits of IPv6 (and any
    zone, `%eth0`, which names a host's interface)."""
    if isinstance(address, ipaddress.IPv4Address):
        return ipaddress.IPv4Address(int(address) & _IPV4_NETWORK)
    return ipaddress.IPv6Address(int(address) & _IPV6_NETWORK)


def kept_address(text: str, policy: str) -> str | None:
    """What the policy keeps of an address sent as `text`: None under `drop`, and under `truncate` for text that
    is no address (it could still hold one, `1.2.3.4:443` or a list of them); `keep` keeps it as sent."""
    if policy == KEEP:
        return text
    if policy == DROP:
        return None
    if policy != TRUNCATE:
        raise ValueError(f"unknown IP policy {policy!r}")
    address = parse_address(text)
    return None if address is None else str(truncate_address(address))


@lru_cache(maxsize=65536)
def address_country(text: str) -> str | None:
    """The ISO 3166-1 alpha-2 code of the country the address's block is assigned to, None when it has none
    (private, loopback, reserved ranges) or `text` is no address. The same answer as the pipeline's lookup
    (`transforms/countries.py`), which reads the same package."""
    address = parse_address(text)
    if address is None:
        return None
    code = country_code(str(address))
    return code if isinstance(code, str) else None


def may_hold_ip(document: bytes) -> bool:
    """Whether `document` may have an `ip` member anywhere: when not, it needs no walk."""
    return _IP_NAME.search(document) is not None


def with_context_ip_kept(context: bytes, start: int, policy: str) -> tuple[bytes, Any]:
    """`context` (strict JSON holding an object at `start`) with its `ip` member as the policy keeps it, and the
    member's value as sent (ABSENT when there is none). The edit is made in the bytes: the address string
    replaced, or the member cut out under `drop` (and under `truncate` when it is no address); every other byte
    stays. A `null` holds no address and stays."""
    members = object_members(context, start) or []
    for index, (name, _, value_start, value_end) in enumerate(members):
        if name != "ip":
            continue
        sent = jiter.from_json(context[value_start:value_end])
        if sent is None or policy == KEEP:
            return context, sent
        kept = kept_address(sent, policy) if isinstance(sent, str) else None
        if kept is None:
            return without_member(context, members, index), sent
        return context[:value_start] + orjson.dumps(kept) + context[value_end:], sent
    return context, ABSENT


def with_message_ip_kept(message: bytes, policy: str) -> tuple[bytes, Any]:
    """A message (strict JSON, an object) with its `context.ip` kept as the policy says, and the value as sent
    (ABSENT when its context has no `ip`)."""
    if not may_hold_ip(message):
        return message, ABSENT
    for name, _, value_start, _ in object_members(message, 0) or []:
        if name == "context":
            return with_context_ip_kept(message, value_start, policy)
    return message, ABSENT
