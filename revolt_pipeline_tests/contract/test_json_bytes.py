"""Strict JSON and byte edits: what is refused and why, and edits that leave every other byte as sent."""

import json
from typing import Any

import pytest

from revolt_pipeline.contract.json_bytes import (
    MAX_BRACKET_RUNS,
    MESSAGE_DEPTH,
    REDACTED,
    NotStrictJson,
    batch_item_spans,
    has_escaped_key_characters,
    line_breaks_as_spaces,
    parse_strict,
    parse_strict_message,
    redact_body,
    redact_in_strings,
    value_end,
    without_write_keys,
)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b'{"a":1,"b":{"c":1,"c":2}}', "duplicate_key"),
        (b'{"a":[{"x":1},{"x":1,"x":1}]}', "duplicate_key"),
        (b'{"a":"\xff"}', "invalid_utf8"),
        (b'{"\xc0\xaf":1}', "invalid_utf8"),
        (b'{"a":"\xed\xa0\x80"}', "invalid_utf8"),  # a surrogate encoded in UTF-8
        (b'{"a":"\\ud800"}', "lone_surrogate"),
        (b'{"a":"\\udc00x"}', "lone_surrogate"),
        (b'{"a":"\\ud83d\\ud83d"}', "lone_surrogate"),
        (b'{"a":' + b"1" * 4301 + b"}", "number_too_long"),
        # The limit is on the digits before the fraction or exponent, of any number (Python's int limit).
        (b'{"a":' + b"1" * 4301 + b".5}", "number_too_long"),
        (b'{"a":-' + b"1" * 4301 + b"e-9}", "number_too_long"),
        (b'{"a":NaN}', "malformed_json"),
        (b'{"a":Infinity}', "malformed_json"),
        (b'{"a":1} x', "malformed_json"),
        (b'{"a":1,}', "malformed_json"),
        (b'\xef\xbb\xbf{"a":1}', "malformed_json"),
        (b'{"a":"tab\there"}', "malformed_json"),
        (b"", "malformed_json"),
    ],
)
def test_text_that_is_not_strict_json_is_refused_with_its_reason(text: bytes, reason: str) -> None:
    with pytest.raises(NotStrictJson) as refused:
        parse_strict(text)
    assert refused.value.reason == reason
    assert refused.value.detail


@pytest.mark.parametrize(
    "text",
    [
        b'{"a":"\\ud83d\\ude00 \xf0\x9f\x98\x80 \\u0000"}',
        b'{"big":123456789012345678901234567890,"small":1E-400,"huge":1e400,"neg":-0}',
        b'{"a":' + b"1" * 4300 + b"}",
        b'{"a":-' + b"1" * 4300 + b'.5e-3,"b":0.' + b"1" * 5000 + b"}",
        b' {\r\n\t"a" : [ ] } \n',
    ],
)
def test_strict_json_passes(text: bytes) -> None:
    parse_strict(text)


def nested(levels: int, kind: str) -> bytes:
    """A message whose deepest value sits `levels` deep, the message being level 1."""
    if kind == "array":
        return b'{"p":' + b"[" * (levels - 2) + b"1" + b"]" * (levels - 2) + b"}"
    return b'{"p":' * (levels - 1) + b"1" + b"}" * (levels - 1)


@pytest.mark.parametrize("kind", ["array", "object"])
def test_the_depth_limit_is_the_same_alone_and_in_a_batch(kind: str) -> None:
    deepest = nested(MESSAGE_DEPTH, kind)
    parse_strict_message(deepest)
    parse_strict(b'{"batch":[' + deepest + b"]}")
    too_deep = nested(MESSAGE_DEPTH + 1, kind)
    for check in (lambda: parse_strict_message(too_deep), lambda: parse_strict(b'{"batch":[' + too_deep + b"]}")):
        with pytest.raises(NotStrictJson) as refused:
            check()
        assert refused.value.reason == "too_deep"


