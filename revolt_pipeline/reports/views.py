"""Views with friendly names over the report tables, for BI tools: one `View` entry each, created with the tables.

A view answers one question a dashboard asks (the active-users trend, the top events, how long sessions
last, each person and their recent activity) with plain column names, so a BI user picks it from a list
rather than writing SQL. `ensure_tables` (reports/loader.py) creates or replaces every view of `VIEWS`
after the tables, on SQLite and PostgreSQL alike, with the view's and each column's COMMENT in PostgreSQL;
the read-only role reads them like the tables (`revolt reports grant-readonly`, and the default privileges
it sets for views made later). A view reads report tables only, never another view, so each can be
replaced alone.

Add one: a `View` in `VIEWS` (its SELECT, portable or written per dialect with `Dialect`), a line in the
README's list of report tables and views, and a section in docs/bi.md.
"""

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Dialect:
    """What differs between SQLite and PostgreSQL in the views' SQL: date arithmetic, mostly."""

    name: str  # SQLAlchemy's dialect name: sqlite or postgresql

    def days_before(self, day: str, days: int) -> str:
        """The date `days` days before the date expression `day`."""
        if self.name == "sqlite":
            return f"date({day}, '-{int(days)} days')"
        return f"CAST({day} - {int(days)} AS date)"

    def days_after(self, day: str, days: int) -> str:
        """The date `days` days after the date expression `day`."""
        if self.name == "sqlite":
            return f"date({day}, '+{int(days)} days')"
        return f"CAST({day} + {int(days)} AS date)"

    def days_between(self, later: str, earlier: str) -> str:
        """Whole days from the date `earlier` to the date `later`."""
        if self.name == "sqlite":
            return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"
        return f"({later} - {earlier})"


SQLITE = Dialect("sqlite")
POSTGRESQL = Dialect("postgresql")
DIALECTS = (SQLITE, POSTGRESQL)


@dataclass(frozen=True)
class View:
    """A view: its name, what it answers (the COMMENT), its columns' COMMENTs in order, and its SELECT."""

    name: str
    comment: str
    columns: dict[str, str]  # name -> COMMENT, in the SELECT's order
    select: Callable[[Dialect], str]
    reads: tuple[str, ...] = field(default=())  # the report tables it reads

    def sql(self, dialect: Dialect) -> str:
        return " ".join(self.select(dialect).split())


def _percent(numerator: str, denominator: str, digits: int = 1) -> str:
    """`numerator` as a percentage of `denominator`, rounded (NULL when it is 0), the same on both databases."""
    return f"round(CAST(100.0 * {numerator} / nullif({denominator}, 0) AS NUMERIC), {digits})"


ACTIVE_USERS_TREND = View(
    name="active_users_trend",
    comment="Daily, weekly (7 days) and monthly (MAU window) active users, stickiness and new users, one row per "
    "day: the active-users trend. Exact distinct people after identity stitching. Grain: one row per day.",
    columns={
        "day": "The day (UTC) the windows end on.",
        "daily_active_users": "People active on the day. Does not add up across days (person-days).",
        "weekly_active_users": "People active in the 7 days ending on the day. Never sum: read one day's.",
        "monthly_active_users": "People active in the MAU window ending on the day (30 days unless configured).",
        "stickiness_percent": "Daily / monthly active users, in percent. Not additive: recompute, never average.",
        "new_users": "People first seen on the day. Sums across days.",
    },
    select=lambda d: (
        f"""
        SELECT event_date AS day, dau AS daily_active_users, wau AS weekly_active_users,
               mau AS monthly_active_users, {_percent("dau", "mau")} AS stickiness_percent, new_users
        FROM active_users_daily
    """
    ),
    reads=("active_users_daily",),
)

