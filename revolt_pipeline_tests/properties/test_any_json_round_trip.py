"""Property: whatever JSON a client sends, nothing breaks between the collector and the report tables.

Hypothesis writes requests the way unusual or hostile clients do (see `json_text.py`): arbitrary
values, property and trait names (NUL, over 255 characters, escapes, outside the BMP), nesting far
past parser limits, duplicate keys, lone surrogates and invalid UTF-8, number spellings libraries
rewrite, whitespace and line breaks between tokens, gzip (one member, split in two members, two
documents, trailing garbage), the write key as HTTP Basic user or in the body. Through a real
collector on a simulated clock, then the real pipeline over the day:

- the collector answers a documented 2xx or 4xx, never 5xx;
- an accepted message is I-JSON and valid by the contract's JSON Schema, and a valid message in a
  well-formed request is accepted;
- every accepted message lands once, byte for byte as sent, but for what the contract lists: a
  single message is its object without the whitespace around it, with `"type":"<endpoint>",` put
  in when it has none; `writeKey` members are cut out at any depth (with one comma), the sender's
  key inside other strings is replaced by a marker, and CR or LF between tokens is stored as a
  space. The message is read from its line by `messageBytes`, as the pipeline does; the batch's
  context lands with the same edits, and so does a refused message in the quarantine;
- the write key is stored nowhere, landed or quarantined; refused input from a known source is
  quarantined;
- the day's raw, cleaned and report runs succeed with every asset check passing (schema drift aside).
"""

import base64
import gzip
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st

from revolt_pipeline.contract import MESSAGE_TYPES
from revolt_pipeline.contract.openapi import openapi_document
from revolt_pipeline_tests.contract.schemas import contract_validator
from revolt_pipeline_tests.fixtures.collector import SOURCES
from revolt_pipeline_tests.pipeline.harness import Pipeline, pipeline_environment, running_pipeline
from revolt_pipeline_tests.properties.json_text import (
    Members,
    Number,
    Raw,
    Style,
    Text,
    Value,
    broken_texts,
    deep_recursion,
    deeply_nested,
    depth,
    hostile_texts,
    json_values,
    names,
    objects,
    parse_strict,
    plain_texts,
    pruned,
    serialize,
    styles,
    top_level_member,
    without_members,
)

# CI's budget; REVOLT_PROPERTY_EXAMPLES=2000 with --hypothesis-seed=N looks further before a release.
EXAMPLES = int(os.environ.get("REVOLT_PROPERTY_EXAMPLES", "500"))
DAY = date(2026, 11, 20)
RECEIVED = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
WEB_KEY = SOURCES["web"][1]
# What the sender's key becomes where it is still written in a string (docs/event-contract.md, Write keys).
REDACTED = b"[redacted write key]"


def spelled(text: str) -> re.Pattern[bytes]:
    """`text` as JSON may write it: each character itself, or `\\u00hh` with hex digits in either case."""

    def either(char: str) -> str:
        digits = "".join(f"[{digit}{digit.upper()}]" if digit.isalpha() else digit for digit in f"{ord(char):02x}")
        return f"(?:{re.escape(char)}|\\\\u00{digits})"

    return re.compile("".join(map(either, text)).encode())


KEY_AS_WRITTEN = spelled(WEB_KEY)
# docs/event-contract.md: values at most 199 levels deep, the message being level 1 (`depth` counts from 0).
MAX_LEVELS = 199
# The answers the OpenAPI description documents for ingestion (503 needs a failing spool).
DOCUMENTED = {int(code) for code in openapi_document()["components"]["pathItems"]["IngestBatch"]["post"]["responses"]}
OFFSETS = [0, 0, 120, -300, 345, -720]  # minutes
SHORT_PATHS = {"batch": "b", "track": "t", "identify": "i", "page": "p", "screen": "s", "group": "g", "alias": "a"}
DEFECTS = [
    "drop_identity",
    "unknown_type",
    "float_id",
    "duplicate_member",
    "broken_text",
    "deep",
    "nested_write_key",
    "write_key",
    "key_in_text",
    "oversized",
    "not_an_object",
]
AUTHS = ["basic", "basic", "basic", "body", "basic_and_body", "unknown", "none", "bearer"]
ENCODINGS = [
    "identity",
    "identity",
    "identity",
    "gzip",
    "gzip",
    "gzip",
    "gzip_split",
    "gzip_two_documents",
    "gzip_trailing_garbage",
    "unsupported",
]

