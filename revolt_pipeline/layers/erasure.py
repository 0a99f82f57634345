"""A person taken out of every object of the store, whatever its layer: the part of a deletion that rewrites the
lake and the landed data (the report database, the models and the audit are the caller's).

Objects are matched as an export matches them (`privacy.PersonMatcher`), so a deletion leaves nothing an export
would find: Parquet loses the person's rows, keeps the rows of others that name them with the person's ids blanked
(NULL in an id column, JSON null for a JSON string in a message, properties, traits or context), and keeps every
other row as it was (schema, order, key-value metadata); landed and quarantined JSON Lines lose the person's
records, blank the others' records naming them, and keep every other record byte for byte (an object left with no
record is deleted); anything else that names one (a pickled model, a profile) cannot be cut row by row and is
reported as not rewritten, for the caller to retrain or document.

Each object is replaced whole (`ObjectStore.put_file`: a local file written aside, fsynced and renamed; one S3
PUT), never half written. A Parquet object is rewritten even when no row remains: a committed day's readers
expect its files, and an empty file with its schema is what a day without rows looks like; commit records list
keys only, so every committed day stays committed. What a raw day's profile counts is counted again from the
rewritten raw Parquet.

A progress record (`layout.erasure_progress_key`) holds what each changed object lost, by key and count, never an
id: it is written before the object is replaced, so a run that stops anywhere (a crash, S3 refusing) loses
nothing. Running the request again scans every object again (what was already erased holds nothing more to
take), finishes the job and reports the whole request, as one uninterrupted run would have; a run after a
finished one changes nothing.
"""

import gzip
import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from revolt_pipeline.layers.commits import RAW_EVENTS, is_committed
from revolt_pipeline.layers.privacy import (
    ObjectKind,
    PersonMatcher,
    RowsPlan,
    json_columns,
    landed_lines,
    redact_json,
)
from revolt_pipeline.layers.raw import profile_document
from revolt_pipeline.layers.staging import local_copies
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import (
    LANDING,
    PRIVACY,
    erasure_progress_key,
    raw_events_key,
    raw_profile_key,
    received_date_prefix,
)
from revolt_pipeline.transforms.engine import duckdb_connection
from revolt_pipeline.transforms.privacy import ID_COLUMNS
from revolt_pipeline.transforms.raw import profile_raw
from revolt_pipeline.transforms.rules import PipelineRules

REWRITTEN, DELETED, NOT_REWRITTEN = "rewritten", "deleted", "not_rewritten"
# Tries at an object a pipeline run keeps rewriting while the erasure rewrites it, before giving up on the run.
MAX_ATTEMPTS = 3
# As the collector compresses landed objects: the records are kept as they were, the container is rebuilt.
LANDED_GZIP_LEVEL = 1
# Layers partitioned by the day of their events: the days an erasure changed there are those to rebuild from.
EVENT_DAY_LAYERS = ("events", "events_quarantine", "sessionized_events", "sessions", "person_days", "funnel_progress")
_PARTITION_DAY = re.compile(r"=(\d{4}-\d{2}-\d{2})(?=[/.]|$)")
_RAW_EVENTS_KEY = re.compile(r"^raw_events/received_date=(\d{4}-\d{2}-\d{2})/events\.parquet$")


@dataclass(frozen=True)
class Erasure:
    """What erasing a person changed in the store, over every run of the request."""

    request_id: str
    objects_rewritten: list[str]  # keys rewritten without the person's rows
    objects_deleted: list[str]  # keys removed because nothing else remained in them
    objects_not_rewritten: list[str]  # keys that name the person but are not row data (models, profiles)
    rows_removed: dict[str, int]  # per layer (the key's top folder, e.g. "events", "landing")
    days: dict[str, list[date]]  # per layer, the partition days whose objects changed (for recomputing aggregates)
    profiles_recounted: list[str] = field(default_factory=list)  # raw profiles counted again from their raw day
    # Per layer, rows someone else owns (`privacy.OWNER_COLUMNS`) that named the person, kept with the person's ids
    # blanked: sent from the person's device, or naming them as a value (`"invitedBy": "user-1"`).
    rows_of_others_redacted: dict[str, int] = field(default_factory=dict)
    # Per layer, of `rows_removed`, rows of others a run of an earlier version removed with the person's (its
    # progress record says so): kept for the audit of a request begun before blanking.
    rows_of_others_removed: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.rows_removed.values())

    @property
    def event_days(self) -> list[date]:
        """The event days whose rows changed: rebuilding the cleaned days, then people, funnels and retention from
        them (as the cascade does) makes every aggregate and report table count without the person."""
        return sorted({day for layer in EVENT_DAY_LAYERS for day in self.days.get(layer, [])})


