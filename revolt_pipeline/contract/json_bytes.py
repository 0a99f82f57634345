"""JSON kept as bytes: the strict check every message passes, and the few edits made without re-serializing.

The collector lands what a client sent byte for byte, so it never parses and dumps a message. What it
must check, it checks with a strict parser (I-JSON, RFC 7493, in Rust): nothing that two readers could
read two ways gets in, such as a duplicated key, which the collector would validate with its last
value and the pipeline read with its first. What it must change (a write key to drop, line breaks a
JSON Lines record cannot hold), it cuts out of the bytes, leaving every other byte as sent. The cutting
helpers expect JSON that passed the strict check; `batch_item_spans` alone reads a body that did not,
to find which messages of a batch are at fault.
"""

import re
import sys
from typing import Any

import jiter

# jiter refuses a value more than 201 levels deep, the document being level 1. A message is always
# checked at the depth it has in a batch, `{"batch": [message]}`, so the limit is the same at every
# endpoint: values at most 199 levels deep, the message itself being level 1.
MESSAGE_DEPTH = 199
WRITE_KEY_MEMBER = b'"writeKey"'
# A real batch of 500 KB has some 20,000 runs of brackets; taking apart a body with more is refused.
MAX_BRACKET_RUNS = 50_000
REDACTED = b"[redacted write key]"

_REASONS = (
    ("Detected duplicate key", "duplicate_key", "a key may appear once in an object, or readers disagree on it"),
    ("invalid unicode code point", "invalid_utf8", "JSON text must be UTF-8"),
    ("lone leading surrogate", "lone_surrogate", "a \\ud800-\\udfff escape must be half of a surrogate pair"),
    ("unexpected end of hex escape", "lone_surrogate", "a \\ud800-\\udfff escape must be half of a surrogate pair"),
    ("recursion limit exceeded", "too_deep", f"values may nest {MESSAGE_DEPTH} levels deep in a message"),
    ("number out of range", "number_too_long", "a number may have at most 4300 digits before its fraction or exponent"),
)
_POSITION = re.compile(r" at line (\d+) column (\d+)$")

_WS = re.compile(rb"[ \t\r\n]*+")
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.S)
_SCALAR = re.compile(rb"[^ \t\r\n,\]}]++")
# Everything up to the next bracket outside a string (or up to a quote that opens no complete string).
_TO_BRACKET = re.compile(rb'(?:[^"\[\]{}]++|"(?:[^"\\]++|\\.)*+")*+', re.S)
_OPENERS = re.compile(rb"[\[{]++")
_CLOSERS = re.compile(rb"[\]}]++")
_PLAIN_WRITE_KEY = rb'"writeKey"[ \t\r\n]*+:[ \t\r\n]*+"[^"\\]*+"'
# The whitespace after the value goes only with the comma after it, as in the member-by-member cut.
_WRITE_KEY_FIRST_MEMBER = re.compile(rb"(\{[ \t\r\n]*+)" + _PLAIN_WRITE_KEY + rb"(?:[ \t\r\n]*+,[ \t\r\n]*+)?")
_WRITE_KEY_AFTER_MEMBER = re.compile(rb",[ \t\r\n]*+" + _PLAIN_WRITE_KEY)
_WRITE_KEY_VALUE = re.compile(rb'("writeKey"[ \t\r\n]*+:[ \t\r\n]*+")(?:[^"\\]++|\\.)*+"', re.S)
_LINE_BREAKS = bytes.maketrans(b"\r\n", b"  ")
# `\u00XX` for a character of the write key alphabet: `-`, `0-9`, `A-Z`, `_`, `a-z`.
_ESCAPED_KEY_CHARACTER = re.compile(rb"\\u00(?:2[dD]|3[0-9]|4[1-9a-fA-F]|5[0-9aAfF]|6[1-9a-fA-F]|7[0-9aA])")
_QUOTE, _COLON, _COMMA = ord('"'), ord(":"), ord(",")
_OPEN_BRACE, _CLOSE_BRACE, _OPEN_BRACKET, _CLOSE_BRACKET = ord("{"), ord("}"), ord("["), ord("]")


