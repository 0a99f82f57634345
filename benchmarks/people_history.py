"""One more day of people, active users, lifecycle and retention after 7, 30 and 90 days of history: the cost
must not grow with it.

Writes a synthetic lake: for every day, committed sessionized events and sessions of a population (100,000
people by default, a fifth of them active each day with one to ten events and a session, half of them users
and half anonymous visitors, one in a hundred of the day's actives identifying), and each day's identity
links as the raw layer would commit them. Then builds the people layer day after day with the layer
library's `DayBuilder.people_days`, the code `people_job` runs (person days, the people snapshot, and the
three active-users tables), then the retention layer with `DayBuilder.retention_days` (`cohort_activity`,
lifecycle and retention of the day, first_seen and anchored on `Timer Started`), timing the day after 7, 30
and 90 days of history (best of `--repeat` builds).

Prints seconds per history, for people and actives, for lifecycle and retention, and for both, and the ratios
of 90 days to 7 days, PASS when at most 2 (the issue's bar).

    python -m benchmarks.people_history [--people 100000] [--history 7 30 90] [--repeat 2] [--keep]
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
from revolt_pipeline.storage.layout import identity_links_key, sessionized_events_key, sessions_key
from revolt_pipeline.transforms.engine import copy_to_parquet, duckdb_connection
from revolt_pipeline.transforms.rules import PipelineRules

FIRST_DAY = date(2026, 1, 1)
BAR = 2.0  # one more day after 90 days of history, at most this many times the day after 7
ACTIVE_SHARE = 5  # one person in this many is active on a day


def _active(day_number: int) -> str:
    """People active on a day: a deterministic fifth of the population, a different one each day."""
    return f"hash(n, {day_number}) % {ACTIVE_SHARE} = 0"


def events_sql(people: int, day_number: int, day: date) -> str:
    midnight = f"TIMESTAMPTZ '{day.isoformat()} 00:00:00+00'"
    return f"""
    WITH active AS (SELECT n, CAST(1 + hash(n, {day_number}, 'events') % 10 AS BIGINT) AS events
                    FROM range({people}) AS people(n) WHERE {_active(day_number)}),
    rows AS (SELECT n, e FROM active, LATERAL (SELECT unnest(range(events)) AS e))
    SELECT 'm-{day_number}-' || n || '-' || e AS message_id,
           CASE WHEN e = 0 AND hash(n, {day_number}, 'identify') % 100 = 0 AND n % 2 = 0 THEN 'identify'
                ELSE 'track' END AS type,
           'Timer Started' AS event_name,
           CASE WHEN n % 2 = 0 THEN 'user-' || n ELSE 'anon-' || n END AS person_id,
           CASE WHEN n % 2 = 0 THEN 'user-' || n END AS user_id,
           'anon-' || n AS anonymous_id,
           {midnight} + to_seconds(CAST(hash(n, {day_number}, 'time') % 80000 AS BIGINT) + e * 60) AS event_time,
           ['web', 'ios', 'android', 'desktop'][1 + n % 4] AS platform,
           '1.' || ({day_number} // 30) AS app_version,
           ['macOS', 'iOS', 'Android', 'Windows'][1 + n % 4] AS os_name, ['14', '15', '18.1'][1 + n % 3] AS os_version,
           ['en-US', 'de-DE', 'ja-JP', 'pt-BR', 'en-GB', 'fr-FR'][1 + n % 6] AS locale,
           ['desktop', 'ios', 'android', 'desktop'][1 + n % 4] AS device_type,
           ['US', 'DE', 'JP', 'BR', 'GB', 'FR', 'IN', 'AU', 'ES', 'CA'][1 + n % 10] AS country,
           CASE WHEN n % 3 = 0 THEN 'timezone' ELSE 'ip' END AS country_method,
           ['tempo-web', 'tempo-ios', 'tempo-android', 'tempo-desktop'][1 + n % 4] AS source,
           ['analytics.js', 'analytics-ios', 'analytics-android', 'analytics-node'][1 + n % 4] AS library_name,
           '4.' || (n % 3) AS library_version,
           CASE WHEN e = 0 THEN '{{"plan": "team", "email": "someone@example.com"}}' END AS traits
    FROM rows
    """


def sessions_sql(events_file: str) -> str:
    return f"""
    SELECT md5(person_id) AS session_id, person_id, min(event_time) AS session_start,
           epoch_ms(max(event_time) - min(event_time)) / 1000.0 AS duration_seconds, count(*) AS events
    FROM read_parquet('{events_file}') GROUP BY person_id
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
            events, sessions, links = (str(folder / f"{name}-{day}.parquet") for name in ("e", "s", "l"))
            copy_to_parquet(connection, events_sql(people, number, day), events)
            copy_to_parquet(connection, sessions_sql(events), sessions)
            copy_to_parquet(connection, links_sql(events), links)
            with committing(store, SESSIONIZED, day) as commit:
                commit.put_file(sessionized_events_key(day), events)
                commit.put_file(sessions_key(day), sessions)
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
    folder = Path(tempfile.mkdtemp(prefix="revolt-people-bench-"))
    try:
        store = ObjectStore((folder / "store").as_uri())
        (folder / "inputs").mkdir()
        (folder / "work").mkdir()
        started = time.perf_counter()
        write_lake(store, folder / "inputs", args.people, histories[-1] + 1)
        print(
            f"synthetic lake: {args.people:,} people, {histories[-1] + 1} days, {time.perf_counter() - started:.1f} s"
        )
        rules = PipelineRules(retention_start_event="Timer Started")  # anchored too: the costlier configuration
        builder = DayBuilder(store, rules, folder / "work")
        built_through = FIRST_DAY - timedelta(days=1)
        figures: dict[int, float] = {}
        retention: dict[int, float] = {}
        for history in histories:
            target = FIRST_DAY + timedelta(days=history)  # the day after `history` days
            if built_through < target - timedelta(days=1):
                started = time.perf_counter()
                days = (target - built_through).days - 1
                for offset in range(days):
                    day = built_through + timedelta(days=offset + 1)
                    builder.people_days([day])
                    builder.retention_days([day])
                built_through = target - timedelta(days=1)
                print(f"history of {history} days built in {time.perf_counter() - started:.1f} s")
            runs, retention_runs = [], []
            for _ in range(args.repeat):
                started = time.perf_counter()
                (built,) = builder.people_days([target])
                runs.append(time.perf_counter() - started)
                started = time.perf_counter()
                (cohorts,) = builder.retention_days([target])
                retention_runs.append(time.perf_counter() - started)
            built_through = target
            figures[history], retention[history] = min(runs), min(retention_runs)
            print(
                f"one more day after {history:>3} days of history: people and actives {figures[history]:.2f} s "
                f"(runs {', '.join(f'{run:.2f}' for run in runs)}; {built.person_days:,} people active, "
                f"{built.counts.people:,} in the snapshot); lifecycle and retention {retention[history]:.2f} s "
                f"(runs {', '.join(f'{run:.2f}' for run in retention_runs)}; {cohorts.cohort_people:,} rows of "
                f"cohort_activity); both {figures[history] + retention[history]:.2f} s"
            )
        if len(histories) > 1:
            first, last = histories[0], histories[-1]
            for what, seconds in (
                ("people and actives", figures),
                ("lifecycle and retention", retention),
                ("both", {history: figures[history] + retention[history] for history in histories}),
            ):
                ratio = seconds[last] / seconds[first]
                verdict = "PASS" if ratio <= BAR else "MISS"
                print(f"{verdict}  {what}: {last} days / {first} days of history: {ratio:.2f}x (bar {BAR}x)")
    finally:
        if args.keep:
            print(f"kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
