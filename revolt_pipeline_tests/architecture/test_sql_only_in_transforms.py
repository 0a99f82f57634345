"""SQL lives only in transforms/: the layer library and the Dagster definitions hold none of their own.

Read from every string literal (f-strings and concatenations included, docstrings aside) of every module
under layers/ and defs/, and from every call that makes SQL text (SQLAlchemy's `text()`). A query a layer
or an asset needs goes into the transforms module of its subject (docs/architecture.md), where the
transforms' tests run it.
"""

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import revolt_pipeline

PACKAGE = Path(revolt_pipeline.__file__).resolve().parent
WITHOUT_SQL = ("layers", "defs")
# SQLAlchemy's statement builders: SQL in Python's syntax. The report database's statements are built in
# reports/loader.py, beside its tables. Modules that still build their own; empty it as they are moved.
STATEMENT_BUILDERS = {"select", "insert", "update", "delete", "text", "func", "union", "union_all", "exists"}
STATEMENTS_NOT_YET_MOVED: set[str] = set()

# SQL as this project writes it (keywords in capitals), and the statements that read like SQL in any case.
SQL_PATTERNS = [
    re.compile(pattern, flags)
    for pattern, flags in (
        (r"\bSELECT\b[\s\S]*\bFROM\b", 0),
        (r"\bselect\s+(\*|count\s*\(|distinct\b|[\w.]+\s*,\s*[\w.]+[\s\S]*\bfrom\b)", re.IGNORECASE),
        (r"\bINSERT\s+(OR\s+\w+\s+)?INTO\b", re.IGNORECASE),
        (r"\bCREATE\s+(OR\s+REPLACE\s+)?(TEMP(ORARY)?\s+)?(TABLE|VIEW|INDEX|MACRO|SCHEMA|SEQUENCE)\b", re.IGNORECASE),
        (r"\bCOPY\b[\s\S]*\b(FROM|TO)\b", 0),
        (r"\bcopy\s*\(\s*select\b", re.IGNORECASE),
        (r"\bDELETE\s+FROM\b", 0),
        (r"\bUPDATE\s+\w+\s+SET\b", 0),
        (r"\b(DROP|ALTER|TRUNCATE)\s+(TABLE|VIEW|INDEX|SCHEMA)\b", re.IGNORECASE),
        (r"\bWITH\s+\w+\s+AS\s*\(", 0),
        (r"\b(PRAGMA|ATTACH|DETACH)\b\s+\w", 0),
        (r"\bSET\s+\w+\s*(=|\bTO\b)", 0),
        (r"\b(read_parquet|parquet_scan|read_json(_auto|_objects)?|read_csv(_auto)?|read_ndjson)\s*\(", re.IGNORECASE),
    )
]


def docstrings(tree: ast.Module) -> set[int]:
    """The ids of the module's, classes' and functions' docstring nodes."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def literals(source: str) -> Iterator[tuple[int, str]]:
    """Every string literal of `source` with its line: an f-string as one text, its values as `{}`."""
    tree = ast.parse(source)
    skipped = docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [part.value if isinstance(part, ast.Constant) else "{}" for part in node.values]
            skipped |= {id(part) for part in node.values}
            yield node.lineno, "".join(str(part) for part in parts)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped:
            yield node.lineno, node.value


def sqlalchemy_uses(source: str, names: set[str]) -> Iterator[int]:
    """Lines that use one of SQLAlchemy's top-level `names` (as `sa.name` or imported by name)."""
    tree = ast.parse(source)
    aliases = {"sqlalchemy"}
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases |= {alias.asname or alias.name for alias in node.names if alias.name == "sqlalchemy"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            imported |= {alias.asname or alias.name for alias in node.names if alias.name in names}
    for node in ast.walk(tree):
        by_name = isinstance(node, ast.Name) and node.id in imported and isinstance(node.ctx, ast.Load)
        qualified = (
            isinstance(node, ast.Attribute)
            and node.attr in names
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
        )
        if by_name or qualified:
            yield node.lineno


def sql_in(source: str) -> list[str]:
    """Where `source` holds SQL: `line: the literal's start`, or `line: text()`."""
    found = [
        f"{line}: {text.strip()[:60]!r}"
        for line, text in literals(source)
        if any(pattern.search(text) for pattern in SQL_PATTERNS)
    ]
    return sorted(found + [f"{line}: text()" for line in sqlalchemy_uses(source, {"text"})])


def modules() -> list[Path]:
    return sorted(path for part in WITHOUT_SQL for path in (PACKAGE / part).rglob("*.py"))


def test_no_module_of_the_layers_or_the_definitions_holds_sql() -> None:
    assert len(modules()) > 20  # the scan reads the parts it names
    found = {str(path.relative_to(PACKAGE)): where for path in modules() if (where := sql_in(path.read_text()))}
    assert found == {}, "SQL belongs in transforms/: move it into the transforms module of its subject"


def test_only_the_known_modules_build_statements_for_the_report_database() -> None:
    """Not SQL text, but queries all the same: a new one goes to reports/, a moved one leaves this list."""
    found = {
        str(path.relative_to(PACKAGE))
        for path in modules()
        if any(sqlalchemy_uses(path.read_text(), STATEMENT_BUILDERS))
    }
    assert found == STATEMENTS_NOT_YET_MOVED
    assert any(sqlalchemy_uses("import sqlalchemy as sa\ncount = sa.select(sa.func.count())", STATEMENT_BUILDERS))
    assert any(sqlalchemy_uses("from sqlalchemy import delete\nstatement = delete(table)", STATEMENT_BUILDERS))
    assert not any(
        sqlalchemy_uses("import sqlalchemy as sa\nengine: sa.Engine = store.delete(key)", STATEMENT_BUILDERS)
    )


def test_the_scan_finds_sql_in_any_form_and_not_in_prose() -> None:
    """The scan can fail: these hold SQL, in every way a module could write it."""
    holding_sql = [
        'QUERY = "SELECT count(*) FROM events"',
        'connection.execute("select * from sessions")',
        "connection.execute(f\"COPY ({query}) TO '{path}' (FORMAT parquet)\")",
        'connection.execute(f"CREATE OR REPLACE TEMP TABLE people AS {query}")',
        'statement = "INSERT INTO daily_active_users VALUES (?, ?)"',
        'relation = connection.sql(f"FROM read_parquet({files}) WHERE event_date = ?")',
        'query = ("WITH days AS (SELECT 1) " "SELECT * FROM days")',
        'connection.execute(f"DELETE FROM {table} WHERE day = ?")',
        "connection.execute(\"SET memory_limit = '3GB'\")",
        "import sqlalchemy as sa\nstatement = sa.text(query)",
        "from sqlalchemy import text\nstatement = text(query)",
    ]
    assert [source for source in holding_sql if not sql_in(source)] == []
    # ... and the transforms' own SQL, as this project writes it.
    with_sql = {path.stem for path in (PACKAGE / "transforms").glob("*.py") if sql_in(path.read_text())}
    assert with_sql >= {"raw", "cleaning", "identities", "sessions", "aggregates"}

    prose = [
        '"""SELECT the rows FROM the lake: a docstring may say anything."""',
        'def f():\n    """Copy the day to the store: from one folder to another."""',
        'description = "Raw rows that could not be cleaned, each with its reason (too_late, duplicate, ...)."',
        'log = f"local copies for DuckDB of {count} files from the store"',
        'message = "select the days from the list, then update the catalog"',
        'help = "Delete from the store what the settings name; set REVOLT_HOME to move it."',
    ]
    assert {source: where for source in prose if (where := sql_in(source))} == {}
