"""JSON written byte by byte the way hostile or merely unusual clients write it, and read back strictly.

A JSON library would normalize exactly what these tests need to vary: escapes (`\\u00e9` or raw
UTF-8), whitespace between tokens (line breaks included), number spellings (`1.10`, `1E+2`, `-0`,
30 digits), duplicate keys, lone surrogates, invalid UTF-8 and nesting deeper than any parser
allows. So values are trees of the small types below, serialized here in a drawn `Style`, and the
test knows each message's exact bytes.
"""

import contextlib
import json
import random
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st


@dataclass(frozen=True)
class Text:
    """A JSON string; `bytes` parts are written as they are (invalid UTF-8 on purpose)."""

    parts: tuple[str | bytes, ...]

    @classmethod
    def of(cls, text: str) -> "Text":
        return cls((text,))


@dataclass(frozen=True)
class Number:
    lexeme: str


@dataclass(frozen=True)
class Members:
    """A JSON object as written: members in order, duplicates allowed."""

    items: tuple[tuple[Text, "Value"], ...]


@dataclass(frozen=True)
class Nested:
    """`value` wrapped in `depth` arrays or objects: deeper than recursion-based parsers go."""

    value: "Value"
    depth: int
    as_objects: bool


@dataclass(frozen=True)
class Raw:
    """JSON already written, emitted as it is: a message inside a batch keeps its exact bytes."""

    data: bytes


Value = None | bool | Number | Text | list["Value"] | Members | Nested | Raw


@dataclass(frozen=True)
class Style:
    """How a client writes JSON: escapes and whitespace between tokens, varied per token by `seed`."""

    escape: str = "raw"  # raw UTF-8, "ascii" (\\u escapes for all non-ASCII), or "mixed"
    whitespace: tuple[bytes, ...] = ()
    seed: int = 0


COMPACT = Style()
_SHORT_ESCAPES = {'"': b'\\"', "\\": b"\\\\", "\b": b"\\b", "\f": b"\\f", "\n": b"\\n", "\r": b"\\r", "\t": b"\\t"}


def serialize(value: Value, style: Style = COMPACT) -> bytes:
    writer = _Writer(style)
    writer.value(value)
    return b"".join(writer.out)


class _Writer:
    def __init__(self, style: Style) -> None:
        self.style = style
        self.random = random.Random(style.seed)
        self.out: list[bytes] = []

    def gap(self) -> None:
        if self.style.whitespace:
            self.out.append(self.random.choice(self.style.whitespace))

    def value(self, value: Value) -> None:
        if value is None:
            self.out.append(b"null")
        elif value is True:
            self.out.append(b"true")
        elif value is False:
            self.out.append(b"false")
        elif isinstance(value, Number):
            self.out.append(value.lexeme.encode())
        elif isinstance(value, Raw):
            self.out.append(value.data)
        elif isinstance(value, Text):
            self.text(value)
        elif isinstance(value, list):
            self.container(b"[", b"]", [(None, item) for item in value])
        elif isinstance(value, Members):
            self.container(b"{", b"}", list(value.items))
        elif isinstance(value, Nested):
            # Iterative: a Python recursion would stop where the server's parser should have.
            for _ in range(value.depth):
                self.out.append(b'{"n":' if value.as_objects else b"[")
                self.gap()
            self.value(value.value)
            self.out.append((b"}" if value.as_objects else b"]") * value.depth)
        else:
            raise TypeError(f"not a JSON value: {value!r}")

    def container(self, opening: bytes, closing: bytes, items: list[tuple[Text | None, Value]]) -> None:
        self.out.append(opening)
        for index, (name, item) in enumerate(items):
            if index:
                self.gap()
                self.out.append(b",")
            self.gap()
            if name is not None:
                self.text(name)
                self.gap()
                self.out.append(b":")
                self.gap()
            self.value(item)
        self.gap()
        self.out.append(closing)

    def text(self, text: Text) -> None:
        self.out.append(b'"')
        for part in text.parts:
            if isinstance(part, bytes):
                self.out.append(part)
                continue
            for char in part:
                self.out.append(self.char(char))
        self.out.append(b'"')

    def char(self, char: str) -> bytes:
        code = ord(char)
        escape = self.style.escape == "ascii" or (self.style.escape == "mixed" and self.random.random() < 0.5)
        if char in _SHORT_ESCAPES and not (escape and self.random.random() < 0.5):
            return _SHORT_ESCAPES[char]
        if char == "/" and escape:
            return b"\\/" if self.random.random() < 0.5 else self.unicode_escape(code)
        if code < 0x20 or char in '"\\' or 0xD800 <= code <= 0xDFFF or (escape and code > 0x7E):
            return self.unicode_escape(code)
        return char.encode()

    def unicode_escape(self, code: int) -> bytes:
        upper = self.random.random() < 0.5
        if code > 0xFFFF:
            code -= 0x10000
            return self.unicode_escape(0xD800 + (code >> 10)) + self.unicode_escape(0xDC00 + (code & 0x3FF))
        return (b"\\u%04X" if upper else b"\\u%04x") % code