TOP_EVENTS_DAYS = 28
TOP_EVENTS = View(
    name="top_events",
    comment=f"The events of the last {TOP_EVENTS_DAYS} days loaded (through the latest day of events_daily), "
    "ranked by how many were sent. Grain: one row per event_type x event_name.",
    columns={
        "event_rank": "1 for the most sent event (ties share a rank).",
        "event_type": "The message type: track, page, screen, identify, group or alias.",
        "event_name": "The track event, the page or screen name, or the type for other messages.",
        "events": f"Events sent in the {TOP_EVENTS_DAYS} days. Sums across events.",
        "percent_of_events": "The event's share of all events of the days, in percent. Sums to 100.",
        "days_sent": "Days of the window with at least one such event.",
        "most_people_in_a_day": "The most people who sent it on one day (people do not add up across days).",
        "first_day": "The first day of the window (UTC).",
        "last_day": "The last day of the window: the latest day loaded (UTC).",
    },
    select=lambda d: (
        f"""
        WITH latest AS (SELECT max(event_date) AS last_day FROM events_daily),
        recent AS (
            SELECT e.event_type, e.event_name, e.event_date, e.events, e.users, latest.last_day
            FROM events_daily e CROSS JOIN latest
            WHERE e.event_date > {d.days_before("latest.last_day", TOP_EVENTS_DAYS)}
        )
        SELECT rank() OVER (ORDER BY sum(events) DESC) AS event_rank, event_type, event_name,
               sum(events) AS events, {_percent("sum(events)", "sum(sum(events)) OVER ()", 2)} AS percent_of_events,
               count(DISTINCT event_date) AS days_sent, max(users) AS most_people_in_a_day,
               {d.days_before("max(last_day)", TOP_EVENTS_DAYS - 1)} AS first_day, max(last_day) AS last_day
        FROM recent
        GROUP BY event_type, event_name
    """
    ),
    reads=("events_daily",),
)

SESSION_LENGTH_DISTRIBUTION = View(
    name="session_length_distribution",
    comment="How long sessions last: sessions per duration bucket and day, with the bucket's share of the day. "
    "Grain: one row per day x bucket.",
    columns={
        "day": "The day (UTC) the sessions started.",
        "bucket": "The duration bucket (0s, 1s-1m, 1-5m, 5-15m, 15-30m, 30-60m, 1-2h, 2h+); sort by bucket_order.",
        "bucket_order": "Sorts the buckets from the shortest (0) up.",
        "lower_seconds": "The bucket's lowest duration in seconds (inclusive).",
        "upper_seconds": "The bucket's upper bound in seconds (exclusive); NULL for the last.",
        "sessions": "Sessions started on the day with a duration in the bucket. Sums across days and buckets.",
        "percent_of_day": "The bucket's share of the day's sessions, in percent. Do not add up across days.",
    },
    select=lambda d: (
        f"""
        SELECT session_date AS day, bucket, bucket_order, lower_seconds, upper_seconds, sessions,
               {_percent("sessions", "sum(sessions) OVER (PARTITION BY session_date)")} AS percent_of_day
        FROM session_duration_histogram
    """
    ),
    reads=("session_duration_histogram",),
)

RECENT_DAYS = 30
PEOPLE_ACTIVITY = View(
    name="people_activity",
    comment=f"Everyone seen so far with their traits and activity: in total, and in the {RECENT_DAYS} days ending "
    "on the people table's snapshot day. Grain: one row per person_id.",
    columns={
        "person_id": "The person, after identity stitching (the user id, else the anonymous id).",
        "user_id": "The user id; NULL while anonymous.",
        "identified": "Known by a user id.",
        "email": "Trait email.",
        "name": "Trait name.",
        "plan": "Trait plan.",
        "first_seen": "The day (UTC) of the first event.",
        "last_seen": "The day (UTC) of the latest event.",
        "days_since_last_seen": "Days from last_seen to as_of: 0 for someone active on the latest day.",
        "days_active": "Days with an event so far. Sums across people.",
        "sessions": "Sessions so far. Sums across people.",
        "events": "Events so far. Sums across people.",
        f"active_days_last_{RECENT_DAYS}": f"Days with an event in the {RECENT_DAYS} days ending on as_of.",
        f"sessions_last_{RECENT_DAYS}": f"Sessions started in the {RECENT_DAYS} days ending on as_of. Sums.",
        f"events_last_{RECENT_DAYS}": f"Events in the {RECENT_DAYS} days ending on as_of. Sums across people.",
        f"minutes_last_{RECENT_DAYS}": f"Minutes in sessions in the {RECENT_DAYS} days ending on as_of. Sums.",
        "latest_platform": "The platform of the latest event.",
        "latest_app_version": "The app version of the latest event that sent one.",
        "latest_os_name": "The OS of the latest event that sent one.",
        "latest_country": "The country of the latest event, where known.",
        "as_of": "The day the people table is as of (its snapshot_date).",
    },
    select=lambda d: (
        f"""
        WITH as_of AS (SELECT max(snapshot_date) AS as_of FROM people),
        recent AS (
            SELECT pd.person_id, count(*) AS active_days, sum(pd.sessions) AS sessions, sum(pd.events) AS events,
                   sum(pd.seconds) AS seconds
            FROM person_days pd CROSS JOIN as_of
            WHERE pd.event_date > {d.days_before("as_of.as_of", RECENT_DAYS)} AND pd.event_date <= as_of.as_of
            GROUP BY pd.person_id
        )
        SELECT p.person_id, p.user_id, p.identified, p.email, p.name, p.plan, p.first_seen, p.last_seen,
               {d.days_between("p.snapshot_date", "p.last_seen")} AS days_since_last_seen,
               p.days_active, p.sessions, p.events,
               coalesce(r.active_days, 0) AS active_days_last_{RECENT_DAYS},
               coalesce(r.sessions, 0) AS sessions_last_{RECENT_DAYS},
               coalesce(r.events, 0) AS events_last_{RECENT_DAYS},
               round(CAST(coalesce(r.seconds, 0) / 60.0 AS NUMERIC), 1) AS minutes_last_{RECENT_DAYS},
               p.latest_platform, p.latest_app_version, p.latest_os_name, p.latest_country,
               p.snapshot_date AS as_of
        FROM people p LEFT JOIN recent r ON r.person_id = p.person_id
    """
    ),
    reads=("people", "person_days"),
)


