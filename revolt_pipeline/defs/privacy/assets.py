"""`privacy_deletions`: every pending deletion request carried out by the layer library (`layers/deletion.py`), and
its check `nothing_remains`, which scans every object and report table for every id of the requests it processed.

The check runs inside the asset's step, not as a check of its own: once a request is done the audit forgets its ids
in clear, so only the step that removed them can still search for them.
"""

import dagster as dg

from revolt_pipeline.collector.admin_client import CollectorAdminError
from revolt_pipeline.defs.cascade import IN_PROGRESS
from revolt_pipeline.defs.ingestion.resources import CollectorResource
from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.reports.resources import ReportDatabaseResource
from revolt_pipeline.layers.deletion import DeletionRun, carry_out_requests
from revolt_pipeline.settings import Settings
from revolt_pipeline.transforms.rules import PipelineRules

PRIVACY_DELETIONS = "privacy_deletions"
NOTHING_REMAINS = "nothing_remains"
# The metadata keys naming the event days the erasures changed (`clean_after_deletion` rebuilds from them), and the
# received days whose raw profiles they counted again (`catalog_after_deletion` loads their catalog again).
EVENT_DAYS = "event_days"
RECEIVED_DAYS = "received_days"


def build_privacy_assets(settings: Settings, rules: PipelineRules) -> list[dg.AssetsDefinition]:
    """The deletion asset; the privacy salt is read when a run needs it (the pseudonyms of the suppression list)."""

    @dg.asset(
        name=PRIVACY_DELETIONS,
        group_name="privacy",
        description="Carry out the pending deletion requests (`revolt privacy delete`): resolve every id stitched "
        "to the person, suppress them at the collector, erase them from every object of the store, delete the "
        "report tables' rows naming them, verify that nothing remains, and record it all in privacy_requests. "
        "clean_after_deletion then rebuilds the cleaned layer, and the cascade everything after it, over the days "
        "that changed. docs/privacy.md, Deletion.",
        check_specs=[
            dg.AssetCheckSpec(
                NOTHING_REMAINS,
                asset=PRIVACY_DELETIONS,
                description="Every object of the store and every report table searched for every id of the "
                "requests the run carried out: none may name them any more.",
            )
        ],
    )
    def privacy_deletions(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        reports: ReportDatabaseResource,
        collector: CollectorResource,
    ) -> dg.MaterializeResult:
        _refuse_a_second_run(context)
        engine = reports.engine
        salt = settings.resolved_privacy_salt()

        def land_the_spool() -> None:
            """The collector lands what it holds, dropping the person's events: then nothing more is on its way."""
            try:
                collector.flush()
            except CollectorAdminError as exc:
                context.log.warning(
                    f"the collector could not be asked to land its spool ({exc}); it drops the person's spooled "
                    "events when it next reads the suppression list (REVOLT_SUPPRESSION_REFRESH_SECONDS)"
                )

        def carry_out() -> DeletionRun:
            with lake.duckdb() as connection:
                return carry_out_requests(
                    lake.store,
                    connection,
                    engine,
                    salt,
                    run_id=context.run.run_id,
                    rules=rules,
                    after_suppressing=land_the_spool,
                    log=context.log.info,
                )

        run = lake.retrying(context, "carrying out deletion requests", carry_out)
        return dg.MaterializeResult(metadata=_metadata(run), check_results=[_nothing_remains(run)])

    return [privacy_deletions]


def _refuse_a_second_run(context: dg.AssetExecutionContext) -> None:
    """Two runs would take up the same requests and add to the suppression list at once (one's additions could be
    lost): a run launched by hand while another goes fails at once, changing nothing."""
    going = context.instance.get_runs(dg.RunsFilter(job_name=context.run.job_name, statuses=IN_PROGRESS))
    others = [run.run_id for run in going if run.run_id != context.run.run_id]
    if others:
        raise dg.Failure(
            f"another {context.run.job_name} run is carrying out deletion requests ({', '.join(others)}): nothing "
            "was changed; launch this one again once it has finished"
        )


def _metadata(run: DeletionRun) -> dict[str, object]:
    def summed(counts: str) -> dg.JsonMetadataValue:
        """One of `Removed`'s counts per layer or table, summed over the run's requests."""
        total: dict[str, int] = {}
        for outcome in run.outcomes:
            for where, count in getattr(outcome.removed, counts).items():
                total[where] = total.get(where, 0) + count
        return dg.MetadataValue.json(total)

    return {
        "requests": dg.MetadataValue.json({outcome.request_id: outcome.status for outcome in run.outcomes}),
        "objects_rewritten": sum(outcome.removed.objects_rewritten for outcome in run.outcomes),
        "objects_deleted": sum(outcome.removed.objects_deleted for outcome in run.outcomes),
        "rows_removed": summed("rows"),
        "rows_of_others_redacted": summed("rows_of_others_redacted"),
        "report_rows_deleted": summed("report_rows"),
        "report_rows_of_others_redacted": summed("report_rows_of_others_redacted"),
        "not_rewritten": dg.MetadataValue.json(sorted({k for o in run.outcomes for k in o.removed.not_rewritten})),
        EVENT_DAYS: dg.MetadataValue.json([day.isoformat() for day in run.event_days]),
        RECEIVED_DAYS: dg.MetadataValue.json([day.isoformat() for day in run.received_days]),
    }


def _nothing_remains(run: DeletionRun) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=NOTHING_REMAINS,
        passed=not run.remaining,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "requests_verified": len(run.outcomes),
            "ids_searched": sum(outcome.ids for outcome in run.outcomes),
            "remaining": dg.MetadataValue.json(run.remaining),
        },
        description="nothing of the people remains"
        if not run.remaining
        else f"still naming them: {', '.join(run.remaining[:20])}",
    )
