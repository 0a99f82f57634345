"""The pipeline's data checks, one day at a time: what each layer's build found, judged.

Each function takes what a layer function returned for a day and says, per check, whether the day
passes and what is wrong with it. The Dagster assets report these as asset checks, one per partition;
the benchmarks and tests can call them without Dagster.
"""

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import pyarrow.parquet as pq

from revolt_pipeline.layers.cleaned import AggregateDay, CleanDay, SessionDay
from revolt_pipeline.layers.funnels import FunnelDay
from revolt_pipeline.layers.ml import ChurnModelDay, FeaturesDay
from revolt_pipeline.layers.people import PeopleDay
from revolt_pipeline.layers.raw import RawDay
from revolt_pipeline.layers.recommendations import RecommendationsDay
from revolt_pipeline.layers.retention import RetentionDay
from revolt_pipeline.layers.segments import SegmentsDay
from revolt_pipeline.ml.churn import MODEL
from revolt_pipeline.transforms.features import FEATURE_WINDOW_DAYS

# Problems kept per check and day: enough to act on, bounded for a day with millions of bad rows.
MAX_PROBLEMS = 200


@dataclass(frozen=True)
class CheckOutcome:
    """One check of one day: passed when nothing is wrong; `problems` say what is, `facts` what was compared."""

    name: str
    problems: list[str]
    facts: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.problems


def _outcome(name: str, problems: list[str], **facts: int) -> CheckOutcome:
    return CheckOutcome(name, problems[:MAX_PROBLEMS], facts)


def _nulls(null_counts: dict[str, int]) -> list[str]:
    return [f"{column} is null in {count:,} rows" for column, count in null_counts.items() if count]


def raw_day_checks(day: RawDay, acknowledged: int) -> list[CheckOutcome]:
    """`reconciled_with_collector`, `required_columns_not_null`, `no_schema_drift` and `no_unhashed_pii` (property
    values that look like personal data under keys cleaning keeps) of a received day."""
    reconciliation = (
        []
        if acknowledged == day.rows
        else [f"the collector acknowledged {acknowledged:,} events, raw holds {day.rows:,}"]
    )
    return [
        _outcome("reconciled_with_collector", reconciliation, acknowledged=acknowledged, rows=day.rows),
        _outcome("required_columns_not_null", _nulls(day.profile.null_counts)),
        _outcome("no_schema_drift", list(day.drift)),
        _outcome("no_unhashed_pii", list(day.unhashed_pii)),
    ]


def clean_day_checks(day: CleanDay) -> list[CheckOutcome]:
    """`unique_message_id`, `required_columns_not_null` and `reconciled_with_raw` of an event day."""
    repeated = day.events - day.distinct_message_ids
    reconciliation = (
        []
        if day.reconciled
        else [f"raw rows {day.assigned_rows:,} != events {day.events:,} + quarantined {day.quarantined_rows:,}"]
    )
    return [
        _outcome("unique_message_id", [f"{repeated:,} repeated messageIds"] if repeated else []),
        _outcome("required_columns_not_null", _nulls(day.null_counts)),
        _outcome(
            "reconciled_with_raw",
            reconciliation,
            raw_rows=day.assigned_rows,
            events=day.events,
            quarantined=day.quarantined_rows,
        ),
    ]


def session_day_checks(day: SessionDay) -> list[CheckOutcome]:
    """`session_bounds_consistent` (of `sessions`) and `every_event_in_a_session` (of `sessionized_events`)."""
    bounds = [f"{day.inconsistent_sessions:,} sessions with inconsistent bounds"] if day.inconsistent_sessions else []
    coverage = (
        [
            f"{day.cleaned_events:,} cleaned, {day.sessionized_events:,} sessionized, "
            f"{day.events_without_session:,} without a session"
        ]
        if day.sessionized_events != day.cleaned_events or day.events_without_session
        else []
    )
    return [
        _outcome("session_bounds_consistent", bounds, sessions=day.sessions),
        _outcome(
            "every_event_in_a_session",
            coverage,
            cleaned_events=day.cleaned_events,
            sessionized_events=day.sessionized_events,
        ),
    ]


def loaded_rows_check(lake_rows: int, database_rows: int) -> CheckOutcome:
    """`loaded_rows_match_lake`: the report database holds exactly the day's rows from the lake."""
    problems = (
        [] if lake_rows == database_rows else [f"the database holds {database_rows:,} rows, the lake {lake_rows:,}"]
    )
    return _outcome("loaded_rows_match_lake", problems, lake_rows=lake_rows, database_rows=database_rows)


