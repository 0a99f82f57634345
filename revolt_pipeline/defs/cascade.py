"""The cascade: when a layer's days are materialized, by any job, backfill or the UI, build what depends on them.

Each cascade is a sensor that follows one upstream asset's materializations, not a job's runs: a
partition materialized by `raw_job`, by an asset backfill (`__ASSET_JOB`) or from the asset's page in
the UI reopens the same downstream days. It reads the materialization records after its cursor, waits
until the runs that wrote them have finished, and launches its job over the days they affect, as one
run per contiguous range of days. Why not the alternatives:

- a run status sensor only sees the runs of the jobs it names (`__ASSET_JOB` is none of them), and
  handles one run per tick, so a backfill of ten daily runs cascades ten overlapping ranges;
- an `@asset_sensor` sees only the latest materialization when several land between ticks (dagster
  issue 32853);
- declarative automation (`AutomationCondition.eager()`) rebuilds a downstream partition when any
  partition of its upstream window changes, and only in the latest time window: a raw day would
  reopen every event day it could hold (five, with the default lateness), never the week-old day a
  late event belongs to. Which event days a raw day touched is data (its `event_dates` metadata),
  which conditions cannot read.

A failed step materializes nothing, so launches nothing. The cascade launches nothing while a run
writing its downstream assets is queued or running (two runs must not write the same lake day), waits
for a backfill to launch all its runs (it may build the downstream days itself, and its raw days are
then cascaded as one), and launches nothing for days that were all rebuilt after the upstream change
already (a backfill of every layer).
Every request's run key names the materializations it answers, so a tick evaluated again never
launches the same range twice.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import dagster as dg

# The run tags of a partition and of a partition range (Dagster's own names, also those of `dagster job launch`).
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# A run launched by a backfill carries its id; a backfill in these states may still launch runs.
BACKFILL_TAG = "dagster/backfill"
BACKFILL_IN_PROGRESS = {"REQUESTED", "CANCELING", "FAILING"}
# Upstream materializations read per tick; more wait for the next tick.
RECORDS_PER_TICK = 1000
TICK_SECONDS = 15

DaysAffected = Callable[[dg.EventLogRecord], Iterable[date]]


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    """The tags that make a run cover the days `first` to `last` (one partition or a range)."""
    if first == last:
        return {PARTITION_TAG: first}
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}


def tagged_days(tags: Mapping[str, str]) -> tuple[str, str] | None:
    """The first and last day a run's tags make it cover, or None for a run of no partition."""
    if PARTITION_TAG in tags:
        return tags[PARTITION_TAG], tags[PARTITION_TAG]
    if RANGE_START_TAG in tags and RANGE_END_TAG in tags:
        return tags[RANGE_START_TAG], tags[RANGE_END_TAG]
    return None


def day_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """The days as the fewest contiguous ranges, in order."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges and ranges[-1][1] + timedelta(days=1) == day:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def materialized_partition(record: dg.EventLogRecord) -> list[date]:
    """The day one materialization is of: for cascades that build the same days downstream."""
    return [date.fromisoformat(record.partition_key)] if record.partition_key else []


@dataclass(frozen=True)
class Cascade:
    """After `upstream` is materialized, run `job` (which materializes `downstream`) over `days_affected`."""

    name: str
    upstream: str
    job: str
    downstream: Sequence[str]
    days_affected: DaysAffected
    description: str
    # An asset whose days each read the day before (a snapshot): the days affected extend through its latest
    # materialized day, since a changed day makes every later one stale.
    through_latest: str | None = None


def cascade_sensor(cascade: Cascade, partitions: dg.PartitionsDefinition) -> dg.SensorDefinition:
    """The sensor that carries out `cascade` over the days of `partitions`."""

    @dg.sensor(
        name=cascade.name,
        job_name=cascade.job,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=TICK_SECONDS,
        description=cascade.description,
    )
    def follow_materializations(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        return plan(cascade, partitions, context.instance, context.cursor)

    return follow_materializations


def plan(
    cascade: Cascade, partitions: dg.PartitionsDefinition, instance: dg.DagsterInstance, cursor: str | None
) -> dg.SensorResult | dg.SkipReason:
    """One tick of a cascade: what to launch for the upstream materializations after `cursor`."""
    upstream = dg.AssetKey(cascade.upstream)
    if cursor is None:
        latest = instance.fetch_materializations(upstream, limit=1).records
        start = latest[0].storage_id if latest else 0
        return dg.SensorResult(
            skip_reason=f"following {cascade.upstream} from its materializations after this one ({start})",
            cursor=str(start),
        )
    writer = _run_writing(instance, cascade)
    if writer is not None:
        return dg.SkipReason(f"waiting for run {writer.run_id} ({writer.job_name}) to finish writing the same assets")
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=upstream, after_storage_id=int(cursor)), limit=RECORDS_PER_TICK, ascending=True
    ).records
    finished = _of_finished_runs(instance, records)
    if not finished:
        if records:
            return dg.SkipReason(f"waiting for run {records[0].run_id} to finish materializing {cascade.upstream}")
        return dg.SkipReason(f"no new materialization of {cascade.upstream}")
    new_cursor = str(finished[-1].storage_id)
    existing = set(partitions.get_partition_keys())
    days = sorted({day for record in finished for day in cascade.days_affected(record) if day.isoformat() in existing})
    if days and cascade.through_latest:
        days = _through_latest(instance, cascade.through_latest, days, existing)
    if not days:
        return dg.SensorResult(skip_reason=f"{cascade.upstream} changed no day of {cascade.job}", cursor=new_cursor)
    if _rebuilt_since(instance, cascade.downstream, days, finished[0].storage_id):
        return dg.SensorResult(
            skip_reason=f"every day it affects was rebuilt after {cascade.upstream} changed", cursor=new_cursor
        )
    answered = f"{finished[0].storage_id}-{finished[-1].storage_id}"
    requests = [
        dg.RunRequest(
            run_key=f"{cascade.name}:{answered}:{first.isoformat()}:{last.isoformat()}",
            job_name=cascade.job,
            tags=partition_range_tags(first.isoformat(), last.isoformat()),
        )
        for first, last in day_ranges(days)
    ]
    return dg.SensorResult(run_requests=requests, cursor=new_cursor)


def _through_latest(instance: dg.DagsterInstance, asset: str, days: list[date], existing: set[str]) -> list[date]:
    """Every day from the first of `days` through the last of them or of `asset`'s materialized days."""
    built = [date.fromisoformat(key) for key in instance.get_materialized_partitions(dg.AssetKey(asset))]
    last = max([*days, *[day for day in built if day.isoformat() in existing]])
    return [days[0] + timedelta(days=n) for n in range((last - days[0]).days + 1)]


