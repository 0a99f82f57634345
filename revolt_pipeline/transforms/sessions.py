"""Sessions: a person's events split by inactivity, assigned to the day they start, never cut at midnight.

A session ends after `session_timeout` without events. One that would run longer than
`max_session_length` is cut into consecutive pieces of at most that length, each flagged `split`.
Events are read from as many days before to as many days after as the longest session reaches
(`PipelineRules.session_window`), so a session crossing midnight is whole and counted once, on its
first day. Ties between events of the same millisecond are broken by messageId,
so every engine orders them alike.

Each session keeps its steps in order (`steps`: its pages, screens and track events, see `paths.py`), the
base of the path reports.

The windows run over the few columns sessions need, never the JSON documents: carrying those
through the window passes multiplied the time by five on a day of 5 M events. The day's events get
their session by a join afterwards. Two window passes, in one order, find each run of activity; the rare
runs longer than the maximum are cut by a small aggregate joined back (two more passes over every event
took a third of the time).
"""

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb

from revolt_pipeline.transforms.engine import parquet, sql_string
from revolt_pipeline.transforms.paths import step_sql, steps_sql
from revolt_pipeline.transforms.rules import PipelineRules, interval_ms

SESSION_COLUMNS = (
    "message_id, person_id, user_id, event_time, type, event_name, platform, source, app_version, "
    "device_model, device_type, os_name, os_version"
)


def session_id_sql(person_id: str, session_start: str) -> str:
    """A session's id: a digest of its person and its start, the same whichever day's run finds it."""
    return f"md5({person_id} || '|' || CAST(epoch_ms({session_start}) AS VARCHAR))"


def session_pieces_query(event_files: dict[date, str], rules: PipelineRules) -> str:
    """Every event of the window, narrowed to what sessions need, with the start of its run of activity and the
    piece of that run it falls in (`piece` > 0 only in runs longer than the maximum session length).

    Two window passes in one order, no more: each pass sorts every event of the window again."""
    union = " UNION ALL ".join(
        f"SELECT {SESSION_COLUMNS}, {step_sql()} AS step, DATE {sql_string(day.isoformat())} AS event_date "
        f"FROM {parquet(path)}"
        for day, path in sorted(event_files.items())
    )
    order = "PARTITION BY person_id ORDER BY event_time, message_id"
    return f"""
    WITH events AS ({union}),
    gaps AS (
        SELECT *,
            coalesce(event_time - lag(event_time) OVER ({order}) > {interval_ms(rules.session_timeout)}, true)
                AS starts_session
        FROM events
    ),
    runs AS (
        SELECT * EXCLUDE (starts_session),
            max(CASE WHEN starts_session THEN event_time END) OVER ({order} ROWS UNBOUNDED PRECEDING) AS run_start
        FROM gaps
    )
    SELECT *,
        CAST(floor(epoch_ms(event_time - run_start)
                   / {rules.max_session_length // timedelta(milliseconds=1)}) AS BIGINT) AS piece
    FROM runs
    """


def sessions_of_pieces_query(pieces: str) -> str:
    """`pieces` (a relation of `session_pieces_query`) with each event's session: its id, its start, and whether
    its run was cut.

    A run's first piece starts with the run; a later piece (rare: a run longer than the maximum session length)
    starts at its first event, found by a small aggregate joined back, rather than by two more window passes
    over every event."""
    return f"""
    WITH later_pieces AS (
        SELECT person_id, run_start, piece, min(event_time) AS piece_start
        FROM {pieces} WHERE piece > 0
        GROUP BY person_id, run_start, piece
    ),
    split_runs AS (SELECT DISTINCT person_id, run_start FROM later_pieces),
    sessioned AS (
        SELECT pieces.* EXCLUDE (run_start, piece),
               coalesce(later_pieces.piece_start, pieces.run_start) AS session_start,
               split_runs.run_start IS NOT NULL AS session_split
        FROM {pieces} AS pieces
        LEFT JOIN later_pieces
               ON later_pieces.person_id = pieces.person_id AND later_pieces.run_start = pieces.run_start
              AND later_pieces.piece = pieces.piece
        LEFT JOIN split_runs ON split_runs.person_id = pieces.person_id AND split_runs.run_start = pieces.run_start
    )
    SELECT *, {session_id_sql("person_id", "session_start")} AS session_id
    FROM sessioned
    """