def people_day_checks(day: PeopleDay) -> list[CheckOutcome]:
    """`reconciled_with_sessions` (of `person_days`) and `one_row_per_person` (of `people`)."""
    counts = day.person_day_counts
    reconciliation = []
    if counts.events != counts.sessionized_events:
        reconciliation.append(f"person days hold {counts.events:,} events, the day {counts.sessionized_events:,}")
    if counts.sessions != counts.day_sessions:
        reconciliation.append(f"person days hold {counts.sessions:,} sessions, the day {counts.day_sessions:,}")
    repeated = day.counts.people - day.counts.distinct_people
    return [
        _outcome(
            "reconciled_with_sessions",
            reconciliation,
            events=counts.events,
            sessionized_events=counts.sessionized_events,
            sessions=counts.sessions,
        ),
        _outcome(
            "one_row_per_person",
            [f"{repeated:,} people with more than one row"] if repeated else [],
            people=day.counts.people,
        ),
    ]


def path_checks(day: AggregateDay) -> list[CheckOutcome]:
    """`path_entries_and_exits_match_sessions` and `path_transitions_balanced` of a day's path aggregates,
    every grain: each session with a step enters once and exits once, and every occurrence of a step is
    entered (a session's start or a transition in) and left (a transition out or the session's end) once."""
    ends, flows = [], []
    for balance in day.paths:
        ends += [f"{balance.table}: {problem}" for problem in balance.unmatched_groups]
        flows += [f"{balance.table}: {problem}" for problem in balance.unbalanced_steps]
    total = day.paths[0] if day.paths else None
    return [
        _outcome(
            "path_entries_and_exits_match_sessions",
            ends,
            **(
                {"sessions_with_steps": total.sessions_with_steps, "entries": total.entries, "exits": total.exits}
                if total
                else {}
            ),
        ),
        _outcome(
            "path_transitions_balanced",
            flows,
            **({"occurrences": total.occurrences, "transitions": total.transitions} if total else {}),
        ),
    ]


def events_breakdown_check(day: AggregateDay) -> CheckOutcome:
    """`events_breakdowns_add_up`: each events breakdown of the day sums, per event, to the grain it breaks down (by
    OS and by country per platform and app version to `events_daily_by_app_version`, the others to `events_daily`,
    the platforms to the total, the app versions to their platform)."""
    return _outcome("events_breakdowns_add_up", day.unbalanced_events)


def funnel_steps_check(rows: list[dict[str, Any]]) -> CheckOutcome:
    """`funnel_steps_consistent`: along each funnel's steps (per day or week, platform and app version), step 1's
    reached equals entered, reached never grows, and conversions lie in [0, 1]."""
    problems = []
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        key = tuple(row.get(name) for name in ("event_date", "week_start", "funnel", "platform", "app_version"))
        groups.setdefault(key, []).append(row)
    for key, steps in sorted(groups.items(), key=lambda item: str(item[0])):
        where = " ".join(str(part) for part in key if part is not None)
        steps.sort(key=lambda row: row["step"])
        first = steps[0]
        if first["step"] == 1 and first["reached"] != first["entered"]:
            problems.append(f"{where}: {first['entered']} entered but {first['reached']} reached step 1")
        for before, after in pairwise(steps):
            if after["reached"] > before["reached"]:
                problems.append(
                    f"{where}: step {after['step']} reached by {after['reached']}, more than step {before['step']}'s "
                    f"{before['reached']}"
                )
        for row in steps:
            for name in ("conversion_from_start", "conversion_from_previous"):
                value = row[name]
                if value is not None and not 0.0 <= value <= 1.0:
                    problems.append(f"{where}: step {row['step']} {name} {value} is outside [0, 1]")
    return _outcome("funnel_steps_consistent", problems, groups=len(groups))