def _run_writing(instance: dg.DagsterInstance, cascade: Cascade) -> dg.DagsterRun | None:
    """A queued or running run that materializes any of the cascade's downstream assets, or a deletion (which
    rewrites every layer: a day built from inputs read before it erased them would bring the person back)."""
    downstream = {dg.AssetKey(name) for name in cascade.downstream}
    for run in instance.get_runs(dg.RunsFilter(statuses=IN_PROGRESS)):
        if run.job_name == DELETION_JOB:
            return run
        if run.asset_selection is not None and run.asset_selection & downstream:
            return run
        if run.asset_selection is None and run.job_name == cascade.job:
            return run
    return None


# The job that erases people from every layer (defs/jobs.py's privacy_job): no cascade launches while it runs.
DELETION_JOB = "privacy_job"
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def _of_finished_runs(instance: dg.DagsterInstance, records: Sequence[dg.EventLogRecord]) -> list[dg.EventLogRecord]:
    """The records up to the first whose run is still going, or whose backfill still launches runs (it may
    rebuild the downstream days itself): the rest wait for a later tick."""
    finished: list[dg.EventLogRecord] = []
    done: dict[str, bool] = {}
    for record in records:
        if record.run_id not in done:
            run = instance.get_run_by_id(record.run_id)
            done[record.run_id] = run is None or (run.is_finished and not _backfill_in_progress(instance, run))
        if not done[record.run_id]:
            break
        finished.append(record)
    return finished


def _backfill_in_progress(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    backfill_id = run.tags.get(BACKFILL_TAG)
    backfill = instance.get_backfill(backfill_id) if backfill_id else None
    return backfill is not None and backfill.status.value in BACKFILL_IN_PROGRESS


def _rebuilt_since(instance: dg.DagsterInstance, assets: Sequence[str], days: list[date], storage_id: int) -> bool:
    """Whether every one of `assets` was materialized for every one of `days` after the event `storage_id`."""
    keys = [day.isoformat() for day in days]
    for asset in assets:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=keys, after_storage_id=storage_id),
            limit=RECORDS_PER_TICK,
        ).records
        if {record.partition_key for record in records} != set(keys):
            return False
    return True


def cascade_sensors(definitions: dg.Definitions) -> list[dg.SensorDefinition]:
    """The cascade's sensors among the definitions, upstream first."""
    return [sensor for sensor in definitions.sensors or [] if sensor.name in CASCADE_ORDER]


# The cascades, in the order their layers are built.
CASCADE_ORDER = (
    "clean_after_raw",
    "catalog_after_raw",
    "reports_after_clean",
    "people_after_clean",
    "people_after_restitch",
    "funnels_after_clean",
    "funnels_after_restitch",
    # After the people layer, which finds the cleaned days a late identify re-stitches: the cascade starts over there.
    "clean_after_restitch",
    # After a deletion erased a person (issue 12): the cleaned layer again from the days it changed.
    "clean_after_deletion",
    "catalog_after_deletion",
)


class InProcessCascade:
    """The cascade's sensors evaluated and their runs executed in this process, as the daemon would.

    For `revolt demo` and tests: create it before the first run, then `follow()` after each.
    """

    def __init__(self, definitions: dg.Definitions, instance: dg.DagsterInstance) -> None:
        self.definitions = definitions
        self.instance = instance
        self.sensors = sorted(cascade_sensors(definitions), key=lambda sensor: CASCADE_ORDER.index(sensor.name))
        self.cursors: dict[str, str | None] = {sensor.name: self._tick(sensor, None).cursor for sensor in self.sensors}

    def _tick(self, sensor: dg.SensorDefinition, cursor: str | None) -> Any:
        context = dg.build_sensor_context(instance=self.instance, cursor=cursor, definitions=self.definitions)
        return sensor.evaluate_tick(context)

    def follow(
        self, execute: Callable[[str, Mapping[str, str]], dg.ExecuteInProcessResult] | None = None
    ) -> list[tuple[dg.RunRequest, dg.ExecuteInProcessResult]]:
        """Tick every sensor and run what it requests, until none requests anything; returns the runs."""
        execute = execute or self.execute
        runs = []
        while True:
            requested = False
            for sensor in self.sensors:
                result = self._tick(sensor, self.cursors[sensor.name])
                self.cursors[sensor.name] = result.cursor or self.cursors[sensor.name]
                for request in result.run_requests or []:
                    requested = True
                    runs.append((request, execute(request.job_name or "", request.tags)))
            if not requested:
                return runs

    def execute(self, job: str, tags: Mapping[str, str]) -> dg.ExecuteInProcessResult:
        return self.definitions.resolve_job_def(job).execute_in_process(
            instance=self.instance,
            tags=dict(tags),
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            raise_on_error=False,
        )