def _retention_heatmap(unit: str, table: str, cohort: str, horizon: int) -> View:
    """The cells of a retention table, one row per cohort x definition x period, with the rates beside the counts."""
    period = f"{unit}_number"
    cohort_name = f"cohort_{'week' if unit == 'week' else 'day'}"
    complete = (
        {"week_complete": "True once the week's Sunday is built; before, retained counts the week so far."}
        if unit == "week"
        else {}
    )
    complete_column = "period_complete AS week_complete," if unit == "week" else ""
    return View(
        name=f"{'weekly' if unit == 'week' else 'daily'}_retention_heatmap",
        comment=f"Retention of cohorts by the {'ISO week (Monday)' if unit == 'week' else 'day'} people started, "
        f"{unit}s 0 to {horizon} after, as a heatmap's cells: {cohort_name} on one axis, {period} on the other, "
        "retained_percent as the colour. Filter one definition: first_seen (always there) or anchored (when "
        f"retention events are configured). Grain: one row per {cohort_name} x definition x {period}.",
        columns={
            "definition": "first_seen (start: first seen; return: any activity) or anchored (start and return "
            "events of REVOLT_RETENTION_START_EVENT and REVOLT_RETENTION_RETURN_EVENT). Filter one.",
            cohort_name: f"The cohort: the {'Monday of the ISO week' if unit == 'week' else 'day (UTC)'} its "
            "people started.",
            period: f"{unit.capitalize()}s after the cohort's {unit}: 0 is the cohort's own {unit}.",
            "cohort_size": "People in the cohort, repeated on each row: sum it across cohorts of one "
            f"{period}, never across {period}s.",
            "retained": f"Of them, people back in exactly this {unit}. Sums across cohorts of one {period}.",
            "retained_percent": "retained / cohort_size, in percent: the heatmap's cell. Recompute over cohorts.",
            "retained_or_later": f"Of them, people back in this {unit} or any later one (up to {unit} {horizon}).",
            "retained_or_later_percent": "retained_or_later / cohort_size, in percent.",
            **complete,
            "cohort_final": f"True once the cohort's {unit} {horizon} is built: the row no longer changes.",
            "as_of": "The last day built when the row was written: its counts are as of that day.",
            "start_event": "The anchored definition's start event; NULL for first_seen.",
            "return_event": "The anchored definition's return event; NULL for first_seen.",
        },
        select=lambda d: (
            f"""
            SELECT definition, {cohort} AS {cohort_name}, period AS {period}, cohort_size, retained,
                   {_percent("retained", "cohort_size")} AS retained_percent, retained_or_later,
                   {_percent("retained_or_later", "cohort_size")} AS retained_or_later_percent,
                   {complete_column} final AS cohort_final, as_of, start_event, return_event
            FROM {table}
        """
        ),
        reads=(table,),
    )


