"""The pipeline's data checks, one day at a time: what each layer's build found, judged.

Each function takes what a layer function returned for a day and says, per check, whether the day
passes and what is wrong with it. The Dagster assets report these as asset checks, one per partition;
the benchmarks and tests can call them without Dagster.
"""

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from revolt_pipeline.layers.cleaned import AggregateDay, CleanDay, SessionDay
from revolt_pipeline.layers.people import PeopleDay
from revolt_pipeline.layers.raw import RawDay

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
    """`reconciled_with_collector`, `required_columns_not_null` and `no_schema_drift` of a received day."""
    reconciliation = (
        []
        if acknowledged == day.rows
        else [f"the collector acknowledged {acknowledged:,} events, raw holds {day.rows:,}"]
    )
    return [
        _outcome("reconciled_with_collector", reconciliation, acknowledged=acknowledged, rows=day.rows),
        _outcome("required_columns_not_null", _nulls(day.profile.null_counts)),
        _outcome("no_schema_drift", list(day.drift)),
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


def funnel_steps_check(rows: list[dict[str, Any]]) -> CheckOutcome:
    """`funnel_steps_consistent`: along each funnel's steps (per day or week, and platform), step 1's reached
    equals entered, reached never grows, and conversions lie in [0, 1]."""
    problems = []
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        key = tuple(row.get(name) for name in ("event_date", "week_start", "funnel", "platform"))
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
