"""Asset checks of the daily partitions: declared per partition, and reported for each day of a run.

A run covers a range of days (a backfill, a cascade), and every day has its own outcome: the
`reconciled_with_raw` of one day failing says nothing of its neighbours. So the checks are partitioned
like their assets and each day's outcome is reported as that partition's evaluation, linked to the
day's materialization so that the UI shows it as that partition's current status.

Dagster 1.13 reports a partitioned check per partition only for runs of a single partition
(`AssetCheckResult` takes no partition); for a range it records evaluations that carry their
partition, but the link to the partition's materialization (without which the UI shows no status)
has no public constructor. It is imported from Dagster's own module here, in this one place; a test
of the UI's partition statuses (revolt_pipeline_tests/defs/test_ui_graphql.py) fails if it changes.
"""

import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from revolt_pipeline.layers.checks import CheckOutcome

# Checks that flag what an analyst should look at, while the data itself is sound.
WARNINGS = {"no_schema_drift", "no_unhashed_pii"}


def partition_check(name: str, asset: str, description: str, partitions: dg.PartitionsDefinition) -> dg.AssetCheckSpec:
    """A check evaluated for each partition of its asset."""
    with warnings.catch_warnings():
        # Partitioned checks are a preview in Dagster 1.13; saying so on every load of the code location is noise.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.AssetCheckSpec(name, asset=asset, description=description, partitions_def=partitions)


def report_checks(
    context: dg.AssetExecutionContext, asset: str, outcomes: Mapping[str, list[CheckOutcome]]
) -> Iterator[Any]:
    """Each day's outcome of each of the asset's checks, as that partition's evaluation.

    Call after the asset's materializations were yielded: an evaluation points at its day's.
    """
    asset_key = dg.AssetKey(asset)
    by_check: dict[str, dict[str, CheckOutcome]] = {}
    for day, day_outcomes in outcomes.items():
        for outcome in day_outcomes:
            by_check.setdefault(outcome.name, {})[day] = outcome
    targets = {day: _latest_materialization(context, asset_key, day) for day in outcomes}
    for name, days in by_check.items():
        key = dg.AssetCheckKey(asset_key, name)
        if key not in context.selected_asset_check_keys:
            continue
        yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(key))
        for day, outcome in sorted(days.items()):
            yield dg.AssetCheckEvaluation(
                asset_key=asset_key,
                check_name=name,
                passed=outcome.passed,
                severity=dg.AssetCheckSeverity.WARN if name in WARNINGS else dg.AssetCheckSeverity.ERROR,
                metadata={
                    "problems": dg.MetadataValue.json(outcome.problems),
                    "problem_count": len(outcome.problems),
                    **outcome.facts,
                },
                description="; ".join(outcome.problems[:3]) or None,
                target_materialization_data=targets[day],
                blocking=False,
                partition=day,
            )


def _latest_materialization(
    context: dg.AssetExecutionContext, asset_key: dg.AssetKey, partition: str
) -> AssetCheckEvaluationTargetMaterializationData | None:
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1
    ).records
    if not records:
        return None
    record = records[0]
    return AssetCheckEvaluationTargetMaterializationData(
        storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
    )