def funnel_progress_checks(day: FunnelDay) -> list[CheckOutcome]:
    """`funnel_progress_consistent` of a day's funnel progress: each person once per funnel, at step 1 or beyond,
    step 1 at the entry, each step reached at or after the one before it, and no time after the last step reached.
    The step tables are counted from these rows: a person twice would be counted twice."""
    columns = ["funnel", "person_id", "entered_at", "steps_reached", "step_times"]
    rows = pq.read_table(day.progress_path, columns=columns).to_pylist()
    problems = []
    seen: set[tuple[str, str]] = set()
    for row in rows:
        where, times, reached = f"{row['funnel']}: {row['person_id']}", row["step_times"] or [], row["steps_reached"]
        if (row["funnel"], row["person_id"]) in seen:
            problems.append(f"{where} has more than one row")
        seen.add((row["funnel"], row["person_id"]))
        if reached is None or not 1 <= reached <= len(times):
            problems.append(f"{where} reached {reached} of {len(times)} steps")
        elif times[0] != row["entered_at"]:
            problems.append(f"{where} did step 1 at {times[0]}, not at the entry ({row['entered_at']})")
        elif None in times[:reached] or any(time is not None for time in times[reached:]):
            problems.append(f"{where} reached {reached} steps but has times for steps {_numbered(times)}")
        elif any(later < earlier for earlier, later in pairwise(times[:reached])):
            problems.append(f"{where} reached a step before the step before it")
    return [_outcome("funnel_progress_consistent", problems, entries=len(rows))]


def _numbered(times: list[Any]) -> str:
    return ", ".join(str(number) for number, time in enumerate(times, start=1) if time is not None) or "none"


def _cell_problems(table: str, rows: list[dict], key: str) -> list[str]:
    """What is impossible in a table's retention cells: more retained than the cohort, or-later below exact or
    rising with the period, a cohort's size changing between its periods."""
    problems = []
    by_cohort: dict[tuple, list[dict]] = {}
    for row in rows:
        # Split by app version, each platform and version's share of a cohort is a cohort of its own.
        split = " ".join(str(row[name]) for name in ("platform", "app_version") if name in row)
        by_cohort.setdefault((row[key], row["definition"], *([split] if split else [])), []).append(row)
        where = f"{table} {row[key]} {row['definition']} {split + ' ' if split else ''}period {row['period']}"
        if not 0 <= row["retained"] <= row["retained_or_later"] <= row["cohort_size"]:
            problems.append(
                f"{where}: retained {row['retained']:,}, or later {row['retained_or_later']:,}, cohort "
                f"{row['cohort_size']:,} (must be 0 <= retained <= or later <= cohort)"
            )
    for (cohort, definition, *split), cells in by_cohort.items():
        cohort = " ".join([str(cohort), *split])
        cells.sort(key=lambda row: row["period"])
        if len({row["cohort_size"] for row in cells}) > 1:
            problems.append(f"{table} {cohort} {definition}: the cohort's size differs between periods")
        for earlier, later in pairwise(cells):
            if later["retained_or_later"] > earlier["retained_or_later"]:
                problems.append(
                    f"{table} {cohort} {definition}: retained_or_later rises from period {earlier['period']} "
                    f"({earlier['retained_or_later']:,}) to {later['period']} ({later['retained_or_later']:,})"
                )
        first = cells[0]
        if definition == "first_seen" and first["period"] == 0 and first["retained"] != first["cohort_size"]:
            problems.append(
                f"{table} {cohort} first_seen: period 0 retains {first['retained']:,} of {first['cohort_size']:,}"
            )
    return problems


def _lifecycle_problems(period: str, row: dict, active: int | None, previous_active: int | None) -> list[str]:
    """A lifecycle row whose states do not add up to its period's active people, or to the actives' counts."""
    problems = []
    arrived = row["new_users"] + row["returning_users"] + row["resurrecting_users"]
    if arrived != row["active_users"]:
        problems.append(f"{period}: new + returning + resurrecting = {arrived:,}, active {row['active_users']:,}")
    stayed_or_left = row["returning_users"] + row["dormant_users"]
    if stayed_or_left != row["previous_active_users"]:
        problems.append(
            f"{period}: returning + dormant = {stayed_or_left:,}, previously active {row['previous_active_users']:,}"
        )
    if active is not None and active != row["active_users"]:
        problems.append(f"{period}: {row['active_users']:,} active, active_users_daily counts {active:,}")
    if previous_active is not None and previous_active != row["previous_active_users"]:
        problems.append(
            f"{period}: {row['previous_active_users']:,} previously active, active_users_daily counts "
            f"{previous_active:,}"
        )
    return problems


RETENTION_COUNTS = ("cohort_size", "retained", "retained_or_later")


