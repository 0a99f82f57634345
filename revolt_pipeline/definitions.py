"""The Dagster code location: every definition under defs/, with the resources of this environment.

`dagster dev`, the webserver's code server, the daemon and every run worker import this module as
their entry point, never going through the `revolt` command: so the umask that keeps what they write
under REVOLT_HOME private (Parquet layers, reports.sqlite, the demo's Dagster storage) is set here.
The settings are read here, once; everything below receives them.
"""

import dagster as dg

from revolt_pipeline.defs.churn.assets import build_churn_assets
from revolt_pipeline.defs.churn.sensors import build_ml_after_people
from revolt_pipeline.defs.cleaned.assets import build_cleaned_assets
from revolt_pipeline.defs.cleaned.sensors import build_clean_after_raw, build_clean_after_restitch
from revolt_pipeline.defs.funnels.assets import build_funnel_assets
from revolt_pipeline.defs.funnels.sensors import build_funnels_after_clean, build_funnels_after_restitch
from revolt_pipeline.defs.ingestion.resources import CollectorResource
from revolt_pipeline.defs.jobs import (
    catalog_job,
    clean_job,
    funnels_job,
    ml_job,
    people_job,
    privacy_job,
    raw_job,
    report_job,
)
from revolt_pipeline.defs.partitions import daily_partitions
from revolt_pipeline.defs.people.assets import build_people_assets
from revolt_pipeline.defs.people.sensors import build_people_after_clean, build_people_after_restitch
from revolt_pipeline.defs.privacy.assets import build_privacy_assets
from revolt_pipeline.defs.privacy.retention_policy import build_retention_policy
from revolt_pipeline.defs.privacy.sensors import (
    build_catalog_after_deletion,
    build_clean_after_deletion,
    build_privacy_after_request,
)
from revolt_pipeline.defs.raw.assets import build_raw_assets
from revolt_pipeline.defs.raw.schedules import raw_job_schedule
from revolt_pipeline.defs.recommendations.assets import build_recommendation_assets
from revolt_pipeline.defs.reports.assets import build_report_assets
from revolt_pipeline.defs.reports.sensors import build_catalog_after_raw, build_reports_after_clean
from revolt_pipeline.defs.resources import build_resources
from revolt_pipeline.defs.retention.assets import build_retention_assets
from revolt_pipeline.defs.rules import pipeline_rules
from revolt_pipeline.defs.segments.assets import build_segment_assets
from revolt_pipeline.private_files import restrict_umask
from revolt_pipeline.settings import Settings


def build_definitions(settings: Settings, *, collector: CollectorResource | None = None) -> dg.Definitions:
    """The definitions the UI, the daemon and `revolt demo` all use; only the collector may differ."""
    partitions = daily_partitions(settings.partitions_start)
    rules = pipeline_rules(settings)
    retention_policy_job, retention_policy_schedule = build_retention_policy(settings.raw_retention_days, rules)
    return dg.Definitions(
        assets=[
            *build_raw_assets(partitions, rules, settings),
            *build_cleaned_assets(partitions, rules, settings.engine),
            *build_report_assets(partitions),
            *build_people_assets(partitions, rules, settings.engine),
            *build_funnel_assets(partitions, rules, settings.engine),
            *build_retention_assets(partitions, rules, settings.engine),
            *build_recommendation_assets(partitions),
            *build_segment_assets(partitions),
            *build_churn_assets(partitions, settings.churn, settings.engine),
            *build_privacy_assets(settings, rules),
        ],
        jobs=[
            raw_job,
            clean_job,
            report_job,
            catalog_job,
            people_job,
            funnels_job,
            ml_job,
            privacy_job,
            retention_policy_job,
        ],
        schedules=[raw_job_schedule, retention_policy_schedule],
        sensors=[
            build_clean_after_raw(partitions, rules),
            build_catalog_after_raw(partitions),
            build_reports_after_clean(partitions),
            build_people_after_clean(partitions),
            build_people_after_restitch(partitions),
            build_funnels_after_clean(partitions, rules),
            build_funnels_after_restitch(partitions),
            build_clean_after_restitch(partitions, rules),
            build_ml_after_people(partitions, settings.churn, settings.ml_retrain_days),
            build_privacy_after_request(),
            build_clean_after_deletion(partitions, rules),
            build_catalog_after_deletion(partitions),
        ],
        resources=build_resources(settings, collector=collector),
    )


restrict_umask()
defs = build_definitions(Settings.from_env())