def sessionize_query(event_files: dict[date, str], rules: PipelineRules) -> str:
    """Every event of the window, narrowed to what sessions need, with its session's id and start (one query;
    `sessionize` runs it as two statements, so that the windows run once)."""
    pieces = session_pieces_query(event_files, rules)
    return f"WITH pieces AS ({pieces}) SELECT * FROM ({sessions_of_pieces_query('pieces')})"


def sessionize(connection: duckdb.DuckDBPyConnection, event_files: dict[date, str], rules: PipelineRules) -> str:
    """Sessionize the window's events; returns the name of the relation, for the two queries below.

    The windows run once, into a temporary table; each event's session is a view over it, so that the window's
    events are held in memory once (a second table of them would double the peak at 5 M events)."""
    connection.execute(f"CREATE OR REPLACE TEMP TABLE session_pieces AS {session_pieces_query(event_files, rules)}")
    connection.execute(f"CREATE OR REPLACE TEMP VIEW sessionized AS {sessions_of_pieces_query('session_pieces')}")
    return "sessionized"


def sessionized_events_query(sessionized: str, events_file: str, event_date: date) -> str:
    """The day's cleaned events, whole, each with its session (which may have started the day before)."""
    return f"""
    SELECT events.*, sessions.session_id, sessions.session_start
    FROM {parquet(events_file)} AS events
    LEFT JOIN (SELECT message_id, session_id, session_start FROM {sessionized}
               WHERE event_date = DATE {sql_string(event_date.isoformat())}) AS sessions
    USING (message_id)
    """


def sessions_query(sessionized: str, session_date: date) -> str:
    """One row per session starting on `session_date`, described by its first and last events."""
    first = "struct_pack(t := event_time, m := message_id)"
    return f"""
    SELECT {session_id_sql("person_id", "session_key")} AS session_id, person_id,
           bool_or(user_id IS NOT NULL) AS identified,
           min(event_time) AS session_start,
           max(event_time) AS session_end,
           epoch_ms(max(event_time) - min(event_time)) / 1000.0 AS duration_seconds,
           count(*) AS events,
           arg_min(coalesce(event_name, type), {first}) AS entry_event,
           arg_max(coalesce(event_name, type), {first}) AS exit_event,
           {steps_sql("step", "event_time, message_id")} AS steps,
           arg_min(platform, {first}) AS platform,
           arg_min(source, {first}) AS source,
           arg_min(app_version, {first}) AS app_version,
           arg_min(device_model, {first}) AS device_model,
           arg_min(device_type, {first}) AS device_type,
           arg_min(os_name, {first}) AS os_name,
           arg_min(os_version, {first}) AS os_version,
           bool_or(session_split) AS split
    FROM (SELECT * EXCLUDE (session_id, session_start), session_start AS session_key FROM {sessionized})
    GROUP BY person_id, session_key
    HAVING CAST(min(event_time) AS DATE) = DATE {sql_string(session_date.isoformat())}
    ORDER BY session_start, session_id
    """


@dataclass(frozen=True)
class SessionCounts:
    """What the checks of a sessionized day look at."""

    sessionized_events: int
    events_without_session: int
    inconsistent_sessions: int  # ending before they start, without events, too long, or starting another day


def count_sessions(
    connection: duckdb.DuckDBPyConnection,
    sessionized_events_file: str,
    sessions_file: str,
    session_date: date,
    rules: PipelineRules,
) -> SessionCounts:
    """Count a day's sessionized events, those without a session, and its sessions whose bounds disagree."""
    max_seconds = rules.max_session_length.total_seconds()
    (inconsistent,) = connection.execute(
        f"""SELECT count(*) FROM {parquet(sessions_file)}
            WHERE session_end < session_start OR events < 1 OR duration_seconds > {max_seconds}
               OR abs(duration_seconds - epoch_ms(session_end - session_start) / 1000.0) > 0.001
               OR CAST(session_start AS DATE) <> DATE {sql_string(session_date.isoformat())}"""
    ).fetchone()
    sessionized, without_session = connection.execute(
        f"SELECT count(*), count(*) FILTER (WHERE session_id IS NULL) FROM {parquet(sessionized_events_file)}"
    ).fetchone()
    return SessionCounts(sessionized, without_session, inconsistent)
