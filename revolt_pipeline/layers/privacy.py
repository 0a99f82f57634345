"""Everything the object store holds about a person, found object by object: what an export writes out, and
what a deletion must leave none of.

Every object is read, whatever its layer: Parquet by its id columns (`transforms/privacy.ID_COLUMNS`) and its JSON
columns (the message as sent, properties, traits, context), landed and quarantined JSON Lines by their records'
text, anything else (model files, profiles, markers) by the ids written in it. An id is found in text as a JSON
string (`"user-1"`, not the `user-1` inside `user-10`). A layer added later is covered without a change here.

A row (or record) naming the person is theirs when its owner is (`OWNER_COLUMNS`, else the message's `userId`,
`anonymousId`, `previousId`): an export shows it whole and a deletion removes it. A row someone else owns that
names the person (an event another person sent from the person's device, a property `"invitedBy": "user-1"`) is a
mention: an export says where it names them without showing the row, and a deletion keeps it with the person's ids
blanked (`RowsPlan`, `redact_json`).
"""

import base64
import enum
import gzip
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from revolt_pipeline.layers.staging import local_copies
from revolt_pipeline.reports import schema as report_schema
from revolt_pipeline.reports.loader import json_mentioning, rows_naming
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import IDENTITY_LINKS
from revolt_pipeline.transforms.privacy import ID_COLUMNS, identities_of, person_ids

# Whose a row is: the first of these it has a value in (a person, else the user who sent it, else their device).
OWNER_COLUMNS = ("person_id", "user_id", "to_user_id", "anonymous_id", "from_id", "previous_id")
# Whose a message as sent is (a quarantined row has no id column of its own): the first of these it has.
OWNER_FIELDS = ("userId", "anonymousId", "previousId")
# The column holding a message as the app sent it (raw_events, events_quarantine): JSON text.
MESSAGE_COLUMN = "message"
# Columns holding JSON text by name (a report snapshot keeps traits as plain text); any `arrow.json` column too.
JSON_COLUMNS = (MESSAGE_COLUMN, "properties", "traits", "context", "batch_context")
# A link between two ids means nothing with one end blanked: a link naming the person goes whole (rebuilt from the
# blanked raw day, it would not be made at all).
LINK_COLUMNS = ("from_id", "to_user_id")
# What a JSON string equal to one of the person's ids becomes in a row someone else owns: null is no id (an
# identity stitched, a distinct count, a session: each ignores it, as the NULL of a blanked id column), where a
# text marker would be one more id that every deleted person's rows share.
REDACTED = "null"
# The key identifying a row or a record, in an export's mentions.
ROW_ID_COLUMNS = ("message_id", "session_id")


@dataclass(frozen=True)
class Holding:
    """Some of the person's data: the object holding it, its rows (or records) that are the person's, and where
    rows of others name them (`mentions`: the row, its message id, and the column and JSON path naming an id)."""

    key: str
    rows: list[dict[str, Any]]
    mentions: list[dict[str, Any]] = field(default_factory=list)


def find_person_ids(store: ObjectStore, connection: duckdb.DuckDBPyConnection, ids: list[str]) -> list[str]:
    """Every id stitched to the people `ids` belong to, by the links of every raw day (committed or not: a
    link is personal data either way)."""
    keys = [info.key for info in store.list(IDENTITY_LINKS) if info.key.endswith(".parquet")]
    with local_copies(store, keys) as files:
        return person_ids(connection, files, ids)


def find_linked_ids(store: ObjectStore, connection: duckdb.DuckDBPyConnection, ids: list[str]) -> list[str]:
    """The identities the links of every raw day stitch to one of `ids` as their person (a device linked to the
    person since), without following an id of theirs to whoever it belongs to now (`transforms.privacy.identities_of`):
    what a deletion taken up again may add to the ids it kept."""
    keys = [info.key for info in store.list(IDENTITY_LINKS) if info.key.endswith(".parquet")]
    with local_copies(store, keys) as files:
        return identities_of(connection, files, ids)


