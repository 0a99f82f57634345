"""Funnels: ordered steps people take within a conversion window, defined in a TOML file, counted per day.

A funnel is a name, its steps (an event type and name, optionally property filters), a conversion window and
an order mode. How a person goes through it (docs/pipeline.md, "Funnels", says the same for analysts):

- An attempt starts at an event of step 1. Each person enters a funnel at most once a day (UTC): of their
  attempts starting that day, the one that got furthest counts, the earliest among equals. The attempt
  belongs to the day its step 1 happened, whatever day its later steps happen on.
- `ordered` (the default, Mixpanel's and PostHog's usual funnel): step k is the first event of step k after
  step k-1 (by time, then messageId), within the window from step 1; other events may happen in between.
- `strict`: as `ordered`, and each step is the person's very next funnel event after the previous step: an
  event matching any step of the funnel in between breaks the attempt (other events, such as an identify or
  a page the funnel does not name, do not).
- `any`: step 1 first, then steps 2..n in any order within the window; "reached step k" means steps 1..k
  were all done, at the time the last of them was.
- A week counts each person once: their furthest attempt of the week's days, the earliest among equals; by
  platform, under the platform that attempt entered on.
- By app version, an attempt counts under the platform and app version of its step 1 event (app versions are
  per platform, as in the aggregates), so the versions add up to the platform and the platforms to the total.

People are stitched `person_id`s, re-mapped through every identity link known when the day is built, so an
anonymous visitor's first steps and their signed-up steps are one person's attempt.

The funnel progress of a day (one row per funnel and person entering it that day, with the time of every
step reached) reads the sessionized events of that day and of the days its window reaches
(`PipelineRules.funnel_window`): never the history before, so a day costs the same after a week or a year.
The step tables are counted from those rows.
"""

import re
import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from revolt_pipeline.transforms.aggregates import APP_VERSION, PLATFORM
from revolt_pipeline.transforms.engine import parquet, sql_string
from revolt_pipeline.transforms.people import restitched_sql

ORDERS = ("ordered", "strict", "any")
STEP_TYPES = ("track", "page", "screen")
FUNNEL_NAME_CHARS = 64
STEP_NAME_CHARS = 255
MAX_STEPS = 20
MAX_WINDOW = timedelta(days=31)
_UNITS = {"s": timedelta(seconds=1), "m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
_UNITS["w"] = timedelta(weeks=1)
_WINDOW = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_FUNNEL_KEYS = {"name", "steps", "window", "order", "description"}
_STEP_KEYS = {"type", "event", "label", "where"}
Scalar = str | int | float | bool


class FunnelFileError(ValueError):
    """A funnels file that cannot be used: the message names the file, the funnel and the problem."""


@dataclass(frozen=True)
class PropertyFilter:
    """`properties.<name>` equals one of `values` (one value: equals; several: in), compared by JSON type."""

    name: str
    values: tuple[Scalar, ...]

    def matches(self, properties: dict[str, Any] | None) -> bool:
        """The same rule in Python, for the demo's ground truth and tests."""
        if not properties or self.name not in properties:
            return False
        value = properties[self.name]
        return any(type(value) is type(wanted) and value == wanted for wanted in self.values)


@dataclass(frozen=True)
class FunnelStep:
    types: tuple[str, ...]
    event: str
    label: str
    where: tuple[PropertyFilter, ...] = ()

    def matches(self, kind: str, name: str | None, properties: dict[str, Any] | None) -> bool:
        """Whether an event of type `kind` named `name` is this step (the SQL's rule, in Python)."""
        return kind in self.types and name == self.event and all(f.matches(properties) for f in self.where)


@dataclass(frozen=True)
class Funnel:
    name: str
    steps: tuple[FunnelStep, ...]
    window: timedelta
    order: str = "ordered"
    description: str = ""


def parse_window(text: Any) -> timedelta:
    """`"30m"`, `"1h"`, `"7d"`, `"2w"` as a duration; ValueError says what is accepted."""
    match = _WINDOW.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"window must be a number and a unit (s, m, h, d or w) such as '1h' or '7d', got {text!r}")
    window = int(match.group(1)) * _UNITS[match.group(2)]
    if window <= timedelta(0) or window > MAX_WINDOW:
        raise ValueError(f"window must be more than 0 and at most {MAX_WINDOW.days} days, got {text!r}")
    return window


