"""People: person days, the people snapshot of each day, and active users (lake and report tables).

`people` of day D reads `people` of D-1 (a self-dependency the UI draws), so its days are built in order,
and a changed day makes every later snapshot stale: the cascade rebuilds from the first changed day through
the last day built (`defs/people/sensors.py`). Active users of D read the person days of the MAU window
ending on D (`PipelineRules.actives_window`). The lake days are built by the `layer_runner` resource (DuckDB in
this process, or the Spark job through Dagster Pipes); the report tables are loaded here.
"""

from collections.abc import Iterator
from functools import partial
from typing import Any

import dagster as dg

from revolt_pipeline.defs.checks import partition_check, report_checks
from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.lake.runners import LayerRunner
from revolt_pipeline.defs.metadata import table_metadata
from revolt_pipeline.defs.reports.assets import KINDS as REPORT_KINDS
from revolt_pipeline.defs.reports.assets import (
    LOADED_ROWS,
    dashboard_link,
    load_report_table,
    report_table_metadata,
)
from revolt_pipeline.defs.reports.resources import ReportDatabaseResource
from revolt_pipeline.defs.rules import reads_window, rules_metadata
from revolt_pipeline.layers.checks import loaded_rows_check, people_day_checks
from revolt_pipeline.layers.people import (
    ACTIVE_USERS_TABLES,
    PeopleDay,
    load_active_users,
    load_people,
    load_person_days,
)
from revolt_pipeline.layers.summaries import summarize_rows
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import rows_in_snapshot
from revolt_pipeline.storage.layout import people_key, person_days_key
from revolt_pipeline.transforms.rules import DayWindow, PipelineRules

OWNERS = ["team:analytics-platform"]
TAGS = {"layer": "people"}
# Metadata of a `people` day: the earliest day of people it found re-stitched (the cascade rebuilds from it).
RESTITCHED_SINCE = "restitched_since"
# Metadata of a `person_days` day: its cleaned events the identity links now stitch to another person (the cascade
# cleans the day again).
RESTITCHED_EVENTS = "restitched_events"
# In each day's `people` metadata: the people active that day (its person days). ml_after_people trains the latest
# day anyone was active, not days built after the traffic stopped.
ACTIVE_PEOPLE = "active_people"
PERSON_DAYS_PREVIEW = ["person_id", "identified", "events", "sessions", "seconds", "platforms"]
PEOPLE_PREVIEW = ["person_id", "user_id", "first_seen", "last_seen", "first_platform", "sessions", "events"]
PREVIEWS = {"person_days": PERSON_DAYS_PREVIEW, "people": PEOPLE_PREVIEW}
PEOPLE_ASSETS = ("person_days", "people")
ACTIVE_USERS_REPORTS = tuple(table.name for table, _ in ACTIVE_USERS_TABLES)
# The report tables `person_days` and `people` share their names with the lake assets they load: their assets
# are named after the table with `_table`, and say the table's name in `dagster/table_name`.
PEOPLE_TABLE_ASSETS = {
    "person_days_table": schema.person_days,
    "people_table": schema.people,
    "person_sessions_table": schema.person_sessions,
}
# The lake asset whose days hold a report table's rows, where not named after it: a person's sessions are written
# with the day's person days.
LAKE_ROWS = {schema.person_sessions.name: "person_days"}