# -- reading back, strictly ---------------------------------------------------------------------


class NotIJson(ValueError):
    """Not I-JSON (RFC 7493): invalid UTF-8, a lone surrogate, or a duplicated member name."""


class _Unique(dict):
    pass


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = _Unique()
    for name, item in pairs:
        if name in members:
            raise NotIJson(f"duplicate member {name!r}")
        members[name] = item
    return members


@contextlib.contextmanager
def deep_recursion(limit: int = 20_000) -> Iterator[None]:
    """Let Python's JSON parser go as deep as `Nested` writes (it counts levels against this limit)."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def parse_strict(data: bytes) -> Any:
    """The JSON value of `data` if it is strict JSON as the event contract has it; numbers as int or float.

    I-JSON (RFC 7493: UTF-8, no lone surrogates, no duplicated member name), and no number with more
    than `MAX_INTEGER_DIGITS` digits before its fraction or exponent. Raises NotIJson, ValueError.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NotIJson(f"invalid UTF-8: {error}") from None
    with deep_recursion():
        value = json.loads(text, object_pairs_hook=_unique_members, parse_int=_integer, parse_float=_float)
    for item in walk(value):
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise NotIJson(f"lone surrogate in {item!r}") from None
    return value


def _integer_digits(lexeme: str) -> int:
    return len(re.match(r"-?([0-9]*)", lexeme)[1])  # type: ignore[index]


def _integer(lexeme: str) -> int:
    if _integer_digits(lexeme) > MAX_INTEGER_DIGITS:
        raise NotIJson(f"a number with {_integer_digits(lexeme)} digits before its fraction or exponent")
    return int(lexeme)


def _float(lexeme: str) -> float:
    _integer(lexeme.partition(".")[0].partition("e")[0].partition("E")[0])
    return float(lexeme)


def walk(value: Any) -> Iterator[Any]:
    """Every value and member name inside `value`, iteratively."""
    stack = [value]
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def pruned(value: Any, below: int) -> Any:
    """`value` with everything nested deeper than `below` levels replaced by null."""
    if below <= 0:
        return None
    if isinstance(value, dict):
        return {name: pruned(item, below - 1) for name, item in value.items()}
    if isinstance(value, list):
        return [pruned(item, below - 1) for item in value]
    return value


def depth(value: Any) -> int:
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, level + 1) for child in children)
    return deepest


# -- strategies ----------------------------------------------------------------------------------

