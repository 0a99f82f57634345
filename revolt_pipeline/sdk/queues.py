"""Where serialized events wait for the collector: in memory, or in a SQLite file that survives a crash.

Both queues hand events out at least once: `take` lends the oldest events to the one sender, which
then either `ack`s them (delivered, or refused for good: they are forgotten) or `release`s them (not
sent yet: they go back to the front). Taken events still count against `max_size` until acked, so
the bound is on everything not yet settled, as a row count on disk is.
"""

from __future__ import annotations

import collections
import os
import sqlite3
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, NamedTuple

try:  # a lock other processes can see; absent on Windows, where only in-process sharing is refused
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


class QueuedEvent(NamedTuple):
    """One serialized message. `seq` grows with every put, so it orders events and marks flush targets.

    A NamedTuple rather than a frozen dataclass: built on every track(), and twice as fast to build.
    """

    seq: int
    payload: str
    size: int  # UTF-8 bytes of payload


def payload_size(payload: str) -> int:
    """UTF-8 length without encoding when the text is ASCII (the usual case, and an O(1) check)."""
    return len(payload) if payload.isascii() else len(payload.encode("utf-8"))


class EventQueue(ABC):
    """A bounded FIFO with the waiting the sender and `flush()` need; storage is left to subclasses.

    One lock guards everything, and one condition announces every change. Producers only signal the
    consumer when it has asked to be woken at that level (first event, or a full batch), so a
    lingering consumer is not woken for each of a hundred events.
    """

    def __init__(self, max_size: int) -> None:
        if max_size < 1:
            raise ValueError(f"max_queue_size must be at least 1, got {max_size}")
        self.max_size = max_size
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._unsettled = 0  # stored and not yet acked: ready plus lent out
        self._ready_count = 0
        self._ready_bytes = 0
        self._ready_waiters = 0
        self._wake_count = 1
        self._wake_bytes = 1
        self._urgent = 0  # flush() in progress: the consumer stops lingering
        self._stop_waiting = False
        self._closed = False
        self._last_seq = 0
        self.total_put = 0  # events ever accepted: counted here, under the lock put() holds anyway
        # Batches are acked oldest first by the single sender, so this is a watermark: every event
        # with seq <= it is settled.
        self._acked_through = 0

    # -- producer side -------------------------------------------------------------------------

    def put(self, payload: str, size: int, block_timeout: float | None = None) -> bool:
        """Store one event; False when full (after waiting up to `block_timeout` if given) or closed."""
        with self._lock:
            if self._unsettled >= self.max_size and not (
                block_timeout
                and self._changed.wait_for(lambda: self._unsettled < self.max_size or self._closed, block_timeout)
            ):
                return False
            if self._closed:
                return False
            self._last_seq = self._store(payload, size)
            self.total_put += 1
            self._unsettled += 1
            self._ready_count += 1
            self._ready_bytes += size
            if self._ready_waiters and (self._ready_count >= self._wake_count or self._ready_bytes >= self._wake_bytes):
                self._changed.notify_all()
            return True

    # -- sender side ---------------------------------------------------------------------------

    def take(self, max_count: int, max_bytes: int) -> list[QueuedEvent]:
        """Lend out the oldest ready events: at most `max_count`, and at most `max_bytes` counting one
        comma between events, but always at least one event when any is ready."""
        with self._lock:
            if self._closed or not self._ready_count:
                return []
            events = self._fetch(max_count, max_bytes)
            if not events:
                # The counters said otherwise (rows deleted behind our back?): believe the storage,
                # or the consumer would spin on a queue it thinks is ready.
                self._ready_count = self._ready_bytes = 0
                return events
            self._ready_count -= len(events)
            self._ready_bytes -= sum(event.size for event in events)
            return events

    def ack(self, events: list[QueuedEvent]) -> None:
        """Forget lent events for good: the collector has them, or refused them permanently."""
        if not events:
            return
        with self._lock:
            if self._closed:
                return
            self._delete(events)
            self._unsettled -= len(events)
            self._acked_through = max(self._acked_through, events[-1].seq)
            self._changed.notify_all()

    def release(self, events: list[QueuedEvent]) -> None:
        """Give lent events back, at the front, in order: they were not delivered."""
        if not events:
            return
        with self._lock:
            if self._closed:
                return
            self._give_back(events)
            self._ready_count += len(events)
            self._ready_bytes += sum(event.size for event in events)
            self._changed.notify_all()

    def wait_ready(self, min_count: int, min_bytes: int, timeout: float | None) -> None:
        """Block until `min_count` events or `min_bytes` are ready, a flush hurries us with any event
        ready, waiting is stopped, or `timeout` passes."""
        with self._lock:
            self._ready_waiters += 1
            self._wake_count, self._wake_bytes = min_count, min_bytes
            try:
                self._changed.wait_for(
                    lambda: (
                        self._stop_waiting
                        or self._closed
                        or self._ready_count >= min_count
                        or self._ready_bytes >= min_bytes
                        or (self._urgent > 0 and self._ready_count > 0)
                    ),
                    timeout,
                )
            finally:
                self._ready_waiters -= 1
                self._wake_count = self._wake_bytes = 1

    # -- flush and shutdown --------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        """The seq of the newest event put so far: what a flush started now has to see settled."""
        with self._lock:
            return self._last_seq

    def settled_through(self, seq: int) -> bool:
        """Whether every event up to `seq` is delivered or permanently refused."""
        with self._lock:
            return self._is_settled_through(seq)

    def wait_settled(self, seq: int, timeout: float | None) -> bool:
        """Block until every event up to `seq` is settled; False on timeout or when closed first."""
        with self._lock:
            return self._changed.wait_for(
                lambda: self._is_settled_through(seq) or self._closed, timeout
            ) and self._is_settled_through(seq)

    def hurry(self) -> None:
        """Ask the consumer to send what is ready without waiting for a full batch (until `relax`)."""
        with self._lock:
            self._urgent += 1
            self._changed.notify_all()

    def relax(self) -> None:
        with self._lock:
            self._urgent -= 1

    def stop_waiting(self) -> None:
        """Make every current and future `wait_ready` return at once: the consumer is shutting down."""
        with self._lock:
            self._stop_waiting = True
            self._changed.notify_all()

    def close(self) -> int:
        """Stop accepting events and release resources; returns how many events were never settled."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._close_storage()
                self._changed.notify_all()
            return self._unsettled

    def __len__(self) -> int:
        """Events not yet settled: waiting, or lent out to a batch in flight."""
        with self._lock:
            return self._unsettled

    @property
    def persistent(self) -> bool:
        """Whether unsettled events outlive the process."""
        return False

    def _is_settled_through(self, seq: int) -> bool:
        return self._unsettled == 0 or self._acked_through >= seq

    # -- storage, called with the lock held ----------------------------------------------------

    @abstractmethod
    def _store(self, payload: str, size: int) -> int:
        """Append one event and return its seq."""

    @abstractmethod
    def _fetch(self, max_count: int, max_bytes: int) -> list[QueuedEvent]:
        """The oldest ready events within the limits (at least one), now lent out."""

    @abstractmethod
    def _delete(self, events: list[QueuedEvent]) -> None: ...

    @abstractmethod
    def _give_back(self, events: list[QueuedEvent]) -> None: ...

    def _close_storage(self) -> None:
        return None


def _fits(used: int, count: int, size: int, max_bytes: int) -> bool:
    # The first event always fits: an event larger than the limit still has to go out, alone.
    return count == 0 or used + 1 + size <= max_bytes


class MemoryQueue(EventQueue):
    """Events in a deque: the fastest, and lost if the process dies before they are delivered."""

    def __init__(self, max_size: int) -> None:
        super().__init__(max_size)
        self._ready: collections.deque[QueuedEvent] = collections.deque()
        self._next_seq = 1

    def _store(self, payload: str, size: int) -> int:
        seq = self._next_seq
        self._next_seq += 1
        self._ready.append(QueuedEvent(seq, payload, size))
        return seq

    def _fetch(self, max_count: int, max_bytes: int) -> list[QueuedEvent]:
        events: list[QueuedEvent] = []
        used = 0
        ready = self._ready
        while ready and len(events) < max_count and _fits(used, len(events), ready[0].size, max_bytes):
            event = ready.popleft()
            used += event.size + (1 if events else 0)
            events.append(event)
        return events

    def _delete(self, events: list[QueuedEvent]) -> None:
        return None  # taken events already left the deque

    def _give_back(self, events: list[QueuedEvent]) -> None:
        self._ready.extendleft(reversed(events))


# Resolved paths of disk queues open in this process: two Clients on one file would send everything twice.
_open_paths: set[str] = set()
_open_paths_lock = threading.Lock()


class DiskQueue(EventQueue):
    """Events as rows of a SQLite table, deleted only once settled, so they survive a crash or restart.

    WAL with synchronous=NORMAL makes each put one small append without fsync: durable against a
    killed process (the OS still has the write), not against a power cut, which is the trade-off
    that keeps `track()` cheap. One connection serves the caller and consumer threads, under the
    queue's lock. Rows found at start are ready first, oldest first.
    """

    def __init__(self, path: str | os.PathLike[str], max_size: int) -> None:
        super().__init__(max_size)
        self.path = Path(path).expanduser().resolve()
        self._taken_through = 0  # rows with id <= this are lent out (or gone)
        self._claim()
        self._lock_file: Any = None
        try:
            self._lock_file = self._lock_across_processes()
            self._connection = self._open()
            count, size, last = self._connection.execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(CAST(payload AS BLOB))), 0), COALESCE(MAX(id), 0) FROM events"
            ).fetchone()
        except BaseException:
            if self._lock_file is not None:
                self._lock_file.close()
            self._unclaim()
            raise
        self._unsettled = self._ready_count = count
        self._ready_bytes = size
        self._last_seq = last

    @property
    def persistent(self) -> bool:
        return True

    def _claim(self) -> None:
        with _open_paths_lock:
            if str(self.path) in _open_paths:
                raise ValueError(
                    f"queue_path {self.path} is already used by another Client in this process; "
                    "give each Client its own file (or share one Client)"
                )
            _open_paths.add(str(self.path))

    def _unclaim(self) -> None:
        with _open_paths_lock:
            _open_paths.discard(str(self.path))

    def _lock_across_processes(self) -> Any:
        if fcntl is None:  # pragma: no cover
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(f"{self.path}.lock", "a+b")  # noqa: SIM115 - held open for the queue's lifetime
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise ValueError(
                f"queue_path {self.path} is in use by another process; give each process its own file"
            ) from None
        return handle

    def _open(self) -> sqlite3.Connection:
        """The connection, in WAL mode, with the table created if new.

        One connection (check_same_thread=False) is shared by the caller's threads and the consumer:
        every use holds the queue's lock.
        """
        # Autocommit (isolation_level=None): each INSERT is its own transaction, committed on return.
        connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            # AUTOINCREMENT keeps ids growing after the table empties, so seqs never go back.
            connection.execute(
                "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL)"
            )
        except BaseException:
            connection.close()
            raise
        return connection

    def _store(self, payload: str, size: int) -> int:
        cursor = self._connection.execute("INSERT INTO events (payload) VALUES (?)", (payload,))
        seq = cursor.lastrowid
        assert seq is not None
        return seq

    def _fetch(self, max_count: int, max_bytes: int) -> list[QueuedEvent]:
        rows = self._connection.execute(
            "SELECT id, payload FROM events WHERE id > ? ORDER BY id LIMIT ?",
            (self._taken_through, max_count),
        ).fetchall()
        events: list[QueuedEvent] = []
        used = 0
        for seq, payload in rows:
            size = payload_size(payload)
            if not _fits(used, len(events), size, max_bytes):
                break
            used += size + (1 if events else 0)
            events.append(QueuedEvent(seq, payload, size))
        if events:
            self._taken_through = events[-1].seq
        return events

    def _delete(self, events: list[QueuedEvent]) -> None:
        connection = self._connection
        connection.execute("BEGIN")
        try:
            connection.executemany("DELETE FROM events WHERE id = ?", [(event.seq,) for event in events])
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def _give_back(self, events: list[QueuedEvent]) -> None:
        self._taken_through = min(self._taken_through, events[0].seq - 1)

    def _close_storage(self) -> None:
        try:
            self._connection.close()
        finally:
            if self._lock_file is not None:
                self._lock_file.close()  # closing the descriptor drops the flock
            self._unclaim()
