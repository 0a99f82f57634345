"""Daily aggregates, each of one grain, in the shape of the report table it loads into.

Every subject (active users, sessions, events, session lengths, paths) has an aggregate per grain: the day's
total, by platform, and by platform and app version (`GRAINS`); events are broken down by the device's
dimensions too (`EVENTS_DIMENSION_GRAINS`: OS and country per platform and app version; device type, locale,
source, SDK library across platforms; `grains_of`).
Distinct users cannot be added up
across groups, so each total is computed, never summed, and lives apart from its breakdowns: a BI
tool's SUM over one table never counts a day twice. Missing platforms or versions are reported as
'unknown', never dropped. Names and versions are made fit for the report database (`report_text`)
before grouping, so they merge rather than collide.
"""

from dataclasses import dataclass
from datetime import date

import duckdb

from revolt_pipeline.transforms.countries import with_country_columns
from revolt_pipeline.transforms.engine import parquet, sql_string
from revolt_pipeline.transforms.paths import (
    PathBalance,
    path_balance,
    path_events_sql,
    session_paths_sql,
)
from revolt_pipeline.transforms.report_text import ReportText, made_safe_counts_query

# Reserved in platform and app_version: it marked the total rows when they shared tables with the
# breakdowns, and a BI user may still read it so; a client's `all` is reported with a digest (report_text).
ALL = "all"
UNKNOWN = "unknown"
DURATION_BUCKETS = [  # (label, upper bound in seconds, exclusive)
    ("0s", 1),
    ("1s-1m", 60),
    ("1-5m", 300),
    ("5-15m", 900),
    ("15-30m", 1800),
    ("30-60m", 3600),
    ("1-2h", 7200),
    ("2h+", None),
]


@dataclass(frozen=True)
class Grain:
    """What one row of an aggregate stands for besides its day: the whole day, or a group of it.

    Totals and breakdowns are separate aggregates (and report tables), each of one grain, so that a BI
    tool's SUM over a table never adds a total to its parts.
    """

    suffix: str  # appended to the subject's name: the aggregate's (and report table's) name
    dimensions: tuple[str, ...]  # the columns that name a group, after the day


TOTAL = Grain("", ())
BY_PLATFORM = Grain("_by_platform", ("platform",))
BY_APP_VERSION = Grain("_by_app_version", ("platform", "app_version"))
GRAINS = (TOTAL, BY_PLATFORM, BY_APP_VERSION)
# Breakdowns by what the device and its message say, one dimension (a name and its version) per grain, not
# crossed with the platform: a person counts once per country whatever they used, so the rows of a day hold
# every active person exactly once per value. (Events, which add up, cross some with the platform and app
# version: EVENTS_DIMENSION_GRAINS.)
BY_OS = Grain("_by_os", ("os_name", "os_version"))
BY_DEVICE_TYPE = Grain("_by_device_type", ("device_type",))
# The country with the method that found it (ip, timezone, unknown), so a reader can weigh the timezone guesses;
# summing a country's rows over the methods gives the country's events.
BY_COUNTRY = Grain("_by_country", ("country", "country_method"))
BY_LOCALE = Grain("_by_locale", ("locale",))
BY_SOURCE = Grain("_by_source", ("source",))
BY_LIBRARY = Grain("_by_library", ("library_name", "library_version"))
DIMENSION_GRAINS = (BY_OS, BY_DEVICE_TYPE, BY_COUNTRY, BY_LOCALE, BY_SOURCE, BY_LIBRARY)


def within_app_versions(grain: Grain) -> Grain:
    """`grain` per platform and app version too (the same name): for additive counts only. Events add up across
    platforms and versions, so summing such a table's rows over them gives the grain's figures, and a reader can
    filter it by platform and version; distinct people would not add up, so active users keep the plain grain."""
    return Grain(grain.suffix, BY_APP_VERSION.dimensions + grain.dimensions)