def parse_funnels(text: str, origin: str) -> tuple[Funnel, ...]:
    """The funnels of a TOML document (`origin` names it in errors): `[[funnels]]` tables, in file order."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FunnelFileError(f"{origin}: not valid TOML: {exc}") from exc
    unknown = set(document) - {"funnels"}
    if unknown:
        raise FunnelFileError(f"{origin}: unknown key {sorted(unknown)[0]!r} (funnels are [[funnels]] tables)")
    entries = document.get("funnels", [])
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise FunnelFileError(f"{origin}: 'funnels' must be an array of tables ([[funnels]])")
    funnels: list[Funnel] = []
    for number, entry in enumerate(entries, start=1):
        name = entry.get("name")
        where = f"{origin}: funnel {name!r}" if isinstance(name, str) else f"{origin}: funnel #{number}"
        try:
            funnel = _funnel(entry)
        except ValueError as exc:
            raise FunnelFileError(f"{where}: {exc}") from None
        if any(other.name == funnel.name for other in funnels):
            raise FunnelFileError(f"{where}: duplicate name: each funnel needs a name of its own")
        funnels.append(funnel)
    return tuple(funnels)


def _funnel(entry: dict[str, Any]) -> Funnel:
    unknown = set(entry) - _FUNNEL_KEYS
    if unknown:
        raise ValueError(f"unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(_FUNNEL_KEYS))})")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > FUNNEL_NAME_CHARS or "\x00" in name:
        raise ValueError(f"name must be a text of 1 to {FUNNEL_NAME_CHARS} characters")
    if "window" not in entry:
        raise ValueError("window is missing (such as window = '1h')")
    window = parse_window(entry["window"])
    order = entry.get("order", "ordered")
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    steps = entry.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ValueError("steps is empty or missing: a funnel needs at least one step")
    if len(steps) > MAX_STEPS:
        raise ValueError(f"{len(steps)} steps: at most {MAX_STEPS}")
    parsed = []
    for number, step in enumerate(steps, start=1):
        try:
            parsed.append(_step(step))
        except ValueError as exc:
            raise ValueError(f"step {number}: {exc}") from None
    description = entry.get("description", "")
    if not isinstance(description, str):
        raise ValueError("description must be a text")
    return Funnel(name, tuple(parsed), window, order, description)


def _step(step: Any) -> FunnelStep:
    if not isinstance(step, dict):
        raise ValueError("must be a table such as { type = 'page', event = 'Pricing' }")
    unknown = set(step) - _STEP_KEYS
    if unknown:
        raise ValueError(f"unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(_STEP_KEYS))})")
    types = step.get("type")
    types = [types] if isinstance(types, str) else types
    if not isinstance(types, list) or not types or any(kind not in STEP_TYPES for kind in types):
        raise ValueError(f"type must be one of {', '.join(STEP_TYPES)}, or a list of them, got {step.get('type')!r}")
    event = step.get("event")
    if not isinstance(event, str) or not event or "\x00" in event:
        raise ValueError("event must name the track event or the page or screen (a non-empty text)")
    label = step.get("label", event)
    if not isinstance(label, str) or not label or len(label) > STEP_NAME_CHARS or "\x00" in label:
        raise ValueError(f"label must be a text of 1 to {STEP_NAME_CHARS} characters")
    filters = step.get("where", {})
    if not isinstance(filters, dict):
        raise ValueError("where must be a table of property = value (equals) or property = [values] (in)")
    return FunnelStep(tuple(dict.fromkeys(types)), event, label, tuple(_filter(k, v) for k, v in filters.items()))


def _filter(name: str, value: Any) -> PropertyFilter:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(item, Scalar) for item in values):
        raise ValueError(f"where.{name}: a text, number or boolean, or a non-empty list of them, got {value!r}")
    if not name or '"' in name or "\x00" in name:
        raise ValueError(f"where: {name!r} is not a property name this filter can address")
    return PropertyFilter(name, tuple(values))


# --- SQL -----------------------------------------------------------------------------------------------------------


def _filter_sql(condition: PropertyFilter) -> str:
    """The value's JSON type, then its text: the type and the text of the value itself, never of its JSON text, whose
    string values Spark's `get_json_object` would give without quotes. TRY_CAST: DuckDB casts before the type test."""
    properties = "CAST(properties AS JSON)"
    path = sql_string(f'$."{condition.name}"')
    kind, text = f"json_type({properties}, {path})", f"json_extract_string({properties}, {path})"
    tests = []
    for wanted in condition.values:
        if isinstance(wanted, bool):
            tests.append(f"({kind} = 'BOOLEAN' AND TRY_CAST({text} AS BOOLEAN) = {str(wanted).lower()})")
        elif isinstance(wanted, int | float):
            number = f"TRY_CAST({text} AS DOUBLE) = {float(wanted)!r}"
            tests.append(f"({kind} IN ('BIGINT', 'UBIGINT', 'DOUBLE') AND {number})")
        else:
            tests.append(f"({kind} = 'VARCHAR' AND {text} = {sql_string(wanted)})")
    return "(" + " OR ".join(tests) + ")"


