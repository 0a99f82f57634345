"""The collector's durable spool: append-only segment files, fsynced before any event is acknowledged.

Concurrent requests share one fsync (group commit): while one write is on its way to disk, the
next requests queue up and go together in the following write. A segment holds one received hour
only, so each sealed segment becomes exactly one landed object without being parsed again.
"""

import asyncio
import os
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from revolt_pipeline.storage.object_store import fsync_directory

OPEN_SUFFIX = ".open"
SEALED_SUFFIX = ".sealed"


@dataclass
class Segment:
    """One spool file: its received hour, its events, and the oldest receive time it holds."""

    path: Path
    hour: datetime
    segment_id: str
    events: int = 0
    size: int = 0
    oldest_received: datetime | None = None
    opened_monotonic: float = field(default_factory=time.monotonic)
    fd: int | None = None

    @property
    def stem(self) -> str:
        return f"{self.hour:%Y%m%dT%H}-{self.segment_id}"


@dataclass(frozen=True)
class PendingWrite:
    hour: datetime
    data: bytes
    events: int
    received_at: datetime


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _parse_stem(name: str) -> tuple[datetime, str]:
    hour_text, segment_id = name.split("-", 1)
    return datetime.strptime(hour_text, "%Y%m%dT%H").replace(tzinfo=UTC), segment_id