# The events' breakdowns by the device's dimensions: those the dashboard's events page shows (OS, country) within
# each platform and app version, so it can follow its filters; the others across platforms, as active users.
EVENTS_DIMENSION_GRAINS = tuple(
    within_app_versions(grain) if grain in (BY_OS, BY_COUNTRY) else grain for grain in DIMENSION_GRAINS
)
# The subjects broken down beyond GRAINS, and by what: not every subject by every grain.
SUBJECT_GRAINS: dict[str, tuple[Grain, ...]] = {"events_daily": GRAINS + EVENTS_DIMENSION_GRAINS}


def grains_of(subject: str) -> tuple[Grain, ...]:
    """The grains a subject has an aggregate (and report table) of: GRAINS unless SUBJECT_GRAINS says more."""
    return SUBJECT_GRAINS.get(subject, GRAINS)


def _group_columns(grain: Grain) -> str:
    """The grain's dimensions as select-list items (`platform_ AS platform, `), empty for the total."""
    return "".join(f"{name}_ AS {name}, " for name in grain.dimensions)


def _group_by(grain: Grain, *more: str) -> str:
    """The GROUP BY clause of a grain (nothing for the total: one row, even for a day without data)."""
    keys = [f"{name}_" for name in grain.dimensions] + list(more)
    return f"GROUP BY {', '.join(keys)}" if keys else ""


# The text of events and sessions that reaches report columns; `all` is reserved (ALL).
PLATFORM = ReportText("platform", f"coalesce(platform, '{UNKNOWN}')", reserved=(ALL,))
APP_VERSION = ReportText("app_version", f"coalesce(app_version, '{UNKNOWN}')", reserved=(ALL,))
EVENT_TYPE = ReportText("event_type", "type")
EVENT_NAME = ReportText("event_name", "coalesce(event_name, type)")
# Every dimension a grain may name, as its report column holds it (cleaning's columns of the same names).
DIMENSION_TEXT = {
    "platform": PLATFORM,
    "app_version": APP_VERSION,
    **{
        name: ReportText(name, f"coalesce({name}, '{UNKNOWN}')")
        for grain in DIMENSION_GRAINS
        for name in grain.dimensions
    },
}
EVENT_TEXT = (*DIMENSION_TEXT.values(), EVENT_TYPE, EVENT_NAME)


def _dimensions(source: str, grain: Grain = TOTAL) -> str:
    """`source` with platform, app version and the grain's dimensions as their report columns hold them (`name_`)."""
    names = dict.fromkeys(("platform", "app_version", *grain.dimensions))
    return f"(SELECT *, {', '.join(f'{DIMENSION_TEXT[name].sql} AS {name}_' for name in names)} FROM {source})"


def made_safe_query(events: str) -> str:
    """How many distinct values of each report column the day's events had made safe (one row).

    Sessions take their platform and version from their first event, one of the day's: counting the
    events counts the sessions' values too.
    """
    return made_safe_counts_query(events, EVENT_TEXT)


def count_made_safe(connection: duckdb.DuckDBPyConnection, events_file: str) -> dict[str, int]:
    """`made_safe_query` of a day's sessionized events: report column -> distinct values changed."""
    cursor = connection.execute(made_safe_query(with_country_columns(parquet(events_file))))
    return dict(zip([column[0] for column in cursor.description], cursor.fetchone(), strict=True))


def _day(value: date) -> str:
    return f"DATE {sql_string(value.isoformat())}"


def event_groups_query(events: str) -> str:
    """The day's events (`events`, sessionized) counted per person, identified or not, and every value of the
    report dimensions and event names, each as its report column holds it (`name_`, made safe once).

    Every events aggregate is a grouping of these rows: far fewer than the events (a person sends each event from
    one or two devices), so the distinct people of each grain are counted over them rather than over every event,
    and the text is made safe once a day rather than once per aggregate."""
    identified = "user_id IS NOT NULL OR person_id IS DISTINCT FROM anonymous_id"
    dimensions = ", ".join(f"{text.sql} AS {name}_" for name, text in DIMENSION_TEXT.items())
    keys = ", ".join(["person_id", identified, *(text.sql for text in DIMENSION_TEXT.values())])
    return f"""
    SELECT person_id, {identified} AS identified, {dimensions},
           {EVENT_TYPE.sql} AS event_type_, {EVENT_NAME.sql} AS event_name_, count(*) AS events
    FROM {events}
    GROUP BY {keys}, {EVENT_TYPE.sql}, {EVENT_NAME.sql}
    """


