"""Every dashboard page rendered on a year of demo data: median and max seconds per page and view, beside a floor.

Builds a year of the demo's traffic (500 people, seed 7) with `revolt demo --fast`'s builder (`demo/fast.py`: the
plan written into the cleaned layer, every later layer, the models and the report tables by the layer library),
into SQLite and, unless --no-postgres, a throwaway PostgreSQL. Then, for each database, starts `revolt dashboard`
as its own process on 127.0.0.1 and asks it for every page of `dashboard/urls.PAGES` (a person's page: the most
active person's) in two views: the default one (the 28 days ending on the latest day) and a filtered one (the
busiest platform, its busiest app version, and the whole year as the date range). Each page once untimed (the
first request warms the server's caches and the database's), then `--repeat` times; the floor is the same server
answering its stylesheet (`/static/dashboard.css`) as often, over the same keep-alive connection: what any answer
costs here. The issue's bar: every page under 1 s.

    python -m benchmarks.dashboard [--users 500] [--days 365] [--repeat 5] [--no-postgres] [--keep FOLDER]

`--keep FOLDER` keeps the lake and the SQLite database there, and a later run with the same FOLDER (and the same
--users, --days) reuses them instead of building them again.
"""

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from revolt_pipeline.dashboard.urls import PAGES, page_url
from revolt_pipeline.demo.fast import FastLake, build_fast_lake, fast_builder, load_fast_reports
from revolt_pipeline.demo.generator import demo_funnels, plan_traffic
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import create_engine, ensure_tables, read_rows
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.transforms.rules import PipelineRules

START = date(2025, 11, 3)  # a Monday: a year of traffic that is over by the time anyone runs this
BAR_SECONDS = 1.0
FLOOR_PATH = "/static/dashboard.css"
SEED = 7


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build(folder: Path, users: int, days: int) -> tuple[FastLake, str]:
    """The lake and its SQLite report database in `folder`, built unless a previous run with the same plan left
    them there; returns what the lake holds and the database's URL."""
    url = f"sqlite:///{folder / 'reports.sqlite'}"
    marker = folder / "built.json"
    plan = {"users": users, "days": days, "seed": SEED, "start": START.isoformat()}
    if marker.exists():
        kept = json.loads(marker.read_text())
        if kept["plan"] == plan:
            lake = FastLake(
                **{
                    name: [date.fromisoformat(day) for day in value] if isinstance(value, list) else value
                    for name, value in kept["lake"].items()
                }
            )
            if lake.models_as_of:
                lake.models_as_of = date.fromisoformat(lake.models_as_of)
            print(f"reusing the lake and SQLite database in {folder} ({days} days of {users} people)", flush=True)
            return lake, url
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    traffic = plan_traffic(seed=SEED, users=users, days=days, start=START)
    print(f"planned {len(traffic.messages):,} messages in {time.perf_counter() - started:.0f} s", flush=True)
    (folder / "work").mkdir(exist_ok=True)
    builder = fast_builder(ObjectStore((folder / "store").as_uri()), _rules(), folder / "work", None)
    lake, seconds = build_fast_lake(builder, traffic, say=lambda line: print(f"  {line}", flush=True))
    engine = create_engine(url)
    try:
        ensure_tables(engine)
        started = time.perf_counter()
        rows = load_fast_reports(builder, engine, lake)
    finally:
        engine.dispose()
    seconds["report tables (SQLite)"] = round(time.perf_counter() - started, 1)
    print(
        f"built {len(lake.event_days)} event days ({lake.event_days[0]} to {lake.event_days[-1]}) in "
        f"{sum(seconds.values()):.0f} s: {', '.join(f'{name} {value:.0f} s' for name, value in seconds.items())}; "
        f"{sum(rows.values()):,} report rows",
        flush=True,
    )
    shutil.rmtree(folder / "work")
    lake_json = {name: _jsonable(value) for name, value in asdict(lake).items()}
    marker.write_text(json.dumps({"plan": plan, "lake": lake_json}))
    return lake, url


def _jsonable(value: Any) -> Any:
    if isinstance(value, list):
        return [day.isoformat() for day in value]
    return value.isoformat() if isinstance(value, date) else value


def _rules() -> PipelineRules:
    return PipelineRules(funnels=demo_funnels())


def views(url: str, lake: FastLake) -> tuple[str, dict[str, dict[str, str | None]]]:
    """The most active person, and the two views: default and filtered (busiest platform and app version, the
    whole range of days)."""
    engine = create_engine(url)
    try:
        people = read_rows(engine, schema.people)
        platforms = read_rows(engine, schema.active_users_daily_by_platform)
        versions = read_rows(engine, schema.active_users_daily_by_app_version)
    finally:
        engine.dispose()
    person = max(people, key=lambda row: (row["events"], row["person_id"]))["person_id"]
    platform = _busiest(platforms, "platform")
    version = _busiest([row for row in versions if row["platform"] == platform], "app_version")
    filtered = {
        "from_": lake.event_days[0].isoformat(),
        "to": lake.event_days[-1].isoformat(),
        "platform": platform,
        "app_version": version,
    }
    return person, {"default": {}, "filtered": filtered}


def _busiest(rows: list[dict[str, Any]], column: str) -> str:
    totals: dict[str, int] = {}
    for row in rows:
        totals[row[column]] = totals.get(row[column], 0) + row["dau"]
    return max(totals, key=lambda value: (totals[value], value))