# docs/event-contract.md: at most 4,300 digits before a number's fraction or exponent.
MAX_INTEGER_DIGITS = 4300
# Number spellings that JSON allows and that libraries like to rewrite.
NUMBER_LEXEMES = [
    "0",
    "-0",
    "-0.0",
    "1.10",
    "1E+2",
    "1e2",
    "2.5e-3",
    "1.0",
    "123456789012345678901234567890",
    "-123456789012345678901234567890",
    "9007199254740993",
    "18446744073709551616",
    "1e400",
    "-1e400",
    "5e-324",
    "1e-400",
    "0.30000000000000004",
]
# At the contract's limit and past it, before the point and after it: (sign, digits, fraction digits, exponent).
LONG_NUMBERS = [
    ("", MAX_INTEGER_DIGITS, 0, ""),
    ("-", MAX_INTEGER_DIGITS, 1, "e-3"),
    ("", MAX_INTEGER_DIGITS + 1, 0, ""),
    ("", MAX_INTEGER_DIGITS + 1, 1, ""),
    ("-", 1, 5000, "E+2"),
]


def _long_number(spec: tuple[str, int, int, str]) -> str:
    sign, digits, fraction, exponent = spec
    return sign + "7" * digits + ("." + "7" * fraction if fraction else "") + exponent


INVALID_UTF8 = [b"\xff", b"\xc3", b"\x80", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80"]
LONE_SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]
ESCAPABLE = '"\\/\b\f\n\r\t\x00\x1f\u2028\u2029'


def styles(line_breaks: bool = True) -> st.SearchStrategy[Style]:
    gaps = [b" ", b"\t", b"  "] + ([b"\n", b"\r\n", b"\r", b" \n  "] if line_breaks else [])
    whitespace = st.lists(st.sampled_from(gaps), max_size=3, unique=True)
    return st.builds(
        Style,
        escape=st.sampled_from(["raw", "ascii", "mixed"]),
        whitespace=whitespace.map(lambda gaps: tuple([b"", *gaps]) if gaps else ()),
        seed=st.integers(0, 2**16),
    )


def numbers() -> st.SearchStrategy[Number]:
    ordinary = st.one_of(
        st.sampled_from(NUMBER_LEXEMES),
        st.integers().map(str),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
    )
    long = st.sampled_from(LONG_NUMBERS).map(_long_number)
    # A long one now and then: they are 4 KB or more.
    return st.integers(0, 15).flatmap(lambda n: long if n == 0 else ordinary).map(Number)


def plain_texts(max_size: int = 20) -> st.SearchStrategy[Text]:
    return st.text(max_size=max_size).map(Text.of)


def hostile_texts() -> st.SearchStrategy[Text]:
    """Valid strings that stress storage: escapes, NUL, over 255 characters, outside the BMP."""
    return st.one_of(
        st.text(alphabet=st.sampled_from(ESCAPABLE + "aé"), min_size=1, max_size=8).map(Text.of),
        st.text(min_size=0, max_size=6).map(lambda text: Text.of(text + "\x00")),
        st.integers(256, 700).map(lambda size: Text.of("n" * size)),
        st.text(alphabet=st.characters(min_codepoint=0x10000), min_size=1, max_size=4).map(Text.of),
    )


def broken_texts() -> st.SearchStrategy[Text]:
    """Strings that are not I-JSON: a lone surrogate (escaped) or bytes that are not UTF-8."""
    return st.tuples(plain_texts(4), st.sampled_from([*LONE_SURROGATES, *INVALID_UTF8]), plain_texts(4)).map(
        lambda parts: Text((*parts[0].parts, parts[1], *parts[2].parts))
    )


def names() -> st.SearchStrategy[Text]:
    """Property and trait names: mostly ordinary, often hostile."""
    return st.one_of(
        st.from_regex(r"[a-z][a-z_]{0,11}", fullmatch=True).map(Text.of),
        plain_texts(),
        hostile_texts(),
    )


def json_values(max_leaves: int = 10) -> st.SearchStrategy[Value]:
    scalars = st.one_of(st.none(), st.booleans(), numbers(), plain_texts(), hostile_texts())
    return st.recursive(
        scalars,
        lambda children: st.one_of(st.lists(children, max_size=4), objects(children, max_size=4)),
        max_leaves=max_leaves,
    )