def _event_groups(events: str, grouped: bool) -> str:
    return events if grouped else f"({event_groups_query(events)})"


def daily_active_users_query(events: str, event_date: date, grain: Grain = TOTAL, *, grouped: bool = False) -> str:
    """People active on the day, identified and anonymous. `events`: the day's sessionized events, or (`grouped`)
    their `event_groups_query`."""
    return f"""
    SELECT {_day(event_date)} AS event_date, {_group_columns(grain)}
           count(DISTINCT person_id) AS active_users,
           count(DISTINCT person_id) FILTER (WHERE identified) AS identified_users,
           count(DISTINCT person_id) FILTER (WHERE NOT identified) AS anonymous_users
    FROM {_event_groups(events, grouped)}
    {_group_by(grain)}
    ORDER BY ALL
    """


def sessions_daily_query(sessions: str, session_date: date, grain: Grain = TOTAL) -> str:
    return f"""
    SELECT {_day(session_date)} AS session_date, {_group_columns(grain)}
           count(*) AS sessions,
           count(DISTINCT person_id) AS users,
           CAST(coalesce(sum(events), 0) AS BIGINT) AS events,
           coalesce(sum(duration_seconds), 0.0) AS total_duration_seconds,
           coalesce(avg(duration_seconds), 0.0) AS avg_duration_seconds,
           coalesce(quantile_cont(duration_seconds, 0.5), 0.0) AS median_duration_seconds,
           coalesce(quantile_cont(duration_seconds, 0.9), 0.0) AS p90_duration_seconds,
           count(*) FILTER (WHERE events = 1) AS single_event_sessions,
           count(*) FILTER (WHERE split) AS split_sessions
    FROM {_dimensions(sessions, grain)}
    {_group_by(grain)}
    ORDER BY ALL
    """


def events_daily_query(events: str, event_date: date, grain: Grain = TOTAL, *, grouped: bool = False) -> str:
    """Events and the people who sent them, per event. `events`: the day's sessionized events, or (`grouped`)
    their `event_groups_query`."""
    return f"""
    SELECT {_day(event_date)} AS event_date, {_group_columns(grain)}
           event_type_ AS event_type, event_name_ AS event_name,
           CAST(sum(events) AS BIGINT) AS events,
           count(DISTINCT person_id) AS users
    FROM {_event_groups(events, grouped)}
    {_group_by(grain, "event_type_", "event_name_")}
    ORDER BY ALL
    """


def _duration_buckets() -> str:
    """DURATION_BUCKETS as a relation: bucket, bucket_order, lower_seconds (inclusive), upper_seconds (exclusive)."""
    rows, lower = [], 0
    for order, (label, upper) in enumerate(DURATION_BUCKETS):
        rows.append(f"({sql_string(label)}, {order}, {lower}, {'NULL' if upper is None else upper})")
        lower = upper
    return f"(VALUES {', '.join(rows)}) AS b(bucket, bucket_order, lower_seconds, upper_seconds)"