def retention_split_problems(table: str, total: list[dict], split: list[dict], key: str) -> list[str]:
    """Where a cohort's rows by app version do not add up to its total row (each person counts under the one
    platform and app version that acquired them)."""
    sums: dict[tuple, list[int]] = {}
    for row in split:
        cell = sums.setdefault((row[key], row["definition"], row["period"]), [0] * len(RETENTION_COUNTS))
        for index, name in enumerate(RETENTION_COUNTS):
            cell[index] += row[name]
    problems = []
    for row in total:
        cell = (row[key], row["definition"], row["period"])
        expected = [row[name] for name in RETENTION_COUNTS]
        got = sums.pop(cell, [0] * len(RETENTION_COUNTS))
        if got != expected:
            problems.append(
                f"{table} {cell[0]} {cell[1]} period {cell[2]}: by app version "
                + ", ".join(f"{n} {g:,}" for n, g in zip(RETENTION_COUNTS, got, strict=True))
                + "; in total "
                + ", ".join(f"{n} {e:,}" for n, e in zip(RETENTION_COUNTS, expected, strict=True))
            )
    problems += [f"{table} {cell[0]} {cell[1]} period {cell[2]}: by app version only" for cell in sums]
    return problems


def lifecycle_by_problems(
    tables: dict[str, list[dict[str, Any]]], actives: dict[str, list[dict[str, Any]]]
) -> list[str]:
    """Lifecycle rows by platform (and app version) whose states do not add up within the row, or whose day's
    active people on a value differ from that value's DAU in the active-users table of the same grain."""
    problems = []
    for table, rows in sorted(tables.items()):
        for row in rows:
            split = " ".join(str(row[name]) for name in ("platform", "app_version") if name in row)
            period = row.get("event_date") or row.get("week_start")
            problems += _lifecycle_problems(f"{table} {period} {split}", row, None, None)
    for table, active in sorted(actives.items()):
        dimensions = ["platform", "app_version"] if table.endswith("_by_app_version") else ["platform"]
        dau = {tuple(row[name] for name in dimensions): row["dau"] for row in active}
        counted = {tuple(row[name] for name in dimensions): row["active_users"] for row in tables.get(table, [])}
        for key in sorted(set(dau) | set(counted)):
            if dau.get(key, 0) != counted.get(key, 0):
                problems.append(
                    f"{table} {' '.join(key)}: {counted.get(key, 0):,} active, its active users count "
                    f"{dau.get(key, 0):,}"
                )
    return problems


def retention_day_checks(day: RetentionDay) -> list[CheckOutcome]:
    """`retention_cells_consistent`, `retention_by_app_version_adds_up`, `lifecycle_reconciles_with_actives` and
    `lifecycle_by_platform_reconciles_with_actives` of a day of `cohort_activity`.

    The lifecycle of the day is compared with the day's and the day before's DAU, and the week's (on its
    Sunday, when the whole week is counted) with the WAU of the Sundays, as the people layer counted them."""
    cells = [
        *_cell_problems("retention_daily", day.retention_daily, "cohort_date"),
        *_cell_problems("retention_weekly", day.retention_weekly, "cohort_week"),
        *_cell_problems("retention_daily_by_app_version", day.retention_daily_by_app_version, "cohort_date"),
        *_cell_problems("retention_weekly_by_app_version", day.retention_weekly_by_app_version, "cohort_week"),
    ]
    adds_up = [
        *retention_split_problems(
            "retention_daily", day.retention_daily, day.retention_daily_by_app_version, "cohort_date"
        ),
        *retention_split_problems(
            "retention_weekly", day.retention_weekly, day.retention_weekly_by_app_version, "cohort_week"
        ),
    ]
    weekly = day.lifecycle_weekly
    lifecycle = _lifecycle_problems(
        f"lifecycle_daily {day.day}", day.lifecycle_daily, day.dau, day.previous_dau
    ) + _lifecycle_problems(f"lifecycle_weekly {weekly['week_start']}", weekly, day.wau, day.previous_wau)
    return [
        _outcome(
            "retention_cells_consistent",
            cells,
            day_cells=len(day.retention_daily),
            week_cells=len(day.retention_weekly),
        ),
        _outcome(
            "retention_by_app_version_adds_up",
            adds_up,
            day_cells_by_app_version=len(day.retention_daily_by_app_version),
            week_cells_by_app_version=len(day.retention_weekly_by_app_version),
        ),
        _outcome(
            "lifecycle_reconciles_with_actives",
            lifecycle,
            active_users=day.lifecycle_daily["active_users"],
            week_active_users=weekly["active_users"],
        ),
        _outcome(
            "lifecycle_by_platform_reconciles_with_actives",
            lifecycle_by_problems(day.lifecycle_by, day.actives_by),
            **{f"{table}_rows": len(rows) for table, rows in sorted(day.lifecycle_by.items())},
        ),
    ]


