"""Deletion requests: recorded, then carried out in an order that survives a crash at any point, and verified.

A request names one or more ids of a person; carrying it out removes every id stitched to them from the object
store and the report database. The order, and why:

1. **Resolve and keep the ids.** Every id stitched to the requested ones (`privacy.find_person_ids`) is written to
   the request's `pending_ids` before anything is removed: the erasure removes the identity links, so a run cut
   short afterwards must find the person's ids in the audit, not in the lake.
2. **Suppress** their pseudonyms (`storage/suppression.py`): the collector drops new events of these ids from
   then on, and the events still in its spool when they land, so nothing comes back behind the erasure.
3. **Erase** the store (`layers/erasure.erase_person`): every object rewritten without the person, atomically.
4. **Delete** the report tables' rows naming them (`reports/loader.delete_rows_naming`). The aggregates (counts of
   everyone) are rebuilt afterwards by the pipeline's own jobs over the days the erasure changed: `days_to_rebuild`.
5. **Verify** by scanning every object and every report table for every id (one scan for all requests of a run).
6. **Done**: the audit keeps pseudonyms and counts, and forgets the ids in clear.

Every step is idempotent, so a run cut short is resumed by running again: a `running` or `failed` request is taken
up where its ids were kept.
"""

import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import sqlalchemy as sa

from revolt_pipeline.contract.pseudonyms import pseudonym
from revolt_pipeline.layers.erasure import EVENT_DAY_LAYERS, Erasure, erase_person
from revolt_pipeline.layers.privacy import (
    blank_ids_in_json,
    find_linked_ids,
    find_person_ids,
    person_holdings,
)
from revolt_pipeline.reports.loader import (
    blank_json_mentions,
    delete_rows_naming,
    json_mentioning,
    privacy_requests,
    record_privacy_request,
    rows_naming,
    update_privacy_request,
)
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.suppression import suppress
from revolt_pipeline.transforms.rules import PipelineRules

DELETE = "delete"
# Requests a run takes up: new ones, and those a crash or an error left unfinished.
UNFINISHED = ("pending", "running", "failed")
# The raw layer: the erasure counts the profiles of the raw days it rewrote again, and `event_catalog` is loaded from
# those profiles.
RAW_EVENTS = "raw_events"
# Runs the sensor launches for one request before leaving it to be launched by hand.
AUTOMATIC_ATTEMPTS = 3
# The audit keeps an error's text up to this length.
ERROR_CHARS = 2000

Erase = Callable[..., Erasure]


@dataclass(frozen=True)
class RecordedRequest:
    """A deletion request as recorded: its id, and the ids it names."""

    request_id: str
    requested: list[str]


def record_deletion(
    engine: sa.Engine,
    salt: str,
    *,
    user_ids: Sequence[str],
    anonymous_ids: Sequence[str],
    requested_by: str,
    reason: str | None,
    now: datetime | None = None,
) -> RecordedRequest:
    """Record a deletion request (status `pending`), for `privacy_job` to carry out. The ids are kept in clear
    only in `pending_ids`, until the request is done; the audit names them by pseudonym."""
    requested = [*user_ids, *anonymous_ids]
    request_id = uuid.uuid4().hex
    named = [{"user_id": pseudonym(salt, value)} for value in user_ids]
    named += [{"anonymous_id": pseudonym(salt, value)} for value in anonymous_ids]
    record_privacy_request(
        engine,
        {
            "request_id": request_id,
            "kind": DELETE,
            "requested_at": now or datetime.now(UTC),
            "requested_by": requested_by,
            "reason": reason,
            "status": "pending",
            "requested_ids": json.dumps(named),
            "pending_ids": json.dumps(requested),
            "attempts": 0,
        },
    )
    return RecordedRequest(request_id, requested)


def requests_to_carry_out(engine: sa.Engine) -> list[tuple[str, int]]:
    """The unfinished requests a run should take up on its own, with the attempts each had: new ones, and those
    a crash or an error cut short fewer than `AUTOMATIC_ATTEMPTS` times (a store or database that was down is
    retried; a request failing every time waits for someone to read its error and launch privacy_job)."""
    return [
        (row["request_id"], row["attempts"])
        for row in privacy_requests(engine, UNFINISHED)
        if row["attempts"] < AUTOMATIC_ATTEMPTS
    ]


