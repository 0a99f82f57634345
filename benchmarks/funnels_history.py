"""One more day of funnels after 7, 30 and 90 days of history: the cost must not grow with it.

Writes a synthetic lake: for every day, committed sessionized events of a population (100,000 people by
default, a fifth of them active each day with one to ten events among the pages and tracks the demo's funnels
name, half of them users and half anonymous visitors, one in a hundred of the day's actives identifying), and
each day's identity links as the raw layer would commit them. Then builds funnels day after day with the layer
library's `DayBuilder.funnel_days`, the code `funnels_job` runs for a new day (the day and the day before, whose
one-day window reaches it; their progress, daily step tables and ISO week), timing the day after 7, 30 and 90
days of history (best of `--repeat` builds), with three funnels: ordered (1 hour), strict (1 hour) and any
order (1 day).

Prints seconds per history and the ratio of 90 days to 7 days, PASS when at most 2 (the issue's bar).

    python -m benchmarks.funnels_history [--people 100000] [--history 7 30 90] [--repeat 2] [--keep]
"""

import argparse
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from revolt_pipeline.layers.commits import RAW_EVENTS, SESSIONIZED, committing
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import identity_links_key, sessionized_events_key
from revolt_pipeline.transforms.engine import copy_to_parquet, duckdb_connection
from revolt_pipeline.transforms.funnels import parse_funnels
from revolt_pipeline.transforms.rules import PipelineRules

FIRST_DAY = date(2026, 1, 1)
BAR = 2.0  # one more day after 90 days of history, at most this many times the day after 7
ACTIVE_SHARE = 5  # one person in this many is active on a day
NAMES = ["Home", "Pricing", "Signup Started", "Signed Up", "Dashboard", "Timer Started", "Entry Saved", "Blog"]
FUNNELS = """
[[funnels]]
name = "signup"
window = "1h"
steps = [{ type = "page", event = "Home" }, { type = "page", event = "Pricing" },
         { type = "track", event = "Signup Started", where = { plan = ["team", "business"] } },
         { type = "track", event = "Signed Up" }]

[[funnels]]
name = "signup_strict"
window = "1h"
order = "strict"
steps = [{ type = "page", event = "Home" }, { type = "page", event = "Pricing" },
         { type = "track", event = "Signed Up" }]

[[funnels]]
name = "time_entry"
window = "1d"
order = "any"
steps = [{ type = ["page", "screen"], event = "Dashboard" }, { type = "track", event = "Timer Started" },
         { type = "track", event = "Entry Saved" }]
"""


def events_sql(people: int, day_number: int, day: date) -> str:
    midnight = f"TIMESTAMPTZ '{day.isoformat()} 00:00:00+00'"
    names = "[" + ", ".join(f"'{name}'" for name in NAMES) + "]"
    return f"""
    WITH active AS (SELECT n, CAST(1 + hash(n, {day_number}, 'events') % 10 AS BIGINT) AS events
                    FROM range({people}) AS people(n) WHERE hash(n, {day_number}) % {ACTIVE_SHARE} = 0),
    rows AS (SELECT n, e, {names}[1 + CAST(hash(n, e, {day_number}, 'name') % {len(NAMES)} AS BIGINT)] AS name
             FROM active, LATERAL (SELECT unnest(range(events)) AS e))
    SELECT 'm-{day_number}-' || n || '-' || e AS message_id,
           CASE WHEN e = 0 AND hash(n, {day_number}, 'identify') % 100 = 0 AND n % 2 = 0 THEN 'identify'
                WHEN name IN ('Home', 'Pricing', 'Blog', 'Dashboard') THEN 'page' ELSE 'track' END AS type,
           name AS event_name,
           CASE WHEN n % 2 = 0 THEN 'user-' || n ELSE 'anon-' || n END AS person_id,
           CASE WHEN n % 2 = 0 THEN 'user-' || n END AS user_id,
           'anon-' || n AS anonymous_id,
           {midnight} + to_seconds(CAST(hash(n, {day_number}, 'time') % 80000 AS BIGINT) + e * 120) AS event_time,
           ['web', 'ios', 'android', 'desktop'][1 + n % 4] AS platform,
           '2.' || (n % 3) AS app_version,
           CASE WHEN n % 3 = 0 THEN '{{"plan": "team"}}' ELSE '{{"plan": "free"}}' END AS properties
    FROM rows
    """


def links_sql(events_file: str) -> str:
    return f"""
    SELECT anonymous_id AS from_id, user_id AS to_user_id, min(event_time) AS linked_at, min(message_id) AS message_id
    FROM read_parquet('{events_file}') WHERE type = 'identify' GROUP BY ALL
    """


def write_lake(store: ObjectStore, folder: Path, people: int, days: int) -> None:
    """Committed sessionized days and identity links for `days` days from FIRST_DAY."""
    with duckdb_connection() as connection:
        for number in range(days):
            day = FIRST_DAY + timedelta(days=number)
            events, links = (str(folder / f"{name}-{day}.parquet") for name in ("e", "l"))
            copy_to_parquet(connection, events_sql(people, number, day), events)
            copy_to_parquet(connection, links_sql(events), links)
            with committing(store, SESSIONIZED, day) as commit:
                commit.put_file(sessionized_events_key(day), events)
            with committing(store, RAW_EVENTS, day) as commit:
                commit.put_file(identity_links_key(day), links)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--history", type=int, nargs="+", default=[7, 30, 90])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the synthetic lake")
    args = parser.parse_args()
    histories = sorted(args.history)
    folder = Path(tempfile.mkdtemp(prefix="revolt-funnels-bench-"))
    try:
        store = ObjectStore((folder / "store").as_uri())
        (folder / "inputs").mkdir()
        (folder / "work").mkdir()
        started = time.perf_counter()
        write_lake(store, folder / "inputs", args.people, histories[-1] + 1)
        print(
            f"synthetic lake: {args.people:,} people, {histories[-1] + 1} days, {time.perf_counter() - started:.1f} s"
        )
        builder = DayBuilder(store, PipelineRules(funnels=parse_funnels(FUNNELS, "benchmark")), folder / "work")
        built_through = FIRST_DAY - timedelta(days=1)
        figures: dict[int, float] = {}
        for history in histories:
            target = FIRST_DAY + timedelta(days=history)  # the day after `history` days
            if built_through < target - timedelta(days=1):
                started = time.perf_counter()
                days = [built_through + timedelta(days=n + 1) for n in range((target - built_through).days - 1)]
                for day in days:
                    builder.funnel_days([day])
                built_through = target - timedelta(days=1)
                print(f"history of {history} days built in {time.perf_counter() - started:.1f} s")
            runs = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                built = builder.funnel_days([target])
                runs.append(time.perf_counter() - started)
            built_through = target
            figures[history] = min(runs)
            entered = sum(built.days[-1].entered.values())
            print(
                f"one more day after {history:>3} days of history: {figures[history]:.2f} s "
                f"(runs {', '.join(f'{run:.2f}' for run in runs)}; {entered:,} funnel entries that day, "
                f"days built {', '.join(day.day.isoformat() for day in built.days)})"
            )
        if len(histories) > 1:
            ratio = figures[histories[-1]] / figures[histories[0]]
            verdict = "PASS" if ratio <= BAR else "MISS"
            print(f"{verdict}  {histories[-1]} days / {histories[0]} days of history: {ratio:.2f}x (bar {BAR}x)")
    finally:
        if args.keep:
            print(f"kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
