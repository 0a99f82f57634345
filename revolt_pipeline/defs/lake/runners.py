"""The `layer_runner` resource: how a Dagster step builds its lake days, one class per engine.

Every asset that builds lake days through the layer library calls `build` with its step's name (`pipes/steps.py`)
and maps what comes back to metadata and checks, whatever the engine:

- `InProcessLayerRunner` (REVOLT_ENGINE=duckdb): the layer function called in the step's process on DuckDB, store
  faults retried (`LakeResource.retrying`);
- `SparkLayerRunner` (REVOLT_ENGINE=spark): the Spark job launched through Dagster Pipes by the `spark_launcher`
  it holds (a subprocess, AWS Glue, EMR Serverless), which calls the same function on Spark.

Both return a `StepRun` of the same `BuiltDay`s (the layer library's results, output summaries, file checks).
Which one is chosen once, in `defs/resources.py`.
"""

import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import dagster as dg

from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.spark.resources import SparkLauncher
from revolt_pipeline.pipes.messages import JobRequest
from revolt_pipeline.pipes.steps import STEPS, BuiltDay, build_step
from revolt_pipeline.transforms.rules import PipelineRules


@dataclass
class StepRun:
    """The days a step built, in date order, and the run's own facts per asset (on Spark: engine, version,
    application id, seconds; the Pipes client's run id)."""

    step: str
    days: list[BuiltDay]
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def day_metadata(self, built: BuiltDay) -> dict[str, Any]:
        """A day's own seconds, where its step builds a day per call."""
        if not STEPS[self.step].per_day:
            return {}
        return {f"seconds/{name}": value for name, value in built.seconds.items()}

    def run_metadata(self, asset: str) -> dict[str, Any]:
        """What the run reports for `asset` as a whole: the seconds of a step that builds the run's days in one call
        (its time is the run's, not a day's), and the run's facts."""
        seconds = {}
        if not STEPS[self.step].per_day and self.days:
            seconds = {f"run_seconds/{name}": value for name, value in self.days[0].seconds.items()}
        return {**seconds, **self.facts.get(asset, {})}


class LayerRunner(dg.ConfigurableResource, ABC):
    """Builds the days of a step of the layer library, where and on what engine this deployment says."""

    def build(
        self,
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        step: str,
        rules: PipelineRules,
        previews: dict[str, list[str]],
        days: list[date] | None = None,
    ) -> StepRun:
        """`step` for `days` (the run's partitions by default), each output previewed with `previews`' columns."""
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}: one of {', '.join(STEPS)}")
        wanted = sorted(days if days is not None else (date.fromisoformat(key) for key in context.partition_keys))
        run = self.run_step(context, lake, step, wanted, rules, previews)
        run.days.sort(key=lambda built: built.day)
        return run

    @abstractmethod
    def run_step(
        self,
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        step: str,
        days: list[date],
        rules: PipelineRules,
        previews: dict[str, list[str]],
    ) -> StepRun:
        """Build the days on this runner's engine."""


class InProcessLayerRunner(LayerRunner):
    """The layer function in the step's process on DuckDB (REVOLT_DUCKDB_MEMORY_LIMIT), store faults retried."""

    def run_step(
        self,
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        step: str,
        days: list[date],
        rules: PipelineRules,
        previews: dict[str, list[str]],
    ) -> StepRun:
        with tempfile.TemporaryDirectory(prefix=f"revolt-{step}-") as folder:
            attempt = partial(lake.retrying, context)
            try:
                built = list(build_step(step, lake.store, lake.duckdb, days, rules, Path(folder), previews, attempt))
            except FileNotFoundError as missing:  # a day the step reads was never built: say which
                raise dg.Failure(str(missing)) from missing
        return StepRun(step, built)


class SparkLayerRunner(LayerRunner):
    """The Spark job (`pipes/spark_job.py`) for the step's days, launched through Dagster Pipes by `launcher`."""

    launcher: SparkLauncher

    def run_step(
        self,
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        step: str,
        days: list[date],
        rules: PipelineRules,
        previews: dict[str, list[str]],
    ) -> StepRun:
        request = JobRequest(step, days, lake.url, rules, lake.s3_endpoint_url, lake.s3_region, previews=previews)
        launched = self.launcher.launch(context, request)
        return StepRun(step, launched.days, {asset: launched.metadata(asset) for asset in STEPS[step].datasets})
