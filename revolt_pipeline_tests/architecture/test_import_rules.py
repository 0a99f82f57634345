"""The parts of revolt_pipeline import each other as docs/architecture.md says, read from every import statement.

The rules are the document's table, parsed here, so the document and the code cannot drift apart: a new
part, or an import across parts the table does not allow, fails until one of them is changed.
"""

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import revolt_pipeline

PACKAGE = Path(revolt_pipeline.__file__).resolve().parent
ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"
DAGSTER_PARTS = {"defs", "definitions", "instance", "demo"}  # "Dagster is imported by ... only"
PIPES_PARTS = {"pipes"}  # "`pipes/` imports `dagster_pipes` only"
# Modules that still import Dagster's private modules; empty it as they are fixed (issue 7 removes them).
PRIVATE_DAGSTER_NOT_YET_REMOVED = {"defs/checks.py"}  # see its docstring: no public way to link a check to a partition


def part_of(name: str) -> str:
    """`transforms/rules.py`, `transforms/` or `settings.py` as a dotted name: `transforms.rules`, `transforms`..."""
    return name.strip("`").removesuffix("/").removesuffix(".py").replace("/", ".")


def documented_rules() -> dict[str, set[str] | None]:
    """Part -> the parts it may import (None: anything), from the table under "What each part may import"."""
    section = ARCHITECTURE.read_text().split("## What each part may import", 1)[1].split("\n## ", 1)[0]
    rules: dict[str, set[str] | None] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        allowed_cell = cells[1]
        if allowed_cell == "anything":
            allowed: set[str] | None = None
        elif allowed_cell.startswith("anything but"):
            allowed = {"*"} | {"-" + part_of(name) for name in re.findall(r"`[^`]+`", allowed_cell)}
        else:
            allowed = {part_of(name) for name in re.findall(r"`[^`]+`", allowed_cell)}
        for name in re.findall(r"`[^`]+`", cells[0]):
            rules[part_of(name)] = allowed
    return rules


def parts() -> set[str]:
    return {
        path.stem if path.is_file() else path.name
        for path in PACKAGE.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path.is_dir() and (path / "__init__.py").exists())
    }


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """Every module `path` imports, at any depth (lazy imports and TYPE_CHECKING blocks included)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the module's package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            yield node.lineno, module
            yield from ((node.lineno, f"{module}.{alias.name}") for alias in node.names)


def allows(allowed: set[str] | None, target: str) -> bool:
    """Whether `target` (a dotted name under revolt_pipeline) is one of the allowed parts or inside one."""
    if allowed is None:
        return True
    if "*" in allowed:
        return not any(target == part[1:] or target.startswith(part[1:] + ".") for part in allowed if part[0] == "-")
    return any(target == part or target.startswith(part + ".") for part in allowed)


def sources() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).parts[0].removesuffix(".py"), path


def test_every_part_of_the_package_has_a_rule_in_the_architecture_document() -> None:
    rules = documented_rules()
    assert parts() - set(rules) == set(), "add the new part to docs/architecture.md, with what it may import"
    assert set(rules) - parts() == set(), "docs/architecture.md names a part that no longer exists"


def test_each_part_imports_only_what_the_architecture_document_allows() -> None:
    rules, known = documented_rules(), parts()
    violations = []
    for part, path in sources():
        for line, module in imports(path):
            if not module.startswith("revolt_pipeline."):
                continue
            target = module.removeprefix("revolt_pipeline.")
            if target.split(".")[0] not in known:
                continue  # a name of revolt_pipeline/__init__.py itself, such as __version__
            if target.split(".")[0] == part or allows(rules[part], target):
                continue
            violations.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}")
    assert violations == [], "imports docs/architecture.md does not allow:\n" + "\n".join(violations)


def test_only_the_dagster_definitions_and_the_demo_import_dagster() -> None:
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
        for part, path in sources()
        if part not in DAGSTER_PARTS
        for line, module in imports(path)
        if module.split(".")[0].startswith("dagster")
        and not (part in PIPES_PARTS and module.split(".")[0] == "dagster_pipes")
    ]
    assert found == []


def test_nothing_imports_dagsters_private_modules() -> None:
    found = {
        str(path.relative_to(PACKAGE))
        for _, path in sources()
        for _, module in imports(path)
        if module.startswith("dagster") and any(name.startswith("_") for name in module.split("."))
    }
    assert found <= PRIVATE_DAGSTER_NOT_YET_REMOVED, f"Dagster's private modules may change in any release: {found}"


def test_the_rules_catch_an_import_they_do_not_allow() -> None:
    """The checker itself: a layer reading the settings, or a transform reaching the store, is refused."""
    rules = documented_rules()
    assert not allows(rules["layers"], "settings")
    assert not allows(rules["transforms"], "storage.layout")
    assert not allows(rules["collector"], "layers.raw")
    assert not allows(rules["defs"], "transforms.cleaning")
    assert allows(rules["defs"], "transforms.rules")
    assert not allows(rules["demo"], "cli")
    assert allows(rules["demo"], "defs.cascade")