class Spool:
    """Durable append-only storage for one stream of records (accepted events, or quarantine)."""

    def __init__(self, directory: Path, *, max_segment_bytes: int, max_segment_age_seconds: float) -> None:
        self.directory = directory
        self.max_segment_bytes = max_segment_bytes
        self.max_segment_age_seconds = max_segment_age_seconds
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # guards segment files and metadata across writer and uploader
        self._open: dict[datetime, Segment] = {}
        self._sealed: dict[str, Segment] = {}
        self._pending: list[PendingWrite] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._in_flight_oldest: datetime | None = None
        self._drain_task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"spool-{directory.name}")
        self._recover()

    # -- recovery -----------------------------------------------------------------------------
    def _recover(self) -> None:
        """Seal whatever a previous process left, dropping a torn tail that was never acknowledged."""
        for path in sorted(self.directory.glob(f"*{OPEN_SUFFIX}")):
            data = path.read_bytes()
            complete = data[: data.rfind(b"\n") + 1]
            if len(complete) != len(data):
                with open(path, "r+b") as handle:
                    handle.truncate(len(complete))
                    handle.flush()
                    os.fsync(handle.fileno())
            sealed = path.with_suffix(SEALED_SUFFIX)
            os.replace(path, sealed)
        for path in sorted(self.directory.glob(f"*{SEALED_SUFFIX}")):
            hour, segment_id = _parse_stem(path.stem)
            data = path.read_bytes()
            if not data:
                path.unlink()
                continue
            # The hour's start is a safe lower bound for what the segment holds.
            segment = Segment(path, hour, segment_id, data.count(b"\n"), len(data), hour)
            self._sealed[segment.stem] = segment
        fsync_directory(self.directory)

    # -- appending ----------------------------------------------------------------------------
    def append(self, data: bytes, events: int, received_at: datetime) -> "asyncio.Future[None]":
        """Queue records for the next group commit; the future resolves once they are on disk."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._pending.append(PendingWrite(hour_of(received_at), data, events, received_at))
        self._waiters.append(waiter)
        if self._drain_task is None:
            self._drain_task = loop.create_task(self._drain())
        return waiter

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                writes, waiters = self._pending, self._waiters
                self._pending, self._waiters = [], []
                self._in_flight_oldest = min(write.received_at for write in writes)
                try:
                    await loop.run_in_executor(self._executor, self._write_durably, writes)
                except Exception as exc:
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(exc)
                else:
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_result(None)
                finally:
                    self._in_flight_oldest = None
        finally:
            self._drain_task = None

    def _write_durably(self, writes: list[PendingWrite]) -> None:
        with self._lock:
            touched: dict[datetime, tuple[Segment, int, int, datetime | None]] = {}
            try:
                for write in writes:
                    segment = self._open.get(write.hour) or self._open_segment(write.hour)
                    if segment.hour not in touched:
                        touched[segment.hour] = (
                            segment,
                            segment.size,
                            segment.events,
                            segment.oldest_received,
                        )
                    assert segment.fd is not None
                    _write_all(segment.fd, write.data)
                    segment.size += len(write.data)
                    segment.events += write.events
                    if segment.oldest_received is None or write.received_at < segment.oldest_received:
                        segment.oldest_received = write.received_at
                for segment, *_ in touched.values():
                    assert segment.fd is not None
                    os.fdatasync(segment.fd)
            except BaseException:
                # Nothing of a failed group is acknowledged: cut every file back to where it was.
                for segment, size, events, oldest in touched.values():
                    if segment.fd is not None:
                        os.ftruncate(segment.fd, size)
                    segment.size, segment.events, segment.oldest_received = size, events, oldest
                raise
            for segment, *_ in touched.values():
                if segment.size >= self.max_segment_bytes:
                    self._seal(segment)

    def _open_segment(self, hour: datetime) -> Segment:
        # Wall-clock milliseconds keep ids unique and ordered across restarts, even under a simulated clock.
        segment_id = f"{time.time_ns() // 1_000_000:013d}{secrets.token_hex(3)}"
        path = self.directory / f"{hour:%Y%m%dT%H}-{segment_id}{OPEN_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        segment = Segment(path, hour, segment_id, fd=fd)
        fsync_directory(self.directory)
        self._open[hour] = segment
        return segment

    def _seal(self, segment: Segment) -> None:
        if segment.fd is not None:
            os.close(segment.fd)
            segment.fd = None
        del self._open[segment.hour]
        if segment.events == 0:
            segment.path.unlink(missing_ok=True)
            return
        sealed = segment.path.with_suffix(SEALED_SUFFIX)
        os.replace(segment.path, sealed)
        fsync_directory(self.directory)
        segment.path = sealed
        self._sealed[segment.stem] = segment

    # -- for the uploader ---------------------------------------------------------------------
    async def seal(self, *, force: bool) -> None:
        """Seal open segments that are old enough, or all of them when forced."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._seal_due, force)

    def _seal_due(self, force: bool) -> None:
        now = time.monotonic()
        with self._lock:
            for segment in list(self._open.values()):
                if force or now - segment.opened_monotonic >= self.max_segment_age_seconds:
                    self._seal(segment)

    def sealed_segments(self) -> list[Segment]:
        with self._lock:
            return sorted(self._sealed.values(), key=lambda segment: segment.stem)

    def forget(self, segment: Segment) -> None:
        """Delete a sealed segment whose upload succeeded."""
        with self._lock:
            segment.path.unlink(missing_ok=True)
            self._sealed.pop(segment.stem, None)
        fsync_directory(self.directory)

    def oldest_unlanded(self) -> datetime | None:
        """The earliest receive time of anything acknowledged or about to be, but not yet landed."""
        candidates = [write.received_at for write in self._pending]
        if self._in_flight_oldest is not None:
            candidates.append(self._in_flight_oldest)
        with self._lock:
            for segment in (*self._open.values(), *self._sealed.values()):
                if segment.oldest_received is not None:
                    candidates.append(segment.oldest_received)
        return min(candidates) if candidates else None

    def depth(self) -> tuple[int, int]:
        """Events and bytes held on disk and not yet landed."""
        with self._lock:
            segments = (*self._open.values(), *self._sealed.values())
            return sum(s.events for s in segments), sum(s.size for s in segments)

    def pending_by_hour(self) -> dict[datetime, int]:
        with self._lock:
            counts: dict[datetime, int] = {}
            for segment in (*self._open.values(), *self._sealed.values()):
                counts[segment.hour] = counts.get(segment.hour, 0) + segment.events
            return counts

    def close(self) -> None:
        """Close files without sealing: a restart recovers open segments as sealed ones."""
        self._executor.shutdown(wait=True)
        with self._lock:
            for segment in self._open.values():
                if segment.fd is not None:
                    os.close(segment.fd)
                    segment.fd = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
