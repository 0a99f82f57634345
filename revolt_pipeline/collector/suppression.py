"""The collector's copy of the suppression list (storage/suppression.py), and the spool's records it drops.

The list is read when the collector starts, every REVOLT_SUPPRESSION_REFRESH_SECONDS after, and before a forced
flush lands anything (what a deletion calls once it has added to the list: docs/privacy.md). A read that fails
keeps the last list and is reported (/health, /metrics); ingestion never waits for it. Landing does, until the
list has been read once: a spooled event of a deleted id must not land because the store was down at start.
"""

import logging
import threading
import time
from dataclasses import dataclass

import msgspec

from revolt_pipeline.collector.ingest import Privacy, message_ids
from revolt_pipeline.collector.spool import describe_os_error
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.suppression import read_suppressed

log = logging.getLogger("revolt.collector")
_NULL = msgspec.Raw(b"null")


class _Record(msgspec.Struct):
    """A spooled record's message: `message` in a landed record, `payload` in a quarantined one."""

    message: msgspec.Raw = _NULL
    payload: msgspec.Raw = _NULL


_record_decoder = msgspec.json.Decoder(_Record)


@dataclass(frozen=True)
class ReadFailure:
    reason: str
    at: float  # monotonic


class SuppressionList:
    """The last list read from the store, when it was read, and why the last read failed if it did."""

    def __init__(self, store: ObjectStore, salt: str | None) -> None:
        self.store = store
        self.salt = salt
        self.entries: frozenset[str] = frozenset()
        self.read_at: float | None = None  # monotonic time of the last successful read
        self.last_failure: ReadFailure | None = None  # cleared by the next read that succeeds
        self._tickets = 0
        self._applied = 0
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self.read_at is not None

    def refresh(self) -> bool:
        """Read the list from the store (blocking: run it in a thread). False when the read failed, and the last
        list stays. Of reads that overlap, the one started last wins."""
        with self._lock:
            self._tickets += 1
            ticket = self._tickets
        try:
            entries = read_suppressed(self.store)
            if entries and self.salt is None:
                raise ValueError("the collector has no privacy salt (REVOLT_PRIVACY_SALT): it cannot match the list")
        except Exception as exc:
            with self._lock:
                if ticket > self._applied:
                    self.last_failure = ReadFailure(describe_os_error(exc), time.monotonic())
            log.error("kept the previous suppression list (%d entries): %s", len(self.entries), exc)
            return False
        with self._lock:
            if ticket > self._applied:
                self._applied = ticket
                self.entries, self.read_at, self.last_failure = entries, time.monotonic(), None
        return True

    def age_seconds(self) -> float | None:
        """Seconds since the list was last read, None when it never was."""
        return None if self.read_at is None else time.monotonic() - self.read_at


def without_suppressed(data: bytes, privacy: Privacy) -> tuple[bytes, int]:
    """Spooled records (JSON Lines) less those of suppressed ids, and how many went. A record whose message
    cannot be read for ids (a refused body kept whole) stays."""
    if not privacy.suppressed:
        return data, 0
    kept: list[bytes] = []
    dropped = 0
    for line in data.split(b"\n"):
        if not line:
            continue
        try:
            record = _record_decoder.decode(line)
        except (msgspec.ValidationError, msgspec.DecodeError):
            kept.append(line)
            continue
        document = record.message if record.message != _NULL else record.payload
        ids = message_ids(document) if document != _NULL else (None, None, None)
        if privacy.any_suppressed(ids):
            dropped += 1
        else:
            kept.append(line)
    if not dropped:
        return data, 0
    return b"".join(line + b"\n" for line in kept), dropped
