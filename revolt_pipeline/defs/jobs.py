"""One job per step of the cascade, launchable from the UI, from sensors, and with `dagster job launch`."""

import dagster as dg

from revolt_pipeline.layers.report_tables import AGGREGATE_TABLES

CLEANED_ASSETS = ("events", "events_quarantine", "sessionized_events", "sessions", "daily_aggregates")
REPORT_TABLES = tuple(table.name for table in AGGREGATE_TABLES)

raw_job = dg.define_asset_job(
    "raw_job",
    selection=dg.AssetSelection.assets("raw_events"),
    description="Consolidate received days' landed events into raw_events (a range of days runs as one run).",
)
clean_job = dg.define_asset_job(
    "clean_job",
    selection=dg.AssetSelection.assets(*CLEANED_ASSETS),
    description="Clean, sessionize and aggregate event days (a range of days runs as one run).",
)
report_job = dg.define_asset_job(
    "report_job",
    selection=dg.AssetSelection.assets(*REPORT_TABLES),
    description="Load event days' aggregates into the report database's tables.",
)
catalog_job = dg.define_asset_job(
    "catalog_job",
    selection=dg.AssetSelection.assets("event_catalog"),
    description="Load received days' property catalog into the report database's event_catalog.",
)

PEOPLE_ASSETS = (
    "person_days",
    "people",
    "active_users_daily",
    "active_users_daily_by_platform",
    "active_users_daily_by_app_version",
    "active_users_daily_by_os",
    "active_users_daily_by_device_type",
    "active_users_daily_by_country",
    "active_users_daily_by_locale",
    "active_users_daily_by_source",
    "active_users_daily_by_library",
    "person_days_table",
    "people_table",
    "person_sessions_table",
)
# Lifecycle and retention read the people layer's days: built by the same runs, after it.
RETENTION_ASSETS = (
    "cohort_activity",
    "lifecycle_daily",
    "lifecycle_weekly",
    "lifecycle_daily_by_platform",
    "lifecycle_daily_by_app_version",
    "lifecycle_weekly_by_platform",
    "lifecycle_weekly_by_app_version",
    "retention_daily",
    "retention_weekly",
    "retention_daily_by_app_version",
    "retention_weekly_by_app_version",
)
people_job = dg.define_asset_job(
    "people_job",
    selection=dg.AssetSelection.assets(*PEOPLE_ASSETS, *RETENTION_ASSETS),
    description="Build person days, the people snapshots and active users of event days, in date order, and load "
    "active users, person days and the latest people snapshot into the report database; then cohort_activity, "
    "lifecycle and retention of the same days.",
)

FUNNEL_ASSETS = (
    "funnel_progress",
    "funnel_steps_daily",
    "funnel_steps_daily_by_platform",
    "funnel_steps_daily_by_app_version",
    "funnel_steps_weekly",
    "funnel_steps_weekly_by_platform",
)
funnels_job = dg.define_asset_job(
    "funnels_job",
    selection=dg.AssetSelection.assets(*FUNNEL_ASSETS),
    description="Build the funnel progress of event days (and count their ISO weeks again), and load the funnel "
    "step tables into the report database.",
)

# Recommendations and segments of cutoff days (issue 9), for `ml_job`'s selection.
SEGMENT_RECOMMENDATION_ASSETS = (
    "recommendation_model",
    "recommendations",
    "segment_model",
    "person_segments",
    "segment_sizes",
)

# Machine learning (group `ml`): features as of a day, the models trained for it, and their report tables.
ML_ASSETS = ("person_features", "churn_model", "churn_scores")
ml_job = dg.define_asset_job(
    "ml_job",
    selection=dg.AssetSelection.assets(*ML_ASSETS, *SEGMENT_RECOMMENDATION_ASSETS),
    description="Build each person's features as of the end of a day, train and judge the churn model for the day "
    "against its baselines, and load churn_scores into the report database; train the recommendations and the "
    "segments of the day and load their tables.",
)

# Privacy (issue 12): the pending deletion requests carried out and verified (`defs/privacy/`), unpartitioned.
privacy_job = dg.define_asset_job(
    "privacy_job",  # defs/cascade.py's DELETION_JOB: the cascade waits while it runs
    selection=dg.AssetSelection.assets("privacy_deletions"),
    description="Carry out the pending deletion requests (revolt privacy delete) and verify that nothing of the "
    "people remains; the days it changed are then rebuilt by clean_after_deletion and the cascade.",
)