WEEKLY_RETENTION_HEATMAP = _retention_heatmap("week", "retention_weekly", "cohort_week", 12)
DAILY_RETENTION_HEATMAP = _retention_heatmap("day", "retention_daily", "cohort_date", 30)


def _funnel_step_columns(period: str) -> dict[str, str]:
    return {
        "funnel": "The funnel's name in the funnels file (REVOLT_FUNNELS_FILE).",
        "step": "The step's position: 1 is the entry.",
        "step_name": "The step's label.",
        "entered": f"People who entered the funnel (did step 1) {period}; the same on every step's row.",
        "reached": "Of them, people who reached this step within the funnel's window.",
        "dropped_from_previous": "People who reached the previous step (step 1: entered) but not this one: "
        "where people drop.",
        "conversion_from_start_percent": "reached / entered, in percent.",
        "conversion_from_previous_percent": "reached / the previous step's reached (step 1: / entered), in percent.",
        "median_seconds_from_previous": "Exact median seconds from the previous step to this one, over the people "
        "who reached it; NULL on step 1.",
        "median_seconds_from_start": "Exact median seconds from step 1 to this one; NULL on step 1.",
    }


def _funnel_steps_select(period: str) -> str:
    """The step columns of `_funnel_step_columns`, from a funnel step table's row, grouped by `period`."""
    previous = f"lag(reached) OVER (PARTITION BY {period}, funnel ORDER BY step)"
    return f"""
        funnel, step, step_name, entered, reached, coalesce({previous}, entered) - reached AS dropped_from_previous,
        {_percent("reached", "entered")} AS conversion_from_start_percent,
        {_percent("reached", f"coalesce({previous}, entered)")} AS conversion_from_previous_percent,
        median_seconds_from_previous, median_seconds_from_start
    """


FUNNEL_CONVERSION = View(
    name="funnel_conversion",
    comment="Each funnel's steps over the latest complete ISO week (its Sunday built) in which anyone entered a "
    "funnel (a week without traffic would show an empty chart): people "
    "who entered, reached each step, dropped before it, the conversion from the start and from the step "
    "before, and the median time between steps; each person once. Grain: one row per funnel x step.",
    columns={
        "week_start": "The Monday of the week (UTC) people entered the funnel in.",
        "week_end": "Its Sunday, the last day counted.",
        **_funnel_step_columns("in the week"),
    },
    select=lambda d: (
        f"""
        WITH latest AS (
            SELECT max(week_start) AS week_start FROM funnel_steps_weekly
            WHERE as_of_date = {d.days_after("week_start", 6)} AND entered > 0
        )
        SELECT f.week_start, {d.days_after("f.week_start", 6)} AS week_end, {_funnel_steps_select("f.week_start")}
        FROM funnel_steps_weekly f JOIN latest ON latest.week_start = f.week_start
    """
    ),
    reads=("funnel_steps_weekly",),
)

FUNNEL_CONVERSION_DAILY = View(
    name="funnel_conversion_daily",
    comment="Each funnel's steps per day people entered it: entered, reached, dropped before each step, the "
    "conversion from the start and from the step before, the median time between steps. People are attempts "
    "of a day: over several days sum entered and reached and recompute the rates. "
    "Grain: one row per day x funnel x step.",
    columns={"day": "The day (UTC) people entered the funnel.", **_funnel_step_columns("on the day")},
    select=lambda d: (
        f"""
        SELECT event_date AS day, {_funnel_steps_select("event_date")}
        FROM funnel_steps_daily
    """
    ),
    reads=("funnel_steps_daily",),
)

# The lifecycle states in the order of a stacked bar chart: growth above the axis, dormant below.
LIFECYCLE_STATES = (
    ("new", "new_users", 1),
    ("returning", "returning_users", 1),
    ("resurrecting", "resurrecting_users", 1),
    ("dormant", "dormant_users", -1),
)


def _lifecycle_states(period_columns: str, table: str) -> str:
    return " UNION ALL ".join(
        f"SELECT {period_columns}, '{state}' AS state, {order} AS state_order, "
        f"{'-' if sign < 0 else ''}{column} AS people FROM {table}"
        for order, (state, column, sign) in enumerate(LIFECYCLE_STATES, start=1)
    )