def objects(values: st.SearchStrategy[Value] | None = None, max_size: int = 5) -> st.SearchStrategy[Members]:
    """Objects with distinct member names: duplicates are a defect tests add on purpose."""
    return st.lists(
        st.tuples(names(), json_values() if values is None else values),
        max_size=max_size,
        unique_by=lambda member: _decoded(member[0]),
    ).map(lambda items: Members(tuple(items)))


def _decoded(text: Text) -> str:
    return "".join(part if isinstance(part, str) else part.decode("utf-8", "surrogateescape") for part in text.parts)


def deeply_nested() -> st.SearchStrategy[Nested]:
    """Nesting from ordinary to far past recursion limits (Python's is 1,000)."""
    return st.builds(
        Nested,
        value=st.one_of(st.none(), numbers()),
        depth=st.one_of(st.integers(1, 40), st.integers(190, 205), st.integers(500, 3000)),
        as_objects=st.booleans(),
    )


# -- reading bytes as the contract edits them ---------------------------------------------------

_TOKEN = re.compile(rb'[ \t\r\n]*+(?:("[^"\\]*+(?:\\.[^"\\]*+)*+")|([{}\[\]:,])|([^ \t\r\n{}\[\]:,"]++))', re.S)
_WHITESPACE = re.compile(rb"[ \t\r\n]*+")


@dataclass
class _Container:
    is_object: bool
    expect_name: bool = True
    last_comma: int | None = None
    member: tuple[bytes, int, int | None] | None = None  # (name, where it starts, the comma before it)


def member_spans(data: bytes) -> Iterator[tuple[int, bytes, int, int, int | None]]:
    """(depth, name as written, name start, value end, comma before) for each member of valid JSON `data`.

    Iterative, so as deep as the text goes. Depth 1 is the top-level object's members.
    """
    stack: list[_Container] = []
    position = 0
    while position < len(data):
        token = _TOKEN.match(data, position)
        if token is None:
            break
        position = token.end()
        string, punctuation = token[1], token[2]
        top = stack[-1] if stack else None
        if string is not None and top is not None and top.is_object and top.expect_name:
            top.expect_name = False
            top.member = (string, token.start(1), top.last_comma)
            continue
        if punctuation == b"{" or punctuation == b"[":
            stack.append(_Container(is_object=punctuation == b"{"))
            continue
        if punctuation == b",":
            if top is not None and top.is_object:
                top.last_comma, top.expect_name = token.start(2), True
            continue
        if punctuation == b":":
            continue
        if punctuation is not None:  # a closing bracket ends a value, like a scalar
            stack.pop()
        # A value ended at `position`: it completes its parent's member, if any.
        parent = stack[-1] if stack else None
        if parent is not None and parent.is_object and parent.member is not None:
            name, start, comma = parent.member
            parent.member = None
            yield len(stack), name, start, position, comma


def top_level_member(data: bytes, name: bytes) -> bytes | None:
    """The value of the top-level object's last member written `name` (quotes included), as written."""
    found = None
    for level, written, start, end, _ in member_spans(data):
        if level == 1 and written == name:
            found = _WHITESPACE.match(data, data.index(b":", start + len(written)) + 1).end(), end
    return None if found is None else data[found[0] : found[1]]


def without_members(data: bytes, name: bytes) -> bytes:
    """Valid JSON with every member written `name` cut out, at any depth, as the event contract says.

    A member after another goes with the comma before it (and the whitespace between that comma and
    its name); a first member goes with the comma after it and the whitespace up to the next member;
    a lone member goes alone. Written apart from the collector's own cutting, to check it.
    """
    cuts = []
    for _, written, start, end, comma in member_spans(data):
        if written != name:
            continue
        if comma is not None:
            cuts.append((comma, end))
            continue
        after = _WHITESPACE.match(data, end).end()
        has_next = after < len(data) and data[after] == ord(",")
        cuts.append((start, _WHITESPACE.match(data, after + 1).end() if has_next else end))
    kept, position = [], 0
    for start, end in sorted(cuts):
        if start >= position:  # a member inside a member already cut goes with it
            kept.append(data[position:start])
            position = end
        position = max(position, end)
    return b"".join([*kept, data[position:]])