def _step_sql(step: FunnelStep) -> str:
    types = ", ".join(sql_string(kind) for kind in step.types)
    conditions = [f"type IN ({types})", f"event_name = {sql_string(step.event)}"]
    conditions += [_filter_sql(condition) for condition in step.where]
    return " AND ".join(conditions)


def _interval(window: timedelta) -> str:
    return f"INTERVAL '{window // timedelta(milliseconds=1)} milliseconds'"


def _attempts_sql(funnel: Funnel, events: str, day: date) -> str:
    """Every attempt at `funnel` starting on `day`: person, entry platform and app version, and the position
    (time, messageId) of each step reached (NULL from the first step not reached)."""
    day_sql = f"DATE {sql_string(day.isoformat())}"
    matches = " UNION ALL ".join(
        "SELECT person_id, event_time, message_id, platform, app_version, "
        f"struct_pack(t := event_time, m := message_id) AS pos, {number} AS step FROM {events} WHERE {_step_sql(step)}"
        for number, step in enumerate(funnel.steps, start=1)
    )
    window = _interval(funnel.window)
    n = len(funnel.steps)
    # Strict order needs each funnel event's rank among the person's funnel events; the others do not.
    ranked = (
        """SELECT matches.*, positions.rank FROM matches JOIN (
               SELECT person_id, pos, row_number() OVER (PARTITION BY person_id ORDER BY pos) AS rank
               FROM (SELECT DISTINCT person_id, pos FROM matches)
           ) AS positions USING (person_id, pos)"""
        if funnel.order == "strict"
        else "SELECT *, NULL::BIGINT AS rank FROM matches"
    )
    ctes = [
        f"matches AS ({matches})",
        f"ranked AS ({ranked})",
        f"""a1 AS (SELECT person_id, event_time AS entered_at, platform, app_version, pos AS p1, rank AS r1 FROM ranked
                  WHERE step = 1 AND CAST(event_time AS DATE) = {day_sql})""",
    ]
    carried = "a.person_id, a.entered_at, a.platform, a.app_version, a.r1, a.p1"
    if funnel.order in ("ordered", "strict"):
        for k in range(2, n + 1):
            previous = ", ".join(f"a.p{j}" for j in range(1, k))
            if funnel.order == "ordered":
                join = f"m.pos > a.p{k - 1}"
            else:
                join = f"m.rank = a.r1 + {k - 1} AND a.p{k - 1} IS NOT NULL"
            ctes.append(
                f"""a{k} AS (SELECT a.person_id, a.entered_at, a.platform, a.app_version, a.r1, {previous},
                           min(m.pos) AS p{k}
                    FROM a{k - 1} AS a LEFT JOIN ranked AS m ON m.person_id = a.person_id AND m.step = {k}
                        AND {join} AND m.event_time <= a.entered_at + {window}
                    GROUP BY ALL)"""
            )
        times = ", ".join(f"a.p{k}.t" for k in range(1, n + 1))
        final = f"SELECT a.person_id, a.entered_at, a.platform, a.app_version, a.p1, [{times}] AS times FROM a{n} AS a"
    else:
        firsts = ", ".join(f"min(m.pos) FILTER (WHERE m.step = {k}) AS f{k}" for k in range(2, n + 1))
        ctes.append(
            f"""firsts AS (SELECT {carried}{", " + firsts if n > 1 else ""}
                FROM a1 AS a LEFT JOIN ranked AS m ON m.person_id = a.person_id AND m.step > 1
                    AND m.pos > a.p1 AND m.event_time <= a.entered_at + {window}
                GROUP BY ALL)"""
        )
        # Step k is reached when steps 2..k all were, at the time of the last of them.
        times = ["a.entered_at"]
        for k in range(2, n + 1):
            done = " AND ".join(f"a.f{j} IS NOT NULL" for j in range(2, k + 1))
            latest = ", ".join(f"a.f{j}.t" for j in range(2, k + 1))
            times.append(f"CASE WHEN {done} THEN greatest({latest}) END")
        final = (
            "SELECT a.person_id, a.entered_at, a.platform, a.app_version, a.p1, "
            f"[{', '.join(times)}] AS times FROM firsts AS a"
        )
    return f"WITH {', '.join(ctes)} {final}"


