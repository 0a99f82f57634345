"""Paths: the steps a session takes, in order, and how the day's sessions moved between them.

A **step** is something the person did, named by its kind: `page: Pricing`, `screen: Timesheet`,
`track: Timer Started`. A page without a name is named by its path (`page: /pricing`, as analytics.js sends
`properties.path` on every `page()`), a page or screen with neither by `(no name)`. `identify`, `alias` and
`group` calls are bookkeeping of the app, not steps a person takes: they are left out of paths, so they
neither start, end nor interrupt one (`page: Home`, identify, `page: Pricing` is one transition).

The `sessions` layer keeps each session's steps in order (`steps`, every page, screen and track event, ties
broken by messageId as sessions are). The aggregates make each step fit the report database (the
`report_text` rule) and then **collapse immediate repeats** into one step: a page reloaded, a screen shown
again, an event fired twice in a row is one step, so a path reads as moves (no `A -> A` transitions),
and `events - occurrences` of a step counts the repeats. With repeats collapsed, every occurrence of a step
is entered either by starting a session or by a transition into it, and left either by a transition out
or by ending the session: `occurrences = entries + transitions in = exits + transitions out`, which the
checks of `daily_aggregates` hold every day to (`path_balance`).

Paths belong to the day their session started, like the sessions: a session crossing midnight is one path,
counted once. A session without a step (an identify alone) has no entry and no exit.

Lists are DuckDB's: `list_transform` with a lambda and `unnest(range(...))` are Spark's `transform` and
`explode(sequence(...))`; `list[0]` is NULL on both (`transforms/dialect.py`).
"""

from dataclasses import dataclass

import duckdb

from revolt_pipeline.transforms.engine import parquet
from revolt_pipeline.transforms.report_text import ReportText

NO_NAME = "(no name)"


def _named(expression: str) -> str:
    """The text if it holds more than blanks, else NULL."""
    return f"CASE WHEN trim({expression}) <> '' THEN {expression} END"


def step_sql() -> str:
    """An event's step (NULL for identify, alias and group), over cleaned events' columns."""
    path = "json_extract_string(properties, '$.path')"
    page = f"coalesce({_named('event_name')}, {_named(path)}, '{NO_NAME}')"
    screen = f"coalesce({_named('event_name')}, '{NO_NAME}')"
    return (
        f"(CASE type WHEN 'page' THEN 'page: ' || {page} WHEN 'screen' THEN 'screen: ' || {screen} "
        "WHEN 'track' THEN 'track: ' || event_name END)"
    )


def steps_sql(step: str, order: str) -> str:
    """An aggregate: the group's steps in `order`, an empty list when it has none."""
    return f"coalesce(list({step} ORDER BY {order}) FILTER (WHERE {step} IS NOT NULL), [])"


# A step bound for the report columns `step`, `from_step` and `to_step` (`step` in a list lambda below).
STEP = ReportText("step", "step")


def session_paths_sql(sessions: str) -> str:
    """`sessions` (a relation) with `all_steps`, its steps made safe for the report database."""
    return f"(SELECT *, list_transform(steps, lambda step: {STEP.sql}) AS all_steps FROM {sessions})"


def path_events_sql(paths: str) -> str:
    """One row per step event of each session's `all_steps` (`session_paths_sql`): `step`, its 1-based `position`,
    the `previous_step` (NULL for the first), whether it is the session's `last`, and whether it `starts` an
    occurrence of its step: the first event, or one whose step differs from the one before. Immediate repeats
    thus collapse into one occurrence; each event that starts one after the first is a move (`previous_step` to
    `step`), and the path enters at the first event and exits with the occurrence holding the last. A session's
    steps hold no NULL (`steps_sql` keeps none), so the first event alone has no previous step."""
    return f"""(SELECT *, step IS DISTINCT FROM previous_step AS starts
               FROM (SELECT *, all_steps[position] AS step, all_steps[position - 1] AS previous_step,
                            position = len(all_steps) AS last
                     FROM (SELECT *, unnest(range(1, len(all_steps) + 1)) AS position FROM {paths})))"""


@dataclass(frozen=True)
class PathBalance:
    """What the checks of a day's paths compare, over one grain's steps and transitions tables."""

    table: str  # the steps table of the grain
    sessions_with_steps: int
    entries: int
    exits: int
    occurrences: int
    transitions: int
    unmatched_groups: list[str]  # groups whose entries or exits differ from their sessions with a step
    unbalanced_steps: list[str]  # steps whose occurrences differ from entries + in, or from exits + out


def path_balance(
    connection: duckdb.DuckDBPyConnection,
    steps_file: str,
    transitions_file: str,
    sessions: str,
    dimensions: tuple[str, ...],
    table: str,
) -> PathBalance:
    """Compare a grain's steps and transitions of a day with each other and with the day's sessions.

    `sessions` is a relation of the day's sessions with each dimension as `<name>_`, in the report text
    the aggregates group by.
    """
    keys = list(dimensions)
    key_list = "".join(f"{name}, " for name in keys)
    group = "GROUP BY ALL" if keys else ""
    join = f"USING ({', '.join(keys)})" if keys else "ON true"
    label = " || ' ' || ".join(keys) or "'all'"
    groups = connection.execute(
        f"""
        WITH day_sessions AS (
            SELECT {"".join(f"{name}_ AS {name}, " for name in keys)}
                   count(*) FILTER (WHERE len(steps) > 0) AS sessions_with_steps
            FROM {sessions} {group}
        ),
        day_steps AS (SELECT {key_list}sum(entries) AS entries, sum(exits) AS exits FROM {parquet(steps_file)} {group})
        SELECT {label}, coalesce(sessions_with_steps, 0), coalesce(entries, 0), coalesce(exits, 0)
        FROM day_sessions FULL JOIN day_steps {join}
        """
    ).fetchall()
    by_step = f"USING ({key_list}step)"
    flows = connection.execute(
        f"""
        WITH moves AS (SELECT * FROM {parquet(transitions_file)}),
        outgoing AS (SELECT {key_list}from_step AS step, sum(transitions) AS moves_out FROM moves GROUP BY ALL),
        incoming AS (SELECT {key_list}to_step AS step, sum(transitions) AS moves_in FROM moves GROUP BY ALL)
        SELECT {label} || ': ' || step, coalesce(occurrences, 0), coalesce(entries, 0), coalesce(exits, 0),
               coalesce(moves_in, 0), coalesce(moves_out, 0)
        FROM {parquet(steps_file)} AS day_steps
        FULL JOIN incoming {by_step}
        FULL JOIN outgoing {by_step}
        """
    ).fetchall()
    unmatched = [
        f"{name}: {entries:,} entries, {exits:,} exits, {sessions:,} sessions with a step"
        for name, sessions, entries, exits in groups
        if not sessions == entries == exits
    ]
    unbalanced = [
        f"{name}: {occurrences:,} occurrences, {entries:,} entries + {moves_in:,} in, "
        f"{exits:,} exits + {moves_out:,} out"
        for name, occurrences, entries, exits, moves_in, moves_out in flows
        if not occurrences == entries + moves_in == exits + moves_out
    ]
    return PathBalance(
        table=table,
        sessions_with_steps=sum(row[1] for row in groups),
        entries=sum(row[2] for row in groups),
        exits=sum(row[3] for row in groups),
        occurrences=sum(row[1] for row in flows),
        transitions=sum(row[4] for row in flows),
        unmatched_groups=sorted(unmatched),
        unbalanced_steps=sorted(unbalanced),
    )