MESSAGE_SCHEMA = contract_validator("segment-message.schema.json")


# -- what a test request is made of ---------------------------------------------------------------


class MessageIdSlot:
    """Where a message's messageId goes: filled at send time, so ids stay unique across examples."""


MESSAGE_ID = MessageIdSlot()


@dataclass(frozen=True)
class Plan:
    endpoint: str  # "batch" or a message type
    short_path: bool
    messages: tuple[Members | Value, ...]
    envelope: tuple[tuple[str, Value], ...]  # batch members besides "batch"
    duplicate_batch: bool
    style: Style
    auth: str  # one of AUTHS
    encoding: str  # identity, gzip, gzip_split, gzip_two_documents, gzip_trailing_garbage, unsupported
    encoding_header: str | None
    padding: tuple[bytes, bytes]  # whitespace around a single message's body
    split_at: float


@dataclass
class Sent:
    """One message as it went over the wire, and what the contract makes of it."""

    data: bytes
    kind: str  # the endpoint's type for single messages, else "batch"
    value: Any = None
    i_json: bool = False
    within_depth: bool = False
    valid: bool = False

    def __post_init__(self) -> None:
        try:
            self.value = parse_strict(self.data)
            parse_strict(as_stored(self.data))  # the marker in place of the key may make two names one
        except (ValueError, RecursionError):  # not I-JSON, or nested past what Python's parser takes
            return
        self.i_json, self.within_depth = True, depth(self.value) + 1 <= MAX_LEVELS
        message = self.value
        if self.kind != "batch" and isinstance(message, dict):
            if message.get("type", self.kind) != self.kind:  # the endpoint fills in `type`, or refuses
                return
            message = {**message, "type": self.kind}
        # The contract constrains the first levels only; deeper ones are pruned so checking stays cheap.
        self.valid = MESSAGE_SCHEMA.is_valid(_without_write_keys(pruned(message, 8)))


@dataclass
class Request:
    endpoint: str  # "batch" or a message type
    path: str
    body: bytes
    headers: dict[str, str]
    messages: list[Sent]
    auth: str  # as in Plan
    well_formed: bool  # one document (once correctly inflated) with a valid envelope
    supported_encoding: bool = True
    notes: list[str] = field(default_factory=list)
    text: bytes = b""  # the body before Content-Encoding
    key_in_body: bool = False  # as the batch's or a single message's `writeKey` (a defect may put it there too)

    @property
    def readable(self) -> bool:
        """The collector can read the whole body: one strict JSON document, nothing nested past the limit."""
        return self.supported_encoding and self.well_formed and all(m.i_json and m.within_depth for m in self.messages)

    @property
    def key_in_header(self) -> bool:
        return self.auth in ("basic", "basic_and_body")

    @property
    def identified(self) -> bool:
        """The collector can tell the source: a good key in the header, or none there and one in a body it can read."""
        return self.key_in_header or (self.auth in ("body", "none") and self.key_in_body and self.readable)


# -- strategies -------------------------------------------------------------------------------------


def identifiers(clean: bool) -> st.SearchStrategy[Value]:
    ordinary = st.one_of(
        st.from_regex(r"[a-z0-9-]{1,24}", fullmatch=True).map(Text.of),
        st.integers().map(lambda number: Number(str(number))),
        st.sampled_from(["123456789012345678901234567890", "-9223372036854775809"]).map(Number),
    )
    return ordinary if clean else st.one_of(ordinary, plain_texts(), hostile_texts())


def event_names() -> st.SearchStrategy[Text]:
    return st.one_of(st.from_regex(r"[A-Z][a-z]{2,9}( [A-Z][a-z]{2,9})?", fullmatch=True).map(Text.of), names())


