"""One job per layer, launchable from the UI, from sensors, and with `dagster job launch`."""

import dagster as dg

raw_job = dg.define_asset_job(
    "raw_job",
    selection=dg.AssetSelection.assets("raw_events"),
    description="Consolidate a received day's landed events into raw_events.",
)
clean_job = dg.define_asset_job(
    "clean_job",
    selection=dg.AssetSelection.assets(
        "events", "events_quarantine", "sessionized_events", "sessions", "daily_aggregates"
    ),
    description="Clean, sessionize and aggregate event days (a range of days runs as one run).",
)
report_job = dg.define_asset_job(
    "report_job",
    selection=dg.AssetSelection.groups("reports"),
    description="Load event days' aggregates and the property catalog into the report database.",
)
