"""The README lists every report table and every view, and nothing that is neither: a table or view added later
fails here until the README says what it answers."""

import re
from pathlib import Path

from revolt_pipeline.reports import schema
from revolt_pipeline.reports.views import VIEWS

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Report tables"


def listed() -> set[str]:
    """The names in code in the first cell of each row of the section's tables."""
    text = README.read_text()
    assert f"\n{SECTION}\n" in text, f"the README has no section '{SECTION}'"
    section = text.split(f"\n{SECTION}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|")[0] for line in section.splitlines() if line.startswith("| `")]
    return {name for cell in rows for name in re.findall(r"`([a-z0-9_]+)`", cell)}


def test_the_readme_lists_every_report_table_and_view() -> None:
    made = {table.name for table in schema.metadata.sorted_tables} | {view.name for view in VIEWS}
    assert made - listed() == set(), f"add a line for each to the README's '{SECTION}' (one row: what it answers)"
    assert listed() - made == set(), f"the README's '{SECTION}' lists tables or views no longer made"
