"""ml_job by itself: the models of the latest day the people layer holds, at most once per REVOLT_ML_RETRAIN_DAYS.

The models of day D read the people layer of the days before the end of D (`defs/churn/assets.py`), so they follow
`people` rather than a clock: a schedule at a fixed hour would either train before the day's people are built (the
cascade from raw_job at 00:15 takes its time, longer after a late identify) or wait a day more than needed. Unlike
the cascade, this sensor does not train every day it sees change: a model a day is rarely worth its training time,
and the churn model's labels move by days. So it trains the latest day of `people` on which anyone was active once
that day is at least REVOLT_ML_RETRAIN_DAYS after the last day the models were trained for (by this sensor, by hand
or a backfill), counted in days of data: a backfill of two months of people trains once, its last day; a re-stitch
rebuilding earlier days trains nothing; days built after the traffic stopped train nothing. It skips, saying why,
while people or the models are being written, and while the people layer is shorter than the churn model's history
(`layers/ml.churn_history_days`: the model refuses less).
"""

from collections.abc import Iterable
from datetime import date, timedelta

import dagster as dg

from revolt_pipeline.defs.cascade import BACKFILL_IN_PROGRESS, IN_PROGRESS, day_ranges
from revolt_pipeline.defs.jobs import ML_ASSETS, PEOPLE_ASSETS, SEGMENT_RECOMMENDATION_ASSETS, ml_job, people_job
from revolt_pipeline.defs.people.assets import ACTIVE_PEOPLE
from revolt_pipeline.layers.ml import churn_history_days
from revolt_pipeline.ml.training import ChurnSettings

TICK_SECONDS = 60
RECENT_BACKFILLS = 50  # backfills looked at for one still launching runs: the newest
QUIET_DAYS_LOOKED_AT = 92  # days of people without anyone active looked through for the latest active one
MATERIALIZATIONS_PAGE = 200  # materializations of those days read by one query
TRAINED = (*ML_ASSETS, *SEGMENT_RECOMMENDATION_ASSETS)
WRITERS = {people_job.name: PEOPLE_ASSETS, ml_job.name: TRAINED}


def history_days(churn: ChurnSettings) -> int:
    """The days of people the churn model of a day needs (`layers/ml.churn_history_days`, which the model's asset
    refuses without): a week of validation cutoffs a horizon back with their 28 days of features, and a training
    cutoff a horizon before them with a week of people before it."""
    return churn_history_days(churn)


def build_ml_after_people(
    partitions: dg.PartitionsDefinition, churn: ChurnSettings, retrain_days: int
) -> dg.SensorDefinition:
    """`ml_after_people`: ml_job for the latest day of `people`, every `retrain_days` days of data (0: never)."""

    @dg.sensor(
        name="ml_after_people",
        job_name=ml_job.name,
        default_status=dg.DefaultSensorStatus.RUNNING if retrain_days else dg.DefaultSensorStatus.STOPPED,
        minimum_interval_seconds=TICK_SECONDS,
        description=f"Train ml_job for the latest day of people once that day is {retrain_days} days or more after "
        f"the last day the models were trained for (REVOLT_ML_RETRAIN_DAYS; 0 turns it off), when the people layer "
        f"holds the {history_days(churn)} days the churn model needs and nothing writes people or the models.",
    )
    def ml_after_people(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        return plan_training(context.instance, partitions, churn, retrain_days, context.cursor)

    return ml_after_people


def plan_training(
    instance: dg.DagsterInstance,
    partitions: dg.PartitionsDefinition,
    churn: ChurnSettings,
    retrain_days: int,
    cursor: str | None,
) -> dg.SensorResult | dg.SkipReason:
    """One tick: the run to request, or why there is none. The cursor is the last day this sensor requested."""
    if retrain_days == 0:
        return dg.SkipReason("automatic training is off (REVOLT_ML_RETRAIN_DAYS=0): launch ml_job by hand")
    busy = _writing(instance)
    if busy:
        return dg.SkipReason(f"waiting for {busy} to finish writing people or the models")
    existing = set(partitions.get_partition_keys())
    built = sorted(
        date.fromisoformat(key)
        for key in instance.get_materialized_partitions(dg.AssetKey("people"))
        if key in existing
    )
    if not built:
        return dg.SkipReason("no day of people is built yet")
    latest = _latest_active(instance, built)
    if latest is None:
        return dg.SkipReason(
            f"no one is active in the latest {min(len(built), QUIET_DAYS_LOOKED_AT)} days of people (through "
            f"{built[-1]}): nothing new to train on"
        )
    trained = _last_trained(instance, existing, cursor)
    if trained is not None and latest < trained + timedelta(days=retrain_days):
        return dg.SkipReason(
            f"the models were trained for {trained}; the next training is for {trained + timedelta(days=retrain_days)} "
            f"or later (REVOLT_ML_RETRAIN_DAYS={retrain_days}), and people is built through {built[-1]}"
            + ("" if latest == built[-1] else f", with anyone active through {latest}")
        )
    needed = history_days(churn)
    first = latest - timedelta(days=needed - 1)
    have = {day for day in built if day >= first}
    if len(have) < needed:
        missing = [first + timedelta(days=n) for n in range(needed) if first + timedelta(days=n) not in have]
        return dg.SkipReason(
            f"too little history to train the models as of {latest}: the churn model needs the people layer's "
            f"{needed} days from {first} (a week of validation cutoffs with their features' 28 days and labels of "
            f"REVOLT_CHURN_HORIZON_DAYS={churn.horizon_days}, and a training cutoff before them), and "
            f"{len(missing)} of them are not built: "
            + ", ".join(str(a) if a == b else f"{a} to {b}" for a, b in day_ranges(missing))
        )
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=f"{ml_job.name}:{latest}", job_name=ml_job.name, partition_key=latest.isoformat())
        ],
        cursor=latest.isoformat(),
    )