class NotStrictJson(Exception):
    """Why a text is not strict JSON: a stable reason code and a sentence for the sender."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def parse_strict(data: bytes) -> Any:
    """The parsed document, or NotStrictJson: duplicate keys, invalid UTF-8, lone surrogates, depth, syntax."""
    try:
        return jiter.from_json(data, catch_duplicate_keys=True, allow_inf_nan=False, cache_mode="keys")
    except ValueError as error:
        raise _not_strict(str(error)) from None


def parse_strict_message(raw: bytes) -> Any:
    """One message parsed at the depth it would have in a batch, so depth limits agree across endpoints."""
    try:
        wrapped = jiter.from_json(
            b"[[" + raw + b"]]", catch_duplicate_keys=True, allow_inf_nan=False, cache_mode="keys"
        )
    except ValueError as error:
        raise _not_strict(str(error), column_shift=2) from None
    # `1],[2` is not JSON, yet wrapped it parses: a single value parses to exactly one element twice.
    if len(wrapped) != 1 or len(wrapped[0]) != 1:
        raise NotStrictJson("malformed_json", "not valid JSON: more than one value")
    return wrapped[0][0]


def _not_strict(error: str, column_shift: int = 0) -> NotStrictJson:
    position = _POSITION.search(error)
    if column_shift and position and position[1] == "1":
        error = f"{error[: position.start()]} at line 1 column {int(position[2]) - column_shift}"
    for prefix, reason, why in _REASONS:
        if error.startswith(prefix):
            return NotStrictJson(reason, f"{error}: {why}")
    return NotStrictJson("malformed_json", f"not valid JSON: {error}")


def without_position(detail: str) -> str:
    """A NotStrictJson detail without its line and column, for text that is not what the client sent."""
    head, _, why = detail.partition(": ")
    return _POSITION.sub("", head) + (f": {why}" if why else "")


def line_breaks_as_spaces(raw: bytes) -> bytes:
    """Valid JSON with CR and LF as spaces: outside strings they are whitespace, inside they are escaped.

    Same length, same meaning, and a JSON Lines record can hold it.
    """
    return raw.translate(_LINE_BREAKS)


def value_end(data: bytes, start: int, max_runs: int = sys.maxsize) -> int:
    """Where the JSON value starting at `start` ends, or -1 when it does not (or takes more than `max_runs`).

    Counts brackets, skipping strings: it assumes the value is valid JSON (or at least balanced), so a
    deeply nested value costs one step per run of brackets, not one per byte.
    """
    return _value_end(data, start, max_runs)[0]


def _value_end(data: bytes, start: int, max_runs: int) -> tuple[int, int]:
    """`value_end`, and how many runs of brackets it went through."""
    if start >= len(data):
        return -1, 0
    first = data[start]
    if first == _QUOTE:
        string = _STRING.match(data, start)
        return (-1 if string is None else string.end()), 0
    if first not in (_OPEN_BRACE, _OPEN_BRACKET):
        scalar = _SCALAR.match(data, start)
        return (-1 if scalar is None else scalar.end()), 0
    depth, position, runs = 0, start, 0
    while runs < max_runs:
        runs += 1
        position = _TO_BRACKET.match(data, position).end()
        if position >= len(data) or data[position] == _QUOTE:
            return -1, runs
        if data[position] in (_OPEN_BRACE, _OPEN_BRACKET):
            run_end = _OPENERS.match(data, position).end()
            depth += run_end - position
        else:
            run_end = _CLOSERS.match(data, position).end()
            if run_end - position >= depth:
                return position + depth, runs
            depth -= run_end - position
        position = run_end
    return -1, runs


def without_write_keys(raw: bytes) -> bytes:
    """Strict JSON with every `writeKey` member (the name as sent) cut out, at any depth.

    Only the member and one comma go; every other byte stays. A member whose value is a plain string
    (every SDK's) is cut by a regex in one pass: in valid JSON, `,` or `{` followed by `"writeKey":` can
    only start a member, never sit in a string, whose quotes would be escaped. Others are found one by
    one: a `find` per occurrence, skipping those inside strings, and the value's end.
    """
    raw = _WRITE_KEY_AFTER_MEMBER.sub(b"", _WRITE_KEY_FIRST_MEMBER.sub(rb"\1", raw))
    if WRITE_KEY_MEMBER not in raw:
        return raw
    pieces: list[bytes] = []
    kept_from = search = 0
    while (start := raw.find(WRITE_KEY_MEMBER, search)) >= 0:
        search = start + len(WRITE_KEY_MEMBER)
        if _escaped(raw, start):
            continue  # `\"writeKey"` sits inside a string
        colon = _WS.match(raw, search).end()
        if colon >= len(raw) or raw[colon] != _COLON:
            continue  # the string "writeKey" as a value, not a member's name
        end = value_end(raw, _WS.match(raw, colon + 1).end())
        if end < 0:
            raise ValueError("member value does not end: the text is not valid JSON")
        before = raw.rfind(b",", kept_from, start)
        if before >= 0 and not raw[before + 1 : start].strip(b" \t\r\n"):
            cut_from, cut_to = before, end  # `, "writeKey": ...` after another member
        else:
            after = _WS.match(raw, end).end()
            # the object's first member: take the comma after it (and the space up to the next member)
            cut_from = start
            cut_to = _WS.match(raw, after + 1).end() if after < len(raw) and raw[after] == _COMMA else end
        pieces.append(raw[kept_from:cut_from])
        kept_from = search = cut_to
    if not pieces:
        return raw
    pieces.append(raw[kept_from:])
    return b"".join(pieces)


def _escaped(data: bytes, quote: int) -> bool:
    backslashes = 0
    while quote - backslashes > 0 and data[quote - backslashes - 1] == 0x5C:
        backslashes += 1
    return backslashes % 2 == 1


def has_escaped_key_characters(data: bytes) -> bool:
    """Whether `data` writes a character a write key may hold (`A-Z`, `a-z`, `0-9`, `_`, `-`) as a `\\u` escape.

    No JSON writer escapes those; a sender that does could be spelling its key so that a search for
    the key's bytes misses it. The one cheap scan that tells whether the careful search is needed.
    """
    return _ESCAPED_KEY_CHARACTER.search(data) is not None


def _spelled(secret: bytes, escapes: bool) -> bytes:
    """A pattern for `secret` as JSON text may write it: each character as itself or as its `\\u` escape."""
    if not escapes:
        return re.escape(secret)
    return b"".join(rb"(?:%s|\\u00%s)" % (re.escape(bytes([byte])), _any_case_hex(byte)) for byte in secret)


def _any_case_hex(byte: int) -> bytes:
    """`6b` as `6[bB]`: JSON escapes take hex digits in either case."""
    return b"".join(b"[%c%c]" % (digit, digit ^ 0x20) if digit > 0x39 else bytes([digit]) for digit in b"%02x" % byte)


def redact_in_strings(raw: bytes, secret: bytes) -> bytes:
    """Strict JSON with `secret` replaced by the marker wherever it occurs inside a string.

    Written plainly or with `\\u` escapes (`\\u0077k_...`): either way a reader decodes the key. An
    occurrence right after an escaping backslash (`\\b` + the rest of a key starting with `b`) is an
    escape, not the secret, and is left alone: replacing it would break the escape.
    """
    escapes = has_escaped_key_characters(raw)
    if not secret or (secret not in raw and not escapes):
        return raw
    inside = re.compile(rb"(?<!\\)((?:\\\\)*+)" + _spelled(secret, escapes))

    def redact(string: re.Match[bytes]) -> bytes:
        text = string[0]
        return inside.sub(rb"\1" + REDACTED, text) if escapes or secret in text else text

    return _STRING.sub(redact, raw)


def redact_body(data: bytes, secret: bytes | None) -> bytes:
    """Any bytes (a body kept for the quarantine) with write keys replaced by the marker.

    Every occurrence of the sender's key (plainly or with `\\u` escapes), and the value of every
    `"writeKey": "..."`, whoever's it is. Not JSON-aware on purpose: the body may not be JSON at all.
    """
    if secret:
        data = data.replace(secret, REDACTED)
        if has_escaped_key_characters(data):
            data = re.sub(_spelled(secret, escapes=True), REDACTED, data)
    if WRITE_KEY_MEMBER in data:
        data = _WRITE_KEY_VALUE.sub(rb"\1" + REDACTED + b'"', data)
    return data


def batch_item_spans(text: bytes) -> list[tuple[int, int]] | None:
    """Where each message of a batch body's `batch` array starts and ends, or None when that cannot be told.

    For a body that failed the strict check: the structure is followed without trusting the content,
    so the faulty messages can be refused one by one and their neighbours kept. The last `batch`
    member wins, as in the parsers; a repeated one is the envelope's fault, found by the caller. A
    body with more runs of brackets than any real batch (`MAX_BRACKET_RUNS`) is not taken apart: its
    cost would be the sender's weapon.
    """
    budget = [MAX_BRACKET_RUNS]
    position = _WS.match(text).end()
    if position >= len(text) or text[position] != _OPEN_BRACE:
        return None
    items: list[tuple[int, int]] = []
    position = _WS.match(text, position + 1).end()
    if position < len(text) and text[position] == _CLOSE_BRACE:
        return items if _WS.match(text, position + 1).end() == len(text) else None
    while True:
        key = _STRING.match(text, position)
        if key is None:
            return None
        position = _WS.match(text, key.end()).end()
        if position >= len(text) or text[position] != _COLON:
            return None
        position = _WS.match(text, position + 1).end()
        if key[0] == b'"batch"' and position < len(text) and text[position] == _OPEN_BRACKET:
            array_items = _array_item_spans(text, position, budget)
            if array_items is None:
                return None
            items, position = array_items
        else:
            position = _spend(text, position, budget)
            if position < 0:
                return None
        position = _WS.match(text, position).end()
        if position < len(text) and text[position] == _COMMA:
            position = _WS.match(text, position + 1).end()
            continue
        if position < len(text) and text[position] == _CLOSE_BRACE:
            return items if _WS.match(text, position + 1).end() == len(text) else None
        return None


def _spend(text: bytes, start: int, budget: list[int]) -> int:
    end, runs = _value_end(text, start, budget[0])
    budget[0] -= runs
    return end


def _array_item_spans(text: bytes, position: int, budget: list[int]) -> tuple[list[tuple[int, int]], int] | None:
    items: list[tuple[int, int]] = []
    position = _WS.match(text, position + 1).end()
    if position < len(text) and text[position] == _CLOSE_BRACKET:
        return items, position + 1
    while True:
        end = _spend(text, position, budget)
        if end < 0:
            return None
        items.append((position, end))
        position = _WS.match(text, end).end()
        if position < len(text) and text[position] == _COMMA:
            position = _WS.match(text, position + 1).end()
            continue
        if position < len(text) and text[position] == _CLOSE_BRACKET:
            return items, position + 1
        return None


def object_members(data: bytes, start: int) -> list[tuple[str, int, int, int]] | None:
    """The members of the strict JSON object at `start`, each as (its name decoded, where its name starts, where
    its value starts, where its value ends), offsets into `data`; None when no object starts there.

    Names are compared decoded, so `"\\u0069p"` is `ip`, as every JSON reader downstream reads it.
    """
    if start >= len(data) or data[start] != _OPEN_BRACE:
        return None
    members: list[tuple[str, int, int, int]] = []
    position = _WS.match(data, start + 1).end()
    if position < len(data) and data[position] == _CLOSE_BRACE:
        return members
    while True:
        key = _STRING.match(data, position)
        if key is None:
            raise ValueError("member name expected: the text is not valid JSON")
        name = key[0][1:-1].decode() if b"\\" not in key[0] else jiter.from_json(key[0])
        colon = _WS.match(data, key.end()).end()
        value_start = _WS.match(data, colon + 1).end()
        end = value_end(data, value_start)
        if colon >= len(data) or data[colon] != _COLON or end < 0:
            raise ValueError("member value expected: the text is not valid JSON")
        members.append((name, key.start(), value_start, end))
        position = _WS.match(data, end).end()
        if position < len(data) and data[position] == _COMMA:
            position = _WS.match(data, position + 1).end()
            continue
        return members


def without_member(data: bytes, members: list[tuple[str, int, int, int]], index: int) -> bytes:
    """`data` with the member `members[index]` (from `object_members`) and one comma cut out; every other byte
    stays."""
    _, name_start, _, end = members[index]
    if index > 0:
        return data[: members[index - 1][3]] + data[end:]  # `, "name": value` after the previous member
    if len(members) > 1:
        return data[:name_start] + data[members[1][1] :]  # `"name": value, ` up to the next member
    return data[:name_start] + data[end:]
