"""Everything the object store holds about a person, found object by object: what an export writes out, and
what a deletion must leave none of.

Every object is read, whatever its layer: Parquet by its id columns (`transforms/privacy.ID_COLUMNS`) and the
messages it holds as sent, landed and quarantined JSON Lines by their records' text, anything else (model files,
profiles, markers) by the ids written in it. An id is found in text as a JSON string (`"user-1"`, not the
`user-1` inside `user-10`). A layer added later is covered without a change here.
"""

import base64
import enum
import gzip
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from revolt_pipeline.layers.staging import local_copies
from revolt_pipeline.reports.loader import rows_naming
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import IDENTITY_LINKS
from revolt_pipeline.transforms.privacy import ID_COLUMNS, person_ids

# Whose a row is: the first of these it has a value in (a person, else the user who sent it, else their device).
OWNER_COLUMNS = ("person_id", "user_id", "to_user_id", "anonymous_id", "from_id", "previous_id")
# The column holding a message as the app sent it (raw_events, events_quarantine): JSON text.
MESSAGE_COLUMN = "message"


@dataclass(frozen=True)
class Holding:
    """Some of the person's data: the object holding it, and its rows (or records) that name them."""

    key: str
    rows: list[dict[str, Any]]


def find_person_ids(store: ObjectStore, connection: duckdb.DuckDBPyConnection, ids: list[str]) -> list[str]:
    """Every id stitched to the people `ids` belong to, by the links of every raw day (committed or not: a
    link is personal data either way)."""
    keys = [info.key for info in store.list(IDENTITY_LINKS) if info.key.endswith(".parquet")]
    with local_copies(store, keys) as files:
        return person_ids(connection, files, ids)


def person_holdings(store: ObjectStore, ids: list[str]) -> Iterator[Holding]:
    """Each object of the store that holds something of the people known by `ids` (all their ids: see
    `find_person_ids`), with what it holds, in key order."""
    matcher = PersonMatcher.of(ids)
    for info in store.list():
        rows = matcher.holding(store, info.key)
        if rows:
            yield Holding(info.key, rows)


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
class PersonMatcher:
    """What names the people known by some ids, in each kind of object: the one definition an export (what is
    held) and an erasure (what must go) share, so a deletion leaves nothing an export would find."""

    ids: tuple[str, ...]  # sorted, distinct

    @classmethod
    def of(cls, ids: Iterable[str]) -> "PersonMatcher":
        return cls(tuple(sorted(set(ids))))

    def holding(self, store: ObjectStore, key: str) -> list[dict[str, Any]]:
        """The rows (or records, or `{"mentions": id}`) of the object `key` that name one of the ids."""
        kind = ObjectKind.of(key)
        if kind is ObjectKind.PARQUET:
            return self._parquet_rows(store, key)
        if kind is ObjectKind.LANDED:
            return [json.loads(line) for line in landed_lines(store.get(key)) if self.names_record(line)]
        return self.mentions(store.get(key), quoted=key.endswith(".json"))

    def parquet_match(self, parquet: pq.ParquetFile) -> "RowsMatch | None":
        """Which rows of a Parquet file name an id, or None when none does. Only the columns that can name one
        are read: most objects hold no one asked for, and a day of raw events is too large to read whole for
        nothing."""
        names = parquet.schema_arrow.names
        columns = [name for name in (*ID_COLUMNS, MESSAGE_COLUMN) if name in names]
        if not columns or parquet.metadata.num_rows == 0:
            return None
        table = parquet.read(columns=columns)
        mask = self.rows_mask(table)
        if not pc.any(mask).as_py():
            return None
        return RowsMatch(mask, self._others(table, mask))

    def rows_mask(self, table: pa.Table) -> pa.ChunkedArray:
        """Which rows hold an id in an id column, or name one as a JSON string in a message as sent (quarantined
        rows have no id column of their own)."""
        value_set = pa.array(self.ids, pa.string())
        found = [
            pc.is_in(table[name].cast(pa.string()), value_set=value_set)
            for name in ID_COLUMNS
            if name in table.column_names
        ]
        if MESSAGE_COLUMN in table.column_names:
            text = table[MESSAGE_COLUMN].cast(pa.string())
            found += [pc.match_substring(text, quoted) for value in self.ids for quoted in _json_strings(value)]
        mask = found[0]
        for more in found[1:]:
            mask = pc.or_kleene(mask, more)
        return pc.fill_null(mask, False)

    def _others(self, table: pa.Table, mask: pa.ChunkedArray) -> int:
        """Of the rows `mask` selects, those someone else owns (`OWNER_COLUMNS`): another person's event from the
        person's device, or naming an id only as a value."""
        present = [name for name in OWNER_COLUMNS if name in table.column_names]
        if not present:
            return 0
        owner = pc.coalesce(*[table[name].cast(pa.string()) for name in present])
        theirs = pc.fill_null(pc.invert(pc.is_in(owner, value_set=pa.array(self.ids, pa.string()))), False)
        return pc.sum(pc.and_(mask, theirs)).as_py() or 0

    def is_others_record(self, line: bytes) -> bool:
        """Whether a landed record someone else sent names an id: from the person's device, or as a value."""
        message = json.loads(line).get("message")
        if not isinstance(message, dict):
            return False
        owner = next((message[field] for field in ("userId", "anonymousId") if message.get(field) is not None), None)
        return owner is not None and owner not in self.ids

    def names_record(self, line: bytes) -> bool:
        """Whether a landed (or quarantined) record names an id: as a JSON string anywhere in its message (its id
        fields above all), as the raw layer's `message` is matched; a refused body kept in base64 likewise."""
        if not line.strip():
            return False
        record = json.loads(line)
        refused = record.get("payloadBase64") or record.get("rawBodyBase64")
        message = base64.b64decode(refused) if refused else line
        return bool(self.mentions(message, quoted=True))

    def mentions(self, data: bytes, *, quoted: bool) -> list[dict[str, Any]]:
        """Which ids a file names: as JSON strings in JSON, as plain text in anything else (a pickled model)."""
        named = [
            value
            for value in self.ids
            if any(text.encode() in data for text in (_json_strings(value) if quoted else [value]))
        ]
        return [{"mentions": value} for value in named]

    def _parquet_rows(self, store: ObjectStore, key: str) -> list[dict[str, Any]]:
        with store.filesystem.open_input_file(store.path(key)) as source:
            parquet = pq.ParquetFile(source)
            match = self.parquet_match(parquet)
            return [] if match is None else parquet.read().filter(match.mask).to_pylist()


