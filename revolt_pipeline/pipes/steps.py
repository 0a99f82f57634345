"""The steps that build lake days, each one layer-library call: what it builds, how its days are grouped, what it
reports. One list, read by both ways of running a step: in the Dagster step's process on DuckDB
(`defs/lake/runners.py`) and in the Spark job (`pipes/spark_job.py`), so the two build, summarize and judge a day
alike.

A step's name is the Dagster step (multi-asset or asset) that runs it; its datasets are the assets it materializes.
Some layer functions build the run's days in one call (cleaning reads every raw day of the run's window at once; a
people, funnel or retention day reads the snapshot of the day before), others a day per call: a "unit" is one call,
retried whole in the step's process, and timed.
"""

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

from revolt_pipeline.layers.checks import CheckOutcome, funnel_progress_checks, person_features_checks
from revolt_pipeline.layers.cleaned import AggregateDay, CleanDay, SessionDay, aggregate_day, clean_days, sessionize_day
from revolt_pipeline.layers.funnels import FunnelDay, build_funnel_days
from revolt_pipeline.layers.ml import FeaturesDay, build_person_features, cutoff_of
from revolt_pipeline.layers.people import PeopleDay, build_people_days
from revolt_pipeline.layers.raw import RawDay, build_raw_day
from revolt_pipeline.layers.retention import RetentionDay, build_retention_days
from revolt_pipeline.layers.summaries import TableSummary, summarize_parquet
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.transforms.rules import PipelineRules

DayResult = RawDay | CleanDay | SessionDay | AggregateDay | PeopleDay | FunnelDay | RetentionDay | FeaturesDay
Connect = Callable[[], AbstractContextManager[Any]]
T = TypeVar("T")
# How a unit is attempted: `attempt(what, work)` returns `work()`; the step's process retries store faults.
Attempt = Callable[[str, Callable[[], T]], T]
Build = Callable[[ObjectStore, Any, list[date], PipelineRules, Path], list[Any]]


@dataclass(frozen=True)
class Step:
    """One step: the assets it materializes, the layer function building a unit of its days, and what it reports."""

    name: str
    datasets: tuple[str, ...]
    result_type: type
    build: Build
    # Each output of a built day, by lake dataset (or aggregate) name: the local Parquet file the result names.
    outputs: Callable[[Any], dict[str, str]]
    # True: a layer call per day; False: one call for the run's days (in date order).
    per_day: bool
    # What the seconds of a unit are called in the metadata (`seconds/<label>` a day, `run_seconds/<label>` a run).
    label: str
    # Checks that read the day's local files, judged where they were written (the job's machine on Spark).
    judge: Callable[[Any], list[CheckOutcome]] | None = None
    # The partition day of a result (the features' is the day before their cutoff).
    day_of: Callable[[Any], date] = lambda result: result.day

    def units(self, days: Iterable[date]) -> list[list[date]]:
        ordered = sorted(set(days))
        return [[day] for day in ordered] if self.per_day else [ordered]


@dataclass
class BuiltDay:
    """A day one step built: the layer library's result, a summary of each output, the seconds its unit took, and
    the checks judged where its files were written."""

    day: date
    result: Any
    summaries: dict[str, TableSummary]
    seconds: dict[str, float] = field(default_factory=dict)
    checks: list[CheckOutcome] = field(default_factory=list)


def _each_day(build: Callable[..., Any]) -> Build:
    return lambda store, connection, days, rules, workdir: [build(store, connection, days[0], rules, workdir)]


def _aggregate(store: ObjectStore, connection: Any, days: list[date], rules: PipelineRules, workdir: Path) -> list[Any]:
    return [aggregate_day(store, connection, days[0], workdir)]


def _features(store: ObjectStore, connection: Any, days: list[date], rules: PipelineRules, workdir: Path) -> list[Any]:
    return [build_person_features(store, connection, cutoff_of(days[0]), workdir)]


STEPS: dict[str, Step] = {
    step.name: step
    for step in (
        Step(
            "raw_events",
            ("raw_events",),
            RawDay,
            _each_day(build_raw_day),
            lambda day: {"raw_events": day.raw_path},
            per_day=True,
            label="build",
        ),
        Step(
            "events",
            ("events", "events_quarantine"),
            CleanDay,
            lambda store, connection, days, rules, workdir: list(clean_days(store, connection, days, rules, workdir)),
            lambda day: {"events": day.events_path, "events_quarantine": day.quarantine_path},
            per_day=False,
            label="clean",
        ),
        Step(
            "sessionized",
            ("sessionized_events", "sessions"),
            SessionDay,
            _each_day(sessionize_day),
            lambda day: {"sessionized_events": day.events_path, "sessions": day.sessions_path},
            per_day=True,
            label="sessionize",
        ),
        Step(
            "daily_aggregates",
            ("daily_aggregates",),
            AggregateDay,
            _aggregate,
            lambda day: dict(day.outputs),
            per_day=True,
            label="aggregate",
        ),
        Step(
            "people",
            ("person_days", "people"),
            PeopleDay,
            build_people_days,
            lambda day: {"person_days": day.person_days_path, "people": day.people_path},
            per_day=False,
            label="people",
        ),
        Step(
            "funnel_progress",
            ("funnel_progress",),
            FunnelDay,
            lambda store, connection, days, rules, workdir: (
                build_funnel_days(store, connection, days, rules, workdir).days
            ),
            lambda day: {"funnel_progress": day.progress_path},
            per_day=False,
            label="funnels",
            judge=funnel_progress_checks,
        ),
        Step(
            "cohort_activity",
            ("cohort_activity",),
            RetentionDay,
            build_retention_days,
            lambda day: {"cohort_activity": day.cohort_activity_path},
            per_day=False,
            label="retention",
        ),
        Step(
            "person_features",
            ("person_features",),
            FeaturesDay,
            _features,
            lambda day: {"person_features": day.path},
            per_day=True,
            label="features",
            judge=person_features_checks,
            day_of=lambda result: result.cutoff - timedelta(days=1),
        ),
    )
}
# The assets each step materializes (the job reports a materialization of each).
STEP_DATASETS = {name: step.datasets for name, step in STEPS.items()}


def _once(what: str, work: Callable[[], T]) -> T:
    return work()


def build_step(
    step: str,
    store: ObjectStore,
    connect: Connect,
    days: Iterable[date],
    rules: PipelineRules,
    workdir: Path,
    previews: dict[str, list[str]],
    attempt: Attempt = _once,
) -> Iterator[BuiltDay]:
    """The step's days, a unit at a time (each on a connection of its own), summarized and judged as built."""
    spec = STEPS[step]
    for unit in spec.units(days):

        def work(unit: list[date] = unit) -> list[Any]:
            with connect() as connection:
                return spec.build(store, connection, unit, rules, workdir)

        started = time.perf_counter()
        results = attempt(f"building {step} of {', '.join(day.isoformat() for day in unit)}", work)
        seconds = {spec.label: round(time.perf_counter() - started, 3)}
        for result in results:
            summaries = {
                name: summarize_parquet(path, previews.get(name)) for name, path in spec.outputs(result).items()
            }
            checks = spec.judge(result) if spec.judge else []
            yield BuiltDay(spec.day_of(result), result, summaries, dict(seconds), checks)