EVENT_COLUMNS = "message_id, type, event_name, person_id, event_time, platform, app_version, properties"
NO_EVENTS = (
    "SELECT NULL::VARCHAR AS message_id, NULL::VARCHAR AS type, NULL::VARCHAR AS event_name, "
    "NULL::VARCHAR AS person_id, NULL::TIMESTAMPTZ AS event_time, NULL::VARCHAR AS platform, "
    "NULL::VARCHAR AS app_version, NULL::VARCHAR AS properties WHERE false"
)


def stage_funnel_events(connection: Any, files: list[str], person_map: str) -> str:
    """The sessionized events of the days a funnel day reads, re-stitched through `person_map`, as a temporary
    table (its name): every funnel's steps read it."""
    if files:
        union = " UNION ALL ".join(f"SELECT {EVENT_COLUMNS} FROM {parquet(path)}" for path in files)
        query = f"SELECT * FROM {restitched_sql(f'({union})', person_map)}"
    else:
        query = NO_EVENTS
    connection.execute(f"CREATE OR REPLACE TEMP TABLE funnel_events AS {query}")
    return "funnel_events"


PROGRESS_COLUMNS = (
    "NULL::DATE AS event_date, NULL::VARCHAR AS funnel, NULL::VARCHAR AS person_id, NULL::VARCHAR AS platform, "
    "NULL::VARCHAR AS app_version, NULL::TIMESTAMPTZ AS entered_at, NULL::INTEGER AS steps_reached, "
    "NULL::TIMESTAMPTZ[] AS step_times"
)


def funnel_progress_query(funnels: tuple[Funnel, ...], events: str, day: date) -> str:
    """One row per funnel and person entering it on `day`: the entry's platform, app version and time, the steps reached
    (1..n) and the time of each (`step_times[k]`, NULL beyond the last reached).

    `events` is a relation of the sessionized events of `day` and the days after it the longest window reaches,
    their `person_id` already re-stitched."""
    if not funnels:
        return f"SELECT {PROGRESS_COLUMNS} WHERE false"
    parts = []
    for funnel in funnels:
        reached = "(len(list_filter(times, lambda t: t IS NOT NULL)))"
        parts.append(
            f"""SELECT DATE {sql_string(day.isoformat())} AS event_date, {sql_string(funnel.name)} AS funnel,
                       person_id, {PLATFORM.sql} AS platform, {APP_VERSION.sql} AS app_version, entered_at,
                       CAST({reached} AS INTEGER) AS steps_reached,
                       CAST(times AS TIMESTAMPTZ[]) AS step_times
                FROM ({_attempts_sql(funnel, events, day)})
                QUALIFY row_number() OVER (PARTITION BY person_id ORDER BY {reached} DESC, p1) = 1"""
        )
    return " UNION ALL ".join(f"({part})" for part in parts) + " ORDER BY funnel, person_id"


def _steps_relation(funnels: tuple[Funnel, ...]) -> str:
    rows = [
        f"({sql_string(funnel.name)}, {number}, {sql_string(step.label)})"
        for funnel in funnels
        for number, step in enumerate(funnel.steps, start=1)
    ]
    if not rows:
        return "(SELECT NULL::VARCHAR AS funnel, NULL::INTEGER AS step, NULL::VARCHAR AS step_name WHERE false)"
    return f"(SELECT * FROM (VALUES {', '.join(rows)}) AS steps(funnel, step, step_name))"


