"""Each notebook is a pair in step: the .py (jupytext's percent format, the source of truth) and the .ipynb
JupyterLab opens, committed without outputs, so diffs show code and prose only."""

import shutil
from pathlib import Path

import nbformat
import pytest

from revolt_pipeline_tests.notebooks.pairs import NOTEBOOKS, SYNC, differences, sources


def test_there_are_notebooks_to_check() -> None:
    assert [source.stem for source in sources()] == [
        "01_events_sessions_people",
        "02_retention",
        "03_funnels",
        "04_churn_model",
        "05_segments",
    ], "a new notebook: add it here and to notebooks/README.md"


@pytest.mark.parametrize("source", sources(), ids=lambda path: path.stem)
def test_the_ipynb_holds_the_cells_of_its_py(source: Path) -> None:
    assert differences(source, source.with_suffix(".ipynb")) == [], SYNC


def test_every_ipynb_has_its_py() -> None:
    assert [path.name for path in NOTEBOOKS.glob("*.ipynb") if not path.with_suffix(".py").exists()] == []


@pytest.mark.parametrize("stored", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda path: path.stem)
def test_a_committed_notebook_carries_no_outputs(stored: Path) -> None:
    notebook = nbformat.read(stored, as_version=4)
    run = [
        number
        for number, cell in enumerate(notebook.cells, start=1)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert run == [], f"clear them: jupyter nbconvert --clear-output --inplace {stored.name}"
    assert notebook.metadata.kernelspec.name == "python3"


def test_the_check_finds_a_pair_out_of_step(tmp_path: Path) -> None:
    """Edited on one side only: a changed line, and a cell added to the .py."""
    source = sources()[0]
    stored = tmp_path / source.with_suffix(".ipynb").name
    shutil.copy(source.with_suffix(".ipynb"), stored)
    edited = tmp_path / source.name
    edited.write_text(source.read_text().replace("lab = Lab(", "lab  = Lab(", 1) + "\n# %%\nprint('more')\n")
    found = differences(edited, stored)
    assert len(found) == 2
    assert found[0].startswith("cell 2:") and "lab  = Lab(" in found[0]
    assert "cells" in found[1]
    assert differences(edited, tmp_path / "missing.ipynb") == [f"missing.ipynb is missing: {SYNC}"]
