"""Every notebook runs, top to bottom, on `revolt demo`'s data on both backends, reading it through the settings
alone.

Executed by nbclient in a real kernel of this interpreter, with only the REVOLT_* variables of the demo's
settings in its environment: a cell that raises fails the test with the cell's traceback.
"""

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from revolt_pipeline.settings import Settings
from revolt_pipeline_tests.notebooks.pairs import read, sources
from revolt_pipeline_tests.pipeline.conftest import DemoRun

pytestmark = pytest.mark.xdist_group("demo")  # embedded_demo is made once per worker: keep its readers on one

CELL_TIMEOUT_SECONDS = 120


def environment(settings: Settings) -> dict[str, str]:
    """This process's environment without its REVOLT_* variables, and those naming `settings`'s store and
    database: what a shell that ran `revolt demo` would hand to `jupyter lab`."""
    kept = {name: value for name, value in os.environ.items() if not name.startswith("REVOLT_")}
    named = {
        "REVOLT_HOME": str(settings.home),
        "REVOLT_STORAGE_URL": settings.storage_url,
        "REVOLT_REPORT_DB_URL": settings.report_db_url,
        "REVOLT_S3_REGION": settings.s3_region,
        "REVOLT_PARTITIONS_START": settings.partitions_start,
        "REVOLT_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
    }
    if settings.s3_endpoint_url:
        named["REVOLT_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
    return {**kept, **named}


KERNEL = "revolt-pipeline-tests"


@pytest.fixture(autouse=True)
def this_interpreters_kernel(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel spec of this interpreter, first on Jupyter's path: a `python3` spec of the user's own (in
    ~/.local/share/jupyter) would otherwise run the notebooks on another Python."""
    folder = tmp_path_factory.getbasetemp() / "jupyter"
    spec = folder / "kernels" / KERNEL / "kernel.json"
    if not spec.exists():
        spec.parent.mkdir(parents=True)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        spec.write_text(json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(folder))


def execute(notebook: nbformat.NotebookNode, settings: Settings, folder: Path) -> nbformat.NotebookNode:
    client = NotebookClient(
        notebook,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT_SECONDS,
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute(env=environment(settings))
    return notebook


@pytest.mark.parametrize("backend", ["embedded_demo", "production_demo"])
@pytest.mark.parametrize("source", sources(), ids=lambda path: path.stem)
def test_the_notebook_runs_on_the_demos_data(
    source: Path, backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """On a local folder and SQLite (the embedded default), and on S3 and PostgreSQL (production's backends)."""
    run: DemoRun = request.getfixturevalue(backend)
    executed = execute(read(source), run.settings, tmp_path)
    code = [cell for cell in executed.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
    errors = [output for cell in code for output in cell.outputs if output.output_type == "error"]
    assert errors == []
    images = [output for cell in code for output in cell.outputs if "image/png" in output.get("data", {})]
    plotted = "plt.show()" in source.read_text()
    assert bool(images) == plotted, "each plt.show() should leave a plot in the executed notebook"


def test_a_notebook_reading_a_home_without_data_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings reach the kernel: pointed at an empty home, the first read of the lake fails, and so does
    the test that executes it."""
    for name in [name for name in os.environ if name.startswith("REVOLT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("REVOLT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("REVOLT_PARTITIONS_START", "2026-10-01")
    empty = Settings.from_env()
    with pytest.raises(CellExecutionError, match=r"no lake layer 'events' in file:.*layers there: none"):
        execute(read(sources()[0]), empty, tmp_path)