def _step_counts(funnels: tuple[Funnel, ...], progress: str, by: tuple[str, ...], leading: str) -> str:
    """Each step's entered, reached, conversions and median times from per-person progress rows, broken down by
    the progress columns `by` (none: the total)."""
    selected = "".join(f"p.{column}, " for column in by)
    listed = "".join(f"{column}, " for column in by)
    partition = ", ".join(("funnel", *by))
    # Totals show every step of every funnel, 0 on a day no one entered; breakdowns only the values entered on.
    join = "JOIN" if by else "LEFT JOIN"
    between = "epoch_ms(p.step_times[s.step]) - epoch_ms(p.step_times[s.step - 1])"
    since = "epoch_ms(p.step_times[s.step]) - epoch_ms(p.entered_at)"
    reached = "p.steps_reached >= s.step"
    return f"""
    WITH counted AS (
        SELECT s.funnel, {selected}s.step, any_value(s.step_name) AS step_name,
               count(p.person_id) AS entered,
               count(p.person_id) FILTER (WHERE {reached}) AS reached,
               median({between}) FILTER (WHERE {reached} AND s.step > 1) / 1000.0 AS median_seconds_from_previous,
               median({since}) FILTER (WHERE {reached} AND s.step > 1) / 1000.0 AS median_seconds_from_start
        FROM {_steps_relation(funnels)} AS s {join} {progress} AS p ON p.funnel = s.funnel
        GROUP BY ALL
    )
    SELECT {leading}, funnel, {listed}CAST(step AS SMALLINT) AS step, step_name,
           CAST(entered AS INTEGER) AS entered, CAST(reached AS INTEGER) AS reached,
           CAST(reached AS DOUBLE) / nullif(entered, 0) AS conversion_from_start,
           CAST(reached AS DOUBLE) / nullif(coalesce(lag(reached) OVER (PARTITION BY {partition} ORDER BY step),
                                                     entered), 0) AS conversion_from_previous,
           median_seconds_from_previous, median_seconds_from_start
    FROM counted
    ORDER BY ALL
    """


def funnel_steps_daily_query(
    funnels: tuple[Funnel, ...], progress_file: str, day: date, by: tuple[str, ...] = ()
) -> str:
    """A day's step table, in total or by what people entered on (`by`: platform, or platform and app version),
    from its progress file."""
    return _step_counts(funnels, f"{parquet(progress_file)}", by, f"DATE {sql_string(day.isoformat())} AS event_date")


def funnel_steps_weekly_query(
    funnels: tuple[Funnel, ...], progress_files: dict[date, str], week_start: date, by: tuple[str, ...] = ()
) -> str:
    """An ISO week's step table, in total or by platform, from the progress of its days built so far: each person's
    furthest attempt of the week (the earliest among equals), as of the latest day built.

    By platform, a person counts under the platform that attempt entered on, so a person who used two platforms in
    a week is counted once, on one of them, and the platforms add up to the total."""
    # By name: a day's progress written before it held app_version still counts (its app_version NULL).
    union = " UNION ALL BY NAME ".join(f"SELECT * FROM {parquet(path)}" for _, path in sorted(progress_files.items()))
    furthest = "row_number() OVER (PARTITION BY funnel, person_id ORDER BY steps_reached DESC, entered_at)"
    best = f"(SELECT * FROM ({union}) QUALIFY {furthest} = 1)"
    as_of = max(progress_files).isoformat()
    leading = f"DATE {sql_string(week_start.isoformat())} AS week_start, DATE {sql_string(as_of)} AS as_of_date"
    return _step_counts(funnels, best, by, leading)


def iso_week_start(day: date) -> date:
    """The Monday of `day`'s ISO week."""
    return day - timedelta(days=day.weekday())


def count_progress(connection: Any, progress_file: str) -> dict[str, int]:
    """People entering each funnel in a progress file."""
    rows = connection.execute(f"SELECT funnel, count(*) FROM {parquet(progress_file)} GROUP BY funnel").fetchall()
    return dict(rows)