def person_holdings(store: ObjectStore, ids: list[str]) -> Iterator[Holding]:
    """Each object of the store that holds something of the people known by `ids` (all their ids: see
    `find_person_ids`), with what it holds, in key order."""
    matcher = PersonMatcher.of(ids)
    for info in store.list():
        holding = matcher.holding(store, info.key)
        if holding.rows or holding.mentions:
            yield holding


class ObjectKind(enum.Enum):
    """How an object is searched, and how a deletion can take the person out of it."""

    PARQUET = "parquet"  # row by row
    LANDED = "landed"  # JSON Lines, gzipped (`landing/`, `quarantine/`): record by record
    OTHER = "other"  # as a whole (a model, a profile, a marker): by the ids written in it

    @classmethod
    def of(cls, key: str) -> "ObjectKind":
        if key.endswith(".parquet"):
            return cls.PARQUET
        if key.endswith(".jsonl.gz"):
            return cls.LANDED
        return cls.OTHER


@dataclass(frozen=True)
class Redaction:
    """A JSON text with the person's ids blanked, and the paths (`$.properties.invitedBy`) where they were."""

    text: str
    paths: list[str]
    ids: list[str]  # the id found at each path


@dataclass(frozen=True)
class RecordPlan:
    """What a landed (or quarantined) record is to the person: theirs (`removed`), someone else's naming them
    (`redacted`, with the line as it becomes), or neither."""

    removed: bool = False
    redacted: bytes | None = None
    names: list[dict[str, str]] = field(default_factory=list)  # where it names them: path and id

    @property
    def names_person(self) -> bool:
        return self.removed or self.redacted is not None