def build_people_assets(
    partitions: dg.PartitionsDefinition, rules: PipelineRules, engine: str = "duckdb"
) -> list[dg.AssetsDefinition]:
    """`people` (`person_days`, `people`), `active_users` (the active-users report tables) and `people_tables`;
    `engine` (REVOLT_ENGINE) names the lake assets' kind in the UI."""
    described_rules = rules_metadata(rules)
    kinds = {"parquet", engine}
    same_day = DayWindow(0, 0)

    @dg.multi_asset(
        name="people",
        specs=[
            dg.AssetSpec(
                "person_days",
                group_name="people",
                description="One row per stitched person and day: events, sessions started, their seconds, "
                "platforms and app versions, first and last event, identified: the base of exact distinct "
                "counts over any period.",
                deps=[reads_window("sessionized_events", same_day), reads_window("sessions", same_day)],
                kinds=kinds,
                owners=OWNERS,
                tags=TAGS,
                metadata=described_rules,
            ),
            dg.AssetSpec(
                "people",
                group_name="people",
                description="One row per stitched person as of the end of the day: first and last seen, "
                "identified, user id, latest traits (typed columns and JSON), first and latest platform, app "
                "version, OS, locale, sessions and events so far. The snapshot of the day before merged with "
                "the day's person days.",
                deps=[
                    reads_window("person_days", same_day),
                    dg.AssetDep(
                        "people",
                        partition_mapping=dg.TimeWindowPartitionMapping(
                            start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True
                        ),
                    ),
                ],
                kinds=kinds,
                owners=OWNERS,
                tags=TAGS,
                metadata=described_rules,
            ),
        ],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[
            partition_check(
                "reconciled_with_sessions",
                "person_days",
                "The person days hold every sessionized event and session of the day.",
                partitions,
            ),
            partition_check("one_row_per_person", "people", "No person twice in a snapshot.", partitions),
        ],
    )
    def people(context: dg.AssetExecutionContext, lake: LakeResource, layer_runner: LayerRunner) -> Iterator[Any]:
        """Build each day of the run in order: person days, then the snapshot from the day before's."""
        run = layer_runner.build(context, lake, "people", rules, PREVIEWS)
        outcomes: dict[str, dict[str, list[Any]]] = {"person_days": {}, "people": {}}
        for built in run.days:
            day: PeopleDay = built.result
            key = built.day.isoformat()
            reconciled, unique = people_day_checks(day)
            outcomes["person_days"][key], outcomes["people"][key] = [reconciled], [unique]
            restitched_events = day.person_day_counts.restitched_events
            person_days = built.summaries["person_days"]
            context.add_asset_metadata(
                {
                    **table_metadata(person_days, lake.store.uri(person_days_key(built.day)), dataset="person_days"),
                    **({RESTITCHED_EVENTS: restitched_events} if restitched_events else {}),
                },
                asset_key="person_days",
                partition_key=key,
            )
            if restitched_events:
                context.log.info(
                    f"person_days {key}: {restitched_events} cleaned events are now stitched to another person; "
                    "the cascade cleans the day again"
                )
            restitched = day.counts.restitched_since
            context.add_asset_metadata(
                {
                    **table_metadata(
                        built.summaries["people"], lake.store.uri(people_key(built.day)), dataset="people"
                    ),
                    ACTIVE_PEOPLE: person_days.rows,
                    "new_people": day.counts.new_people,
                    "identified_people": day.counts.identified,
                    "restitched_people": day.counts.restitched,
                    **({RESTITCHED_SINCE: restitched.isoformat()} if restitched else {}),
                },
                asset_key="people",
                partition_key=key,
            )
            if restitched:
                context.log.info(
                    f"people {key}: {day.counts.restitched} people seen since {restitched} are now stitched "
                    "into others; the cascade rebuilds people from that day"
                )
        yield dg.MaterializeResult(asset_key="person_days", metadata=run.run_metadata("person_days"))
        yield dg.MaterializeResult(asset_key="people", metadata=run.run_metadata("people"))
        yield from report_checks(context, "person_days", outcomes["person_days"])
        yield from report_checks(context, "people", outcomes["people"])

    @dg.multi_asset(
        name="active_users",
        specs=[
            dg.AssetSpec(
                table.name,
                group_name="people",
                description=table.comment,
                deps=[reads_window("person_days", rules.actives_window), reads_window("people", same_day)],
                kinds=REPORT_KINDS,
                owners=OWNERS,
                tags={"layer": "reports"},
                metadata={**report_table_metadata(table), **described_rules},
            )
            for table, _ in ACTIVE_USERS_TABLES
        ],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[
            partition_check("loaded_rows_match_lake", table.name, LOADED_ROWS, partitions)
            for table, _ in ACTIVE_USERS_TABLES
        ],
    )
    def active_users(
        context: dg.AssetExecutionContext, lake: LakeResource, reports: ReportDatabaseResource
    ) -> Iterator[Any]:
        """Load the run's days of active users (computed with `people`) into their report tables."""
        for table, _ in ACTIVE_USERS_TABLES:
            yield from load_report_table(context, lake, reports, table, load_active_users)

    @dg.multi_asset(
        name="people_tables",
        specs=[
            dg.AssetSpec(
                asset,
                group_name="people",
                description=f"The report table `{table.name}`. {table.comment}",
                deps=[reads_window(LAKE_ROWS.get(table.name, table.name), same_day)],
                kinds=REPORT_KINDS,
                owners=OWNERS,
                tags={"layer": "reports"},
                metadata=report_table_metadata(table),
            )
            for asset, table in PEOPLE_TABLE_ASSETS.items()
        ],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[
            partition_check("loaded_rows_match_lake", "person_days_table", LOADED_ROWS, partitions),
            partition_check("loaded_rows_match_lake", "person_sessions_table", LOADED_ROWS, partitions),
            partition_check(
                "loaded_rows_match_lake",
                "people_table",
                "The database holds exactly the rows of the latest people snapshot loaded.",
                partitions,
            ),
        ],
    )
    def people_tables(
        context: dg.AssetExecutionContext, lake: LakeResource, reports: ReportDatabaseResource
    ) -> Iterator[Any]:
        """Load the run's days of person days and person sessions, then the latest people snapshot (whatever the
        run's days)."""
        yield from load_report_table(
            context, lake, reports, schema.person_days, load_person_days, asset="person_days_table"
        )
        yield from load_report_table(
            context, lake, reports, schema.person_sessions, load_person_days, asset="person_sessions_table"
        )
        try:
            loaded = lake.retrying(context, "loading people", partial(load_people, reports.engine, lake.store))
        except FileNotFoundError as missing:
            raise dg.Failure(str(missing)) from missing
        held, in_database = rows_in_snapshot(reports.engine, schema.people)
        outcome = loaded_rows_check(loaded.rows.num_rows if held == loaded.loaded else in_database, in_database)
        metadata = {
            **table_metadata(summarize_rows(loaded.rows), dataset=schema.people.name),
            "snapshot_date": (held or loaded.loaded).isoformat(),
            "loaded_snapshot_date": loaded.loaded.isoformat(),
            "dashboard": dashboard_link(reports.dashboard_url, schema.people),  # the latest snapshot: no days
        }
        for key in context.partition_keys:
            context.add_asset_metadata(metadata, asset_key="people_table", partition_key=key)
        if held != loaded.loaded:
            context.log.info(f"people: kept the table as of {held}, later than the snapshot of {loaded.loaded}")
        yield dg.MaterializeResult(asset_key="people_table")
        yield from report_checks(context, "people_table", {key: [outcome] for key in context.partition_keys})

    return [people, active_users, people_tables]