def session_duration_histogram_query(sessions: str, session_date: date, grain: Grain = TOTAL) -> str:
    """Sessions per duration bucket: every bucket of every group with sessions (of the total: of every day),
    zeros included, so a chart has a fixed axis; `bucket_order` sorts it."""
    cases = " ".join(
        f"WHEN duration_seconds < {upper} THEN {n}"
        for n, (_, upper) in enumerate(DURATION_BUCKETS)
        if upper is not None
    )
    last = len(DURATION_BUCKETS) - 1
    bucketed = f"(SELECT *, CASE {cases} ELSE {last} END AS bucket_order_ FROM {_dimensions(sessions, grain)})"
    keys = ", ".join(f"{name}_" for name in grain.dimensions)
    groups = f"(SELECT DISTINCT {keys} FROM {_dimensions(sessions, grain)})" if keys else "(SELECT 1 AS total_)"
    same_group = "".join(f" AND s.{name}_ = g.{name}_" for name in grain.dimensions)
    return f"""
    SELECT {_day(session_date)} AS session_date, {"".join(f"g.{name}_ AS {name}, " for name in grain.dimensions)}
           b.bucket, CAST(b.bucket_order AS SMALLINT) AS bucket_order,
           CAST(b.lower_seconds AS INTEGER) AS lower_seconds, CAST(b.upper_seconds AS INTEGER) AS upper_seconds,
           count(s.bucket_order_) AS sessions
    FROM {groups} AS g
    CROSS JOIN {_duration_buckets()}
    LEFT JOIN {bucketed} AS s ON s.bucket_order_ = b.bucket_order{same_group}
    GROUP BY ALL
    ORDER BY {"".join(f"{name}, " for name in grain.dimensions)}bucket_order
    """


PERCENTILES = (25, 50, 75, 90, 99)


def session_duration_percentiles_query(sessions: str, session_date: date, grain: Grain = TOTAL) -> str:
    """Exact percentiles of the sessions' durations, interpolated between the two nearest sessions (as
    PostgreSQL's `percentile_cont`); NULL for a day without sessions, which has no duration to tell."""
    percentiles = ", ".join(f"quantile_cont(duration_seconds, {p / 100}) AS p{p}_duration_seconds" for p in PERCENTILES)
    return f"""
    SELECT {_day(session_date)} AS session_date, {_group_columns(grain)}
           count(*) AS sessions,
           min(duration_seconds) AS min_duration_seconds,
           {percentiles},
           max(duration_seconds) AS max_duration_seconds
    FROM {_dimensions(sessions, grain)}
    {_group_by(grain)}
    ORDER BY ALL
    """


def _paths(sessions: str) -> str:
    """The day's sessions with their steps made safe (`transforms/paths.py`), in the grains' dimensions."""
    return session_paths_sql(_dimensions(sessions))


@dataclass(frozen=True)
class PathSessions:
    """The day's paths per session, which every path aggregate groups: relations (tables or subqueries) of each
    session's steps (`path_step_sessions_query`) and of its moves (`path_move_sessions_query`)."""

    steps: str
    moves: str


def _session_columns() -> list[str]:
    """What a session's path rows carry of it: the dimensions of every path grain (a session's own: one platform and
    app version), its id and its person (never NULL: a required column of the events)."""
    dimensions = dict.fromkeys(name for grain in grains_of("path_steps") for name in grain.dimensions)
    return [*(f"{name}_" for name in dimensions), "session_id", "person_id"]


def _per_session(rows: str, *keys: str, **aggregates: str) -> str:
    """`rows` (path events, `path_events_sql`) grouped per session and `keys`, with `aggregates` (name -> SQL). A
    session is one row of the sessions (its id digests its person and start), so each grain groups these rows:
    counting them counts distinct sessions, and the distinct people of each group are counted over far fewer rows
    than the paths' events."""
    group = ", ".join([*_session_columns(), *keys])
    measures = ", ".join(f"{sql} AS {name}" for name, sql in aggregates.items())
    return f"SELECT {group}, {measures} FROM {rows} GROUP BY {group}"


def path_step_sessions_query(paths: str) -> str:
    """Each step of each session's path (`paths`: the day's sessions with their steps, `_paths`): its `events`, its
    `occurrences` (immediate repeats collapsed into one), and whether the path `entered` or `exited` there (one step
    of each session at most)."""
    return _per_session(
        path_events_sql(paths),
        "step",
        events="count(*)",
        occurrences="count(*) FILTER (WHERE starts)",
        entered="bool_or(position = 1)",
        exited="bool_or(last)",
    )


def path_move_sessions_query(paths: str) -> str:
    """Each move of each session's path (`paths` as `path_step_sessions_query`'s), from one step straight to another:
    `from_step`, `to_step`, and how many `transitions` the session made so."""
    events = path_events_sql(paths)
    moves = f"(SELECT *, previous_step AS from_step, step AS to_step FROM {events} WHERE starts AND position > 1)"
    return _per_session(moves, "from_step", "to_step", transitions="count(*)")