@dataclass(frozen=True)
class PersonMatcher:
    """What names the people known by some ids, in each kind of object, and what of it is theirs: the one
    definition an export (what is held) and an erasure (what must go, what is blanked) share, so a deletion leaves
    nothing an export would find."""

    ids: tuple[str, ...]  # sorted, distinct

    @classmethod
    def of(cls, ids: Iterable[str]) -> "PersonMatcher":
        return cls(tuple(sorted(set(ids))))

    def holding(self, store: ObjectStore, key: str) -> Holding:
        """What the object `key` holds of the person: their rows (records, or `{"mentions": id}`) whole, and
        where rows of others name them."""
        kind = ObjectKind.of(key)
        if kind is ObjectKind.PARQUET:
            return self._parquet_holding(store, key)
        if kind is ObjectKind.LANDED:
            rows, mentions = [], []
            for number, line in enumerate(landed_lines(store.get(key))):
                plan = self.record_plan(line)
                if plan.removed:
                    rows.append(json.loads(line))
                elif plan.redacted is not None:
                    record = json.loads(line)
                    message_id = record.get("messageId") if isinstance(record, dict) else None
                    mentions.append({"line": number, "message_id": message_id, "names": plan.names})
            return Holding(key, rows, mentions)
        return Holding(key, self.mentions(store.get(key), quoted=key.endswith(".json")))

    def parquet_plan(self, parquet: pq.ParquetFile) -> "RowsPlan | None":
        """Which rows of a Parquet file are the person's and which of others name them, or None when none does.
        Only the columns that can name one are read: most objects hold no one asked for, and a day of raw events is
        too large to read whole for nothing."""
        schema = parquet.schema_arrow
        columns = [name for name in (*ID_COLUMNS, *json_columns(schema)) if name in schema.names]
        if not columns or parquet.metadata.num_rows == 0:
            return None
        table = parquet.read(columns=columns)
        mask = self.rows_mask(table)
        if not pc.any(mask).as_py():
            return None
        return self._plan(table, mask, schema)

    def rows_mask(self, table: pa.Table) -> pa.ChunkedArray:
        """Which rows hold an id in an id column, or name one as a JSON string in a JSON column (quarantined rows
        have no id column of their own; a property can name someone)."""
        value_set = pa.array(self.ids, pa.string())
        found = [pc.is_in(_text(table[name]), value_set=value_set) for name in ID_COLUMNS if name in table.column_names]
        for name in json_columns(table.schema):
            text = _text(table[name])
            found += [pc.match_substring(text, quoted) for value in self.ids for quoted in _json_strings(value)]
        mask = found[0]
        for more in found[1:]:
            mask = pc.or_kleene(mask, more)
        return pc.fill_null(mask, False)

    def _plan(self, table: pa.Table, mask: pa.ChunkedArray, schema: pa.Schema) -> "RowsPlan":
        """Of the rows `mask` selects, those the person owns go; those someone else owns are blanked, unless
        blanking cannot keep them (a non-nullable id column, a link's end, a JSON column that does not parse):
        then they go too. Only the selected rows are looked at one by one."""
        ids = set(self.ids)
        selected = pc.indices_nonzero(mask.combine_chunks() if isinstance(mask, pa.ChunkedArray) else mask)
        named = table.take(selected)
        present = [name for name in OWNER_COLUMNS if name in named.column_names]
        owners = pc.coalesce(*[_text(named[name]) for name in present]).to_pylist() if present else None
        messages = _text(named[MESSAGE_COLUMN]).to_pylist() if MESSAGE_COLUMN in named.column_names else None
        removed, redacted = [], []
        for position, row in enumerate(selected.to_pylist()):
            owner = owners[position] if owners is not None else None
            if owner is None and messages is not None:
                owner = message_owner(messages[position])
            if owner is None or owner in ids or not self._blankable(named, position, schema):
                removed.append(row)
            elif self.row_names(named, position):
                redacted.append(row)
        flags = [False] * table.num_rows
        for row in removed:
            flags[row] = True
        return RowsPlan(pa.chunked_array([pa.array(flags, pa.bool_())]), redacted)

    def _blankable(self, table: pa.Table, row: int, schema: pa.Schema) -> bool:
        """Whether the row can keep its place with the person's ids blanked: no id of theirs in a non-nullable
        column or at a link's end, and every JSON column naming one parses."""
        ids = set(self.ids)
        for name in ID_COLUMNS:
            if (
                name in table.column_names
                and table[name][row].as_py() in ids
                and (name in LINK_COLUMNS or not schema.field(name).nullable)
            ):
                return False
        for name in json_columns(table.schema):
            text = _text(table[name])[row].as_py()
            if text is not None and self._quoted_in(text) and redact_json(text, ids) is None:
                return False
        return True

    def _quoted_in(self, text: str) -> bool:
        return any(quoted in text for value in self.ids for quoted in _json_strings(value))

    def row_names(self, table: pa.Table, row: int) -> list[dict[str, str]]:
        """Where the row `row` names an id: each id column holding one, and each JSON path (`$.a.b`) in a JSON
        column holding one as a string. A text matched as holding an id but holding none as a JSON string (the
        quoted id inside a longer string) names no one."""
        ids = set(self.ids)
        names = []
        for name in ID_COLUMNS:
            if name in table.column_names and (value := table[name][row].as_py()) in ids:
                names.append({"column": name, "id": value})
        for name in json_columns(table.schema):
            text = _text(table[name])[row].as_py()
            if text is not None and self._quoted_in(text):
                found = redact_json(text, ids)
                if found is not None:
                    names += [{"column": name, "path": p, "id": i} for p, i in zip(found.paths, found.ids, strict=True)]
        return names

    def record_plan(self, line: bytes) -> RecordPlan:
        """What a landed (or quarantined) record is to the person. It names them when its text holds an id as a
        JSON string (a refused body kept in base64 is decoded first, as the raw layer's `message` is matched). It is
        theirs when its message's owner (`OWNER_FIELDS`) is one of the ids or it has none; someone else's record is
        kept with every JSON string equal to an id blanked, a refused body decoded, blanked and encoded again (one
        that does not parse cannot be blanked, and goes)."""
        if not line.strip():
            return RecordPlan()
        record = json.loads(line)
        if not isinstance(record, dict):
            return RecordPlan(removed=True) if self.mentions(line, quoted=True) else RecordPlan()
        refused_field = next((name for name in ("payloadBase64", "rawBodyBase64") if record.get(name)), None)
        body = base64.b64decode(record[refused_field]) if refused_field else line
        if not self.mentions(body, quoted=True):
            return RecordPlan()
        ids = set(self.ids)
        text = line.decode()
        if refused_field:
            decoded = _parsed(body)
            owner = _body_owner(decoded) if decoded is not None else None
            if owner is None or owner in ids:
                return RecordPlan(removed=True)
            blanked_body = redact_json(body.decode(), ids) if _is_utf8(body) else None
            if blanked_body is None:  # JSON in another encoding: it cannot be blanked in its bytes
                return RecordPlan(removed=True)
            encoded = base64.b64encode(blanked_body.text.encode()).decode()
            text = _replace_string_value(text, refused_field, encoded)
            names = [{"path": f"$.{refused_field}(decoded){path[1:]}", "id": i} for path, i in _pairs(blanked_body)]
        else:
            message = record.get("message") if isinstance(record, dict) else None
            owner = _message_owner(message if isinstance(message, dict) else record)
            if owner is None or owner in ids:
                return RecordPlan(removed=True)
            names = []
        blanked = redact_json(text, ids)
        if blanked is None:
            return RecordPlan(removed=True)
        names += [{"path": path, "id": i} for path, i in _pairs(blanked)]
        if not names:
            return RecordPlan()  # the quoted id was inside a longer string: no one named
        return RecordPlan(redacted=blanked.text.encode(), names=names)

    def names_record(self, line: bytes) -> bool:
        """Whether a landed (or quarantined) record names an id (see `record_plan`)."""
        return self.record_plan(line).names_person

    def mentions(self, data: bytes, *, quoted: bool) -> list[dict[str, Any]]:
        """Which ids a file names: as JSON strings in JSON, as plain text in anything else (a pickled model)."""
        named = [
            value
            for value in self.ids
            if any(text.encode() in data for text in (_json_strings(value) if quoted else [value]))
        ]
        return [{"mentions": value} for value in named]

    def _parquet_holding(self, store: ObjectStore, key: str) -> Holding:
        with store.filesystem.open_input_file(store.path(key)) as source:
            parquet = pq.ParquetFile(source)
            plan = self.parquet_plan(parquet)
            if plan is None:
                return Holding(key, [])
            rows = parquet.read().filter(plan.removed).to_pylist()
            if not plan.redacted_rows:
                return Holding(key, rows)
            schema = parquet.schema_arrow
            columns = [name for name in (*ID_COLUMNS, *json_columns(schema), *ROW_ID_COLUMNS) if name in schema.names]
            table = parquet.read(columns=columns)
        mentions = []
        for row in plan.redacted_rows:
            mention: dict[str, Any] = {"row": row}
            for name in ROW_ID_COLUMNS:
                if name in table.column_names:
                    mention[name] = table[name][row].as_py()
            mentions.append(mention | {"names": self.row_names(table, row)})
        return Holding(key, rows, mentions)


