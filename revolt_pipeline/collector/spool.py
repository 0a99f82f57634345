"""The collector's durable spool: append-only segment files, fsynced before any event is acknowledged.

Concurrent requests share one fsync (group commit): while one write is on its way to disk, the
next requests queue up and go together in the following write. A segment holds one received hour
only, so each sealed segment becomes exactly one landed object without being parsed again.
"""

import asyncio
import errno
import os
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from revolt_pipeline.private_files import FILE_MODE, make_private_dirs
from revolt_pipeline.storage.object_store import fsync_directory

OPEN_SUFFIX = ".open"
SEALED_SUFFIX = ".sealed"
PROBE_BYTES = 4096  # one page: the smallest write that needs free space on any file system


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
class WriteFailure:
    """Why the last write to the spool failed, and when (monotonic seconds)."""

    reason: str
    at: float


@dataclass(frozen=True)
class PendingWrite:
    hour: datetime
    data: bytes
    events: int
    received_at: datetime


@dataclass
class _Growth:
    """What one group commit appends to one segment, counted in only once it is on disk."""

    segment: Segment
    size: int = 0
    events: int = 0
    oldest_received: datetime | None = None

    def add(self, write: PendingWrite) -> None:
        self.size += len(write.data)
        self.events += write.events
        if self.oldest_received is None or write.received_at < self.oldest_received:
            self.oldest_received = write.received_at

    def commit(self) -> None:
        segment = self.segment
        segment.size += self.size
        segment.events += self.events
        if segment.oldest_received is None or (
            self.oldest_received is not None and self.oldest_received < segment.oldest_received
        ):
            segment.oldest_received = self.oldest_received


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
        make_private_dirs(directory)
        # Guards the segment tables and counts, never held during disk I/O.
        self._lock = threading.Lock()
        self._open: dict[datetime, Segment] = {}
        self._sealed: dict[str, Segment] = {}
        self._pending: list[PendingWrite] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._in_flight_oldest: datetime | None = None
        self._write_started: float | None = None  # monotonic start of the group commit on its way to disk
        self.last_write_failure: WriteFailure | None = None  # cleared by the next write that succeeds
        self._probe: asyncio.Future[None] | None = None
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
                self._write_started = time.monotonic()
                try:
                    await loop.run_in_executor(self._executor, self._write_durably, writes)
                except Exception as exc:
                    self.last_write_failure = WriteFailure(describe_os_error(exc), time.monotonic())
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(exc)
                else:
                    self.last_write_failure = None
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_result(None)
                finally:
                    self._in_flight_oldest = None
                    self._write_started = None
        finally:
            self._drain_task = None

    def _write_durably(self, writes: list[PendingWrite]) -> None:
        """Append and sync a group of writes, and count them only once they are on disk.

        Only the spool's own thread opens, appends to and seals segments, so the disk I/O runs without the
        lock: whoever reads the spool's state (the watermark, /health, /metrics) never waits for a disk.
        """
        growths: dict[datetime, _Growth] = {}
        try:
            for write in writes:
                segment = self._writable_segment(write.hour)
                growth = growths.setdefault(write.hour, _Growth(segment))
                assert segment.fd is not None
                _write_all(segment.fd, write.data)
                growth.add(write)
            for growth in growths.values():
                assert growth.segment.fd is not None
                os.fdatasync(growth.segment.fd)
        except BaseException:
            # Nothing of a failed group is acknowledged: cut every file back to what was counted.
            for growth in growths.values():
                if growth.segment.fd is not None:
                    os.ftruncate(growth.segment.fd, growth.segment.size)
            raise
        with self._lock:
            for growth in growths.values():
                growth.commit()
        for growth in growths.values():
            if growth.segment.size >= self.max_segment_bytes:
                self._seal(growth.segment)

    def _writable_segment(self, hour: datetime) -> Segment:
        segment = self._open.get(hour)
        if segment is None:
            return self._open_segment(hour)
        if segment.fd is None:  # a seal that failed half-way closed it: append again, seal again later
            segment.fd = os.open(segment.path, os.O_WRONLY | os.O_APPEND)
        return segment

    def _open_segment(self, hour: datetime) -> Segment:
        # Wall-clock milliseconds keep ids unique and ordered across restarts, even under a simulated clock.
        segment_id = f"{time.time_ns() // 1_000_000:013d}{secrets.token_hex(3)}"
        path = self.directory / f"{hour:%Y%m%dT%H}-{segment_id}{OPEN_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, FILE_MODE)
        try:
            fsync_directory(self.directory)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        segment = Segment(path, hour, segment_id, fd=fd)
        with self._lock:
            self._open[hour] = segment
        return segment

    def _seal(self, segment: Segment) -> None:
        """Close an open segment and hand it to the uploader (on the spool's own thread)."""
        if segment.fd is not None:
            os.close(segment.fd)
            segment.fd = None
        if segment.events == 0:
            segment.path.unlink(missing_ok=True)
            with self._lock:
                del self._open[segment.hour]
            return
        sealed = segment.path.with_suffix(SEALED_SUFFIX)
        os.replace(segment.path, sealed)
        fsync_directory(self.directory)
        with self._lock:
            del self._open[segment.hour]
            segment.path = sealed
            self._sealed[segment.stem] = segment

    # -- for the uploader ---------------------------------------------------------------------
    async def seal(self, *, force: bool) -> None:
        """Seal open segments that are old enough, or all of them when forced."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._seal_due, force)

    def _seal_due(self, force: bool) -> None:
        now = time.monotonic()
        for segment in list(self._open.values()):  # only this thread changes `_open`
            if force or now - segment.opened_monotonic >= self.max_segment_age_seconds:
                self._seal(segment)

    def sealed_segments(self) -> list[Segment]:
        with self._lock:
            return sorted(self._sealed.values(), key=lambda segment: segment.stem)

    def forget(self, segment: Segment) -> None:
        """Delete a sealed segment whose upload succeeded."""
        segment.path.unlink(missing_ok=True)
        with self._lock:
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

    # -- for health checks -------------------------------------------------------------------
    def write_in_flight_seconds(self) -> float | None:
        """How long the group commit now on its way to disk has taken so far, or None."""
        started = self._write_started
        return None if started is None else time.monotonic() - started

    def oldest_waiting_seconds(self) -> float | None:
        """How long (monotonic) the oldest segment holding unlanded events has existed in this process."""
        with self._lock:
            opened = [s.opened_monotonic for s in (*self._open.values(), *self._sealed.values()) if s.events]
        return time.monotonic() - min(opened) if opened else None

    def directory_problem(self) -> str | None:
        """Why new segments could not be created here, or None."""
        return directory_problem(self.directory)

    def free_bytes(self) -> int:
        return free_bytes(self.directory)

    async def probe(self, timeout: float) -> None:
        """After a failed write, write and sync one block beside the segments: if the disk takes it, and no
        write failed meanwhile, the failure is over. Without this, a collector that a load balancer took out
        of service for failing would never see the write that proves it well again.
        """
        failure = self.last_write_failure
        if failure is None:
            return
        if self._probe is None or self._probe.done():
            # On the spool's own thread, so it queues behind (never beside) a write in progress.
            self._probe = asyncio.get_running_loop().run_in_executor(self._executor, self._probe_write)
            self._probe.add_done_callback(_retrieve)  # a late outcome nobody awaits is no error to log
        try:
            await asyncio.wait_for(asyncio.shield(self._probe), timeout)
        except Exception:  # still failing, or too slow to tell: the failure stands
            return
        if self.last_write_failure is failure:
            self.last_write_failure = None

    def _probe_write(self) -> None:
        path = self.directory / f".probe-{secrets.token_hex(4)}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            try:
                _write_all(fd, b"\0" * PROBE_BYTES)
                os.fdatasync(fd)
            finally:
                os.close(fd)
        finally:
            path.unlink(missing_ok=True)

    def close(self) -> None:
        """Close files without sealing: a restart recovers open segments as sealed ones."""
        self._executor.shutdown(wait=True)
        with self._lock:
            for segment in self._open.values():
                if segment.fd is not None:
                    os.close(segment.fd)
                    segment.fd = None


def _retrieve(future: "asyncio.Future[None]") -> None:
    if not future.cancelled():
        future.exception()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def describe_os_error(exc: BaseException) -> str:
    """An error as an operator reads it, without the file paths an open endpoint should not show."""
    if isinstance(exc, OSError) and exc.strerror:
        name = errno.errorcode.get(exc.errno or 0, "")
        return f"{exc.strerror} ({name})" if name else exc.strerror
    return f"{type(exc).__name__}: {exc}"


def directory_problem(directory: Path) -> str | None:
    """Why files could not be created in `directory` (missing, not a folder, read-only), or None."""
    if not directory.is_dir():
        return "the folder is missing"
    if not os.access(directory, os.W_OK | os.X_OK):
        return "the folder is not writable (read-only file system or permissions)"
    return None


def free_bytes(directory: Path) -> int:
    """Bytes an unprivileged process may still write on the file system holding `directory`."""
    stats = os.statvfs(directory)
    return stats.f_bavail * stats.f_frsize
