"""One received day of events through the pipeline's stages, each as a ratio to the floor of reading it.

Writes a synthetic landed day (`benchmarks/synthetic_day.py`), then runs, each in its own child process
so that peak memory is per stage:

- floor: decompressing every landed file of the day on all cores (zlib, one thread per core): no step that
  reads the landed day can be faster;
- parse: DuckDB `read_json` of the landed records' envelope, the message kept as JSON (a reference, not a stage);
- raw: the watermark check and `DayBuilder.raw_days` (`raw_events`);
- clean: `DayBuilder.event_days` for the day (`cleaned_events`, `sessionized`, `daily_aggregates`);
- report: `DayBuilder.report_days` into SQLite (the report assets), and into PostgreSQL too when a
  throwaway cluster can be started, each table checked with `rows_in_database`.

The stages call the layer library's `DayBuilder` (revolt_pipeline/layers/days.py), the code the assets
run, on a local `ObjectStore`; each DuckDB statement is timed too, through a pass-through connection.

Prints seconds, CPU seconds, events/s, peak RSS and the ratio to the floor for each, and PASS/MISS per bar.

    python -m benchmarks.pipeline_day [--events 1000000 5000000] [--quick] [--keep] [--files-per-hour 4]
"""

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from benchmarks.synthetic_day import DAY, SEED, check_landed_format, generate_day

FLOOR_RUNS = 3
FLOOR_BUDGET_SECONDS = 60
# The bars of issue 11: the whole day against decompressing the landed day on every core.
DAY_BAR = 5.0  # landed files to report tables, times the floor
DAY_MOONSHOT = 3.0
MEMORY_BAR_MB = 2048  # peak RSS of any stage, at 5 M events
MEMORY_BAR_EVENTS = 5_000_000


# --------------------------------------------------------------------------------------------------
# Stages, each run in a child process: `python -m benchmarks.pipeline_day --child STAGE --root ROOT`.
# They build the day with the layer library's DayBuilder (revolt_pipeline/layers/days.py), the code the Dagster
# assets run, without Dagster, whose import alone would add to every stage's memory.
# --------------------------------------------------------------------------------------------------