def _latest_active(instance: dg.DagsterInstance, built: list[date]) -> date | None:
    """The latest built day of people on which anyone was active. Days built after the traffic stopped (a demo's
    last day, an app retired) hold no one: a model as of them would learn nothing new and be judged on no one.
    A day whose materialization does not say (built before the count was recorded) counts as active."""
    days = built[-QUIET_DAYS_LOOKED_AT:]
    latest: dict[str, dg.AssetMaterialization | None] = {}
    cursor = None
    # The days' materializations newest first, a page at a time: the first seen of a day is its latest, and a tick
    # on a quiet deployment costs a query a page rather than one a day.
    while len(latest) < len(days):
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("people"), asset_partitions=[day.isoformat() for day in days]),
            limit=MATERIALIZATIONS_PAGE,
            cursor=cursor,
        )
        for record in page.records:
            latest.setdefault(record.partition_key or "", record.asset_materialization)
        if not page.has_more:
            break
        cursor = page.cursor
    for day in reversed(days):
        materialization = latest.get(day.isoformat())
        active = materialization.metadata.get(ACTIVE_PEOPLE) if materialization else None
        if active is None or active.value:
            return day
    return None


def _last_trained(instance: dg.DagsterInstance, existing: set[str], cursor: str | None) -> date | None:
    """The latest day the models were trained for: requested by this sensor, or any of ml_job's assets
    materialized (by hand, a backfill, the UI)."""
    days = [date.fromisoformat(cursor)] if cursor else []
    for asset in TRAINED:
        keys = [key for key in instance.get_materialized_partitions(dg.AssetKey(asset)) if key in existing]
        if keys:
            days.append(date.fromisoformat(max(keys)))
    return max(days) if days else None


def _writing(instance: dg.DagsterInstance) -> str | None:
    """A queued or running run, or a backfill still launching runs, that writes people or the models."""
    for run in instance.get_runs(dg.RunsFilter(statuses=IN_PROGRESS)):
        if _writes(run.job_name, run.asset_selection):
            return f"run {run.run_id} ({run.job_name})"
    for backfill in instance.get_backfills(limit=RECENT_BACKFILLS):
        if backfill.status.value in BACKFILL_IN_PROGRESS and _writes(backfill.job_name, backfill.asset_selection):
            return f"backfill {backfill.backfill_id}"
    return None


def _writes(job_name: str | None, selection: Iterable[dg.AssetKey] | None) -> bool:
    """Whether a run or backfill of `job_name` (its assets `selection`, when it names them) writes what we watch."""
    if selection is None:
        return job_name in WRITERS
    watched = {asset for written in WRITERS.values() for asset in written}
    return any(key.to_user_string() in watched for key in selection)