def _path_sessions(sessions: str) -> PathSessions:
    paths = _paths(sessions)
    return PathSessions(f"({path_step_sessions_query(paths)})", f"({path_move_sessions_query(paths)})")


def stage_path_sessions(connection: duckdb.DuckDBPyConnection, sessions_file: str) -> PathSessions:
    """The day's `PathSessions` as temporary tables, which every path aggregate of the day groups: the steps are made
    safe, unnested and grouped per session once, not once per aggregate; returns their names."""
    columns = ", ".join([*_session_columns(), "all_steps"])
    connection.execute(
        f"CREATE OR REPLACE TEMP TABLE session_paths AS SELECT {columns} FROM {_paths(parquet(sessions_file))}"
    )
    connection.execute(
        f"CREATE OR REPLACE TEMP TABLE path_step_sessions AS {path_step_sessions_query('session_paths')}"
    )
    connection.execute(
        f"CREATE OR REPLACE TEMP TABLE path_move_sessions AS {path_move_sessions_query('session_paths')}"
    )
    return PathSessions("path_step_sessions", "path_move_sessions")


def path_steps_query(paths: PathSessions, session_date: date, grain: Grain = TOTAL) -> str:
    """Each step of the paths of sessions started on the day: how often, by how many sessions and people,
    and how often it started or ended a session (immediate repeats are one occurrence, counted in `events`).

    `paths`: the day's paths per session. They are summed per person first: counting those rows counts the distinct
    people, and the people who entered or exited there, in one grouping rather than three distinct counts."""
    keys = "".join(f"{name}_, " for name in grain.dimensions)
    people = f"""(
        SELECT {keys}step, person_id, sum(events) AS events, sum(occurrences) AS occurrences, count(*) AS sessions,
               count(*) FILTER (WHERE entered) AS entries, count(*) FILTER (WHERE exited) AS exits
        FROM {paths.steps}
        GROUP BY {keys}step, person_id
    )"""
    return f"""
    SELECT {_day(session_date)} AS session_date, {_group_columns(grain)} step,
           CAST(sum(events) AS BIGINT) AS events,
           CAST(sum(occurrences) AS BIGINT) AS occurrences,
           CAST(sum(sessions) AS BIGINT) AS sessions_with_step,
           count(*) AS people,
           CAST(sum(entries) AS BIGINT) AS entries,
           count(*) FILTER (WHERE entries > 0) AS entry_people,
           CAST(sum(exits) AS BIGINT) AS exits,
           count(*) FILTER (WHERE exits > 0) AS exit_people
    FROM {people}
    {_group_by(grain, "step")}
    ORDER BY ALL
    """


def path_transitions_query(paths: PathSessions, session_date: date, grain: Grain = TOTAL) -> str:
    """Each move from one step straight to another in the paths of sessions started on the day (`paths`, as
    `path_steps_query`'s)."""
    return f"""
    SELECT {_day(session_date)} AS session_date, {_group_columns(grain)} from_step, to_step,
           CAST(sum(transitions) AS BIGINT) AS transitions,
           count(*) AS sessions_with_transition,
           count(DISTINCT person_id) AS people
    FROM {paths.moves}
    {_group_by(grain, "from_step", "to_step")}
    ORDER BY ALL
    """


# Each subject's query, and what it is computed from: the day's sessionized events, its sessions, or its
# sessions with their paths.
SUBJECTS = {
    "daily_active_users": (daily_active_users_query, "events"),
    "sessions_daily": (sessions_daily_query, "sessions"),
    "events_daily": (events_daily_query, "events"),
    "session_duration_histogram": (session_duration_histogram_query, "sessions"),
    "session_duration_percentiles": (session_duration_percentiles_query, "sessions"),
    "path_steps": (path_steps_query, "paths"),
    "path_transitions": (path_transitions_query, "paths"),
}
# Each aggregate, by the name of its lake file and report table: its subject and its grain.
AGGREGATES = {subject + grain.suffix: (subject, grain) for subject in SUBJECTS for grain in grains_of(subject)}


