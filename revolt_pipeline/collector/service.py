"""The collector's core, free of HTTP: ingest, spool, upload, watermark, and what the admin API answers.

The Starlette routes and the in-process ingestion resource are both thin callers of this class.
"""

import asyncio
import contextlib
import fcntl
import gzip
import logging
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson

from revolt_pipeline.clock import Clock, SystemClock
from revolt_pipeline.collector.ingest import IngestOutcome, Limits, Privacy, process_request
from revolt_pipeline.collector.ledger import LandedObject, Ledger
from revolt_pipeline.collector.metrics import CollectorMetrics
from revolt_pipeline.collector.spool import Segment, Spool, WriteFailure, describe_os_error
from revolt_pipeline.collector.suppression import SuppressionList, without_suppressed
from revolt_pipeline.contract import format_timestamp, parse_timestamp
from revolt_pipeline.private_files import FILE_MODE, make_private_dirs
from revolt_pipeline.settings import Settings
from revolt_pipeline.sources import Source, SourcesError, load_sources
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import LANDING, QUARANTINE, landed_object_key, watermark_key

T = TypeVar("T")
log = logging.getLogger("revolt.collector")
COLLECTOR_ID = re.compile(r"^[A-Za-z0-9_.]+(?:-[A-Za-z0-9_.]+)*$")

# /health's verdicts: `unavailable` (503) when ingest fails, `degraded` (200) when landing stalls while
# events are still spooled durably, `ok` (200) otherwise.
OK, DEGRADED, UNAVAILABLE = "ok", "degraded", "unavailable"
# Where an event of a suppressed id was dropped: as it was received, or from the spool as it was about to land.
RECEIVED, SPOOLED = "received", "spooled"
PROBE_TIMEOUT_SECONDS = 1.0
# How long starting waits for the first read of the suppression list: a store that hangs must not keep the
# collector from accepting events (landing waits for the list instead).
FIRST_SUPPRESSION_READ_SECONDS = 5.0


@dataclass(frozen=True)
class HttpLimits:
    """How long and how much a client may take before the collector answers it, per connection.

    The defaults are the settings' (`Settings`, which says why these values).
    """

    header_timeout_seconds: float = Settings.header_timeout_seconds
    body_timeout_seconds: float = Settings.body_timeout_seconds
    keepalive_timeout_seconds: float = Settings.keepalive_timeout_seconds
    max_header_bytes: int = Settings.max_header_bytes
    max_connections: int = Settings.max_connections

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")