@dataclass
class Removed:
    """What a request removed over all its attempts (the audit's `removed`)."""

    objects_rewritten: int = 0
    objects_deleted: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # per layer of the store
    # Per layer, rows someone else owns that named the person, kept with the person's ids blanked.
    rows_of_others_redacted: dict[str, int] = field(default_factory=dict)
    report_rows: dict[str, int] = field(default_factory=dict)  # per report table
    # Per report table, rows of others whose JSON (a trait) named the person, kept with the ids blanked.
    report_rows_of_others_redacted: dict[str, int] = field(default_factory=dict)
    not_rewritten: list[str] = field(default_factory=list)  # keys naming the person that are not rows (models)
    days: dict[str, list[date]] = field(default_factory=dict)  # per layer, the partition days whose objects changed
    # Of `rows`, rows of others removed with the person's, by a version before blanking: an audit row (or a progress
    # record) of a request begun then says so; written back only when there are some.
    rows_of_others: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_json(cls, text: str | None) -> "Removed":
        """The audit's `removed`, as this version writes it or as an earlier one did (no `rows_of_others_redacted`:
        it removed others' rows instead, counted in `rows_of_others`)."""
        if not text:
            return cls()
        document = json.loads(text)
        return cls(
            objects_rewritten=document["objects_rewritten"],
            objects_deleted=document["objects_deleted"],
            rows=document["rows"],
            rows_of_others_redacted=document.get("rows_of_others_redacted", {}),
            report_rows=document["report_rows"],
            report_rows_of_others_redacted=document.get("report_rows_of_others_redacted", {}),
            not_rewritten=document["not_rewritten"],
            days={layer: [date.fromisoformat(day) for day in days] for layer, days in document["days"].items()},
            rows_of_others=document.get("rows_of_others", {}),
        )

    def to_json(self) -> str:
        document: dict[str, Any] = {
            "objects_rewritten": self.objects_rewritten,
            "objects_deleted": self.objects_deleted,
            "rows": self.rows,
            "rows_of_others_redacted": self.rows_of_others_redacted,
            "report_rows": self.report_rows,
            "report_rows_of_others_redacted": self.report_rows_of_others_redacted,
            "not_rewritten": self.not_rewritten,
            "days": {layer: [day.isoformat() for day in days] for layer, days in self.days.items()},
        }
        if self.rows_of_others:
            document["rows_of_others"] = self.rows_of_others
        return json.dumps(document, sort_keys=True)

    def set_erasure(self, erasure: Erasure) -> None:
        """What the store lost: the erasure reports the whole request, over every run of it (its progress record
        outlives a crash), so it replaces what an earlier attempt recorded."""
        self.objects_rewritten = _count(erasure.objects_rewritten)
        self.objects_deleted = _count(erasure.objects_deleted)
        self.rows = dict(erasure.rows_removed)
        self.rows_of_others_redacted = dict(erasure.rows_of_others_redacted)
        self.rows_of_others = dict(erasure.rows_of_others_removed)
        self.not_rewritten = sorted(erasure.objects_not_rewritten)
        self.days = {layer: sorted(days) for layer, days in erasure.days.items()}

    def add_report_rows(self, deleted: dict[str, int], blanked: dict[str, int]) -> None:
        """Report rows deleted, and others' rows blanked, now: added to an earlier attempt's (each happens once)."""
        for table, count in deleted.items():
            self.report_rows[table] = self.report_rows.get(table, 0) + count
        for table, count in blanked.items():
            self.report_rows_of_others_redacted[table] = self.report_rows_of_others_redacted.get(table, 0) + count


def _count(objects: int | Iterable[Any]) -> int:
    return objects if isinstance(objects, int) else len(list(objects))


@dataclass(frozen=True)
class Outcome:
    """One request carried out by a run: `done`, or `failed` with what remains."""

    request_id: str
    status: str
    ids: int  # how many ids the person had
    removed: Removed
    remaining: list[str]  # objects and report tables still naming an id of theirs


@dataclass(frozen=True)
class DeletionRun:
    """The requests one run carried out, and what its verification found."""

    outcomes: list[Outcome]

    @property
    def event_days(self) -> list[date]:
        """The event days the erasures changed (in the erasure's `EVENT_DAY_LAYERS`): the pipeline rebuilds the
        cleaned layer and everything after it (aggregates, people, report tables) from these days on."""
        return sorted(
            {
                day
                for outcome in self.outcomes
                for layer, days in outcome.removed.days.items()
                if layer in EVENT_DAY_LAYERS
                for day in days
            }
        )

    @property
    def received_days(self) -> list[date]:
        """The received days whose raw profiles the erasures counted again: their property catalog is loaded again
        (`event_catalog`)."""
        return sorted({day for outcome in self.outcomes for day in outcome.removed.days.get(RAW_EVENTS, [])})

    @property
    def remaining(self) -> list[str]:
        return sorted({where for outcome in self.outcomes for where in outcome.remaining})


def carry_out_requests(
    store: ObjectStore,
    connection: duckdb.DuckDBPyConnection,
    engine: sa.Engine,
    salt: str,
    *,
    run_id: str | None = None,
    rules: PipelineRules | None = None,
    workdir: Path | None = None,
    erase: Erase = erase_person,
    after_suppressing: Callable[[], None] = lambda: None,
    log: Callable[[str], None] = lambda _line: None,
) -> DeletionRun:
    """Carry out every unfinished request, oldest first, then verify them all with one scan of the store and the
    report database. A step that raises marks its request `failed` (ids kept) and stops the run.

    `after_suppressing` is called once a request's ids are on the suppression list, before anything is erased:
    the caller asks the collector to land its spool there, which it does without the person's events."""
    requests = privacy_requests(engine, UNFINISHED)
    removals: dict[str, tuple[list[str], Removed]] = {}
    for request in requests:
        request_id = request["request_id"]
        try:
            erasing = partial(erase, rules=rules, workdir=workdir)
            removals[request_id] = _remove(
                store, connection, engine, salt, request, run_id, erasing, after_suppressing, log
            )
        except Exception as exc:
            update_privacy_request(
                engine,
                request_id,
                {"status": "failed", "finished_at": datetime.now(UTC), "error": _error_text(exc)},
            )
            raise
    return DeletionRun(_verify(store, engine, removals, log))