class ObjectChangedDuringErasure(RuntimeError):
    """An object changed each time it was about to be replaced: a pipeline run is writing it. Run the erasure
    again once that run is over (what was erased so far stays erased)."""


@dataclass(frozen=True)
class _Change:
    """What erasing does to one object: its outcome, the rows (records) it loses, and its new content."""

    outcome: str
    rows: int  # removed
    redacted: int = 0  # rows (records) of others kept with the person's ids blanked
    local_path: Path | None = None  # a rewritten Parquet object
    data: bytes | None = None  # a rewritten landed object

    def apply(self, store: ObjectStore, key: str) -> None:
        if self.outcome == DELETED:
            store.delete(key)
        elif self.local_path is not None:
            store.put_file(key, self.local_path)
        elif self.data is not None:
            store.put(key, self.data)


class _Progress:
    """The request's progress record: per key changed, its outcome and the rows it lost (never an id)."""

    def __init__(self, store: ObjectStore, request_id: str) -> None:
        self.store = store
        self.request_id = request_id
        self.key = erasure_progress_key(request_id)
        self.objects: dict[str, dict[str, Any]] = {}
        self.profiles: dict[str, int] = {}  # raw profile recounted -> its landed objects before the erasure
        self.finished = False
        if store.exists(self.key):
            document = json.loads(store.get(self.key))
            self.objects = document["objects"]
            self.profiles = document.get("profiles_recounted", {})
            self.finished = document.get("finished", False)

    def record(self, key: str, change: _Change) -> None:
        """What `key` is about to lose. A key recorded by an earlier run keeps its counts: a re-run finds its blanked
        rows naming no one, and must neither count them again nor forget them."""
        entry: dict[str, Any] = {"outcome": change.outcome, "rows": change.rows}
        if change.redacted:
            entry["redacted"] = change.redacted
        if self.objects.get(key) != entry:
            self.objects[key] = entry
            self.save()

    def landed_objects_before(self, key: str, now: int) -> int:
        """How many landed objects the raw profile `key` counted before the erasure: remembered the first time,
        so a re-run does not take the deleted ones off twice."""
        if key not in self.profiles:
            self.profiles[key] = now
            self.save()
        return self.profiles[key]

    def finish(self) -> None:
        if not self.finished:
            self.finished = True
            self.save()

    def save(self) -> None:
        document = {
            "request_id": self.request_id,
            "objects": self.objects,
            "profiles_recounted": self.profiles,
            "finished": self.finished,
        }
        self.store.put(self.key, json.dumps(document, indent=1, sort_keys=True).encode())

    def erasure(self) -> Erasure:
        def keys(outcome: str) -> list[str]:
            return sorted(key for key, entry in self.objects.items() if entry["outcome"] == outcome)

        rows: dict[str, int] = {}
        redacted: dict[str, int] = {}
        others: dict[str, int] = {}  # a progress record of an earlier version: rows of others removed
        days: dict[str, set[date]] = {}
        for key, entry in self.objects.items():
            if entry["outcome"] == NOT_REWRITTEN:
                continue
            layer = key.split("/", 1)[0]
            rows[layer] = rows.get(layer, 0) + entry["rows"]
            if entry.get("redacted"):
                redacted[layer] = redacted.get(layer, 0) + entry["redacted"]
            if entry.get("others"):
                others[layer] = others.get(layer, 0) + entry["others"]
            if (day := partition_day(key)) is not None:
                days.setdefault(layer, set()).add(day)
        return Erasure(
            request_id=self.request_id,
            objects_rewritten=keys(REWRITTEN),
            objects_deleted=keys(DELETED),
            objects_not_rewritten=keys(NOT_REWRITTEN),
            rows_removed=dict(sorted(rows.items())),
            days={layer: sorted(found) for layer, found in sorted(days.items())},
            profiles_recounted=sorted(self.profiles),
            rows_of_others_redacted=dict(sorted(redacted.items())),
            rows_of_others_removed=dict(sorted(others.items())),
        )


def erase_person(
    store: ObjectStore,
    ids: list[str],
    *,
    request_id: str,
    rules: PipelineRules | None = None,
    after_object: Callable[[str], None] | None = None,
    workdir: Path | None = None,
) -> Erasure:
    """Take the people known by `ids` out of every object of the store; what changed, over every run of the request.

    `ids` are ALL their ids (`privacy.find_person_ids`, resolved before anything is erased: the identity links
    go too). `rules` are the pipeline's (the raw profiles' assigned days are counted with them); `after_object`
    is called with each key once it changed (progress, for a caller that logs it). Objects under `privacy/` (the
    requests' own records) are left alone.
    """
    if not ids:
        raise ValueError("an erasure needs the person's ids")
    matcher = PersonMatcher.of(ids)
    progress = _Progress(store, request_id)
    with tempfile.TemporaryDirectory(prefix="revolt-erasure-", dir=workdir) as folder:
        for info in store.list():
            if info.key.startswith(PRIVACY + "/"):
                continue
            if _erase_object(store, info.key, matcher, Path(folder), progress) and after_object is not None:
                after_object(info.key)
        _recount_raw_profiles(store, progress, rules or PipelineRules(), Path(folder))
    progress.finish()
    return progress.erasure()


