"""Personal data in events: configured trait and property keys hashed or dropped by cleaning, and the values the
raw layer's catalog finds that look personal (emails, phone numbers, IP addresses, card numbers).

**Keys** (`PiiRules`, from REVOLT_PII_HASH_KEYS and REVOLT_PII_DROP_KEYS). A bare key (`email`) matches a key of
that name at any depth of an event's properties, traits (identify and group calls) and `context.traits`: inside
nested objects and in the objects of arrays too (`properties.recipients[].email`). A path (`traits.name`,
`properties.customer.name`) matches that key at that place only: `traits.` starts at the root of the traits and
of `context.traits`, `properties.` at the root of the properties, and arrays on the way count as no step. Names
are compared case-insensitively, ignoring `_`, `-` and spaces: `first_name` matches `firstName` and `First Name`.

A matched value is replaced by its pseudonym, `sha256(salt || value)` in hex (`contract/pseudonyms.py`): a string
as sent (not lower-cased or trimmed), a number or boolean as its JSON text; in an object or array every value is
hashed and the shape kept; null stays null. Equal values keep equal pseudonyms across events, days and engines,
so a hashed email still counts and joins; without the salt, which stays secret, a phone number cannot be found
again by hashing candidates. A dropped key is removed with its value; a key both hashed and dropped is dropped.

The rewriting is a Python function over Arrow batches, registered on the connection (DuckDB's, or Spark's as an
Arrow UDF through `transforms/spark.py`), because JSON of any depth has no portable SQL: a batch is screened first
by a vectorized search for the configured names, so only documents naming one are parsed; the others are kept
byte for byte (about 1 s per million documents, on one core).
"""

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

# What a demanding default hashes: Segment's reserved traits that name, reach or locate a person, and their usual
# spellings. `name` only as the person's trait (`traits.name`): as a property it names pages, products or plans.
DEFAULT_PII_HASH_KEYS = (
    "email",
    "email_address",
    "phone",
    "phone_number",
    "mobile",
    "mobile_number",
    "first_name",
    "last_name",
    "full_name",
    "traits.name",
    "username",
    "address",
    "street",
    "birthday",
    "date_of_birth",
    "ssn",
)
SCOPES = ("traits", "properties")
DROPPED = "drop"
HASHED = "hash"


def normalized_key(key: str) -> str:
    """A key as configured names are compared: lower case, without `_`, `-` and whitespace."""
    return re.sub(r"[\s_-]", "", key).casefold()


@dataclass(frozen=True)
class KeyRule:
    """One configured entry: a bare key (anywhere) or a path from the root of a scope."""

    entry: str
    scope: str | None  # None: any scope, any depth
    path: tuple[str, ...]  # normalized keys

    @classmethod
    def parse(cls, entry: str) -> "KeyRule":
        parts = [normalized_key(part) for part in entry.strip().split(".")]
        if not all(parts):
            raise ValueError(f"a PII key must be a name or a path such as traits.name, not {entry!r}")
        if len(parts) == 1:
            return cls(entry, None, tuple(parts))
        if parts[0] not in SCOPES:
            raise ValueError(f"a PII key path starts with traits. or properties., not {entry!r}")
        return cls(entry, parts[0], tuple(parts[1:]))

    def matches(self, scope: str, path: tuple[str, ...]) -> bool:
        if self.scope is None:
            return path[-1] == self.path[0]
        return scope == self.scope and path == self.path


@dataclass(frozen=True)
class PiiRules:
    """The keys cleaning hashes or drops, and the salt of the pseudonyms. Inactive without keys (the library's
    default); the settings' default hashes `DEFAULT_PII_HASH_KEYS`."""

    hash_keys: tuple[str, ...] = ()
    drop_keys: tuple[str, ...] = ()
    salt: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for entry in (*self.hash_keys, *self.drop_keys):
            KeyRule.parse(entry)
        if self.hash_keys and not self.salt:
            raise ValueError("hashing PII keys needs the privacy salt (REVOLT_PRIVACY_SALT)")

    @property
    def active(self) -> bool:
        return bool(self.hash_keys or self.drop_keys)

    @cached_property
    def _drop_rules(self) -> tuple[KeyRule, ...]:
        return _rules(self.drop_keys)

    @cached_property
    def _hash_rules(self) -> tuple[KeyRule, ...]:
        return _rules(self.hash_keys)

    def action(self, scope: str, path: tuple[str, ...]) -> str | None:
        """DROPPED, HASHED or None for the key at `path` (normalized keys from the root of `scope`)."""
        if any(rule.matches(scope, path) for rule in self._drop_rules):
            return DROPPED
        if any(rule.matches(scope, path) for rule in self._hash_rules):
            return HASHED
        return None

    def covers(self, scope: str, key: str) -> bool:
        """Whether a top-level key of `scope` is hashed or dropped (the catalog's properties are top-level)."""
        return self.action(scope, (normalized_key(key),)) is not None

    def pseudonym(self, value: str) -> str:
        """`contract/pseudonyms.pseudonym(salt, value)`: transforms import nothing of the package, so it is
        stated again here; a test holds the two (and DuckDB's `sha256(salt || value)`) equal."""
        return hashlib.sha256(((self.salt or "") + value).encode()).hexdigest()

    @property
    def fingerprint(self) -> str:
        """Names this policy's functions on a connection (a connection may see several policies in tests)."""
        text = json.dumps([self.hash_keys, self.drop_keys, self.salt])
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _rules(entries: tuple[str, ...]) -> tuple[KeyRule, ...]:
    return tuple(KeyRule.parse(entry) for entry in entries)