def _remove(
    store: ObjectStore,
    connection: duckdb.DuckDBPyConnection,
    engine: sa.Engine,
    salt: str,
    request: dict[str, Any],
    run_id: str | None,
    erase: Erase,
    after_suppressing: Callable[[], None],
    log: Callable[[str], None],
) -> tuple[list[str], Removed]:
    """Steps 1 to 4 of one request; returns every id of the person and what was removed (all attempts)."""
    request_id = request["request_id"]
    kept = json.loads(request["pending_ids"])
    if request["attempts"]:
        # Kept ids of an earlier attempt come first: the links naming them may be gone. Devices linked to the person
        # since join them, but an id of theirs is not followed to whom it belongs now: with the person's first link
        # erased, a device they shared would lead to the next person who used it.
        ids = sorted({*kept, *find_linked_ids(store, connection, kept)})
    else:
        ids = find_person_ids(store, connection, kept)
    removed = Removed.from_json(request["removed"])
    update_privacy_request(
        engine,
        request_id,
        {
            "status": "running",
            "pending_ids": json.dumps(ids),
            "id_pseudonyms": json.dumps(sorted(pseudonym(salt, value) for value in ids)),
            "attempts": request["attempts"] + 1,
            "run_id": run_id,
            "started_at": datetime.now(UTC),
            "error": None,
        },
    )
    log(f"request {request_id}: {len(ids)} ids of the person, suppressed first")
    suppress(store, [pseudonym(salt, value) for value in ids])
    after_suppressing()
    erasure = erase(store, ids, request_id=request_id)
    removed.set_erasure(erasure)
    update_privacy_request(engine, request_id, {"removed": removed.to_json()})
    log(
        f"request {request_id}: the store erased ({sum(erasure.rows_removed.values())} rows removed and "
        f"{sum(erasure.rows_of_others_redacted.values())} rows of others blanked in "
        f"{_count(erasure.objects_rewritten)} objects rewritten, {_count(erasure.objects_deleted)} deleted)"
    )
    removed.add_report_rows(
        delete_rows_naming(engine, ids), blank_json_mentions(engine, ids, partial(blank_ids_in_json, ids=set(ids)))
    )
    update_privacy_request(engine, request_id, {"removed": removed.to_json()})
    return ids, removed


def _verify(
    store: ObjectStore,
    engine: sa.Engine,
    removals: dict[str, tuple[list[str], Removed]],
    log: Callable[[str], None],
) -> list[Outcome]:
    """Step 5 and 6: scan everything once for every id of the requests, then close each request."""
    everyone = sorted({value for ids, _ in removals.values() for value in ids})
    if not everyone:
        return []
    log(f"verifying: every object and report table searched for {len(everyone)} ids")
    found: list[tuple[str, Any]] = [
        (holding.key, [holding.rows, holding.mentions]) for holding in person_holdings(store, everyone)
    ]
    found += [(f"report table {name}", rows) for name, rows in rows_naming(engine, everyone).items()]
    found += [(f"report table {name}", rows) for name, rows in json_mentioning(engine, everyone).items()]
    audit = [row for row in privacy_requests(engine) if row["request_id"] not in removals]
    found += [(f"privacy_requests {row['request_id']}", row) for row in audit]
    outcomes = []
    for request_id, (ids, removed) in removals.items():
        remaining = sorted({where for where, held in found if _names(held, set(ids))})
        if remaining:
            values = {
                "status": "failed",
                "finished_at": datetime.now(UTC),
                "error": _error_text(f"still naming the person after the erasure: {', '.join(remaining)}"),
            }
        else:
            values = {"status": "done", "finished_at": datetime.now(UTC), "pending_ids": None, "error": None}
        update_privacy_request(engine, request_id, values)
        outcomes.append(Outcome(request_id, values["status"], len(ids), removed, remaining))
    return outcomes


def _names(held: Any, ids: set[str]) -> bool:
    """Whether rows (or a record, or a value) name one of `ids`: as a value, or as a JSON string in text."""
    if isinstance(held, str):
        return held in ids or any(json.dumps(value) in held for value in ids)
    if isinstance(held, dict):
        return any(_names(value, ids) for value in held.values())
    if isinstance(held, list | tuple):
        return any(_names(value, ids) for value in held)
    return False


def _error_text(error: BaseException | str) -> str:
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 3] + "..."
