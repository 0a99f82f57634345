"""The dashboard benchmark still builds its data, serves every page and prints their figures, at a tiny size."""

import re

from revolt_pipeline.dashboard.urls import PAGES
from revolt_pipeline_tests.benchmarks_smoke.test_benchmarks_run import NUMBER, run_module


def test_dashboard_benchmark_times_every_page_in_both_views_beside_a_floor() -> None:
    result = run_module("benchmarks.dashboard", "--users", "20", "--days", "2", "--repeat", "1", "--no-postgres")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"^built \d+ event days \(.*\) in \d+ s: .*report rows$", out, re.MULTILINE), out
    assert "=== SQLite: revolt dashboard at http://127.0.0.1:" in out, out
    for view in ("default", "filtered"):
        for page in PAGES:
            row = rf"^{page}\s+{view}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+(PASS|MISS)$"
            assert re.search(row, out, re.MULTILINE), f"no figures for {page} ({view}):\n{out}"
    assert re.search(rf"^floor over the run: median {NUMBER} s, max {NUMBER} s$", out, re.MULTILINE), out
    assert "PostgreSQL: skipped (--no-postgres)" in out
    assert re.search(r"^(PASS|MISS)  slowest page: \w+ \((default|filtered), SQLite\) max [\d.]+ s", out, re.M), out
