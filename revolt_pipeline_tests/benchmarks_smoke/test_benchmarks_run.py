"""The benchmarks still run and print their figures, at their smallest size (the figures are not judged).

They are run as benchmarks/README.md says, as child processes from the checkout, so a refactoring of
the layer library they call, or of their own options, cannot leave them broken until the next time
someone measures.
"""

import re
import subprocess
import sys
from pathlib import Path

from revolt_pipeline_tests.deployment.processes import REPOSITORY, clean_environment

TIMEOUT_S = 180
NUMBER = r"[\d,.]+"


def run_module(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPOSITORY,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


def test_pipeline_day_runs_every_stage_of_a_small_day_and_prints_its_figures() -> None:
    # `--quick` is 200,000 events; a thousand go through the same stages in a few seconds.
    result = run_module(
        "benchmarks.pipeline_day", "--events", "1000", "--no-postgres", "--floor-runs", "1", "--files-per-hour", "1"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "=== 1,000 events, received day" in out, out
    # Each stage's seconds, CPU seconds, events/s, peak RSS and ratio to the floor.
    for stage in (
        "floor: gunzip, ",
        "   parse: DuckDB read_json of the envelope",
        "a. raw: build_raw_day",
        "b. clean + sessionize + aggregates",
        "c. report tables -> SQLite",
        "d. whole day (a + b + c SQLite)",
    ):
        figures = rf"^{re.escape(stage)}.*?\s{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}$"
        assert re.search(figures, out, re.MULTILINE), f"no figures for {stage}:\n{out}"
    assert "c. report tables -> PostgreSQL: skipped (--no-postgres)" in out
    # What the stages built was checked, not only timed.
    assert "reconciled True" in out and "0 without one, 0 with bad bounds" in out, out
    assert re.search(r"report rows \{'daily_active_users': [1-9]", out), out
    assert re.search(r"^(PASS|MISS)  d\. whole day <= 5x floor: [\d.]+x$", out, re.MULTILINE), out
    assert re.search(r"^whole day CPU seconds / floor CPU seconds: [\d.]+x", out, re.MULTILINE), out
    assert re.search(r"=== summary \(\d+ s in all\) ===\n\s+1,000 events: floor [\d.]+ s; ", out), out


def test_collector_throughput_measures_the_collector_against_the_bare_endpoint_in_one_run() -> None:
    result = run_module("benchmarks.collector_throughput", "--seconds", "1", "--rounds", "1", "--no-sdk")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for endpoint in ("bare endpoint (json.loads, a line per event, fsync)", "bare endpoint (the body's bytes, fsync)"):
        assert re.search(rf"^  {re.escape(endpoint)}: {NUMBER} events/s acknowledged", out, re.MULTILINE), out
    assert re.search(rf"^  collector: {NUMBER} events/s acknowledged", out, re.MULTILINE), out
    assert re.search(r"^(PASS|MISS)  collector / bare endpoint \(json\.loads.*>= 0\.6x: median [\d.]+x", out, re.M), out
    assert "every acknowledged event landed: True" in out, out


def test_synthetic_day_documents_its_options_and_writes_a_landed_day(tmp_path: Path) -> None:
    usage = run_module("benchmarks.synthetic_day", "--help")
    assert usage.returncode == 0, usage.stderr
    for option in ("folder", "--events", "--files-per-hour", "--seed"):
        assert option in usage.stdout, usage.stdout

    written = run_module("benchmarks.synthetic_day", str(tmp_path), "--events", "500", "--files-per-hour", "1")
    assert written.returncode == 0, written.stdout + written.stderr
    figures = re.search(
        r"^500 landed lines of (\S+) in .* \((\d+) files, .*identical to landed_record's$", written.stdout
    )
    assert figures, written.stdout
    landed = list((tmp_path / "landing" / f"received_date={figures.group(1)}").glob("hour=*/*.jsonl.gz"))
    assert len(landed) == int(figures.group(2)) > 0
    assert list((tmp_path / "watermarks").glob("*.json"))


def test_funnels_history_builds_a_small_history_and_prints_its_ratio() -> None:
    result = run_module("benchmarks.funnels_history", "--people", "500", "--history", "2", "3", "--repeat", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for history in (2, 3):
        assert re.search(rf"one more day after\s+{history} days of history: {NUMBER} s .* funnel entries", out), out
    assert re.search(r"^(PASS|MISS)  3 days / 2 days of history: [\d.]+x \(bar 2.0x\)$", out, re.MULTILINE), out


def test_people_history_builds_a_small_history_and_prints_its_ratios() -> None:
    result = run_module("benchmarks.people_history", "--people", "500", "--history", "2", "3", "--repeat", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for history in (2, 3):
        assert re.search(
            rf"^one more day after\s+{history} days of history: people and actives {NUMBER} s .* lifecycle and "
            rf"retention {NUMBER} s .* both {NUMBER} s$",
            out,
            re.MULTILINE,
        ), out
    for what in ("people and actives", "lifecycle and retention", "both"):
        assert re.search(
            rf"^(PASS|MISS)  {what}: 3 days / 2 days of history: [\d.]+x \(bar 2.0x\)$", out, re.MULTILINE
        ), out