@contextlib.contextmanager
def dashboard_process(url: str, home: Path) -> Iterator[str]:
    """`revolt dashboard` on a free port of 127.0.0.1 over the database at `url`; yields its address."""
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith(("REVOLT_", "DAGSTER_"))}
    env.update(REVOLT_HOME=str(home), REVOLT_REPORT_DB_URL=url)
    process = subprocess.Popen(
        [sys.executable, "-m", "revolt_pipeline.cli", "dashboard", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    address = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(address + FLOOR_PATH, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"revolt dashboard did not start: {process.communicate(timeout=5)[1][-2000:]}")
            time.sleep(0.2)
        yield address
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def timed(client: httpx.Client, url: str, repeat: int) -> tuple[list[float], int]:
    """Seconds of each of `repeat` requests for `url` (after one untimed), and the answer's size; a page that does not
    answer 200 stops the benchmark."""
    sizes = set()
    seconds = []
    for run in range(repeat + 1):
        started = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:500]}")
        sizes.add(len(response.content))
        if run:
            seconds.append(elapsed)
    return seconds, max(sizes)


def bench_database(name: str, url: str, lake: FastLake, home: Path, repeat: int) -> list[dict[str, Any]]:
    person, page_views = views(url, lake)
    results = []
    with dashboard_process(url, home) as address, httpx.Client(timeout=120) as client:
        floor, _ = timed(client, address + FLOOR_PATH, repeat)
        print(f"\n=== {name}: revolt dashboard at {address}; person {person}; floor {FLOOR_PATH} ===")
        print(f"{'page':<10} {'view':<9} {'median s':>9} {'max s':>8} {'floor s':>8} {'x floor':>8} {'KB':>6}  bar")
        for view, filters in page_views.items():
            for page in PAGES:
                target = page_url(address, page, person_id=person if page == "person" else None, **filters)
                seconds, size = timed(client, target, repeat)
                floor_now, _ = timed(client, address + FLOOR_PATH, repeat)  # the floor beside each page
                floor.extend(floor_now)
                median, worst = statistics.median(seconds), max(seconds)
                floor_median = statistics.median(floor_now)
                verdict = "PASS" if worst < BAR_SECONDS else "MISS"
                print(
                    f"{page:<10} {view:<9} {median:>9.3f} {worst:>8.3f} {floor_median:>8.4f} "
                    f"{median / floor_median:>8.0f} {size / 1024:>6.0f}  {verdict}",
                    flush=True,
                )
                results.append({"database": name, "page": page, "view": view, "median": median, "max": worst})
        print(f"floor over the run: median {statistics.median(floor):.4f} s, max {max(floor):.4f} s")
    return results


@contextlib.contextmanager
def postgres_copy(lake: FastLake, folder: Path, enabled: bool) -> Iterator[str | None]:
    """The lake's report tables loaded into a throwaway PostgreSQL (the test fixtures' cluster); None without one."""
    if not enabled:
        print("PostgreSQL: skipped (--no-postgres)")
        yield None
        return
    try:
        import pytest

        from revolt_pipeline_tests.fixtures.postgres import running_postgres
    except ImportError as exc:
        print(f"PostgreSQL: unavailable ({exc})")
        yield None
        return
    manager = running_postgres()
    try:
        server = manager.__enter__()
    except (Exception, pytest.skip.Exception, pytest.fail.Exception) as exc:
        print(f"PostgreSQL: unavailable ({exc})")
        yield None
        return
    try:
        url = server.create_database("dashboard_bench")
        engine = create_engine(url)
        try:
            ensure_tables(engine)
            (folder / "work").mkdir(exist_ok=True)
            builder = fast_builder(ObjectStore((folder / "store").as_uri()), _rules(), folder / "work", None)
            started = time.perf_counter()
            rows = load_fast_reports(builder, engine, lake)
            print(f"loaded {sum(rows.values()):,} report rows into PostgreSQL in {time.perf_counter() - started:.0f} s")
        finally:
            engine.dispose()
        yield url
    finally:
        manager.__exit__(None, None, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=5, help="timed requests per page and view")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--keep", type=Path, default=None, help="keep (or reuse) the lake and SQLite database here")
    args = parser.parse_args()
    folder = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="revolt-dashboard-bench-"))
    folder.parent.mkdir(parents=True, exist_ok=True)
    print(f"dashboard benchmark: {args.days} days of {args.users} people; {os.cpu_count()} cores; folder {folder}")
    started = time.perf_counter()
    try:
        lake, sqlite_url = build(folder, args.users, args.days)
        home = folder / "home"
        home.mkdir(exist_ok=True)
        results = bench_database("SQLite", sqlite_url, lake, home, args.repeat)
        with postgres_copy(lake, folder, not args.no_postgres) as postgres_url:
            if postgres_url is not None:
                results += bench_database("PostgreSQL", postgres_url, lake, home, args.repeat)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    worst = max(results, key=lambda result: result["max"])
    verdict = "PASS" if worst["max"] < BAR_SECONDS else "MISS"
    print(
        f"\n{verdict}  slowest page: {worst['page']} ({worst['view']}, {worst['database']}) max {worst['max']:.3f} s "
        f"(bar: every page under {BAR_SECONDS:.0f} s); {time.perf_counter() - started:.0f} s in all"
    )


if __name__ == "__main__":
    main()