class Steps:
    """Wall-clock seconds per step, the process's CPU seconds (all threads) over all of them, and the
    wall-clock and CPU seconds of each DuckDB statement run inside the steps (a finer view, included in the
    steps' time; on a shared machine the CPU seconds are the steadier figure)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.statements: dict[str, float] = {}
        self.statements_cpu: dict[str, float] = {}
        self.cpu = 0.0

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
            self.cpu += time.process_time() - cpu


_COPY_TARGET = re.compile(r"\) TO '((?:[^']|'')*)' \(FORMAT", re.DOTALL)
_CREATE_TABLE = re.compile(r"^\s*CREATE (?:OR REPLACE )?(?:TEMP |TEMPORARY )?TABLE (\w+)", re.IGNORECASE)


class TimedConnection:
    """A DuckDB connection that times each `execute` under a short label, and is otherwise the connection.

    The layer library only calls `execute` (then `fetchone`/`fetchall` on the materialized result), so the
    library runs unchanged; the label says what the statement was: `copy <file>` for a COPY (the date
    left out of the file's name), `<calling function> table <name>` for a CREATE TABLE, and
    `<calling function> query` for anything else.
    """

    def __init__(self, connection: Any, steps: Steps) -> None:
        self._connection = connection
        self._steps = steps

    def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        label = self._label(query, sys._getframe(1).f_code.co_name)
        started, cpu = time.perf_counter(), time.process_time()
        try:
            return self._connection.execute(query, *args, **kwargs)
        finally:
            statements, statements_cpu = self._steps.statements, self._steps.statements_cpu
            statements[label] = statements.get(label, 0.0) + time.perf_counter() - started
            statements_cpu[label] = statements_cpu.get(label, 0.0) + time.process_time() - cpu

    @staticmethod
    def _label(query: str, caller: str) -> str:
        if query.lstrip().upper().startswith("COPY"):
            target = _COPY_TARGET.search(query)
            name = Path(target.group(1)).name if target else "?"
            return "copy " + re.sub(r"-\d{4}-\d{2}-\d{2}", "", name).removesuffix(".parquet")
        created = _CREATE_TABLE.match(query)
        return f"{caller} table {created.group(1)}" if created else f"{caller} query"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _builder(root: Path, steps: Steps, memory_limit: str) -> Any:
    """The layer library's DayBuilder on the day's local store, timing each step and each DuckDB statement."""
    from revolt_pipeline.layers.days import DayBuilder
    from revolt_pipeline.storage import ObjectStore
    from revolt_pipeline.transforms.engine import duckdb_connection
    from revolt_pipeline.transforms.rules import PipelineRules

    @contextlib.contextmanager
    def connect() -> Iterator[Any]:
        with duckdb_connection(memory_limit=memory_limit) as connection:
            yield TimedConnection(connection, steps)

    # The work folder goes with the stage's process (under the benchmark's TMPDIR), as an asset's with its run.
    workdir = Path(tempfile.mkdtemp(prefix="revolt-layers-"))
    return DayBuilder(ObjectStore((root / "store").as_uri()), PipelineRules(), workdir, connect, steps.step)


def _landed_files(root: Path) -> list[Path]:
    return sorted((root / "store/landing").rglob("*.jsonl.gz"))


def _gunzip_lines(path: Path) -> int:
    """Decompress one landed file (every gzip member) in blocks; returns its lines. zlib lets go of the GIL
    while it inflates, so threads decompress on every core, as `pigz -d` or several `gzip -dc` would."""
    lines = 0
    with path.open("rb") as compressed:
        inflater = zlib.decompressobj(wbits=31)
        while block := compressed.read(1 << 20):
            while block:
                lines += inflater.decompress(block).count(b"\n")
                block = inflater.unused_data
                if block:  # the next gzip member
                    lines += inflater.flush().count(b"\n")
                    inflater = zlib.decompressobj(wbits=31)
        lines += inflater.flush().count(b"\n")
    return lines


def stage_floor(root: Path, steps: Steps, _options: argparse.Namespace) -> dict[str, Any]:
    """The floor: every landed file of the day decompressed, one thread per core."""
    files = _landed_files(root)
    with steps.step("gunzip"), ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        rows = sum(pool.map(_gunzip_lines, files))
    return {"rows": rows, "threads": os.cpu_count() or 1}


def stage_parse(root: Path, steps: Steps, options: argparse.Namespace) -> dict[str, Any]:
    """A reference: DuckDB's `read_json` of the landed records' envelope with typed columns, `message` as JSON."""
    from revolt_pipeline.transforms.engine import duckdb_connection, sql_list, sql_string
    from revolt_pipeline.transforms.raw import LANDED_COLUMNS

    columns = ", ".join(f"{sql_string(name)}: {sql_string(kind)}" for name, kind in LANDED_COLUMNS.items())
    files = sql_list([str(path) for path in _landed_files(root)])
    with duckdb_connection(memory_limit=options.memory_limit) as connection, steps.step("read_json"):
        (rows,) = connection.execute(
            f"SELECT count(message) FROM read_json({files}, format = 'newline_delimited', "
            f"columns = {{{columns}, 'message': 'JSON'}}, maximum_object_size = 16777216)"
        ).fetchone()
    return {"rows": rows}


def stage_raw(root: Path, steps: Steps, options: argparse.Namespace) -> dict[str, Any]:
    """`raw_events` for one received day: the watermark check, then `build_raw_day`."""
    from revolt_pipeline.storage.watermarks import lagging_collectors, read_watermarks

    builder = _builder(root, steps, options.memory_limit)
    with steps.step("wait_for_watermarks"):
        day_end = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC) + timedelta(days=1)
        watermarks = read_watermarks(builder.store)
        if not watermarks:
            raise SystemExit(f"no collector has published a watermark in {builder.store.uri('watermarks')}")
        lagging = lagging_collectors(watermarks, day_end)
        if lagging:
            raise SystemExit(f"watermarks have not passed {day_end}: {lagging}")
    (built,) = builder.raw_days([DAY])
    return {
        "rows": built.rows,
        "rows_by_assigned_date": built.profile.rows_by_assigned_date,
        "null_counts": {column: n for column, n in built.profile.null_counts.items() if n},
        "drift": len(built.drift),
    }


def stage_clean(root: Path, steps: Steps, options: argparse.Namespace) -> dict[str, Any]:
    """`cleaned_events`, `sessionized` and `daily_aggregates` for the event day, each step with its own
    connection as its asset: `clean_days`, `sessionize_day`, `aggregate_day`."""
    built = _builder(root, steps, options.memory_limit).event_days([DAY])
    (cleaned,), (sessions,) = built.cleaned, built.sessions
    return {
        "assigned_rows": cleaned.assigned_rows,
        "events": cleaned.events,
        "repeated_ids": cleaned.events - cleaned.distinct_message_ids,
        "quarantined": cleaned.quarantined,
        "reconciled": cleaned.reconciled,
        "sessions": sessions.sessions,
        "sessionized_events": sessions.sessionized_events,
        "cleaned_events": sessions.cleaned_events,
        "without_session": sessions.events_without_session,
        "bad_session_bounds": sessions.inconsistent_sessions,
    }


def stage_report(root: Path, steps: Steps, options: argparse.Namespace) -> dict[str, Any]:
    """`report_tables` and `event_catalog` for the day into the report database at `--url`, with the
    assets' check that the database holds exactly the rows loaded."""
    from revolt_pipeline.reports import schema
    from revolt_pipeline.reports.loader import create_engine, ensure_tables, rows_in_database

    builder = _builder(root, steps, options.memory_limit)
    with steps.step("connect"):
        engine = create_engine(options.url)
        ensure_tables(engine)
    loaded = builder.report_days(engine, [DAY], [DAY])
    for name, rows in loaded.items():
        count = rows_in_database(engine, getattr(schema, name), [DAY])
        if count != rows.num_rows:
            raise AssertionError(f"{name}: {count} rows in the database, {rows.num_rows} in the lake")
    engine.dispose()
    return {"loaded": {name: rows.num_rows for name, rows in loaded.items()}}


STAGES = {
    "floor": stage_floor,
    "parse": stage_parse,
    "raw": stage_raw,
    "clean": stage_clean,
    "report": stage_report,
}


def child(stage: str, root: Path, options: argparse.Namespace) -> None:
    steps = Steps()
    outcome = STAGES[stage](root, steps, options)
    print(
        json.dumps(
            {
                "seconds": sum(steps.seconds.values()),
                "cpu": steps.cpu,
                "steps": steps.seconds,
                "statements": steps.statements,
                "statements_cpu": steps.statements_cpu,
                "peak_rss_mb": _peak_rss_mb(),
                **outcome,
            }
        )
    )


# --------------------------------------------------------------------------------------------------
# The parent: generate, run every stage in a fresh process, print.
# --------------------------------------------------------------------------------------------------


_RUN_AS_MAIN = "runpy.run_module('benchmarks.pipeline_day', run_name='__main__', alter_sys=True)"


def run_stage_of(
    stage: str, root: Path, memory_limit: str, url: str | None = None, library: str | None = None
) -> dict[str, Any]:
    """One stage in a child process (with `library`'s revolt_pipeline if given); its figures."""
    command = [sys.executable, "-m", "benchmarks.pipeline_day"]
    if library:  # another checkout's revolt_pipeline first on the path, this benchmark's code around it
        command[1:] = ["-c", f"import runpy, sys; sys.path.insert(0, {library!r}); {_RUN_AS_MAIN}"]
    command += ["--child", stage, "--root", str(root), "--memory-limit", memory_limit]
    if url:
        command += ["--url", url]
    # Temporary files (DuckDB's spill folder, the assets' work folders) go under the benchmark's folder.
    scratch = root / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    finished = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "TMPDIR": str(scratch)},
        check=False,
    )
    if finished.returncode != 0:
        sys.stderr.write(finished.stderr)
        raise SystemExit(f"stage {stage} failed (exit {finished.returncode})")
    return json.loads(finished.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def throwaway_postgres(enabled: bool) -> Iterator[tuple[Any, str]]:
    """A PostgreSQL cluster from the test fixtures, or (None, why not)."""
    if not enabled:
        yield None, "skipped (--no-postgres)"
        return
    try:
        import pytest

        from revolt_pipeline_tests.fixtures.postgres import running_postgres
    except ImportError as exc:
        yield None, f"unavailable: {exc}"
        return
    manager = running_postgres()
    try:
        server = manager.__enter__()
    except (Exception, pytest.skip.Exception, pytest.fail.Exception) as exc:
        yield None, f"unavailable: {exc}"
        return
    try:
        yield server, ""
    finally:
        manager.__exit__(None, None, None)


def _mb(value: float) -> str:
    return f"{value:,.0f}"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def bench_day(events: int, base: Path, args: argparse.Namespace, postgres: Any, why_not: str) -> list[dict[str, Any]]:
    """Generate a landed day of `events`, then measure it `--repeat` times; prints the spread of the ratios."""
    root = base / f"day-{events}"
    print(f"\n=== {events:,} events, received day {DAY} ===", flush=True)
    generated = generate_day(root / "store", events, args.files_per_hour, SEED + events)
    checked = check_landed_format(root / "store")
    types = ", ".join(f"{name} {count / events:.0%}" for name, count in sorted(generated.types.items()))
    print(
        f"generated in {generated.seconds:.1f} s: {generated.events:,} landed lines = {generated.unique_messages:,} "
        f"messages + {generated.duplicates:,} redelivered; {generated.people:,} people on {generated.devices:,} "
        f"devices, {generated.sessions:,} planned sessions; {types}\n"
        f"  {generated.files} files ({args.files_per_hour} per hour), {generated.gzip_bytes / 1e6:,.0f} MB gzip, "
        f"{generated.json_bytes / 1e6:,.0f} MB JSON, {generated.json_bytes / events:.0f} B per landed line, "
        f"{generated.message_bytes} B per message; {checked} sample lines identical to landed_record's",
        flush=True,
    )

    results = [measure_day(root, events, args, postgres, why_not, repeat) for repeat in range(1, args.repeat + 1)]
    if args.repeat > 1:
        print(f"\n{events:,} events, {args.repeat} repeats on the same landed day:")
        for key, label in (
            ("day", "whole day x floor"),
            ("day_cpu", "whole day CPU x floor CPU"),
            ("floor", "floor s"),
        ):
            figures = sorted(result[key] for result in results)
            print(
                f"  {label}: median {statistics.median(figures):.2f}, range {figures[0]:.2f} to {figures[-1]:.2f} "
                f"({', '.join(f'{result[key]:.2f}' for result in results)})"
            )
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return results


def measure_day(
    root: Path, events: int, args: argparse.Namespace, postgres: Any, why_not: str, repeat: int
) -> dict[str, Any]:
    """Every stage once on the landed day under `root`, with the floor measured around them; prints the figures."""
    if args.repeat > 1:
        print(f"\n--- {events:,} events, repeat {repeat} of {args.repeat} (load average {_load_average()}) ---")
    # The floor is the yardstick of every ratio: the median of up to --floor-runs runs, the first before the
    # stages and the others after them, so that it samples the machine's load over the run (a floor run takes
    # about 1.5 s a million events on two cores; no more than a minute of them).
    limit = args.memory_limit
    library = str(args.library.resolve()) if args.library else None

    def run_stage(stage: str, root: Path, memory_limit: str, url: str | None = None) -> dict[str, Any]:
        return run_stage_of(stage, root, memory_limit, url, library)

    floors = [run_stage("floor", root, limit)]
    parse = run_stage("parse", root, limit)
    raw = run_stage("raw", root, limit)
    clean = run_stage("clean", root, limit)
    sqlite = run_stage("report", root, limit, f"sqlite:///{root / 'reports.sqlite'}")
    pg = None
    if postgres is not None:
        name = f"bench_{events}"
        postgres.drop_database(name)
        pg = run_stage("report", root, limit, postgres.create_database(name))
    while len(floors) < args.floor_runs and sum(run["seconds"] for run in floors) < FLOOR_BUDGET_SECONDS:
        floors.append(run_stage("floor", root, limit))
    if any(run["rows"] != events for run in [*floors, parse]):
        raise SystemExit(f"the floor read {floors[0]['rows']} lines and the parse {parse['rows']}, expected {events}")
    floor = {
        "seconds": statistics.median(run["seconds"] for run in floors),
        "cpu": statistics.median(run["cpu"] for run in floors),
        "peak_rss_mb": max(run["peak_rss_mb"] for run in floors),
    }

    floor_s = floor["seconds"]

    def row(label: str, *runs: dict[str, Any]) -> tuple[str, float, float, float]:
        return (
            label,
            sum(run["seconds"] for run in runs),
            sum(run["cpu"] for run in runs),
            max(run["peak_rss_mb"] for run in runs),
        )

    rows = [
        row(f"floor: gunzip, {floors[0]['threads']} threads (median of {len(floors)})", floor),
        row("   parse: DuckDB read_json of the envelope", parse),
        row("a. raw: build_raw_day", raw),
        row("b. clean + sessionize + aggregates", clean),
        row("c. report tables -> SQLite", sqlite),
    ]
    if pg is not None:
        rows.append(row("c. report tables -> PostgreSQL", pg))
    rows.append(row("d. whole day (a + b + c SQLite)", raw, clean, sqlite))
    if pg is not None:
        rows.append(row("d. whole day (a + b + c PostgreSQL)", raw, clean, pg))
    _, whole, whole_cpu, peak = rows[-2 if pg is not None else -1]
    print(
        f"\n{'stage':<44}{'seconds':>9}{'CPU s':>8}{'events/s':>12}{'peak RSS MB':>13}{'x floor':>9}{'CPU x floor':>13}"
    )
    for label, seconds, cpu, rss in rows:
        print(
            f"{label:<44}{seconds:>9.2f}{cpu:>8.1f}{events / seconds:>12,.0f}{_mb(rss):>13}"
            f"{seconds / floor_s:>9.2f}{cpu / floor['cpu']:>13.2f}"
        )
    if pg is None:
        print(f"c. report tables -> PostgreSQL: {why_not}")
    floor_runs = ", ".join(f"{run['seconds']:.2f} s ({run['cpu']:.1f} CPU s)" for run in floors)
    print(f"\nfloor runs (the first before the stages): {floor_runs}")
    for label, run in (("raw", raw), ("clean", clean), ("report SQLite", sqlite), ("report PostgreSQL", pg)):
        if run is not None:
            print(f"steps of {label}: " + ", ".join(f"{name} {s:.2f}" for name, s in run["steps"].items()))
            if run["statements"]:
                slowest = sorted(run["statements"].items(), key=lambda item: -item[1])
                cpu = run["statements_cpu"]
                print(
                    f"  DuckDB statements of {label} (s / CPU s): "
                    + ", ".join(f"{name} {s:.2f} / {cpu[name]:.2f}" for name, s in slowest if s >= 0.005)
                )
    print(
        f"raw rows {raw['rows']:,} by assigned date {raw['rows_by_assigned_date']}, nulls {raw['null_counts']}; "
        f"cleaned {clean['events']:,} of {clean['assigned_rows']:,} assigned (repeated ids {clean['repeated_ids']}, "
        f"reconciled {clean['reconciled']}), quarantined {clean['quarantined']}; {clean['sessions']:,} sessions, "
        f"{clean['sessionized_events']:,} of {clean['cleaned_events']:,} events sessionized, "
        f"{clean['without_session']} without one, {clean['bad_session_bounds']} with bad bounds; "
        f"report rows {sqlite['loaded']}"
    )

    day_ratio = whole / floor_s
    bars = [
        (f"d. whole day <= {DAY_BAR:g}x floor", day_ratio <= DAY_BAR, f"{day_ratio:.2f}x"),
        (f"d. whole day <= {DAY_MOONSHOT:g}x floor (moonshot)", day_ratio <= DAY_MOONSHOT, f"{day_ratio:.2f}x"),
    ]
    if events >= MEMORY_BAR_EVENTS:
        bars.append((f"peak RSS < {MEMORY_BAR_MB / 1024:g} GB", peak < MEMORY_BAR_MB, f"{peak:,.0f} MB"))
    for label, ok, figure in bars:
        print(f"{_verdict(ok)}  {label}: {figure}")
    print(f"whole day CPU seconds / floor CPU seconds: {whole_cpu / floor['cpu']:.2f}x; load average {_load_average()}")
    return {
        "events": events,
        "floor": floor_s,
        "day": day_ratio,
        "day_cpu": whole_cpu / floor["cpu"],
        "peak": peak,
        "bars": bars,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--quick", action="store_true", help="one day of 200,000 events, a sanity run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print where it is")
    parser.add_argument("--files-per-hour", type=int, default=4)
    parser.add_argument("--floor-runs", type=int, default=FLOOR_RUNS, help="at most, as many as fit in a minute")
    parser.add_argument("--repeat", type=int, default=1, help="measure each day this many times (the spread)")
    parser.add_argument(
        "--library",
        type=Path,
        help="time the revolt_pipeline package in this folder (e.g. `git archive` of an older commit) instead",
    )
    parser.add_argument("--no-postgres", action="store_true", help="load the report tables into SQLite only")
    parser.add_argument("--child", choices=sorted(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--memory-limit", help="DuckDB's memory limit per connection [REVOLT_DUCKDB_MEMORY_LIMIT, else the default]"
    )
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.root, args)
        return
    if args.memory_limit is None:  # the settings are read here, once, and passed down to every stage
        from revolt_pipeline.settings import Settings

        args.memory_limit = Settings.from_env().duckdb_memory_limit
    sizes = [200_000] if args.quick else args.events
    base = Path(tempfile.mkdtemp(prefix="pipeline-day-bench-"))
    base.chmod(0o755)  # the throwaway PostgreSQL cluster lives here too, run by the postgres user
    tempfile.tempdir = str(base)
    print(
        f"pipeline_day: {', '.join(f'{n:,}' for n in sizes)} events; {os.cpu_count()} cores; "
        f"Python {sys.version.split()[0]}, duckdb {_version('duckdb')}, pyarrow {pa.__version__}; "
        f"DuckDB memory limit {args.memory_limit}; folder {base}; "
        f"load average {_load_average()}",
        flush=True,
    )
    started = time.perf_counter()
    try:
        with throwaway_postgres(not args.no_postgres) as (postgres, why_not):
            results = [result for n in sizes for result in bench_day(n, base, args, postgres, why_not)]
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(f"\n=== summary ({time.perf_counter() - started:.0f} s in all) ===")
    for result in results:
        verdicts = "; ".join(f"{_verdict(ok)} {label.split(':')[0]} ({figure})" for label, ok, figure in result["bars"])
        print(
            f"{result['events']:>10,} events: floor {result['floor']:.2f} s; {verdicts}; "
            f"CPU {result['day_cpu']:.2f}x the floor's"
        )
    if args.keep:
        print(f"kept {base}")


def _load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _version(module: str) -> str:
    return __import__(module).__version__


if __name__ == "__main__":
    main()