def timestamps(clean: bool = False) -> st.SearchStrategy[Value]:
    """Mostly the morning of the day the collector receives on, in the spellings the contract allows.

    RFC 3339's (`T` or `t`, `Z` or `z`, any number of fraction digits) and the two its parser adds: a
    space for the `T`, an offset without its colon.
    """

    def spell(moment: datetime, offset_minutes: int, digits: int, zulu: str, separator: str, colon: str) -> Text:
        local = moment.astimezone(UTC) + timedelta(minutes=offset_minutes)
        fraction = f"{local.microsecond:06d}{local.microsecond:03d}"[:digits]
        text = local.strftime(f"%Y-%m-%d{separator}%H:%M:%S") + (f".{fraction}" if digits else "")
        if offset_minutes == 0 and zulu:
            return Text.of(text + zulu)
        sign = "-" if offset_minutes < 0 else "+"
        return Text.of(f"{text}{sign}{abs(offset_minutes) // 60:02d}{colon}{abs(offset_minutes) % 60:02d}")

    moments = st.integers(0, 10 * 3600 * 1000).map(lambda ms: RECEIVED - timedelta(milliseconds=ms))
    valid = st.builds(
        spell,
        moments,
        st.sampled_from(OFFSETS),
        st.sampled_from([0, 3, 6, 9]),
        st.sampled_from(["Z", "z", ""]),
        st.sampled_from(["T", "T", "t", " "]),
        st.sampled_from([":", ":", ""]),
    )
    invalid = st.one_of(
        st.sampled_from(["2026-11-20T08:00:00", "yesterday", "2026-13-01T00:00:00Z"]).map(Text.of),
        st.just(Number("1763625600000")),
    )
    return valid if clean else st.one_of(valid, invalid)


@st.composite
def messages(draw: st.DrawFn, kind: str) -> Members:
    """A message of `kind` with hostile content where the contract allows anything.

    Three in four are `clean`: identities and times as the contract wants them, so that most
    messages are valid and what they carry reaches the report tables.
    """
    members: list[tuple[Text, Value]] = [(Text.of("type"), Text.of(kind))]
    clean = draw(st.integers(0, 3)) != 1

    def add(name: str, value: Value) -> None:
        members.append((Text.of(name), value))

    identity = draw(st.sampled_from(["userId", "anonymousId", "both"]))
    if identity in ("userId", "both") or kind == "alias":
        add("userId", draw(identifiers(clean)))
    if identity in ("anonymousId", "both"):
        add("anonymousId", draw(identifiers(clean)))
    if kind == "track":
        add("event", draw(event_names()))
    if kind in ("page", "screen"):
        for name in ("name", "category"):
            if draw(st.booleans()):
                add(name, draw(st.one_of(st.none(), event_names())))
    if kind == "group":
        add("groupId", draw(identifiers(clean)))
    if kind == "alias":
        add("previousId", draw(identifiers(clean)))
    if draw(st.booleans()):
        members.append((Text.of("messageId"), MESSAGE_ID))  # type: ignore[arg-type]
    for name in ("originalTimestamp", "timestamp", "sentAt"):
        if draw(st.integers(0, 3)) == 0 or (name == "originalTimestamp" and draw(st.booleans())):
            add(name, draw(timestamps(clean)))
    if draw(st.booleans()):
        add("context", draw(st.one_of(st.none(), objects(max_size=3))))
    document = "properties" if kind in ("track", "page", "screen") else "traits"
    if draw(st.integers(0, 3)):
        add(document, draw(objects()))
    for name, value in draw(st.lists(st.tuples(names(), json_values(4)), max_size=2)):
        members.append((name, value))
    return Members(tuple(draw(st.permutations(members))))