@dataclass(frozen=True)
class _Rewriter:
    """Rewrites JSON documents of one kind: a scope's document, a context (its traits) or a whole message."""

    rules: PiiRules
    kind: str  # "traits", "properties", "context" or "message"

    def __call__(self, documents: pa.Array) -> pa.Array:
        documents = documents.cast(pa.string())
        screen = pc.match_substring_regex(documents, _screen_pattern(self.rules), ignore_case=True)
        candidates = pc.fill_null(screen, False)
        if not pc.any(candidates).as_py():
            return documents
        flags = candidates.to_pylist()
        return pa.array(
            [self.rewrite(text) if flag else text for text, flag in zip(documents.to_pylist(), flags, strict=True)],
            pa.string(),
        )

    def rewrite(self, text: str) -> str:
        try:
            document = json.loads(text)
        except ValueError:
            return text  # not JSON: nothing keyed to rewrite (raw documents are always JSON)
        if self.kind in SCOPES:
            changed, result = self._walk(document, self.kind, ())
        elif self.kind == "context":
            changed, result = self._member(document, "traits", "traits")
        else:
            changed, result = False, document
            for member, scope in (("properties", "properties"), ("traits", "traits")):
                moved, result = self._member(result, member, scope)
                changed |= moved
            if isinstance(result, dict) and isinstance(result.get("context"), dict):
                moved, context = self._member(result["context"], "traits", "traits")
                if moved:
                    result = {**result, "context": context}
                    changed = True
        return json.dumps(result, ensure_ascii=False, separators=(",", ":")) if changed else text

    def _member(self, document: Any, member: str, scope: str) -> tuple[bool, Any]:
        if not isinstance(document, dict) or member not in document:
            return False, document
        changed, value = self._walk(document[member], scope, ())
        return changed, ({**document, member: value} if changed else document)

    def _walk(self, value: Any, scope: str, path: tuple[str, ...]) -> tuple[bool, Any]:
        if isinstance(value, list):
            walked = [self._walk(item, scope, path) for item in value]
            return any(changed for changed, _ in walked), [item for _, item in walked]
        if not isinstance(value, dict):
            return False, value
        changed, result = False, {}
        for key, item in value.items():
            here = (*path, normalized_key(key))
            action = self.rules.action(scope, here)
            if action == DROPPED:
                changed = True
            elif action == HASHED:
                result[key] = self._hashed(item)
                changed |= item is not None
            else:
                moved, result[key] = self._walk(item, scope, here)
                changed |= moved
        return changed, result

    def _hashed(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            return self.rules.pseudonym(value)
        if isinstance(value, list):
            return [self._hashed(item) for item in value]
        if isinstance(value, dict):
            return {key: self._hashed(item) for key, item in value.items()}
        return self.rules.pseudonym(json.dumps(value))


def _screen_pattern(rules: PiiRules) -> str:
    """A document may name a configured key when it holds one as a JSON key, in any case and with any `_`, `-` or
    whitespace around or between its letters (searched case-insensitively, without a copy of the text), or holds a
    JSON escape (`"em\\u0061il"` is `"email"`: DuckDB's JSON columns hold none, a message as sent may)."""
    names = sorted({rule.path[-1] for rule in _rules((*rules.hash_keys, *rules.drop_keys))})
    spelled = "|".join(_SEPARATORS.join(re.escape(letter) for letter in name) for name in names)
    return f'"{_SEPARATORS}(?:{spelled}){_SEPARATORS}"\\s*:|\\\\u'


_SEPARATORS = r"[\s_-]*"


PII_KINDS = ("traits", "properties", "context", "message")


def register_pii_functions(connection: Any, rules: PiiRules) -> dict[str, str]:
    """Register the rewriting functions of `rules` on the connection (once); their names by kind."""
    names = {kind: f"revolt_pii_{rules.fingerprint}_{kind}" for kind in PII_KINDS}
    registered = {
        row[0]
        for row in connection.execute(
            "SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_name LIKE 'revolt_pii_%'"
        ).fetchall()
    }
    for kind, name in names.items():
        if name not in registered:
            connection.create_function(
                name,
                _Rewriter(rules, kind),
                [duckdb.sqltype("VARCHAR")],
                duckdb.sqltype("VARCHAR"),
                type="arrow",
                null_handling="special",
            )
    return names


def pseudonymized_sql(rules: PiiRules, names: dict[str, str], column: str, kind: str) -> str:
    """The JSON column `column` with `rules` applied (as JSON again), or the column itself when they are inactive."""
    if not rules.active:
        return column
    return f"json_extract({names[kind]}(CAST({column} AS VARCHAR)), '$')"


def pseudonymized_text_sql(rules: PiiRules, names: dict[str, str], column: str) -> str:
    """A whole message as text (the quarantine's) with `rules` applied to its properties, traits and context.traits."""
    if not rules.active:
        return column
    return f"{names['message']}({column})"


# The scanner: string values that look personal, counted per property by the raw layer's catalog (`raw.py`). Whole
# values are matched, never text inside a longer one, and numbers sent as JSON numbers are not looked at (they are
# counts and ids far more often than phone numbers). The kinds, in the order a value is tried:
# - email: local part, `@`, a domain with a dot and a top-level name of letters (`pkg@1.2.3` is none);
# - card: 13 to 19 digits (spaces and dashes between them allowed) of a card network's prefix (Visa, Mastercard,
#   American Express, Discover) that pass the Luhn check: a numeric id of that length seldom passes both;
# - phone: `+` and 8 to 15 digits with spaces, dots, dashes or parentheses between them (E.164 as written), or
#   the 3-3-4 form (`(415) 555-1234`, `415.555.1234`): bare digits are ids and timestamps, `2026-11-30` a date;
# - ip: an IPv4 address (four numbers up to 255: a four-part version such as `1.2.3.4` reads as one), or an
#   IPv6 address in full or with `::` (a time such as `12:30:00` is none).
LIKELY_PII_KINDS = ("email", "card", "phone", "ip")
# A property is flagged as likely personal when at least this share of its string values look like one kind.
LIKELY_PII_SHARE = 0.1

_EMAIL = r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
_CARD_PREFIXES = (
    r"(4[0-9]{12}([0-9]{3}){0,2}|5[1-5][0-9]{14}|2[2-7][0-9]{14}|3[47][0-9]{13}|6(011|5[0-9]{2})[0-9]{12,15})"
)
_PHONE = r"\+[1-9]([ .()-]{0,2}[0-9]){7,14}|\(?[0-9]{3}\)?[ .-]?[0-9]{3}[ .-][0-9]{4}"
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"({_OCTET}\.){{3}}{_OCTET}"
_HEX = r"[0-9A-Fa-f]{1,4}"
_IPV6 = rf"({_HEX}:){{7}}{_HEX}|({_HEX}(:{_HEX}){{0,6}})?::({_HEX}(:{_HEX}){{0,6}})?"


def _luhn_sql(digits: str) -> str:
    return (
        f"list_sum(list_transform(string_split(reverse({digits}), ''), lambda c, i: "
        "CASE WHEN i % 2 = 0 THEN TRY_CAST(c AS INTEGER) * 2 - CASE WHEN TRY_CAST(c AS INTEGER) >= 5 THEN 9 ELSE 0 END "
        "ELSE TRY_CAST(c AS INTEGER) END)) % 10 = 0"
    )


def _pattern(regex: str) -> str:
    return "'" + regex.replace("'", "''") + "'"


def likely_pii_sql(text: str) -> str:
    """The kind of personal data (one of LIKELY_PII_KINDS) the text `text` looks like, or NULL (DuckDB's SQL: the
    raw layer's)."""
    digits = f"replace(replace({text}, ' ', ''), '-', '')"
    return f"""CASE
        WHEN {text} LIKE '%@%' THEN CASE WHEN regexp_full_match({text}, {_pattern(_EMAIL)}) THEN 'email' END
        WHEN regexp_full_match({text}, '[0-9A-Fa-f .()+:-]{{3,45}}') THEN CASE
            WHEN regexp_full_match({text}, '[0-9 -]{{13,25}}')
                 AND regexp_full_match({digits}, {_pattern(_CARD_PREFIXES)}) AND {_luhn_sql(digits)} THEN 'card'
            WHEN regexp_full_match({text}, {_pattern(_PHONE)}) THEN 'phone'
            WHEN regexp_full_match({text}, {_pattern(_IPV4)}) OR regexp_full_match({text}, {_pattern(_IPV6)}) THEN 'ip'
        END
    END"""


def likely_pii_kind(counts: dict[str, int], values: int) -> str | None:
    """The kind a property's values most look like, when at least LIKELY_PII_SHARE of its `values` do."""
    kind, count = max(counts.items(), key=lambda item: (item[1], item[0]), default=(None, 0))
    return kind if count and count >= LIKELY_PII_SHARE * values else None