def partition_day(key: str) -> date | None:
    """The day a key's partition (`event_date=2026-11-20/`, `received_date=2026-11-20.json`) names, if any."""
    found = _PARTITION_DAY.search(key)
    return date.fromisoformat(found.group(1)) if found else None


def _erase_object(store: ObjectStore, key: str, matcher: PersonMatcher, folder: Path, progress: _Progress) -> bool:
    """Plan the object's change, record it, then replace the object if nothing wrote it meanwhile; whether it
    changed. An object rewritten under the erasure (a pipeline run writing the day) is planned again."""
    for _ in range(MAX_ATTEMPTS):
        before = _version(store, key)
        if before is None:
            return False  # gone meanwhile (a run rewriting its day deleted it)
        change = _planned_change(store, key, matcher, folder)
        if change is None:
            return False
        progress.record(key, change)  # first: a crash from here on leaves the count for the run that finishes
        if change.outcome == NOT_REWRITTEN:
            return False
        if _version(store, key) != before:
            continue
        change.apply(store, key)
        return True
    raise ObjectChangedDuringErasure(
        f"{store.uri(key)} changed {MAX_ATTEMPTS} times while it was being erased: a pipeline run is writing it. "
        f"Run the erasure again once that run is over."
    )


def _version(store: ObjectStore, key: str) -> tuple[int, int] | None:
    """What tells one write of an object from the next: its size and modification time (S3: to the second)."""
    info = store.filesystem.get_file_info(store.path(key))
    if info.type != pafs.FileType.File:
        return None
    return (info.size or 0, info.mtime_ns or 0)


def _planned_change(store: ObjectStore, key: str, matcher: PersonMatcher, folder: Path) -> _Change | None:
    """What the object becomes without the person (their rows gone, others' rows naming them blanked), or None
    when it names none of their ids."""
    kind = ObjectKind.of(key)
    if kind is ObjectKind.PARQUET:
        with store.filesystem.open_input_file(store.path(key)) as source:
            parquet = pq.ParquetFile(source)
            plan = matcher.parquet_plan(parquet)
            if plan is None or not (plan.removed_count or plan.redacted_rows):
                return None
            local = folder / "object.parquet"
            _write_erased(parquet, plan, set(matcher.ids), local)
        return _Change(REWRITTEN, plan.removed_count, len(plan.redacted_rows), local_path=local)
    data = store.get(key)
    if kind is ObjectKind.LANDED:
        lines = landed_lines(data)
        plans = [matcher.record_plan(line) for line in lines]
        if not any(plan.names_person for plan in plans):
            return None
        kept = [
            line if plan.redacted is None else plan.redacted
            for line, plan in zip(lines, plans, strict=True)
            if not plan.removed
        ]
        removed = sum(plan.removed for plan in plans)
        redacted = sum(plan.redacted is not None for plan in plans)
        if not any(line.strip() for line in kept):
            return _Change(DELETED, removed, redacted)
        return _Change(REWRITTEN, removed, redacted, data=_gzip(b"".join(kept)))
    return _Change(NOT_REWRITTEN, 0) if matcher.mentions(data, quoted=key.endswith(".json")) else None


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=LANDED_GZIP_LEVEL, mtime=0)


