"""Executing a notebook of notebooks/ as a user would: nbclient, a real kernel of this interpreter, and only the
REVOLT_* variables naming the settings' store and report database in the kernel's environment."""

import json
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from revolt_pipeline.settings import Settings

CELL_TIMEOUT_SECONDS = 120
KERNEL = "revolt-pipeline-tests"


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


def kernel_path(folder: Path) -> str:
    """A folder for JUPYTER_PATH holding a kernel spec of this interpreter: first on Jupyter's path, so a
    `python3` spec of the user's own (in ~/.local/share/jupyter) cannot run the notebooks on another Python."""
    spec = folder / "kernels" / KERNEL / "kernel.json"
    if not spec.exists():
        spec.parent.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        spec.write_text(json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"}))
    return str(folder)


def execute(notebook: nbformat.NotebookNode, settings: Settings, folder: Path) -> nbformat.NotebookNode:
    """Run every cell in `folder` (CellExecutionError on the first that raises); the notebook, with outputs."""
    client = NotebookClient(
        notebook,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT_SECONDS,
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute(env=environment(settings))
    return notebook


def outcome_problems(notebook: nbformat.NotebookNode, source_text: str) -> list[str]:
    """What is wrong with an executed notebook: a code cell not run, an error output, or plots missing where
    the source calls `plt.show()` (or present where it does not)."""
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    problems = [f"code cell {number} did not run" for number, cell in enumerate(code, 1) if not cell.execution_count]
    problems += [
        f"{output.ename}: {output.evalue}" for cell in code for output in cell.outputs if output.output_type == "error"
    ]
    images = [output for cell in code for output in cell.outputs if "image/png" in output.get("data", {})]
    if bool(images) != ("plt.show()" in source_text):
        problems.append("each plt.show() should leave a plot in the executed notebook")
    return problems