_STATE_COLUMNS = {
    "state": "new (first seen in the period), returning (active in the previous period too), resurrecting "
    "(back after a period away), dormant (active in the previous period, not this one).",
    "state_order": "Sorts the states for a stacked chart: 1 new, 2 returning, 3 resurrecting, 4 dormant.",
    "people": "People in the state, signed: dormant is negative, so a stacked bar shows it below the axis. "
    "The positive states add up to the period's active people.",
}
DAILY_LIFECYCLE = View(
    name="daily_lifecycle",
    comment="The lifecycle of each day's people against the day before, shaped for stacked bars: one row per "
    "state, dormant people as a negative count. Grain: one row per day x state.",
    columns={"day": "The day (UTC).", **_STATE_COLUMNS},
    select=lambda d: _lifecycle_states("event_date AS day", "lifecycle_daily"),
    reads=("lifecycle_daily",),
)
WEEKLY_LIFECYCLE = View(
    name="weekly_lifecycle",
    comment="The lifecycle of each ISO week's people against the week before, shaped for stacked bars: one row "
    "per state, dormant people as a negative count. A week not yet over counts Monday through as_of (final "
    "false). Grain: one row per ISO week x state.",
    columns={
        "week_start": "The Monday of the ISO week (UTC).",
        "as_of": "The last day of the week built: the row counts Monday through it.",
        "final": "True once the week's Sunday is built.",
        **_STATE_COLUMNS,
    },
    select=lambda d: _lifecycle_states("week_start, as_of, final", "lifecycle_weekly"),
    reads=("lifecycle_weekly",),
)

TOP_TRANSITIONS = View(
    name="top_transitions",
    comment=f"The moves between steps (pages, screens, events) in the sessions of the last {TOP_EVENTS_DAYS} "
    "days loaded (through the latest day of path_transitions), ranked by how often sessions made them. "
    "Grain: one row per from_step x to_step.",
    columns={
        "transition_rank": "1 for the most made move (ties share a rank).",
        "from_step": "The step moved from: `page: Pricing`, `screen: Timesheet`, `track: Timer Started`.",
        "to_step": "The step moved to, straight after.",
        "transitions": f"Times sessions made the move in the {TOP_EVENTS_DAYS} days. Sums across moves.",
        "percent_of_transitions": "The move's share of all moves of the days, in percent. Sums to 100.",
        "percent_of_from_step": "The move's share of the moves out of from_step, in percent (the session's end "
        "is not a move: see path_steps' exits).",
        "sessions": "Sessions that made the move (a session making it twice counts once a day). Sums across "
        "days, not across moves.",
        "first_day": "The first day of the window (UTC).",
        "last_day": "The last day of the window: the latest day loaded (UTC).",
    },
    select=lambda d: (
        f"""
        WITH latest AS (SELECT max(session_date) AS last_day FROM path_transitions),
        recent AS (
            SELECT t.from_step, t.to_step, t.transitions, t.sessions_with_transition, latest.last_day
            FROM path_transitions t CROSS JOIN latest
            WHERE t.session_date > {d.days_before("latest.last_day", TOP_EVENTS_DAYS)}
        )
        SELECT rank() OVER (ORDER BY sum(transitions) DESC) AS transition_rank, from_step, to_step,
               sum(transitions) AS transitions,
               {_percent("sum(transitions)", "sum(sum(transitions)) OVER ()", 2)} AS percent_of_transitions,
               {_percent("sum(transitions)", "sum(sum(transitions)) OVER (PARTITION BY from_step)")}
                   AS percent_of_from_step,
               sum(sessions_with_transition) AS sessions,
               {d.days_before("max(last_day)", TOP_EVENTS_DAYS - 1)} AS first_day, max(last_day) AS last_day
        FROM recent
        GROUP BY from_step, to_step
    """
    ),
    reads=("path_transitions",),
)

VIEWS: tuple[View, ...] = (
    ACTIVE_USERS_TREND,
    TOP_EVENTS,
    SESSION_LENGTH_DISTRIBUTION,
    PEOPLE_ACTIVITY,
    WEEKLY_RETENTION_HEATMAP,
    DAILY_RETENTION_HEATMAP,
    FUNNEL_CONVERSION,
    FUNNEL_CONVERSION_DAILY,
    DAILY_LIFECYCLE,
    WEEKLY_LIFECYCLE,
    TOP_TRANSITIONS,
)
"""Every view, in the order they are created. Another table's view is one more entry."""