@dataclass(frozen=True)
class RowsPlan:
    """The rows of a table that are the person's (`removed`), and those of others that name them (`redacted_rows`:
    kept with the person's ids blanked)."""

    removed: pa.ChunkedArray  # a flag per row
    redacted_rows: list[int]  # the rows' numbers, ascending

    @property
    def removed_count(self) -> int:
        return pc.sum(self.removed).as_py() or 0


def json_columns(schema: pa.Schema) -> list[str]:
    """The columns of `schema` holding JSON text: `JSON_COLUMNS` (as text), and any `arrow.json` column."""
    return [
        column.name
        for column in schema
        if isinstance(column.type, pa.JsonType)
        or (column.name in JSON_COLUMNS and (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)))
    ]


def message_owner(text: str | None) -> str | None:
    """Whose a message as sent is: its first `OWNER_FIELDS` holding a string; None when it has none (or is no
    JSON object)."""
    return _message_owner(_parsed(text.encode()) if text is not None else None)


def _message_owner(message: Any) -> str | None:
    if not isinstance(message, dict):
        return None
    return next((message[name] for name in OWNER_FIELDS if isinstance(message.get(name), str)), None)


def _body_owner(body: Any) -> str | None:
    """Whose a refused request body is: its message's owner, else that of the first message of its batch owned by
    someone."""
    owner = _message_owner(body)
    if owner is None and isinstance(body, dict) and isinstance(body.get("batch"), list):
        owner = next((found for item in body["batch"] if (found := _message_owner(item)) is not None), None)
    return owner