def test_a_wrapped_message_must_be_one_value() -> None:
    # Wrapped in [[...]] to check its depth, `1],[2` would parse: it is still not one JSON value.
    with pytest.raises(NotStrictJson) as refused:
        parse_strict_message(b'{"a":1}],[{"b":2}')
    assert refused.value.reason == "malformed_json"


def with_write_keys() -> list[tuple[bytes, Any]]:
    return [
        (b'{"writeKey":"k"}', {}),
        (b'{ "writeKey" : "k" }', {}),
        (b'{"a":1,"writeKey":"k"}', {"a": 1}),
        (b'{"writeKey":"k",  "a":1}', {"a": 1}),
        (b'{\n  "a": 1.10,\n  "writeKey": "k"\n}', {"a": 1.1}),
        (b'[{"writeKey":{"writeKey":[1,{"x":"]}"}]}},{"z":0 , "writeKey" :null}]', [{}, {"z": 0}]),
        (
            b'{"s":"\\"writeKey\\":1","t":["writeKey"],"u":{"x\\"writeKey":2},"v":"\\\\","writeKey":true}',
            {"s": '"writeKey":1', "t": ["writeKey"], "u": {'x"writeKey': 2}, "v": "\\"},
        ),
    ]


@pytest.mark.parametrize(("raw", "expected"), with_write_keys())
def test_write_key_members_are_cut_out_at_any_depth_and_nothing_else(raw: bytes, expected: Any) -> None:
    cut = without_write_keys(raw)
    assert json.loads(cut) == expected
    # Only whole members and their comma went: what is left is the original with spans removed.
    remaining = iter(raw)
    assert all(any(byte == original for original in remaining) for byte in cut)


@pytest.mark.parametrize("value", [b'"wk_1"', b'"a\\"b"', b"5", b"null", b'{"x": [1]}'])
@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (b'{ "writeKey" : VALUE }', b"{  }"),
        (b'{ "writeKey" : VALUE\n}', b"{ \n}"),
        (b'{ "writeKey" : VALUE , "a": 1 }', b'{ "a": 1 }'),
        (b'{"a": 1 , "writeKey" : VALUE }', b'{"a": 1  }'),
        (b'[{"writeKey":VALUE},{ "b":2,"writeKey":VALUE}]', b'[{},{ "b":2}]'),
    ],
)
def test_a_write_key_member_is_cut_the_same_bytes_whatever_its_value(
    template: bytes, expected: bytes, value: bytes
) -> None:
    """Plain string values are cut by a regex, others member by member: both leave the same bytes.

    The regex once took the whitespace after a lone member's value too, so `{ "writeKey":"k" }` and
    `{ "writeKey":5 }` landed differently, against "only the member and one comma go".
    """
    assert without_write_keys(template.replace(b"VALUE", value)) == expected


def test_numbers_keep_their_spelling_when_a_member_is_cut() -> None:
    raw = b'{"n":1.10,"e":1E+2,"z":-0,"writeKey":"k","big":123456789012345678901234567890}'
    assert without_write_keys(raw) == b'{"n":1.10,"e":1E+2,"z":-0,"big":123456789012345678901234567890}'


def test_the_senders_key_is_redacted_inside_strings_only_where_it_is_not_an_escape() -> None:
    raw = b'{"a":"key=wk_1&x","wk_1":1,"b":"\\\\wk_1","n":"\\nwk_1"}'
    assert redact_in_strings(raw, b"wk_1") == (
        b'{"a":"key=' + REDACTED + b'&x","' + REDACTED + b'":1,"b":"\\\\' + REDACTED + b'","n":"\\n' + REDACTED + b'"}'
    )
    # `\b` followed by `KEY` is a backspace and text, not the key `bKEY`.
    assert redact_in_strings(b'{"a":"\\bKEY","b":"bKEY"}', b"bKEY") == b'{"a":"\\bKEY","b":"' + REDACTED + b'"}'
    json.loads(redact_in_strings(raw, b"wk_1"))