@st.composite
def defective(draw: st.DrawFn, message: Members, without: frozenset[str] = frozenset()) -> Members | Value:
    """The message with one thing wrong or unusual (or nothing): what SDK bugs and attackers send."""
    items = list(message.items)
    defect = draw(st.sampled_from([*["none"] * 8, *(name for name in DEFECTS if name not in without)]))
    position = draw(st.integers(0, len(items)))
    if defect == "drop_identity":
        items = [(name, value) for name, value in items if name.parts[0] not in ("userId", "anonymousId")]
    elif defect == "unknown_type":
        items = [(name, Text.of("purchase") if name.parts == ("type",) else value) for name, value in items]
    elif defect == "float_id":
        items.insert(position, (Text.of("userId"), Number(draw(st.sampled_from(["1.5", "-0.25", "1e-7"])))))
        items = [item for index, item in enumerate(items) if index == position or item[0].parts != ("userId",)]
    elif defect == "duplicate_member" and items:
        name, _ = draw(st.sampled_from(items))
        items.insert(position, (name, draw(json_values(3))))
    elif defect == "broken_text":  # as a name, a value, or the value of a field the collector reads
        typed = st.tuples(st.sampled_from(["event", "userId", "anonymousId", "messageId"]).map(Text.of), broken_texts())
        broken = st.one_of(st.tuples(broken_texts(), json_values(2)), st.tuples(names(), broken_texts()), typed)
        items.insert(position, draw(broken))
    elif defect == "deep":
        items.insert(position, (Text.of("properties"), Members(((Text.of("deep"), draw(deeply_nested())),))))
    elif defect == "nested_write_key":
        inner = Members(((Text.of("writeKey"), Text.of(WEB_KEY)), (Text.of("kept"), Number("1.10"))))
        items.insert(position, (Text.of("integrations"), Members(((Text.of("Segment.io"), [inner]),))))
    elif defect == "write_key":
        items.insert(position, (Text.of("writeKey"), Text.of(WEB_KEY)))
    elif defect == "key_in_text":  # the key where no member is called writeKey: a page URL, a property name
        url = Text.of(f"https://shop.example/?writeKey={WEB_KEY}&wk={WEB_KEY}")
        # Spelled with escapes, as no JSON writer does, to slip past a search for the key's bytes.
        escaped = Text(
            ("https://shop.example/?k=", b"".join(b"\\u%04X" % byte for byte in WEB_KEY[:4].encode()), WEB_KEY[4:])
        )
        named = Members(((Text.of(WEB_KEY), Number("1")), (Text.of("url"), url)))
        # Once the key is the marker, two names are the same: the message is ambiguous and refused.
        clash = Members(((Text.of(WEB_KEY), Number("1")), (Text.of(REDACTED.decode()), Number("2"))))
        items.insert(position, (Text.of("page"), draw(st.sampled_from([url, escaped, named, clash]))))
    elif defect == "oversized":
        items.insert(position, (Text.of("blob"), Text.of("x" * 33_000)))
    elif defect == "not_an_object":
        wrapped = [Members(tuple((name, Text.of("m") if value is MESSAGE_ID else value) for name, value in items))]
        return draw(st.one_of(json_values(3), st.just(wrapped)))
    return Members(tuple(items))


def keyed_contexts() -> st.SearchStrategy[Members]:
    """A batch context as analytics.js writes it, the write key repeated in it, and in a page URL."""
    url = Text.of(f"https://shop.example/?writeKey={WEB_KEY}")
    members = [
        (Text.of("writeKey"), Text.of(WEB_KEY)),
        (Text.of("library"), Members(((Text.of("name"), Text.of("analytics.js")),))),
        (Text.of("page"), Members(((Text.of("url"), url),))),
    ]
    return st.permutations(members).map(lambda items: Members(tuple(items)))


@st.composite
def plans(draw: st.DrawFn, without: frozenset[str] = frozenset()) -> Plan:
    """Requests; `without` leaves features out by name (a defect, an encoding, `duplicate_batch`,
    `batch_context`, `line_breaks`, `single`, `key_in_body`), to look past a known bug."""
    endpoint = draw(st.sampled_from(["batch"] * 3 + ([] if "single" in without else list(MESSAGE_TYPES))))
    if endpoint == "batch":
        count = draw(st.integers(1, 4))
        kinds = draw(st.lists(st.sampled_from(MESSAGE_TYPES), min_size=count, max_size=count))
    else:
        kinds = [endpoint]
    drafted = [draw(defective(draw(messages(kind)), without)) for kind in kinds]
    if endpoint != "batch" and isinstance(drafted[0], Members):
        # Single-message endpoints take `type` as optional, and refuse another one.
        variant = draw(st.sampled_from(["keep", "keep", "omit", "other"]))
        if variant != "keep":
            other = Text.of(next(kind for kind in MESSAGE_TYPES if kind != endpoint))
            drafted[0] = Members(
                tuple(
                    (name, other if variant == "other" else value)
                    for name, value in drafted[0].items
                    if not (variant == "omit" and name.parts == ("type",))
                )
            )
    envelope: list[tuple[str, Value]] = []
    if draw(st.booleans()):
        envelope.append(("sentAt", draw(st.one_of(timestamps(clean=draw(st.integers(0, 3)) != 1), st.none()))))
    if draw(st.integers(0, 2)) == 0 and "batch_context" not in without:
        envelope.append(("context", draw(st.one_of(st.none(), objects(max_size=3), keyed_contexts()))))
    encoding = draw(st.sampled_from([name for name in ENCODINGS if name not in without]))
    header = {
        "identity": draw(st.sampled_from([None, "identity"])),
        "unsupported": draw(st.sampled_from(["br", "deflate", "gzip, br"])),
    }.get(encoding, draw(st.sampled_from(["gzip", "GZIP", "Gzip", "x-gzip"])))
    return Plan(
        endpoint=endpoint,
        short_path=draw(st.booleans()),
        messages=tuple(drafted),
        envelope=tuple(envelope),
        duplicate_batch=draw(st.integers(0, 15)) == 7 and "duplicate_batch" not in without,
        style=draw(styles(line_breaks="line_breaks" not in without)),
        auth=draw(st.sampled_from([auth for auth in AUTHS if "key_in_body" not in without or "body" not in auth])),
        encoding=encoding,
        encoding_header=header,
        padding=draw(st.tuples(st.sampled_from([b"", b" ", b"\t"]), st.sampled_from([b"", b"\n", b"\r\n "]))),
        split_at=draw(st.floats(0.05, 0.95)),
    )