def aggregate_query(
    name: str,
    sessionized_events_file: str,
    sessions_file: str,
    day: date,
    paths: PathSessions | None = None,
    event_groups: str | None = None,
) -> str:
    """The aggregate `name` (a key of AGGREGATES) of one day, from that day's files (and `paths`, the day's
    `stage_path_sessions` if made, else the paths are computed from the sessions in the query; `event_groups`, the day's
    `stage_event_groups` if made, else the events are grouped in the query)."""
    subject, grain = AGGREGATES[name]
    build, source = SUBJECTS[subject]
    if source == "paths":
        return build(paths or _path_sessions(parquet(sessions_file)), day, grain)
    if source == "events":
        if event_groups:
            return build(event_groups, day, grain, grouped=True)
        return build(with_country_columns(parquet(sessionized_events_file)), day, grain)
    return build(parquet(sessions_file), day, grain)


def stage_event_groups(connection: duckdb.DuckDBPyConnection, sessionized_events_file: str) -> str:
    """The day's `event_groups_query` as a temporary table, which every events aggregate of the day reads (reading
    and grouping the events once, not once per aggregate); returns its name."""
    events = with_country_columns(parquet(sessionized_events_file))
    connection.execute(f"CREATE OR REPLACE TEMP TABLE event_groups AS {event_groups_query(events)}")
    return "event_groups"


def count_path_balance(
    connection: duckdb.DuckDBPyConnection, outputs: dict[str, str], sessions_file: str
) -> list[PathBalance]:
    """Each grain's `path_steps` and `path_transitions` of a day (files in `outputs`, by aggregate name)
    against each other and the day's sessions, for the checks of `daily_aggregates`."""
    return [
        path_balance(
            connection,
            outputs["path_steps" + grain.suffix],
            outputs["path_transitions" + grain.suffix],
            _dimensions(parquet(sessions_file)),
            grain.dimensions,
            "path_steps" + grain.suffix,
        )
        for grain in grains_of("path_steps")
    ]


def _summed_into(grain: Grain) -> Grain | None:
    """The platform grain an events breakdown adds up to: the total's parts to the total (by platform) or to their
    platform (by app version); a device dimension to the platform grain it is counted within. None for the total."""
    if grain in GRAINS:
        return GRAINS[GRAINS.index(grain) - 1] if grain.dimensions else None
    within = tuple(name for name in grain.dimensions if name in BY_APP_VERSION.dimensions)
    return next(base for base in GRAINS if base.dimensions == within)


def events_balance(connection: duckdb.DuckDBPyConnection, outputs: dict[str, str]) -> list[str]:
    """Each events breakdown of a day (files in `outputs`, by aggregate name) summed per event, and per platform and
    app version where it has them, against the grain it adds up to (`_summed_into`): what differs, as problems.

    Each event has one value of each dimension (a missing one is `unknown`), so a breakdown's events add up exactly;
    one that lost or doubled rows would not (the checks of `daily_aggregates`)."""
    problems = []
    for grain in grains_of("events_daily"):
        whole = _summed_into(grain)
        if whole is None:
            continue
        keys = [*whole.dimensions, "event_type", "event_name"]
        columns = ", ".join(keys)
        label = " || ' ' || ".join(keys)
        part_name, whole_name = "events_daily" + grain.suffix, "events_daily" + whole.suffix
        summed = {
            name: f"SELECT {columns}, sum(events) AS events FROM {parquet(outputs[name])} GROUP BY {columns}"
            for name in (part_name, whole_name)
        }
        differences = connection.execute(
            f"""
            WITH part AS ({summed[part_name]}), whole AS ({summed[whole_name]})
            SELECT {label}, coalesce(part.events, 0), coalesce(whole.events, 0)
            FROM part FULL JOIN whole USING ({columns})
            WHERE part.events IS DISTINCT FROM whole.events
            ORDER BY 1
            """
        ).fetchall()
        problems += [
            f"{part_name}: {name}: {part:,} events, {whole_name} {total:,}" for name, part, total in differences
        ]
    return problems