def test_the_senders_key_spelled_with_escapes_is_redacted_too() -> None:
    """Every JSON reader decodes `\\u0077k_1` to `wk_1`: a search for the key's bytes alone missed it."""
    raw = b'{"a":"\\u0077k_1","b":"x\\u0077\\u006B\\u005f1y","c":"\\\\u0077k_1","write\\u004bey":"wk_1"}'
    assert has_escaped_key_characters(raw) and not has_escaped_key_characters(b'{"a":"\\u00e9\\n\\u0000"}')
    assert redact_in_strings(raw, b"wk_1") == (
        b'{"a":"' + REDACTED + b'","b":"x' + REDACTED + b'y","c":"\\\\u0077k_1","write\\u004bey":"' + REDACTED + b'"}'
    )  # `\\\\u0077k_1` is a backslash and text, not the key
    assert redact_body(b'{"a":"\\u0077k_1 \xff', b"wk_1") == b'{"a":"' + REDACTED + b" \xff"


def test_a_body_kept_for_the_quarantine_loses_every_write_key_even_when_it_is_not_json() -> None:
    body = b'{"writeKey" : "wk_other", "batch": [{"x":"wk_mine \xff' + b'"writeKey":"a\\"b"'
    redacted = redact_body(body, b"wk_mine")
    assert b"wk_other" not in redacted and b"wk_mine" not in redacted and b'a\\"b' not in redacted
    assert redacted.count(REDACTED) == 3


def test_line_breaks_become_spaces_of_the_same_length() -> None:
    raw = b'{\r\n  "a": "x\\ny",\n  "b": [1,\n 2]\n}'
    flat = line_breaks_as_spaces(raw)
    assert len(flat) == len(raw) and b"\n" not in flat and b"\r" not in flat
    assert json.loads(flat) == json.loads(raw)


def test_value_end_skips_strings_and_runs_of_brackets() -> None:
    deep = b"[" * 100_000 + b'"]"' + b"]" * 100_000
    assert value_end(deep + b",1", 0) == len(deep)
    assert value_end(b'{"a":"}"} ', 0) == 9
    assert value_end(b"-1.5e3,", 0) == 6
    assert value_end(b'{"a":"unterminated}', 0) == -1


def test_batch_items_are_found_in_a_body_that_is_not_strict() -> None:
    body = b' { "writeKey":"k", "batch" : [ {"a":"\xff"} , {"b":"\\ud800"},"s", 12,[[[]]] ] , "sentAt":null } '
    spans = batch_item_spans(body)
    assert spans is not None
    assert [body[start:end] for start, end in spans] == [b'{"a":"\xff"}', b'{"b":"\\ud800"}', b'"s"', b"12", b"[[[]]]"]
    assert batch_item_spans(b'{"batch":[1],"batch":[2,3]}') == [(22, 23), (24, 25)]  # the last wins
    assert batch_item_spans(b'{"batch":[]}') == []
    for broken in (b'{"batch":[{"a":1},', b"[1]", b'{"batch":[1]} x', b'{"batch" [1]}'):
        assert batch_item_spans(broken) is None


def test_a_body_with_more_bracket_runs_than_a_real_batch_is_not_taken_apart() -> None:
    # `[],[],...` costs a step per run; a sender could make the collector spend seconds on one body.
    runs = b'{"batch":[{"p":[' + b"[]," * (MAX_BRACKET_RUNS // 2) + b'[]]},{"q":"\xff"}]}'
    assert batch_item_spans(runs) is None
    fewer = b'{"batch":[{"p":[' + b"[]," * (MAX_BRACKET_RUNS // 4) + b'[]]},{"q":"\xff"}]}'
    spans = batch_item_spans(fewer)
    assert spans is not None and len(spans) == 2
