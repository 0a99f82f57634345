"""What the lake's contract costs at least, against the floor of decompressing the landed day, in one run.

The day bar of issue 11 (`pipeline_day`: the whole day at most 5x decompressing it) asks how close the pipeline
can come. This measures the least work the lake's layout asks for, each part a single DuckDB statement written
as plainly as it can be, so that the bar can be read against what the layout alone costs:

- lines: every landed line as received into Parquet (the least a raw layer that keeps what was sent writes);
- raw, envelope and ids: the typed envelope and the identities the pipeline pulls out, nothing else kept;
- raw, with the message: the same plus each message's text exactly as sent (issue 6);
- raw: the pipeline's own `raw_events_query`, which also keeps context, properties and traits as JSON;
- events: the first delivery of each message with its fifteen context fields, read from raw's file;
- sessions: each event's session number (30 minutes apart): a gap, then a running sum, over the events' file.

No quarantine, lateness, clock skew, person stitching, countries, profile, aggregates or report tables: the
pipeline does all of these besides, though it may do a part more cheaply (it decides on a few columns and joins
back, where this sorts whole rows).

    python -m benchmarks.day_lower_bound [--events 1000000] [--rounds 2] [--folder DIR]
"""

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.pipeline_day import DAY_BAR, Steps, _landed_files, landed_day, stage_floor
from revolt_pipeline.transforms.cleaning import CONTEXT_FIELDS
from revolt_pipeline.transforms.engine import copy_to_parquet_sql, duckdb_connection, parquet, sql_string
from revolt_pipeline.transforms.raw import landed_lines_sql, raw_events_query
from revolt_pipeline.transforms.rules import PipelineRules

ENVELOPE_AND_IDS = (
    "message_id, type, received_at, sent_at, original_timestamp, timestamp, clock_skew_ms, source, platform, "
    "collector, message_id_generated, user_id, anonymous_id, event_name, previous_id, group_id, client_ip, ip_country"
)
# The parts of the least day: the pipeline's raw table, then the events and sessions read from it.
LEAST_DAY = ("raw", "events", "sessions")


def _timed(work: Callable[..., object], *args: object) -> tuple[float, float]:
    """Wall-clock and CPU seconds of `work(*args)` (this process's CPU, DuckDB's threads included)."""
    wall, cpu = time.perf_counter(), time.process_time()
    work(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def _floor(root: Path) -> tuple[float, float]:
    """`pipeline_day`'s floor: the landed day decompressed on every core."""
    steps = Steps()
    stage_floor(root, steps, argparse.Namespace())
    return steps.seconds["gunzip"], steps.cpu


def statements(landed: list[str], out: Path) -> dict[str, str]:
    """Each part's COPY, in the order they run (each later one reads the files of the earlier ones)."""
    raw = raw_events_query(landed)
    context = ", ".join(
        f"json_extract_string(context, {sql_string(path)}) AS {name}" for name, path in CONTEXT_FIELDS.items()
    )
    person = "coalesce(user_id, anonymous_id)"
    timeout = PipelineRules().session_timeout.total_seconds()
    window = f"OVER (PARTITION BY {person} ORDER BY timestamp, message_id)"
    queries = {
        "lines": f"SELECT line FROM {landed_lines_sql(landed)}",
        "raw, envelope and ids": f"SELECT {ENVELOPE_AND_IDS} FROM ({raw})",
        "raw, with the message": f"SELECT {ENVELOPE_AND_IDS}, message FROM ({raw})",
        "raw": raw,
        "events": f"SELECT * EXCLUDE (message, batch_context), {context} FROM {parquet(str(out / 'raw.parquet'))} "
        f"QUALIFY row_number() OVER (PARTITION BY message_id ORDER BY received_at) = 1",
        "sessions": f"SELECT message_id, {person} AS person_id, "
        f"sum(CASE WHEN gap IS NULL OR gap > {timeout} THEN 1 ELSE 0 END) {window} AS session_number "
        f"FROM (SELECT *, epoch(timestamp) - epoch(lag(timestamp) {window}) AS gap "
        f"FROM {parquet(str(out / 'events.parquet'))})",
    }
    # Each part its own file: events reads the pipeline's raw, sessions the events.
    files = {name: out / f"{name.replace(', ', '-').replace(' ', '_')}.parquet" for name in queries}
    return {name: copy_to_parquet_sql(query, str(files[name])) for name, query in queries.items()}


def measure(root: Path, memory_limit: str, rounds: int) -> None:
    landed = [str(path) for path in _landed_files(root)]
    with tempfile.TemporaryDirectory(prefix="revolt-lower-bound-", dir=root) as out:
        copies = statements(landed, Path(out))
        for round_number in range(1, rounds + 1):
            floor = _floor(root)
            print(f"\n-- round {round_number}, load average {os.getloadavg()[0]:.1f}")
            print(f"{'part':38} {'seconds':>8} {'CPU s':>7} {'x floor':>8} {'x floor CPU':>12}")
            print(f"{'floor: gunzip':38} {floor[0]:8.2f} {floor[1]:7.2f}")
            measured: dict[str, tuple[float, float]] = {}
            for name, copy in copies.items():
                with duckdb_connection(memory_limit=memory_limit) as connection:
                    measured[name] = _timed(connection.execute, copy)
                wall, cpu = measured[name]
                print(f"{name:38} {wall:8.2f} {cpu:7.2f} {wall / floor[0]:7.2f}x {cpu / floor[1]:11.2f}x")
            wall = sum(measured[name][0] for name in LEAST_DAY)
            cpu = sum(measured[name][1] for name in LEAST_DAY)
            verdict = "within" if wall / floor[0] <= DAY_BAR else "beyond"
            print(
                f"{'least day: ' + ' + '.join(LEAST_DAY):38} {wall:8.2f} {cpu:7.2f} {wall / floor[0]:7.2f}x "
                f"{cpu / floor[1]:11.2f}x  ({verdict} the day bar of {DAY_BAR:g}x before the pipeline's other work)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--files-per-hour", type=int, default=4)
    parser.add_argument("--memory-limit", default=os.environ.get("REVOLT_DUCKDB_MEMORY_LIMIT", "3GB"))
    parser.add_argument("--folder", type=Path, help="work in this folder and keep the landed day for the next run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="revolt-lower-bound-") as temporary:
        root = (args.folder or Path(temporary)) / f"day-{args.events}"
        generated = landed_day(root, args.events, args.files_per_hour)
        print(
            f"day_lower_bound: {generated.events:,} landed lines in {len(_landed_files(root))} files; "
            f"{os.cpu_count()} cores; DuckDB memory limit {args.memory_limit}"
        )
        measure(root, args.memory_limit, args.rounds)


if __name__ == "__main__":
    main()
