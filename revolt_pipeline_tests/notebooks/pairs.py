"""The notebooks of notebooks/ and how a pair (.py, the source of truth, and .ipynb) is compared."""

from pathlib import Path

import jupytext
import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SYNC = "run `jupytext --sync notebooks/*.py` (the .py is the source of truth)"


def sources() -> list[Path]:
    """Every notebook's .py, in order."""
    return sorted(NOTEBOOKS.glob("*.py"))


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