@dataclass(frozen=True)
class CollectorConfig:
    """One collector's configuration; `from_settings` makes it from the settings, whose defaults it shares."""

    spool_dir: Path
    store: ObjectStore
    sources_file: Path
    admin_token: str
    collector_id: str | None = None
    public_url: str | None = None
    limits: Limits = field(default_factory=Limits)
    http_limits: HttpLimits = field(default_factory=HttpLimits)
    segment_max_bytes: int = Settings.segment_max_bytes
    segment_max_age_seconds: float = Settings.segment_max_age_seconds
    upload_interval_seconds: float = Settings.upload_interval_seconds
    watermark_interval_seconds: float = 10.0
    upload_stall_seconds: float = Settings.upload_stall_seconds
    spool_stall_seconds: float = Settings.spool_stall_seconds
    spool_min_free_bytes: int | None = Settings.spool_min_free_bytes
    trusted_proxies: str = Settings.trusted_proxies
    # Privacy (docs/privacy.md): the salt of the suppression list's pseudonyms (None: the list cannot be matched),
    # how often the list is re-read, and what is kept of IP addresses.
    privacy_salt: str | None = None
    suppression_refresh_seconds: float = Settings.suppression_refresh_seconds
    ip_policy: str = Settings.ip_policy

    @property
    def forwarded_allow_ips(self) -> list[str]:
        """`trusted_proxies` as uvicorn's proxy headers take them (`none`: an empty list, trusting no one)."""
        hosts = [host.strip() for host in self.trusted_proxies.split(",") if host.strip()]
        return [] if hosts == ["none"] else hosts

    @property
    def required_free_bytes(self) -> int:
        """Free spool space below which a request may fail: one request's records, envelopes included, take
        up to a few times its body (small messages), so four of the largest bodies unless configured."""
        if self.spool_min_free_bytes is not None:
            return self.spool_min_free_bytes
        return 4 * self.limits.max_batch_bytes

    @property
    def landing_deadline_seconds(self) -> float:
        """How long an event may wait in the spool before landing counts as stalled."""
        return self.segment_max_age_seconds + self.upload_interval_seconds + self.upload_stall_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> "CollectorConfig":
        return cls(
            spool_dir=settings.spool_dir,
            store=settings.store,
            sources_file=settings.sources_file,
            admin_token=settings.resolved_admin_token(),
            collector_id=settings.collector_id,
            public_url=settings.collector_public_url,
            limits=Limits(settings.max_message_bytes, settings.max_batch_bytes),
            http_limits=HttpLimits(
                header_timeout_seconds=settings.header_timeout_seconds,
                body_timeout_seconds=settings.body_timeout_seconds,
                keepalive_timeout_seconds=settings.keepalive_timeout_seconds,
                max_header_bytes=settings.max_header_bytes,
                max_connections=settings.max_connections,
            ),
            segment_max_bytes=settings.segment_max_bytes,
            segment_max_age_seconds=settings.segment_max_age_seconds,
            upload_interval_seconds=settings.upload_interval_seconds,
            upload_stall_seconds=settings.upload_stall_seconds,
            spool_stall_seconds=settings.spool_stall_seconds,
            spool_min_free_bytes=settings.spool_min_free_bytes,
            trusted_proxies=settings.trusted_proxies,
            privacy_salt=settings.resolved_privacy_salt(),
            suppression_refresh_seconds=settings.suppression_refresh_seconds,
            ip_policy=settings.ip_policy,
        )


class SourceCache:
    """Sources by write key, re-read when the file changes so new apps need no restart."""

    CHECK_EVERY_SECONDS = 2.0

    def __init__(self, path: Path) -> None:
        self.path = path
        self._signature: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._by_key: dict[str, Source] = {}
        self._reload(force=True)

    def get(self, write_key: str) -> Source | None:
        self.refresh()
        return self._by_key.get(write_key)

    def any_allows_origin(self, origin: str) -> bool:
        """Whether some source accepts this browser origin: what a CORS preflight, which has no write key, can know."""
        self.refresh()
        return any(source.allows_origin(origin) for source in self._by_key.values())

    def refresh(self) -> None:
        """Re-read the file if it changed, at most every CHECK_EVERY_SECONDS."""
        now = time.monotonic()
        if now - self._checked >= self.CHECK_EVERY_SECONDS:
            self._checked = now
            self._reload(force=False)

    def _reload(self, force: bool) -> None:
        try:
            stat = self.path.stat()
            # The file is replaced by rename, so a new inode is a new file even within one mtime tick.
            signature: tuple[int, int, int] | None = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            signature = None
        except OSError as exc:
            if force:
                raise SourcesError(f"{self.path}: cannot be read: {exc.strerror or exc}") from exc
            log.error("kept the previous sources: %s cannot be read: %s", self.path, exc)
            return
        if signature == self._signature and not force:
            return
        try:
            self._by_key = load_sources(self.path)
        except SourcesError:
            if force:
                raise
            log.exception("kept the previous sources: the sources file does not load")
        self._signature = signature
        if not self._by_key:
            log.warning("no sources configured in %s: every request will get 401", self.path)

    def __len__(self) -> int:
        return len(self._by_key)