def recommendation_checks(day: RecommendationsDay) -> list[CheckOutcome]:
    """`beats_popularity`: on the held-out days before the cutoff, the model's hit rate beats the popularity
    baseline's and its recall is no worse (with someone to judge on)."""
    judged = day.evaluation
    problems = []
    if judged.people_evaluated == 0:
        problems.append(f"no one used a new item from {judged.split_date} to {day.cutoff}: nothing to judge on")
    elif not judged.beats_popularity:
        problems.append(
            f"hit rate at {judged.k} {judged.hit_rate:.3f} (popularity {judged.popularity_hit_rate:.3f}), recall "
            f"{judged.recall:.3f} (popularity {judged.popularity_recall:.3f}): no better than suggesting the most "
            "used items"
        )
    return [_outcome("beats_popularity", problems, people_evaluated=judged.people_evaluated)]


def segment_checks(day: SegmentsDay) -> list[CheckOutcome]:
    """`segments_separate`: the segments chosen are closer inside than to each other (silhouette above 0) and
    none is empty; `every_person_one_segment`: one person_segments row per person profiled, and the sizes of
    segment_sizes add up to them."""
    rows = {table: pq.ParquetFile(path).metadata.num_rows for table, path in day.paths.items()}
    people_rows = rows["person_segments"]
    separate, counted = [], []
    segments = day.segments
    if segments is None:
        separate.append(f"{day.people} people active before {day.cutoff}: too few to segment")
    else:
        if segments.silhouette <= 0:
            separate.append(f"silhouette {segments.silhouette:.3f}: the segments are no better than chance")
        separate += [f"segment {k} is empty" for k, size in segments.sizes().items() if size == 0]
        sized = int(pq.read_table(day.paths["segment_sizes"], columns=["people"]).column("people").to_numpy().sum())
        if sized != day.people:
            counted.append(f"segment_sizes counts {sized:,} people, {day.people:,} were profiled")
    if people_rows != (day.people if segments is not None else 0):
        counted.append(f"person_segments has {people_rows:,} rows for {day.people:,} people profiled")
    return [
        _outcome("segments_separate", separate, segments=segments.count if segments else 0),
        _outcome("every_person_one_segment", counted, people=day.people, rows=people_rows),
    ]


def person_features_checks(day: FeaturesDay) -> list[CheckOutcome]:
    """`one_row_per_person` of a cutoff's features: each person once, each active in the window before the
    cutoff and not after it (recency 1 to 28 days: 0 or less would mean a day from the cutoff on was read)."""
    rows = pq.read_table(day.path, columns=["person_id", "days_since_last_active"])
    people = rows.column("person_id").to_pylist()
    recency = rows.column("days_since_last_active").to_pylist()
    problems = []
    repeated = len(people) - len(set(people))
    if repeated:
        problems.append(f"{repeated} rows repeat a person already in the features as of {day.cutoff}")
    outside = [p for p, r in zip(people, recency, strict=True) if r is None or not 1 <= r <= FEATURE_WINDOW_DAYS]
    problems += [f"{person} has a recency outside 1..{FEATURE_WINDOW_DAYS} days" for person in outside]
    return [_outcome("one_row_per_person", problems, people=len(people), repeated=repeated)]


def churn_model_checks(day: ChurnModelDay) -> list[CheckOutcome]:
    """`beats_best_baseline`: the model's validation ROC AUC above the best baseline's (NaN, for validation
    cutoffs with one class only, never beats anything)."""
    training = day.training
    model, best = training.metrics[MODEL], training.metrics[training.best_baseline]
    problems = []
    if not training.beats_baseline:
        problems.append(
            f"the model's validation ROC AUC {model.roc_auc:.4f} does not beat {training.best_baseline}'s "
            f"{best.roc_auc:.4f} on the validation cutoffs {min(training.validation_cutoffs)} to "
            f"{training.validation_cutoff}"
        )
    return [
        _outcome(
            "beats_best_baseline",
            problems,
            validation_people=model.people,
            validation_churned=model.positives,
        )
    ]