def _parsed(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def _pairs(redaction: Redaction) -> list[tuple[str, str]]:
    return list(zip(redaction.paths, redaction.ids, strict=True))


def _text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A string column as text: an `arrow.json` column's storage, anything else cast."""
    if isinstance(column.type, pa.BaseExtensionType):
        return pa.chunked_array([chunk.storage for chunk in column.chunks], column.type.storage_type)
    return column.cast(pa.string())


def _replace_string_value(text: str, name: str, value: str) -> str:
    """`text` (a JSON object) with its top-level member `name`'s string value replaced, every other byte kept."""
    pattern = re.compile(r'("' + re.escape(name) + r'"\s*:\s*)"(?:[^"\\]|\\.)*"', re.S)
    return pattern.sub(lambda found: found.group(1) + json.dumps(value), text, count=1)


_WS = re.compile(r"[ \t\r\n]*")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_SCALAR = re.compile(r"[^ \t\r\n,\]}]+")


def redact_json(text: str, ids: set[str]) -> Redaction | None:
    """`text` with every JSON string equal to one of `ids` replaced by `REDACTED`, and each object member whose
    key equals one removed (a key cannot be null; what is filed under the person goes with them); every other
    character kept as it was (escapes, spacing, key order). None when `text` is not JSON."""
    paths: list[str] = []
    found: list[str] = []

    def value(position: int, path: str) -> tuple[str, int]:
        position = _WS.match(text, position).end()
        if position >= len(text):
            raise ValueError("unexpected end")
        opening = text[position]
        if opening == "{":
            return container(position, path, "}", keyed=True)
        if opening == "[":
            return container(position, path, "]", keyed=False)
        if opening == '"':
            token = _STRING.match(text, position)
            if token is None:
                raise ValueError("unterminated string")
            if json.loads(token.group()) in ids:
                paths.append(path)
                found.append(json.loads(token.group()))
                return REDACTED, token.end()
            return token.group(), token.end()
        token = _SCALAR.match(text, position)
        if token is None:
            raise ValueError(f"unexpected {opening!r}")
        return token.group(), token.end()

    def container(position: int, path: str, closing: str, *, keyed: bool) -> tuple[str, int]:
        start = position
        position = _WS.match(text, position + 1).end()
        lead = text[start + 1 : position]
        if text[position : position + 1] == closing:
            return text[start : position + 1], position + 1
        members: list[tuple[str, bool]] = []  # each member's text (blanked), and whether it goes
        separators: list[str] = []
        while True:
            member_start = position
            dropped = False
            if keyed:
                key = _STRING.match(text, position)
                if key is None:
                    raise ValueError("expected a key")
                name = json.loads(key.group())
                colon = _WS.match(text, key.end()).end()
                if text[colon : colon + 1] != ":":
                    raise ValueError("expected ':'")
                dropped = name in ids
                if dropped:
                    paths.append(f"{path}.{name}(key)")
                    found.append(name)
                blanked, end = value(colon + 1, f"{path}.{name}")
                prefix = text[member_start : _WS.match(text, colon + 1).end()]
            else:
                blanked, end = value(position, f"{path}[{len(members)}]")
                prefix = ""
            members.append((prefix + blanked, dropped))
            after = _WS.match(text, end).end()
            if text[after : after + 1] == ",":
                following = _WS.match(text, after + 1).end()
                separators.append(text[end:following])
                position = following
                continue
            if text[after : after + 1] != closing:
                raise ValueError(f"expected {closing!r}")
            kept = [index for index, (_, gone) in enumerate(members) if not gone]
            inner = "".join(
                members[index][0] + (separators[index] if number < len(kept) - 1 else "")
                for number, index in enumerate(kept)
            )
            return text[start] + lead + inner + text[end:after] + closing, after + 1

    try:
        blanked, end = value(0, "$")
        if _WS.match(text, end).end() != len(text):
            raise ValueError("extra data")
    except (ValueError, RecursionError):
        return None
    return Redaction(blanked + text[end:], paths, found)


def blank_ids_in_json(text: str, ids: set[str]) -> str | None:
    """`text` with `ids` blanked as `redact_json` does; None (SQL NULL) when it is not JSON, which cannot be
    blanked and names the person."""
    redaction = redact_json(text, ids)
    return None if redaction is None else redaction.text


def landed_lines(data: bytes) -> list[bytes]:
    """The lines of a gzipped JSON Lines object, each with its line break: joined, they are the object's text
    again, so a deletion keeps every other record byte for byte."""
    return gzip.decompress(data).splitlines(keepends=True)


def _json_strings(value: str) -> list[str]:
    """`value` as a JSON string, as a client may write it: its characters as they are, or escaped to ASCII."""
    return sorted({json.dumps(value, ensure_ascii=False), json.dumps(value)})


@dataclass(frozen=True)
class PersonExport:
    """Everything held about the people some ids belong to: the answer to an access request. Their own rows whole;
    of the rows of others naming them, only where (`Holding.mentions`): another person's data is not theirs to
    receive."""

    requested: list[str]
    ids: list[str]  # every id stitched to them
    objects: list[Holding]
    report_tables: dict[str, list[dict[str, Any]]]
    spool: dict[str, Any] = field(default_factory=dict)  # what became of the collector's spool before reading
    # Per report table, rows of others whose JSON names them: the row's key, the column and JSON path.
    report_mentions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def rows(self) -> int:
        return sum(len(holding.rows) for holding in self.objects) + sum(map(len, self.report_tables.values()))

    def mentions(self) -> int:
        return sum(len(holding.mentions) for holding in self.objects) + sum(map(len, self.report_mentions.values()))

    def document(self, exported_at: datetime) -> dict[str, Any]:
        """The export as one JSON document (values as `json_value` makes them)."""
        return {
            "exported_at": exported_at.isoformat(),
            "requested_ids": self.requested,
            "ids": self.ids,
            "objects": {holding.key: holding.rows for holding in self.objects if holding.rows},
            "mentions": {holding.key: holding.mentions for holding in self.objects if holding.mentions},
            "report_tables": self.report_tables,
            "report_mentions": self.report_mentions,
            "spool": self.spool,
        }


def export_person(
    store: ObjectStore, connection: duckdb.DuckDBPyConnection, reports: sa.Engine, requested: list[str]
) -> PersonExport:
    """What the object store and the report database hold about the people `requested` ids belong to."""
    ids = find_person_ids(store, connection, requested)
    own = rows_naming(reports, ids)
    return PersonExport(
        requested, ids, list(person_holdings(store, ids)), own, report_mentions=_report_mentions(reports, ids, own)
    )


def _report_mentions(
    reports: sa.Engine, ids: list[str], own: dict[str, list[dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    """Where other people's report rows name the person in JSON (a trait whose value is their id): the row's key,
    the column and JSON path, never the row."""
    mentions: dict[str, list[dict[str, Any]]] = {}
    for table, rows in json_mentioning(reports, ids).items():
        keys = [column.name for column in report_schema.metadata.tables[table].primary_key.columns]
        theirs = {tuple(row[name] for name in keys) for row in own.get(table, [])}
        for row in rows:
            if tuple(row[name] for name in keys) in theirs:
                continue  # the person's own row, exported whole
            key = {name: row[name] for name in keys}  # dumped with the document (`json_value`)
            for column, text in row.items():
                found = redact_json(text, set(ids)) if column not in keys and text is not None else None
                if found is not None:
                    mentions.setdefault(table, []).extend(
                        {"row": key, "column": column, "path": path, "id": value}
                        for path, value in zip(found.paths, found.ids, strict=True)
                    )
    return mentions


def json_value(value: Any) -> Any:
    """`json.dumps`'s `default`: times as ISO 8601, exact decimals as text, bytes as base64."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