class CollectorService:
    """One collector: owns its spool directory exclusively and lands what it accepts."""

    def __init__(self, config: CollectorConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        make_private_dirs(config.spool_dir)
        self._lock_fd = _lock_directory(config.spool_dir)
        self.collector_id = config.collector_id or _stored_collector_id(config.spool_dir)
        if not COLLECTOR_ID.match(self.collector_id):
            raise ValueError(f"collector id {self.collector_id!r} may hold letters, digits, '_', '.', '-'")
        self.store = config.store
        self.sources = SourceCache(config.sources_file)
        spool_options = {
            "max_segment_bytes": config.segment_max_bytes,
            "max_segment_age_seconds": config.segment_max_age_seconds,
        }
        self.spools = {
            LANDING: Spool(config.spool_dir / "events", **spool_options),
            QUARANTINE: Spool(config.spool_dir / "quarantine", **spool_options),
        }
        self.ledger = Ledger(config.spool_dir / "ledger.sqlite")
        self.suppression = SuppressionList(config.store, config.privacy_salt)
        self._privacy = Privacy(config.ip_policy, config.privacy_salt)
        # Pseudonyms every record now spooled was checked against when received (None: the spool holds nothing),
        # so landing checks only those added since. What a previous process spooled was checked against none.
        self._checked: frozenset[str] | None = None if self.spool_depth()[0] == 0 else frozenset()
        self._checked_with: Privacy | None = None
        self.metrics = CollectorMetrics(self.spool_depth, self.upload_lag_seconds, self.suppression)
        self._flush_lock: asyncio.Lock | None = None
        self._upload_task: asyncio.Task[None] | None = None
        self._suppression_task: asyncio.Task[None] | None = None
        self._published_watermark: datetime | None = None
        self._published_watermark_read = False
        self._watermark_written_at = 0.0
        self._uploads_started: dict[int, float] = {}  # monotonic start of each store write in flight
        self.last_upload_failure: WriteFailure | None = None  # cleared by the next flush that succeeds
        self.started_at = self.clock.now()

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start uploading and reading the suppression list. The store is not needed to start: while it is down,
        events are spooled."""
        self._flush_lock = asyncio.Lock()
        self._upload_task = asyncio.create_task(self._upload_forever(), name="revolt-uploader")
        try:
            await asyncio.wait_for(self._refresh_suppression(), FIRST_SUPPRESSION_READ_SECONDS)
        except TimeoutError:
            log.warning("no suppression list read within %g s; reading on", FIRST_SUPPRESSION_READ_SECONDS)
        self._suppression_task = asyncio.create_task(self._refresh_suppression_forever(), name="revolt-suppression")

    async def stop(self, final_upload_timeout: float = 10.0) -> None:
        """Stop uploading; try one last upload. Whatever does not make it stays spooled for next start."""
        for task in (self._upload_task, self._suppression_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        try:
            await asyncio.wait_for(self.flush(), final_upload_timeout)
        except Exception as exc:  # the spool keeps everything; the next start uploads it
            log.warning("final upload incomplete, the spool keeps the rest: %s", exc)
        self.close()

    def close(self) -> None:
        for spool in self.spools.values():
            spool.close()
        self.ledger.close()
        os.close(self._lock_fd)

    # -- ingestion ----------------------------------------------------------------------------
    async def ingest(
        self,
        body: bytes,
        *,
        endpoint: str,
        content_encoding: str | None,
        authorization: str | None,
        origin: str | None = None,
        client_ip: str | None = None,
    ) -> IngestOutcome:
        received_at = self.clock.now()
        privacy = self.privacy
        if privacy is not self._checked_with:
            listed = privacy.suppressed
            self._checked = listed if self._checked is None else self._checked & listed
            self._checked_with = privacy
        outcome = process_request(
            body,
            endpoint=endpoint,
            content_encoding=content_encoding,
            authorization=authorization,
            origin=origin,
            lookup_source=self.sources.get,
            limits=self.config.limits,
            received_at=received_at,
            collector_id=self.collector_id,
            client_ip=client_ip,
            privacy=privacy,
        )
        # Appending happens before the first await, so the watermark can never pass these records.
        writes = []
        if outcome.accepted:
            data = b"\n".join(outcome.accepted) + b"\n"
            writes.append(self.spools[LANDING].append(data, len(outcome.accepted), received_at))
        if outcome.quarantined:
            data = b"\n".join(outcome.quarantined) + b"\n"
            writes.append(self.spools[QUARANTINE].append(data, len(outcome.quarantined), received_at))
        if writes:
            try:
                await asyncio.gather(*writes)
            except OSError as exc:
                log.exception("spool write failed")
                outcome = IngestOutcome(
                    503,
                    {
                        "success": False,
                        "code": "spool_unavailable",
                        "message": f"could not store events: {exc}",
                    },
                    outcome.source,
                )
        self._count(outcome, len(body))
        return outcome

    def _count(self, outcome: IngestOutcome, body_bytes: int) -> None:
        self.metrics.request_bytes.inc(body_bytes)
        if outcome.status < 300 and outcome.accepted and outcome.source is not None:
            self.metrics.accepted.labels(outcome.source.name).inc(len(outcome.accepted))
        if outcome.status < 300 and outcome.suppressed:
            self.metrics.suppressed.labels(RECEIVED).inc(outcome.suppressed)
        for reason in outcome.rejection_reasons:
            self.metrics.rejected.labels(reason).inc()

    # -- landing ------------------------------------------------------------------------------
    @property
    def last_upload_error(self) -> str | None:
        failure = self.last_upload_failure
        return None if failure is None else failure.reason

    async def flush(self, *, force: bool = True) -> dict[str, Any]:
        """Seal (all segments when forced), upload every sealed one, publish the watermark."""
        assert self._flush_lock is not None, "start() the service first"
        async with self._flush_lock:
            try:
                report = await self._flush_locked(force)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.metrics.upload_errors.inc()
                self.last_upload_failure = WriteFailure(describe_os_error(exc), time.monotonic())
                raise
            self.last_upload_failure = None
            return report

    async def _flush_locked(self, force: bool) -> dict[str, Any]:
        if not self._published_watermark_read:
            # Read before the first publish, so a restart never moves the published watermark back.
            self._published_watermark = await asyncio.to_thread(self._read_published_watermark)
            self._published_watermark_read = True
        uploaded: list[LandedObject] = []
        suppressed = 0
        for spool in self.spools.values():
            await spool.seal(force=force)
        sealed = [(area, spool, segment) for area, spool in self.spools.items() for segment in spool.sealed_segments()]
        if sealed:
            await self._suppression_for_landing(force)
        unchecked = self._unchecked_privacy()
        for area, spool, segment in sealed:
            landed, dropped = await asyncio.to_thread(self._land, area, spool, segment, unchecked)
            suppressed += dropped
            if landed is not None:
                uploaded.append(landed)
        if all(spool.oldest_unlanded() is None for spool in self.spools.values()):
            self._checked, self._checked_with = None, None  # nothing is spooled: nothing is left unchecked
        watermark = await self._publish_watermark(force=force or bool(uploaded) or bool(suppressed))
        age = self.suppression.age_seconds()
        return {
            "collectorId": self.collector_id,
            "watermark": format_timestamp(watermark),
            "uploaded": [landed.as_dict() for landed in uploaded],
            "spoolEvents": self.spool_depth()[0],
            # What a deletion checks after it adds to the list and flushes: the list this flush landed with.
            "suppression": {
                "entries": len(self.privacy.suppressed),
                "readSecondsAgo": None if age is None else round(age, 3),
                "droppedFromSpool": suppressed,
            },
        }

    async def _suppression_for_landing(self, force: bool) -> None:
        """The list landing filters with: re-read for a forced flush (after a deletion, it must be the newest),
        read at least once before anything lands; a failed re-read keeps the last list."""
        if force:
            await self._refresh_suppression()
        if not self.suppression.loaded and not await self._refresh_suppression():
            failure = self.suppression.last_failure
            raise RuntimeError(
                "the suppression list has not been read yet, so nothing lands: "
                f"{failure.reason if failure else 'no read finished'}"
            )

    @property
    def privacy(self) -> Privacy:
        """What ingestion and landing withhold, with the suppression list last read (one object per list)."""
        entries = self.suppression.entries
        if entries is not self._privacy.suppressed:
            self._privacy = Privacy(self.config.ip_policy, self.config.privacy_salt, entries)
        return self._privacy

    def _unchecked_privacy(self) -> Privacy:
        """The list landing filters with: the pseudonyms some spooled record was not checked against as it was
        received (none, the usual case, costs nothing)."""
        privacy = self.privacy
        checked = self._checked
        unchecked = frozenset() if checked is None else privacy.suppressed - checked
        return Privacy(privacy.ip_policy, privacy.salt, unchecked)

    async def _refresh_suppression(self) -> bool:
        """Re-read the list. False when the read failed (the last list stays)."""
        read = await asyncio.to_thread(self.suppression.refresh)
        if not read:
            self.metrics.suppression_read_errors.inc()
        return read

    async def _refresh_suppression_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.suppression_refresh_seconds)
            await self._refresh_suppression()  # never raises: a failure is recorded and the last list stays

    def _land(self, area: str, spool: Spool, segment: Segment, unchecked: Privacy) -> tuple[LandedObject | None, int]:
        """Upload a sealed segment, less the records of ids suppressed since they were spooled (`unchecked`), and
        forget it. Returns what landed (None when every record was suppressed) and how many records were dropped."""
        data, dropped = without_suppressed(segment.path.read_bytes(), unchecked)
        if not data:  # every record was suppressed: nothing to land
            spool.forget(segment)
            self.metrics.suppressed.labels(SPOOLED).inc(dropped)
            return None, dropped
        compressed = gzip.compress(data, compresslevel=1, mtime=0)
        key = landed_object_key(area, segment.hour, self.collector_id, segment.segment_id)
        self._put(key, compressed)
        landed = LandedObject(
            key=key,
            area=area,
            received_date=segment.hour.date().isoformat(),
            hour=segment.hour.hour,
            events=data.count(b"\n"),
            bytes=len(data),
            compressed_bytes=len(compressed),
            uploaded_at=format_timestamp(datetime.now(UTC)),
        )
        # Record before forgetting: a crash in between uploads the same key again, which replaces it.
        self.ledger.record(landed)
        spool.forget(segment)
        self.metrics.landed_objects.labels(area).inc()
        self.metrics.suppressed.labels(SPOOLED).inc(dropped)
        return landed, dropped

    def _put(self, key: str, data: bytes) -> None:
        self._timed(self.store.put, key, data)

    def _timed(self, operation: Callable[..., T], *args: Any) -> T:
        """Call the store, timed, so /health can tell a store that hangs from one that answers."""
        token = object()
        self._uploads_started[id(token)] = time.monotonic()
        try:
            return operation(*args)
        finally:
            del self._uploads_started[id(token)]

    def upload_in_flight_seconds(self) -> float | None:
        """How long the oldest store write still in flight has taken so far, or None."""
        started = list(self._uploads_started.values())
        return time.monotonic() - min(started) if started else None

    async def _upload_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.upload_interval_seconds)
            try:
                await self.flush(force=False)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("upload failed; the spool keeps the data and the next round retries")

    # -- watermark ----------------------------------------------------------------------------
    def watermark(self) -> datetime:
        """Every event received before this moment has landed (or nothing older is pending)."""
        oldest = [when for spool in self.spools.values() if (when := spool.oldest_unlanded()) is not None]
        candidate = min(oldest) if oldest else self.clock.now()
        if self._published_watermark is not None and candidate < self._published_watermark:
            return self._published_watermark  # what was true when published stays true
        return candidate

    async def _publish_watermark(self, force: bool) -> datetime:
        watermark = self.watermark()
        due = time.monotonic() - self._watermark_written_at >= self.config.watermark_interval_seconds
        if force or due:
            document = {
                "collectorId": self.collector_id,
                "watermark": format_timestamp(watermark),
                "writtenAt": format_timestamp(self.clock.now()),
            }
            await asyncio.to_thread(self._put, watermark_key(self.collector_id), orjson.dumps(document))
            self._published_watermark = watermark
            self._watermark_written_at = time.monotonic()
        return watermark

    def _read_published_watermark(self) -> datetime | None:
        try:
            document = orjson.loads(self._timed(self.store.get, watermark_key(self.collector_id)))
        except FileNotFoundError:
            return None
        return parse_timestamp(document.get("watermark", ""))

    # -- what the admin API answers ------------------------------------------------------------
    def spool_depth(self) -> tuple[int, int]:
        depths = [spool.depth() for spool in self.spools.values()]
        return sum(d[0] for d in depths), sum(d[1] for d in depths)

    def upload_lag_seconds(self) -> float:
        return max(0.0, (self.clock.now() - self.watermark()).total_seconds())

    def landed(self, received_date: date) -> dict[str, Any]:
        """What this collector landed for a received date, and what it still holds for it."""
        objects = self.ledger.for_date(received_date)
        landed_counts = {area: 0 for area in self.spools}
        for landed in objects:
            landed_counts[landed.area] += landed.events
        pending = {
            area: sum(count for hour, count in spool.pending_by_hour().items() if hour.date() == received_date)
            for area, spool in self.spools.items()
        }
        return {
            "collectorId": self.collector_id,
            "receivedDate": received_date.isoformat(),
            "watermark": format_timestamp(self.watermark()),
            "landed": {"events": landed_counts[LANDING], "quarantined": landed_counts[QUARANTINE]},
            "pending": {"events": pending[LANDING], "quarantined": pending[QUARANTINE]},
            "objects": [landed.as_dict() for landed in objects],
        }

    def stats(self) -> dict[str, Any]:
        """Counters since this process started, for the admin API."""
        rejected: dict[str, float] = {}
        accepted: dict[str, float] = {}
        suppressed = {RECEIVED: 0.0, SPOOLED: 0.0}
        for metric in self.metrics.registry.collect():
            for sample in metric.samples:
                if sample.name == "revolt_collector_events_rejected_total":
                    rejected[sample.labels["reason"]] = sample.value
                elif sample.name == "revolt_collector_events_accepted_total":
                    accepted[sample.labels["source"]] = sample.value
                elif sample.name == "revolt_collector_events_suppressed_total":
                    suppressed[sample.labels["stage"]] = sample.value
        events, spool_bytes = self.spool_depth()
        return {
            "collectorId": self.collector_id,
            "startedAt": format_timestamp(self.started_at),
            "acceptedBySource": {key: int(value) for key, value in accepted.items()},
            "rejectedByReason": {key: int(value) for key, value in rejected.items()},
            "suppressedByStage": {key: int(value) for key, value in suppressed.items()},
            "suppression": self.suppression_state(),
            "spoolEvents": events,
            "spoolBytes": spool_bytes,
            "watermark": format_timestamp(self.watermark()),
            "lastUploadError": self.last_upload_error,
        }

    async def health(self) -> dict[str, Any]:
        """Every condition that makes ingest fail (`unavailable`) or landing stall (`degraded`), with its reason."""
        problems = [*await self._ingest_problems(), *self._landing_problems()]
        if any(problem["status"] == UNAVAILABLE for problem in problems):
            status = UNAVAILABLE
        else:
            status = DEGRADED if problems else OK
        events, spool_bytes = self.spool_depth()
        in_flight = self.upload_in_flight_seconds()
        return {
            "status": status,
            "collectorId": self.collector_id,
            "problems": problems,
            "sources": len(self.sources),
            "spoolEvents": events,
            "spoolBytes": spool_bytes,
            "spoolFreeBytes": self._spool_free_bytes(),
            "uploadLagSeconds": round(self.upload_lag_seconds(), 3),
            "uploadInFlightSeconds": None if in_flight is None else round(in_flight, 3),
            "lastUploadError": self.last_upload_error,
        }

    def suppression_state(self) -> dict[str, Any]:
        """The suppression list in use: its size, its age, and why the last read failed if it did. For the admin
        API only: /health, which anyone may read, says no more than that a read failed."""
        age = self.suppression.age_seconds()
        failure = self.suppression.last_failure
        return {
            "entries": len(self.privacy.suppressed),
            "readSecondsAgo": None if age is None else round(age, 3),
            "lastReadError": None if failure is None else failure.reason,
        }

    async def _ingest_problems(self) -> list[dict[str, str]]:
        problems = []
        self.sources.refresh()
        if not len(self.sources):
            problems.append(_problem("no_sources", UNAVAILABLE, "no source is configured: every request gets 401"))
        for spool in self.spools.values():
            name = spool.directory.name
            await spool.probe(PROBE_TIMEOUT_SECONDS)
            if (failure := spool.last_write_failure) is not None:
                reason = (
                    f"writing to the {name} spool failed {time.monotonic() - failure.at:.0f} s ago and no write"
                    f" has succeeded since: {failure.reason}"
                )
                problems.append(_problem("spool_write_failed", UNAVAILABLE, reason))
            if (seconds := spool.write_in_flight_seconds()) is not None and seconds > self.config.spool_stall_seconds:
                reason = (
                    f"a write to the {name} spool has been on its way to disk for {seconds:.0f} s"
                    f" (REVOLT_SPOOL_STALL_SECONDS: {self.config.spool_stall_seconds:g})"
                )
                problems.append(_problem("spool_write_hanging", UNAVAILABLE, reason))
            if (trouble := spool.directory_problem()) is not None:
                problems.append(_problem("spool_not_writable", UNAVAILABLE, f"the {name} spool: {trouble}"))
        free = self._spool_free_bytes()
        if free is not None and free < self.config.required_free_bytes:
            reason = (
                f"{free} bytes free on the spool's file system; one request may need"
                f" {self.config.required_free_bytes} (REVOLT_SPOOL_MIN_FREE_BYTES)"
            )
            problems.append(_problem("spool_low_space", UNAVAILABLE, reason))
        return problems

    def _landing_problems(self) -> list[dict[str, str]]:
        problems = []
        if (failure := self.last_upload_failure) is not None:
            reason = f"the last upload failed {time.monotonic() - failure.at:.0f} s ago: {failure.reason}"
            problems.append(_problem("upload_failed", DEGRADED, reason))
        if (seconds := self.upload_in_flight_seconds()) is not None and seconds > self.config.upload_stall_seconds:
            reason = (
                f"an upload has been in flight for {seconds:.0f} s"
                f" (REVOLT_UPLOAD_STALL_SECONDS: {self.config.upload_stall_seconds:g})"
            )
            problems.append(_problem("upload_hanging", DEGRADED, reason))
        waiting = [seconds for spool in self.spools.values() if (seconds := spool.oldest_waiting_seconds()) is not None]
        deadline = self.config.landing_deadline_seconds
        if waiting and max(waiting) > deadline:
            reason = (
                f"events have waited {max(waiting):.0f} s in the spool; they land within {deadline:g} s"
                " (segment age, upload interval and REVOLT_UPLOAD_STALL_SECONDS) when storage keeps up"
            )
            problems.append(_problem("landing_lagging", DEGRADED, reason))
        if (failure := self.suppression.last_failure) is not None:
            age = self.suppression.age_seconds()
            kept = "no list was read yet, so nothing lands" if age is None else f"the list read {age:.0f} s ago stays"
            reason = f"reading the suppression list failed {time.monotonic() - failure.at:.0f} s ago ({kept}): "
            problems.append(_problem("suppression_list_unread", DEGRADED, reason + failure.reason))
        task = self._upload_task
        if task is not None and task.done() and not task.cancelled():
            error = task.exception()
            reason = f"the uploader stopped: {describe_os_error(error) if error else 'it returned'}"
            problems.append(_problem("uploader_stopped", DEGRADED, reason))
        return problems

    def _spool_free_bytes(self) -> int | None:
        """The least free space among the spool's folders (they may be separate mounts), None if unknown."""
        free = []
        for spool in self.spools.values():
            try:
                free.append(spool.free_bytes())
            except OSError:
                continue  # a missing folder is reported as not writable
        return min(free) if free else None


def _problem(code: str, status: str, reason: str) -> dict[str, str]:
    return {"code": code, "status": status, "reason": reason}


def _lock_directory(directory: Path) -> int:
    """Hold an exclusive lock on the spool: two collectors appending to one spool would corrupt it."""
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RuntimeError(f"another collector is using the spool directory {directory}") from None
    return fd


def _stored_collector_id(spool_dir: Path) -> str:
    """A collector id generated once per spool, since landed object names must stay unique to it."""
    path = spool_dir / "collector-id"
    if path.exists():
        return path.read_text().strip()
    collector_id = f"collector-{secrets.token_hex(4)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w") as handle:
        handle.write(collector_id + "\n")
    return collector_id
