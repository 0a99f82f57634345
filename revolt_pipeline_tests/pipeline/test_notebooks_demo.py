"""Every notebook of the demo's data runs, top to bottom, on `revolt demo`'s data on both backends, reading it
through the settings alone (the models' notebooks run on a longer history: revolt_pipeline_tests/ml/
test_ml_notebooks.py).

Executed by nbclient in a real kernel of this interpreter, with only the REVOLT_* variables of the demo's
settings in its environment: a cell that raises fails the test with the cell's traceback.
"""

import os
from pathlib import Path

import pytest
from nbclient.exceptions import CellExecutionError

from revolt_pipeline.settings import Settings
from revolt_pipeline_tests.notebooks.execution import execute, kernel_path, outcome_problems
from revolt_pipeline_tests.notebooks.pairs import demo_sources, read
from revolt_pipeline_tests.pipeline.conftest import DemoRun

pytestmark = pytest.mark.xdist_group("demo")  # embedded_demo is made once per worker: keep its readers on one


@pytest.fixture(autouse=True)
def this_interpreters_kernel(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_PATH", kernel_path(tmp_path_factory.getbasetemp() / "jupyter"))


@pytest.mark.parametrize("backend", ["embedded_demo", "production_demo"])
@pytest.mark.parametrize("source", demo_sources(), ids=lambda path: path.stem)
def test_the_notebook_runs_on_the_demos_data(
    source: Path, backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """On a local folder and SQLite (the embedded default), and on S3 and PostgreSQL (production's backends)."""
    run: DemoRun = request.getfixturevalue(backend)
    executed = execute(read(source), run.settings, tmp_path)
    assert outcome_problems(executed, source.read_text()) == []


def test_a_notebook_reading_a_home_without_data_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings reach the kernel: pointed at an empty home, the first read of the lake fails, and so does
    the test that executes it."""
    for name in [name for name in os.environ if name.startswith("REVOLT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("REVOLT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("REVOLT_PARTITIONS_START", "2026-10-01")
    empty = Settings.from_env()
    with pytest.raises(CellExecutionError, match=r"no lake layer 'events' in file:.*layers there: none"):
        execute(read(demo_sources()[0]), empty, tmp_path)