def _write_erased(parquet: pq.ParquetFile, plan: RowsPlan, ids: set[str], path: Path) -> None:
    """The Parquet file without the rows `plan` removes and with the rows it redacts blanked, written as it was:
    same schema (Parquet's and Arrow's), row order, key-value metadata, codec, and its row groups less the removed
    rows (one group in memory at a time: a raw day can be larger than memory). A schema that would not survive is
    an error, never a silently different file."""
    metadata = parquet.metadata
    codec = "zstd"
    if metadata.num_row_groups and metadata.row_group(0).num_columns:
        codec = metadata.row_group(0).column(0).compression.lower()
    options = {
        "version": metadata.format_version,
        "compression": "none" if codec == "uncompressed" else codec,
        "store_schema": b"ARROW:schema" in (metadata.metadata or {}),
    }
    redacted = np.asarray(plan.redacted_rows, dtype=np.int64)
    kept = 0
    with pq.ParquetWriter(path, parquet.schema_arrow, **options) as writer:
        offset = 0
        for index in range(metadata.num_row_groups):
            group = parquet.read_row_group(index)
            in_group = redacted[(redacted >= offset) & (redacted < offset + group.num_rows)] - offset
            group = _blanked(group, in_group, ids)
            rows = group.filter(pc.invert(plan.removed.slice(offset, group.num_rows)))
            offset += group.num_rows
            if rows.num_rows:
                writer.write_table(rows, row_group_size=rows.num_rows)
                kept += rows.num_rows
    written = pq.ParquetFile(path)
    if _columns(written.schema) != _columns(parquet.schema) or not written.schema_arrow.equals(
        parquet.schema_arrow, check_metadata=True
    ):
        raise ValueError(f"rewriting {path.name} would change its schema: {parquet.schema} became {written.schema}")
    if written.metadata.num_rows != kept:
        raise ValueError(f"rewriting {path.name} wrote {written.metadata.num_rows} rows of {kept}")


def _blanked(table: pa.Table, rows: np.ndarray, ids: set[str]) -> pa.Table:
    """`table` with the person's ids blanked in `rows` (positions): NULL in an id column, JSON null in a JSON
    column (`privacy.redact_json`); every other value, and every column's type, as it was."""
    if not len(rows):
        return table
    selected = np.zeros(table.num_rows, dtype=bool)
    selected[rows] = True
    mask = pa.array(selected)
    texts = set(json_columns(table.schema))
    columns = []
    for field_, column in zip(table.schema, table.columns, strict=True):
        array = column.combine_chunks()
        if field_.name in ID_COLUMNS:
            naming = pc.fill_null(pc.is_in(array.cast(pa.string()), value_set=pa.array(sorted(ids))), False)
            array = pc.if_else(pc.and_(mask, naming), pa.scalar(None, field_.type), array)
        elif field_.name in texts:
            extension = isinstance(array.type, pa.BaseExtensionType)
            storage = array.storage if extension else array
            values = [_redacted_text(value, ids) for value in storage.take(pa.array(rows)).to_pylist()]
            storage = pc.replace_with_mask(storage, mask, pa.array(values, storage.type))
            array = pa.ExtensionArray.from_storage(field_.type, storage) if extension else storage
        columns.append(array)
    return pa.Table.from_arrays(columns, schema=table.schema)


def _redacted_text(text: str | None, ids: set[str]) -> str | None:
    if text is None:
        return None
    redaction = redact_json(text, ids)
    return text if redaction is None else redaction.text


def _columns(schema: pq.ParquetSchema) -> list[tuple[Any, ...]]:
    """Each Parquet column as every reader sees it: path, physical and logical type, nesting. A signed integer
    of its physical width is one type whether annotated or not (DuckDB annotates it, pyarrow does not)."""
    columns = []
    for index in range(len(schema)):
        column = schema.column(index)
        logical = str(column.logical_type)
        width = {"INT32": 32, "INT64": 64}.get(column.physical_type)
        if width and logical == f"Int(bitWidth={width}, isSigned=true)":
            logical = "None"
        columns.append(
            (column.path, column.physical_type, logical, column.max_definition_level, column.max_repetition_level)
        )
    return columns


def _recount_raw_profiles(store: ObjectStore, progress: _Progress, rules: PipelineRules, folder: Path) -> None:
    """Count each committed raw day the erasure rewrote again, from its raw Parquet: its profile's rows, types,
    assigned days and catalog then say what the day holds (its drift check and `event_catalog` read them), and its
    landed objects those the day's build would read now (less the landed objects the erasure deleted)."""
    raw_days = sorted(
        date.fromisoformat(found.group(1))
        for key, entry in progress.objects.items()
        if entry["outcome"] == REWRITTEN and (found := _RAW_EVENTS_KEY.match(key))
    )
    if not raw_days:
        return
    with duckdb_connection(threads=1) as connection:
        for day in raw_days:
            key = raw_profile_key(day)
            if not is_committed(store, RAW_EVENTS, day) or not store.exists(key):
                continue
            landed = progress.landed_objects_before(key, json.loads(store.get(key)).get("landed_objects", 0))
            deleted = [
                name
                for name, entry in progress.objects.items()
                if entry["outcome"] == DELETED and name.startswith(received_date_prefix(LANDING, day))
            ]
            with local_copies(store, [raw_events_key(day)]) as (raw_path,):
                profile = profile_raw(connection, raw_path, day, rules)
            document = profile_document(day, profile, landed_objects=max(landed - len(deleted), 0))
            if document != store.get(key):
                store.put(key, document)
