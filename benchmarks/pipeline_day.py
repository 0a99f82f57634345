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
import dataclasses
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from benchmarks.synthetic_day import DAY, SEED, Generated, check_landed_format, generate_day

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

    def __init__(self, clock: Callable[[], float] = time.process_time) -> None:
        self.clock = clock  # CPU seconds so far: this process's, or its whole process tree's (Spark's JVM)
        self.seconds: dict[str, float] = {}
        self.statements: dict[str, float] = {}
        self.statements_cpu: dict[str, float] = {}
        self.cpu = 0.0

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        started, cpu = time.perf_counter(), self.clock()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
            self.cpu += self.clock() - cpu


_COPY_TARGET = re.compile(r"\) TO '((?:[^']|'')*)' \(FORMAT", re.DOTALL)
_CREATE_TABLE = re.compile(r"^\s*CREATE (?:OR REPLACE )?(?:TEMP |TEMPORARY )?TABLE (\w+)", re.IGNORECASE)


class TimedConnection:
    """A DuckDB (or Spark) connection that times each `execute` under a short label, and is otherwise the connection.

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
        started, cpu = time.perf_counter(), self._steps.clock()
        try:
            return self._connection.execute(query, *args, **kwargs)
        finally:
            statements, statements_cpu = self._steps.statements, self._steps.statements_cpu
            statements[label] = statements.get(label, 0.0) + time.perf_counter() - started
            statements_cpu[label] = statements_cpu.get(label, 0.0) + self._steps.clock() - cpu

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


_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def _process_tree() -> list[int]:
    """This process and every process descended from it (Spark's JVM, its Python workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                children.setdefault(int(stat[stat.rindex(")") + 2 :].split()[1]), []).append(int(entry.name))
    tree, unseen = [], [os.getpid()]
    while unseen:
        pid = unseen.pop()
        tree.append(pid)
        unseen += children.get(pid, [])
    return tree


def tree_cpu_seconds() -> float:
    """CPU seconds of this process and its descendants, those that ended and were waited for among them (user and
    system, in clock ticks): the JVM a Spark session runs in is a child process, which `process_time` misses."""
    ticks = 0
    for pid in _process_tree():
        with contextlib.suppress(OSError, ValueError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            ticks += sum(int(field) for field in stat[stat.rindex(")") + 2 :].split()[11:15])
    return ticks / _TICKS_PER_SECOND


class TreeMemory:
    """The peak of the resident memory of this process and its descendants together, sampled every `interval`
    seconds in a thread (a process's own high-water mark does not cover its children)."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak_mb = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> "TreeMemory":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    def _sample(self) -> None:
        page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20
        while True:
            resident = 0
            for pid in _process_tree():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    resident += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
            self.peak_mb = max(self.peak_mb, resident * page_mb)
            if self._done.wait(self.interval):
                return


@contextlib.contextmanager
def _day_builder(root: Path, steps: Steps, options: argparse.Namespace) -> Iterator[Any]:
    """The layer library's DayBuilder on the day's local store, on the stage's engine (`layers/engines.py`), timing
    each step and each statement. Spark's session is started and stopped within the stage, as a job's would be."""
    from revolt_pipeline.layers.days import DayBuilder
    from revolt_pipeline.layers.engines import engine_connections
    from revolt_pipeline.storage import ObjectStore
    from revolt_pipeline.transforms.rules import PipelineRules

    with contextlib.ExitStack() as stack:
        session = None
        if options.engine == "spark":
            from revolt_pipeline.transforms.spark import spark_session

            with steps.step("spark_session"):
                conf = dict(setting.split("=", 1) for setting in options.spark_conf)
                started = spark_session(options.spark_master, driver_memory=options.spark_driver_memory, conf=conf)
                session = started.__enter__()
            stack.callback(_stop_timed, started, steps)
        engines = stack.enter_context(
            engine_connections(options.engine, duckdb_memory_limit=options.memory_limit, spark_session=session)
        )

        @contextlib.contextmanager
        def connect() -> Iterator[Any]:
            with engines.connect() as connection:
                yield TimedConnection(connection, steps)

        # The work folder goes with the stage's process (under the benchmark's TMPDIR), as an asset's with its run.
        workdir = Path(tempfile.mkdtemp(prefix="revolt-layers-"))
        yield DayBuilder(ObjectStore((root / "store").as_uri()), PipelineRules(), workdir, connect, steps.step)


def _stop_timed(started: Any, steps: Steps) -> None:
    with steps.step("spark_stop"):
        started.__exit__(None, None, None)


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

    with _day_builder(root, steps, options) as builder:
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
    with _day_builder(root, steps, options) as builder:
        built = builder.event_days([DAY])
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

    with _day_builder(root, steps, options) as builder:
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
    """One stage; prints its figures as JSON. On Spark the CPU seconds and peak memory are the process tree's:
    this process, the JVM it starts and the JVM's Python workers (Arrow functions)."""
    if options.engine == "spark":
        steps = Steps(tree_cpu_seconds)
        with TreeMemory() as memory:
            outcome = STAGES[stage](root, steps, options)
        peak = max(_peak_rss_mb(), memory.peak_mb)
    else:
        steps = Steps()
        outcome = STAGES[stage](root, steps, options)
        peak = _peak_rss_mb()
    print(
        json.dumps(
            {
                "seconds": sum(steps.seconds.values()),
                "cpu": steps.cpu,
                "steps": steps.seconds,
                "statements": steps.statements,
                "statements_cpu": steps.statements_cpu,
                "peak_rss_mb": peak,
                **outcome,
            }
        )
    )


# --------------------------------------------------------------------------------------------------
# The parent: generate, run every stage in a fresh process, print.
# --------------------------------------------------------------------------------------------------


_RUN_AS_MAIN = "runpy.run_module('benchmarks.pipeline_day', run_name='__main__', alter_sys=True)"


def run_stage_of(
    stage: str,
    root: Path,
    memory_limit: str,
    url: str | None = None,
    library: str | None = None,
    spark: list[str] | None = None,
) -> dict[str, Any]:
    """One stage in a child process (with `library`'s revolt_pipeline if given, on Spark with `spark`'s options if
    given); its figures."""
    command = [sys.executable, "-m", "benchmarks.pipeline_day"]
    if library:  # another checkout's revolt_pipeline first on the path, this benchmark's code around it
        command[1:] = ["-c", f"import runpy, sys; sys.path.insert(0, {library!r}); {_RUN_AS_MAIN}"]
    command += ["--child", stage, "--root", str(root), "--memory-limit", memory_limit]
    if url:
        command += ["--url", url]
    if spark is not None:
        command += ["--engines", "spark", *spark]
    # Temporary files (DuckDB's spill folder, the assets' work folders) go under the benchmark's folder, and with
    # the stage: the next stage reads the lake, and a kept folder (--folder) must not grow by a day each run.
    scratch = root / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        finished = subprocess.run(
            command,
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
            # Spark binds to 127.0.0.1 only (STACK-NOTES), whatever the machine's first address is.
            env={"SPARK_LOCAL_IP": "127.0.0.1", **os.environ, "TMPDIR": str(scratch)},
            check=False,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if finished.returncode != 0:
        sys.stderr.write(finished.stderr)
        raise SystemExit(f"stage {stage} failed (exit {finished.returncode})")
    figures = json.loads(finished.stdout.strip().splitlines()[-1])
    # As each stage ends, so that a long run stopped half-way leaves what it measured.
    print(
        f"  {stage} on {'spark' if spark is not None else 'duckdb'} ({root.name}): {figures['seconds']:.2f} s, "
        f"{figures['cpu']:.1f} CPU s, peak RSS {figures['peak_rss_mb']:,.0f} MB; load average {_load_average()}",
        flush=True,
    )
    return figures


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
    generated = landed_day(root, events, args.files_per_hour)
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


def landed_day(root: Path, events: int, files_per_hour: int) -> Generated:
    """The landed day of `events` under `root/store`: generated, or the one a former run left there (`--folder`)
    if it was generated from the same seed and file split; the generator's figures are kept beside it."""
    seed = SEED + events
    recorded = root / "generated.json"
    wanted = {"seed": seed, "files_per_hour": files_per_hour}
    if recorded.exists():
        known = json.loads(recorded.read_text())
        if {key: known.get(key) for key in wanted} == wanted and known["generated"]["events"] == events:
            return Generated(**known["generated"])
    shutil.rmtree(root, ignore_errors=True)
    generated = generate_day(root / "store", events, files_per_hour, seed)
    recorded.write_text(json.dumps({**wanted, "generated": dataclasses.asdict(generated)}))
    return generated


# Parquet files of at most this many rows are compared row for row and value for value (the Spark tests' comparison);
# larger ones (raw events, events, sessionized events) by row count and an order-free fingerprint of every column.
COMPARED_ROW_FOR_ROW = 50_000


@dataclasses.dataclass
class Agreement:
    """What comparing the two engines' lakes found."""

    objects: int = 0
    parquet_files: int = 0
    rows: int = 0
    row_for_row: int = 0
    fingerprinted: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        verdict = "AGREE" if not self.problems else f"DIFFER ({len(self.problems)})"
        found = "".join(f"\n  {problem}" for problem in self.problems[:20])
        return (
            f"{verdict}  DuckDB's and Spark's lakes: {self.objects} objects, {self.parquet_files} Parquet files of "
            f"{self.rows:,} rows in all; {self.row_for_row} compared row for row and value for value, "
            f"{self.fingerprinted} (over {COMPARED_ROW_FOR_ROW:,} rows) by row count and a fingerprint of each column"
            f"{found}"
        )


def _lake_objects(store: Path) -> dict[str, Path]:
    """The lake's objects by key, the landed day and watermarks (the input, shared) left out."""
    return {
        key: path
        for path in sorted(store.rglob("*"))
        if path.is_file() and not (key := str(path.relative_to(store))).startswith(("landing/", "watermarks/"))
    }


def _fingerprint(connection: Any, path: Path) -> tuple[list[tuple[str, str]], list[Any]]:
    """The file's columns (name, DuckDB type; JSON read as the text it is, as Spark writes it) and, in one scan, its
    row count and an order-free sum of hashes of each column's values as text (doubles rounded to 9 decimals: sums
    depend on the order they are added in)."""
    from revolt_pipeline.transforms.engine import sql_string

    source = f"read_parquet({sql_string(str(path))})"
    columns = [
        (name, kind.replace("JSON", "VARCHAR"))
        for name, kind, *_ in connection.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    ]
    sums = []
    for name, kind in columns:
        value = f'"{name}"'
        if kind in ("DOUBLE", "FLOAT"):
            value = f"round({value}, 9)"
        sums.append(f"sum(hash(CAST({value} AS VARCHAR)))::HUGEINT")
    (figures,) = connection.execute(f"SELECT count(*), {', '.join(sums)} FROM {source}").fetchall()
    return columns, list(figures)


def compare_lakes(duckdb_store: Path, spark_store: Path, memory_limit: str | None) -> Agreement:
    """The two engines' lakes: the same objects, each Parquet file with the same columns, row count and values
    (row for row up to `COMPARED_ROW_FOR_ROW` rows, by column fingerprints beyond), JSON documents equal as parsed."""
    import pyarrow.parquet as pq

    from revolt_pipeline.transforms.engine import duckdb_connection
    from revolt_pipeline_tests.spark.compare import differences

    found = Agreement()
    duck, spark = _lake_objects(duckdb_store), _lake_objects(spark_store)
    if list(duck) != list(spark):
        found.problems.append(
            f"objects only on DuckDB {sorted(set(duck) - set(spark))}, only on Spark {sorted(set(spark) - set(duck))}"
        )
    found.objects = len(duck)
    with duckdb_connection(memory_limit=memory_limit) as connection:
        for key in sorted(set(duck) & set(spark)):
            if key.endswith(".json"):
                if json.loads(duck[key].read_text()) != json.loads(spark[key].read_text()):
                    found.problems.append(f"{key}: the documents differ")
                continue
            if not key.endswith(".parquet"):
                if duck[key].read_bytes() != spark[key].read_bytes():
                    found.problems.append(f"{key}: the bytes differ")
                continue
            found.parquet_files += 1
            rows, spark_rows = pq.read_metadata(duck[key]).num_rows, pq.read_metadata(spark[key]).num_rows
            found.rows += rows
            if rows != spark_rows:
                found.problems.append(f"{key}: {rows:,} rows on DuckDB, {spark_rows:,} on Spark")
            elif rows <= COMPARED_ROW_FOR_ROW:
                found.row_for_row += 1
                found.problems += [
                    f"{key}: {difference}"
                    for difference in differences(str(duck[key]), str(spark[key]), ordered=False)[:3]
                ]
            else:
                found.fingerprinted += 1
                (columns, figures), (spark_columns, spark_figures) = (
                    _fingerprint(connection, duck[key]),
                    _fingerprint(connection, spark[key]),
                )
                if columns != spark_columns:
                    found.problems.append(f"{key}: columns {columns} on DuckDB, {spark_columns} on Spark")
                else:
                    differing = [
                        name for (name, _), a, b in zip(columns, figures[1:], spark_figures[1:], strict=True) if a != b
                    ]
                    if differing:
                        found.problems.append(f"{key}: the values of {', '.join(differing)} differ")
    return found


def _spark_root(root: Path) -> Path:
    """Spark's copy of the day: its own store, the landed files hard-linked from DuckDB's (no second copy on disk)."""
    spark_root = root / "spark"
    landing = spark_root / "store/landing"
    if not landing.exists():
        shutil.copytree(root / "store/landing", landing, copy_function=os.link)
        shutil.copytree(root / "store/watermarks", spark_root / "store/watermarks")
    return spark_root


def _spark_options(args: argparse.Namespace) -> list[str]:
    options = ["--spark-master", args.spark_master, "--spark-driver-memory", args.spark_driver_memory]
    return options + [part for setting in args.spark_conf for part in ("--spark-conf", setting)]


def measure_day(
    root: Path, events: int, args: argparse.Namespace, postgres: Any, why_not: str, repeat: int
) -> dict[str, Any]:
    """Every stage once on the landed day under `root`, on each engine, with the floor measured around them; prints
    the figures."""
    if args.repeat > 1:
        print(f"\n--- {events:,} events, repeat {repeat} of {args.repeat} (load average {_load_average()}) ---")
    # The floor is the yardstick of every ratio: the median of up to --floor-runs runs, the first before the
    # stages and the others after them, so that it samples the machine's load over the run (a floor run takes
    # about 1.5 s a million events on two cores; no more than a minute of them).
    limit = args.memory_limit
    library = str(args.library.resolve()) if args.library else None

    def run_stage(
        stage: str, root: Path, memory_limit: str, url: str | None = None, spark: bool = False
    ) -> dict[str, Any]:
        return run_stage_of(stage, root, memory_limit, url, library, _spark_options(args) if spark else None)

    loads = [_load_average()]
    floors = [run_stage("floor", root, limit)]
    parse = run_stage("parse", root, limit)
    duck: dict[str, dict[str, Any]] = {}
    if "duckdb" in args.engines:
        duck["raw"] = run_stage("raw", root, limit)
        duck["clean"] = run_stage("clean", root, limit)
        duck["sqlite"] = run_stage("report", root, limit, f"sqlite:///{root / 'reports.sqlite'}")
        if postgres is not None:
            name = f"bench_{events}"
            postgres.drop_database(name)
            duck["pg"] = run_stage("report", root, limit, postgres.create_database(name))
        loads.append(_load_average())
    spark: dict[str, dict[str, Any]] = {}
    if "spark" in args.engines:
        spark_root = _spark_root(root)
        spark["raw"] = run_stage("raw", spark_root, limit, spark=True)
        spark["clean"] = run_stage("clean", spark_root, limit, spark=True)
        # The report tables are loaded from the lake's files by Python, whichever engine wrote them.
        spark["sqlite"] = run_stage("report", spark_root, limit, f"sqlite:///{spark_root / 'reports.sqlite'}")
        loads.append(_load_average())
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
    ]
    whole: dict[str, tuple[str, float, float, float]] = {}
    if duck:
        raw, clean, sqlite, pg = duck["raw"], duck["clean"], duck["sqlite"], duck.get("pg")
        rows += [
            row("a. raw: build_raw_day", raw),
            row("b. clean + sessionize + aggregates", clean),
            row("c. report tables -> SQLite", sqlite),
        ]
        if pg is not None:
            rows.append(row("c. report tables -> PostgreSQL", pg))
        whole["duckdb"] = row("d. whole day (a + b + c SQLite)", raw, clean, sqlite)
        rows.append(whole["duckdb"])
        if pg is not None:
            whole["duckdb"] = row("d. whole day (a + b + c PostgreSQL)", raw, clean, pg)
            rows.append(whole["duckdb"])
    if spark:
        master = args.spark_master
        sessions = {name: spark[name]["steps"].get("spark_session", 0.0) for name in ("raw", "clean")}
        rows += [
            row(f"a. raw on Spark {master}", spark["raw"]),
            row(f"b. clean + sessionize + aggr. on Spark {master}", spark["clean"]),
            row("c. report tables -> SQLite, Spark's lake", spark["sqlite"]),
        ]
        whole["spark"] = row(
            f"d. whole day on Spark {master} (a + b + c)", spark["raw"], spark["clean"], spark["sqlite"]
        )
        rows.append(whole["spark"])
    print(
        f"\n{'stage':<44}{'seconds':>9}{'CPU s':>8}{'events/s':>12}{'peak RSS MB':>13}{'x floor':>9}{'CPU x floor':>13}"
    )
    for label, seconds, cpu, rss in rows:
        print(
            f"{label:<44}{seconds:>9.2f}{cpu:>8.1f}{events / seconds:>12,.0f}{_mb(rss):>13}"
            f"{seconds / floor_s:>9.2f}{cpu / floor['cpu']:>13.2f}"
        )
    if duck and pg is None:
        print(f"c. report tables -> PostgreSQL: {why_not}")
    floor_runs = ", ".join(f"{run['seconds']:.2f} s ({run['cpu']:.1f} CPU s)" for run in floors)
    print(f"\nfloor runs (the first before the stages): {floor_runs}")
    stages = (("raw", "raw"), ("clean", "clean"), ("report SQLite", "sqlite"), ("report PostgreSQL", "pg"))
    for engine, runs in (("DuckDB", duck), ("Spark", spark)):
        for name, key in stages:
            run = runs.get(key)
            if run is None:
                continue
            label = f"{name} on {engine}" if spark else name
            print(f"steps of {label}: " + ", ".join(f"{step} {s:.2f}" for step, s in run["steps"].items()))
            if run["statements"]:
                slowest = sorted(run["statements"].items(), key=lambda item: -item[1])
                cpu = run["statements_cpu"]
                print(
                    f"  {engine} statements of {label} (s / CPU s): "
                    + ", ".join(f"{statement} {s:.2f} / {cpu[statement]:.2f}" for statement, s in slowest if s >= 0.005)
                )
    for engine, runs in (("duckdb", duck), ("spark", spark)):
        if runs:
            raw, clean, sqlite = runs["raw"], runs["clean"], runs["sqlite"]
            print(
                f"{engine}: raw rows {raw['rows']:,} by assigned date {raw['rows_by_assigned_date']}, nulls "
                f"{raw['null_counts']}; cleaned {clean['events']:,} of {clean['assigned_rows']:,} assigned (repeated "
                f"ids {clean['repeated_ids']}, reconciled {clean['reconciled']}), quarantined {clean['quarantined']}; "
                f"{clean['sessions']:,} sessions, {clean['sessionized_events']:,} of {clean['cleaned_events']:,} "
                f"events sessionized, {clean['without_session']} without one, {clean['bad_session_bounds']} with bad "
                f"bounds; report rows {sqlite['loaded']}"
            )

    result: dict[str, Any] = {"events": events, "floor": floor_s, "bars": [], "loads": loads}
    if duck:
        _, whole_s, whole_cpu, peak = whole["duckdb"]
        day_ratio = whole_s / floor_s
        bars = [
            (f"d. whole day <= {DAY_BAR:g}x floor", day_ratio <= DAY_BAR, f"{day_ratio:.2f}x"),
            (f"d. whole day <= {DAY_MOONSHOT:g}x floor (moonshot)", day_ratio <= DAY_MOONSHOT, f"{day_ratio:.2f}x"),
        ]
        if events >= MEMORY_BAR_EVENTS:
            bars.append((f"peak RSS < {MEMORY_BAR_MB / 1024:g} GB", peak < MEMORY_BAR_MB, f"{peak:,.0f} MB"))
        for label, ok, figure in bars:
            print(f"{_verdict(ok)}  {label}: {figure}")
        print(
            f"whole day CPU seconds / floor CPU seconds: {whole_cpu / floor['cpu']:.2f}x; "
            f"load average {_load_average()}"
        )
        result |= {"day": day_ratio, "day_cpu": whole_cpu / floor["cpu"], "peak": peak, "bars": bars}
    if spark:
        _, whole_s, whole_cpu, peak = whole["spark"]
        print(
            f"Spark {args.spark_master} (driver memory {args.spark_driver_memory}): whole day {whole_s / floor_s:.2f}x "
            f"the floor, CPU {whole_cpu / floor['cpu']:.2f}x the floor's, peak RSS {peak:,.0f} MB (JVM included); "
            f"session start {sessions['raw']:.1f} s (raw), {sessions['clean']:.1f} s (clean)"
        )
        result |= {
            "spark_day": whole_s / floor_s,
            "spark_day_cpu": whole_cpu / floor["cpu"],
            "spark_peak": peak,
            "spark_sessions": sessions,
        }
        if duck:
            for stage in ("raw", "clean"):
                print(
                    f"  Spark / DuckDB, {stage}: {spark[stage]['seconds'] / duck[stage]['seconds']:.2f}x wall, "
                    f"{spark[stage]['cpu'] / duck[stage]['cpu']:.2f}x CPU"
                )
            agreement = compare_lakes(root / "store", _spark_root(root) / "store", args.memory_limit)
            if duck["sqlite"]["loaded"] != spark["sqlite"]["loaded"]:
                agreement.problems.append(f"report rows: {duck['sqlite']['loaded']} and {spark['sqlite']['loaded']}")
            print(agreement.summary())
            result["agree"] = not agreement.problems
    print(f"load average before, after each engine: {' / '.join(loads)}")
    return result


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
    parser.add_argument(
        "--engines",
        type=lambda text: text.split(","),
        default=["duckdb"],
        help="build the day on each of these, in the same run: duckdb, spark or duckdb,spark [duckdb]",
    )
    parser.add_argument("--spark-master", default="local[2]", help="Spark's master [local[2]]")
    parser.add_argument("--spark-driver-memory", default="3g", help="the local Spark JVM's heap [3g]")
    parser.add_argument(
        "--spark-conf", action="append", default=[], metavar="KEY=VALUE", help="a Spark setting; may be repeated"
    )
    parser.add_argument(
        "--folder",
        type=Path,
        help="work in this folder and keep it; a landed day a former run left there is used again (same size, seed "
        "and files per hour)",
    )
    args = parser.parse_args()
    unknown = set(args.engines) - {"duckdb", "spark"}
    if unknown or not args.engines:
        parser.error(f"--engines: duckdb, spark or both, not {','.join(args.engines)}")
    args.engine = args.engines[0]  # a stage's (child's) one engine
    if args.child:
        child(args.child, args.root, args)
        return
    if args.folder:
        args.keep = True
    if args.memory_limit is None:  # the settings are read here, once, and passed down to every stage
        from revolt_pipeline.settings import Settings

        args.memory_limit = Settings.from_env().duckdb_memory_limit
    sizes = [200_000] if args.quick else args.events
    if args.folder:
        base = args.folder.resolve()
        base.mkdir(parents=True, exist_ok=True)
    else:
        base = Path(tempfile.mkdtemp(prefix="pipeline-day-bench-"))
    base.chmod(0o755)  # the throwaway PostgreSQL cluster lives here too, run by the postgres user
    tempfile.tempdir = str(base)
    print(
        f"pipeline_day: {', '.join(f'{n:,}' for n in sizes)} events; {os.cpu_count()} cores; "
        f"Python {sys.version.split()[0]}, duckdb {_version('duckdb')}, pyarrow {pa.__version__}; "
        f"DuckDB memory limit {args.memory_limit}; engines {','.join(args.engines)}{_spark_version(args)}; "
        f"folder {base}; "
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
        line = f"{result['events']:>10,} events: floor {result['floor']:.2f} s"
        if "day" in result:
            verdicts = "; ".join(
                f"{_verdict(ok)} {label.split(':')[0]} ({figure})" for label, ok, figure in result["bars"]
            )
            line += f"; {verdicts}; CPU {result['day_cpu']:.2f}x the floor's"
        if "spark_day" in result:
            line += (
                f"; Spark {args.spark_master}: whole day {result['spark_day']:.2f}x the floor, CPU "
                f"{result['spark_day_cpu']:.2f}x, peak RSS {result['spark_peak']:,.0f} MB"
            )
            if "agree" in result:
                line += "; outputs agree" if result["agree"] else "; OUTPUTS DIFFER"
        print(line + f"; load average {' / '.join(result['loads'])}")
    if args.keep:
        print(f"kept {base}")


def _load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _version(module: str) -> str:
    return __import__(module).__version__


def _spark_version(args: argparse.Namespace) -> str:
    if "spark" not in args.engines:
        return ""
    return f" (pyspark {_version('pyspark')}, {args.spark_master}, driver memory {args.spark_driver_memory})"


if __name__ == "__main__":
    main()