@dataclass(frozen=True)
class RowsMatch:
    """The rows of a table that name an id, and how many of them someone else owns (`OWNER_COLUMNS`): events
    another person sent from the person's device, or naming an id only as a value (`"invitedBy": "user-1"`)."""

    mask: pa.ChunkedArray
    others: int


def landed_lines(data: bytes) -> list[bytes]:
    """The lines of a gzipped JSON Lines object, each with its line break: joined, they are the object's text
    again, so a deletion keeps every other record byte for byte."""
    return gzip.decompress(data).splitlines(keepends=True)


def _json_strings(value: str) -> list[str]:
    """`value` as a JSON string, as a client may write it: its characters as they are, or escaped to ASCII."""
    return sorted({json.dumps(value, ensure_ascii=False), json.dumps(value)})


@dataclass(frozen=True)
class PersonExport:
    """Everything held about the people some ids belong to: the answer to an access request."""

    requested: list[str]
    ids: list[str]  # every id stitched to them
    objects: list[Holding]
    report_tables: dict[str, list[dict[str, Any]]]

    def rows(self) -> int:
        return sum(len(holding.rows) for holding in self.objects) + sum(map(len, self.report_tables.values()))

    def document(self, exported_at: datetime) -> dict[str, Any]:
        """The export as one JSON document (values as `json_value` makes them)."""
        return {
            "exported_at": exported_at.isoformat(),
            "requested_ids": self.requested,
            "ids": self.ids,
            "objects": {holding.key: holding.rows for holding in self.objects},
            "report_tables": self.report_tables,
        }


def export_person(
    store: ObjectStore, connection: duckdb.DuckDBPyConnection, reports: sa.Engine, requested: list[str]
) -> PersonExport:
    """What the object store and the report database hold about the people `requested` ids belong to."""
    ids = find_person_ids(store, connection, requested)
    return PersonExport(requested, ids, list(person_holdings(store, ids)), rows_naming(reports, ids))


def json_value(value: Any) -> Any:
    """`json.dumps`'s `default`: times as ISO 8601, exact decimals as text, bytes as base64."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
