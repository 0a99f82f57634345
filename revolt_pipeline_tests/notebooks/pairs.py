"""The notebooks of notebooks/ and how a pair (.py, the source of truth, and .ipynb) is compared."""

from pathlib import Path

import jupytext
import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SYNC = "run `jupytext --sync notebooks/*.py` (the .py is the source of truth)"


# The notebooks of the models: they need a history long enough to train on (`revolt demo --ml`), so they run on
# the ML tests' lake (revolt_pipeline_tests/ml/test_ml_notebooks.py), not on the default demo's week.
ML_NOTEBOOKS = ("04_churn_model", "05_segments")


def sources() -> list[Path]:
    """Every notebook's .py, in order."""
    return sorted(NOTEBOOKS.glob("*.py"))


def demo_sources() -> list[Path]:
    """The notebooks that read what `revolt demo` (its default week) writes."""
    return [source for source in sources() if source.stem not in ML_NOTEBOOKS]


def ml_sources() -> list[Path]:
    """The notebooks of the models, which read what `ml_job` writes."""
    return [source for source in sources() if source.stem in ML_NOTEBOOKS]


def read(source: Path) -> nbformat.NotebookNode:
    """The notebook a .py holds, as jupytext reads it."""
    return jupytext.read(source)


def differences(source: Path, stored: Path) -> list[str]:
    """How the .ipynb `stored` differs from the .py `source`, cell by cell: kinds and text; none when in step."""
    if not stored.exists():
        return [f"{stored.name} is missing: {SYNC}"]
    want = [(cell.cell_type, cell.source) for cell in read(source).cells]
    got = [(cell.cell_type, cell.source) for cell in nbformat.read(stored, as_version=4).cells]
    found = [
        f"cell {number}: {stored.name} has {have!r}, {source.name} has {expected!r}"
        for number, (expected, have) in enumerate(zip(want, got, strict=False), start=1)
        if expected != have
    ]
    if len(want) != len(got):
        found.append(f"{source.name} has {len(want)} cells, {stored.name} {len(got)}")
    return found