# -- building the bytes -----------------------------------------------------------------------------


def fill_message_id(message: Members | Value, message_id: str) -> Members | Value:
    if not isinstance(message, Members):
        return message
    filled = Text.of(message_id)
    return Members(tuple((name, filled if value is MESSAGE_ID else value) for name, value in message.items))


def build(plan: Plan, serial: int) -> Request:
    style = plan.style
    body_key = plan.auth in ("body", "basic_and_body")
    messages = [fill_message_id(message, f"prop-{serial}-{index}") for index, message in enumerate(plan.messages)]
    if plan.endpoint == "batch":
        written = [serialize(item, replace(style, seed=style.seed + index)) for index, item in enumerate(messages)]
        sent = [Sent(data, "batch") for data in written]

        def envelope(part: list[bytes]) -> bytes:
            members: list[tuple[Text, Value]] = [(Text.of("batch"), [Raw(data) for data in part])]
            members += [(Text.of(name), value) for name, value in plan.envelope]
            if body_key:
                members.append((Text.of("writeKey"), Text.of(WEB_KEY)))
            if plan.duplicate_batch:
                members.append((Text.of("batch"), []))
            return serialize(Members(tuple(members)), style)

        text = envelope(written)
        envelope_ok = _is_i_json(serialize(Members(tuple((Text.of(name), v) for name, v in plan.envelope))))
        sent_at = dict(plan.envelope).get("sentAt")
        well_formed = envelope_ok and not plan.duplicate_batch and _valid_sent_at(sent_at)
        half = max(1, len(written) // 2)
        second_document = envelope(written[half:])
        if plan.encoding == "gzip_two_documents":
            text = envelope(written[:half])
    else:
        message = messages[0]
        if body_key and isinstance(message, Members):
            message = Members(((Text.of("writeKey"), Text.of(WEB_KEY)), *message.items))
        data = serialize(message, style)
        sent = [Sent(data, plan.endpoint)]
        text = plan.padding[0] + data + plan.padding[1]
        well_formed = isinstance(message, Members)
        second_document = text

    body, headers, notes = _encode(plan, text, second_document)
    if plan.endpoint == "batch" and plan.duplicate_batch:
        notes.append('a second "batch" member')
    if plan.endpoint == "batch" and not _valid_sent_at(dict(plan.envelope).get("sentAt")):
        notes.append("an invalid sentAt")
    well_formed = well_formed and plan.encoding not in ("gzip_two_documents", "gzip_trailing_garbage")
    headers["Content-Type"] = "application/json"
    if plan.auth in ("basic", "basic_and_body"):
        headers["Authorization"] = "Basic " + base64.b64encode(f"{WEB_KEY}:".encode()).decode()
    elif plan.auth == "unknown":
        headers["Authorization"] = "Basic " + base64.b64encode(b"wk_nobody:").decode()
    elif plan.auth == "bearer":
        headers["Authorization"] = "Bearer " + WEB_KEY
    path = "/v1/" + (SHORT_PATHS[plan.endpoint] if plan.short_path else plan.endpoint)
    return Request(
        plan.endpoint,
        path,
        body,
        headers,
        sent,
        auth=plan.auth,
        well_formed=well_formed,
        supported_encoding=plan.encoding != "unsupported",
        notes=notes,
        text=text,
        key_in_body=body_key or (plan.endpoint != "batch" and _names_the_key(sent[0].value)),
    )


def _names_the_key(message: Any) -> bool:
    return isinstance(message, dict) and message.get("writeKey") == WEB_KEY


def _encode(plan: Plan, text: bytes, second_document: bytes) -> tuple[bytes, dict[str, str], list[str]]:
    headers: dict[str, str] = {}
    if plan.encoding_header is not None:
        headers["Content-Encoding"] = plan.encoding_header
    if plan.encoding == "identity":
        return text, headers, []
    if plan.encoding == "unsupported":
        return text, headers, []
    if plan.encoding == "gzip_split":
        cut = max(1, min(len(text) - 1, int(len(text) * plan.split_at)))
        return gzip.compress(text[:cut], mtime=0) + gzip.compress(text[cut:], mtime=0), headers, ["two gzip members"]
    if plan.encoding == "gzip_two_documents":
        second = f"two documents, the second in its own gzip member: {second_document[:1000]!r}"
        return gzip.compress(text, mtime=0) + gzip.compress(second_document, mtime=0), headers, [second]
    if plan.encoding == "gzip_trailing_garbage":
        return gzip.compress(text, mtime=0) + b"\x00garbage", headers, ["garbage after the gzip stream"]
    return gzip.compress(text, compresslevel=int(plan.split_at * 9) + 1, mtime=0), headers, []


def _is_i_json(data: bytes) -> bool:
    try:
        parse_strict(data)
    except (ValueError, RecursionError):
        return False
    return True


def _valid_sent_at(value: Value) -> bool:
    if value is None:
        return True
    return MESSAGE_SCHEMA.is_valid({"type": "identify", "userId": "u", "sentAt": parse_strict(serialize(value))})


def _without_write_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {name: _without_write_keys(item) for name, item in value.items() if name != "writeKey"}
    if isinstance(value, list):
        return [_without_write_keys(item) for item in value]
    return value


# -- what the collector did -------------------------------------------------------------------------


@dataclass(frozen=True)
class Landed:
    """One landed record's message and batch context, as the exact bytes the line holds."""

    message: bytes
    batch_context: bytes


def landed_records(lines: list[bytes]) -> list[Landed]:
    """Each landed line read as the contract says: one JSON record, ending with `"message":<messageBytes bytes>}`.

    The message is cut out by its length, as the pipeline does, not found by a parser that would
    re-serialize it. `batchContext` precedes `messageBytes`: its bytes are what lies between the two
    (`"batchContext":` cannot occur earlier outside a string, where its quotes would be escaped).
    """
    found = []
    for line in lines:
        try:
            with deep_recursion():
                record = json.loads(line)
        except (ValueError, RecursionError) as error:
            raise AssertionError(f"a landed line is not one JSON record ({error}): {line[:300]!r}") from None
        size = record.get("messageBytes")
        assert isinstance(size, int) and 0 < size < len(line), f"messageBytes {size!r}: {line[:300]!r}"
        head, message = line[: -1 - size], line[-1 - size : -1]
        tail = b',"messageBytes":%d,"message":' % size
        assert head.endswith(tail) and line.endswith(b"}"), f"the message is not the line's end: {line[:300]!r}"
        context_start = head.index(b'"batchContext":') + len(b'"batchContext":')
        found.append(Landed(message, head[context_start : -len(tail)]))
    return found


def quarantined_payloads(lines: list[bytes]) -> dict[int, bytes]:
    """A refused message's `payload` (the line's last field when it is strict JSON), as bytes, by index."""
    payloads = {}
    for line in lines:
        with deep_recursion():
            record = json.loads(line)
        if record.get("payload") is None:  # a refused request, a message that is not strict JSON (or `null`)
            continue
        assert "payloadBase64" not in record and line.endswith(b"}"), line[:300]
        payloads[record["index"]] = line[line.index(b'"payload":') + len(b'"payload":') : -1]
    return payloads


def with_type(data: bytes, kind: str) -> bytes:
    """A single message sent without `type`: `"type":"<endpoint>",` right after its opening brace."""
    rest = data[1:]
    separator = b"" if rest.lstrip(b" \t\r\n").startswith(b"}") else b","
    return b'{"type":"%s"%s%s' % (kind.encode(), separator, rest)


def as_stored(data: bytes) -> bytes:
    """JSON text with the contract's two edits: write keys gone, CR and LF as spaces.

    `writeKey` members are cut at any depth (`without_members`); then the sender's key, wherever it is
    still written, plainly or with `\\u` escapes, is the marker: in these tests it only occurs inside
    strings, never after a backslash (it starts with `w`, and `\\w` is no escape), so a plain
    substitution is exact.
    """
    data = KEY_AS_WRITTEN.sub(REDACTED, without_members(data, b'"writeKey"'))
    return data.replace(b"\r", b" ").replace(b"\n", b" ")


def readable(data: bytes) -> str:
    """`data` with its escapes of ASCII characters decoded, as a JSON reader would see a write key in it."""
    return re.sub(rb"\\u00([0-7][0-9a-fA-F])", lambda escape: bytes([int(escape[1], 16)]), data).decode(
        "utf-8", "replace"
    )


def expected_landing(sent: Sent) -> bytes:
    """Byte for byte as sent, but for what the contract lists: `type` filled in, then the two edits."""
    data = sent.data
    if sent.kind != "batch" and isinstance(sent.value, dict) and "type" not in sent.value:
        data = with_type(data, sent.kind)
    return as_stored(data)


def expected_batch_context(request: Request) -> bytes:
    """The envelope's `context` as sent, with the two edits; `null` when absent (and for single messages)."""
    context = top_level_member(request.text, b'"context"') if request.endpoint == "batch" else None
    return b"null" if context is None else as_stored(context)


def stored_lines(pipeline: Pipeline, uploaded: list[dict[str, Any]], area: str) -> list[bytes]:
    store = pipeline.server.service.store
    lines: list[bytes] = []
    for landed in uploaded:
        if landed["area"] == area:
            lines += gzip.decompress(store.get(landed["key"])).splitlines()
    return lines


def send(pipeline: Pipeline, request: Request) -> httpx.Response:
    url = pipeline.server.url + request.path
    try:
        return pipeline.http.post(url, content=request.body, headers=request.headers)
    except httpx.TransportError:  # a kept-alive connection the server closed after an error: once more
        return pipeline.http.post(url, content=request.body, headers=request.headers)


def check_request(pipeline: Pipeline, request: Request) -> None:
    body = request.body if request.body == request.text else request.text + b"  (before Content-Encoding)"
    note(f"POST {request.path} {request.headers}\n{body[:3000]!r}\n{', '.join(request.notes)}")
    response = send(pipeline, request)
    status = response.status_code
    event(f"answered {status}")
    assert status < 500, f"{status} {response.text}"
    assert status in DOCUMENTED, f"undocumented {status} {response.text}"
    answer = response.json()
    uploaded = pipeline.server.call(pipeline.server.service.flush())["uploaded"]
    landing_lines = stored_lines(pipeline, uploaded, "landing")
    quarantined = stored_lines(pipeline, uploaded, "quarantine")
    for line in [*landing_lines, *quarantined]:
        assert WEB_KEY not in readable(line), f"the write key was stored: {line[:300]!r}"
        for raw_body in re.findall(rb'"(?:rawBodyBase64|payloadBase64)":"([A-Za-z0-9+/=]*)"', line):
            assert WEB_KEY not in readable(_inflated(base64.b64decode(raw_body))), "the write key in a raw body"
    landed = landed_records(landing_lines)
    payloads = quarantined_payloads(quarantined)

    # Who is asking comes first (HTTP Basic), then the body's encoding, then the body.
    if request.auth in ("unknown", "bearer"):
        assert status == 401, f"a bad Authorization header answered {status}: {answer}"
    elif not request.supported_encoding:
        assert status == 415, f"an unsupported Content-Encoding answered {status}: {answer}"
    elif request.auth == "none" and not request.key_in_body:
        assert status in (400, 401, 413), f"no write key answered {status}: {answer}"
    if status == 401:
        assert not request.identified, f"a good write key was refused: {answer}"
    valid_refused = f"valid message refused: {answer}"

    check_quarantined_payloads(request, payloads)
    if status != 200:
        assert landed == [], f"{status} but {len(landed)} landed"
        if request.key_in_header and status in (400, 415):
            assert quarantined, f"refused ({answer.get('code')}) without quarantining it"
        if request.identified and request.readable:
            assert not [m for m in request.messages if m.valid and len(m.data) < 30_000], valid_refused
        return

    # A batch's envelope may name the key while some of its messages are not strict JSON: those are refused alone.
    key_sent = request.key_in_header or request.key_in_body
    assert key_sent and request.well_formed, f"accepted {answer} although the body has {request.notes}"
    refused = {entry["index"] for entry in answer.get("rejected", [])}
    accepted = [sent for index, sent in enumerate(request.messages) if index not in refused]
    assert answer["accepted"] == len(accepted), f"{answer} for {len(request.messages)} messages"
    assert len(quarantined) == len(refused), f"{len(refused)} refused, {len(quarantined)} quarantined"
    for index, sent in enumerate(request.messages):
        if index in refused:
            assert not (request.readable and sent.valid and len(sent.data) < 30_000), valid_refused
        else:
            assert sent.i_json, f"accepted a message that is not I-JSON: {sent.data[:300]!r}"
            assert sent.valid, f"accepted a message the contract refuses: {sent.data[:300]!r}"
    assert len(landed) == len(accepted), f"{len(accepted)} accepted, {len(landed)} landed"
    for record, sent in zip(landed, accepted, strict=True):
        expected = expected_landing(sent)
        assert record.message == expected, f"landed {record.message[:300]!r}, expected {expected[:300]!r}"
        context = expected_batch_context(request)
        assert record.batch_context == context, f"batchContext {record.batch_context[:300]!r}, sent {context[:300]!r}"


def check_quarantined_payloads(request: Request, payloads: dict[int, bytes]) -> None:
    """A refused message that is strict JSON is quarantined with the same edits as a landed one."""
    for index, payload in payloads.items():
        sent = request.messages[index]
        expected = expected_landing(sent)
        assert payload == expected, f"quarantined {payload[:300]!r}, expected {expected[:300]!r}"


def _inflated(body: bytes) -> bytes:
    try:
        return gzip.decompress(body)
    except (OSError, EOFError):
        return body


# -- the report load --------------------------------------------------------------------------------


def run_failures(result: dg.ExecuteInProcessResult) -> list[str]:
    problems = []
    for failure in result.get_step_failure_events():
        error, causes = failure.step_failure_data.error, []
        while error is not None:
            causes.append(f"{error.cls_name}: {error.message.strip()[:400]}")
            error = error.cause
        problems.append(f"{failure.step_key}: {' <- '.join(reversed(causes))}")
    if not result.success and not problems:
        problems.append("the run failed")
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed and evaluation.severity != dg.AssetCheckSeverity.WARN:
            problems.append(f"check {evaluation.asset_key.to_user_string()}.{evaluation.check_name} failed")
    return problems


def load_reports(pipeline: Pipeline) -> list[str]:
    pipeline.complete(DAY)
    first = (DAY - timedelta(days=pipeline.settings.lateness_days)).isoformat()
    problems = []
    for job, start in (("raw_job", DAY.isoformat()), ("clean_job", first), ("report_job", first)):
        problems += [f"{job}: {problem}" for problem in run_failures(pipeline.run(job, start, DAY.isoformat()))]
    return problems


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    settings = pipeline_environment(monkeypatch, tmp_path)
    with running_pipeline(settings, RECEIVED) as running:
        yield running


@pytest.mark.slow
@pytest.mark.timeout(900)  # passing takes about a minute; a failure is shrunk through the server first
def test_any_json_a_client_sends_is_answered_landed_as_sent_and_reported(pipeline: Pipeline) -> None:
    serial = iter(range(10**9))

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        report_multiple_bugs=False,  # shrinking each of several bugs through a server takes many minutes
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(plan=plans())
    def collector_keeps_its_promises(plan: Plan) -> None:
        check_request(pipeline, build(plan, next(serial)))

    failures: list[Exception] = []
    try:
        collector_keeps_its_promises()
    except Exception as error:  # the report load below still runs over what was accepted
        failures.append(error)
    problems = load_reports(pipeline)
    if problems:
        failures.append(AssertionError("the day's reports did not load:\n" + "\n".join(problems)))
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise ExceptionGroup("the collector and the report load both failed", failures)
