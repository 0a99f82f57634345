"""pytest and the other test-only packages are the `test` extra's, never what revolt-pipeline needs to run.

An operator installs `pip install revolt-pipeline` (or `-e .`) on a server: neither the distribution's
requirements, nor anything they pull in, nor any module of the package may need pytest, moto or the
other tools only the tests use.
"""

import ast
import importlib.metadata
import tomllib
from collections.abc import Iterator
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import revolt_pipeline

PACKAGE = Path(revolt_pipeline.__file__).resolve().parent
PYPROJECT = PACKAGE.parent / "pyproject.toml"
DISTRIBUTION = "revolt-pipeline"
TEST_EXTRA = "test"


def requirements(distribution: str) -> list[Requirement]:
    return [Requirement(line) for line in importlib.metadata.requires(distribution) or []]


def needed(requirement: Requirement, extras: frozenset[str] = frozenset()) -> bool:
    """Whether `requirement` applies to an install with `extras` on this interpreter."""
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in {"", *extras})


def runtime_requirements() -> list[Requirement]:
    return [requirement for requirement in requirements(DISTRIBUTION) if needed(requirement)]


def added_by(extra: str) -> set[str]:
    """The packages `extra` adds to a plain install."""
    runtime = {canonicalize_name(requirement.name) for requirement in runtime_requirements()}
    adds = {
        canonicalize_name(requirement.name)
        for requirement in requirements(DISTRIBUTION)
        if needed(requirement, frozenset({extra}))
    }
    return adds - runtime


def feature_extras() -> list[str]:
    """Extras of a feature (`notebooks`, `screenshot`): its module imports them lazily, naming the extra if missing."""
    extras = importlib.metadata.metadata(DISTRIBUTION).get_all("Provides-Extra") or []
    return [extra for extra in extras if extra != TEST_EXTRA]


def only_for_tests() -> set[str]:
    """The packages only the `test` extra adds to a plain install."""
    return added_by(TEST_EXTRA) - set().union(*(added_by(extra) for extra in feature_extras()))


def runtime_closure() -> set[str]:
    """Every installed distribution a plain install of revolt-pipeline pulls in, at any depth."""
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = [(requirement.name, frozenset(requirement.extras)) for requirement in runtime_requirements()]
    while pending:
        name, extras = pending.pop()
        if (canonicalize_name(name), extras) in seen:
            continue
        seen.add((canonicalize_name(name), extras))
        pending += [
            (requirement.name, frozenset(requirement.extras))
            for requirement in requirements(name)
            if needed(requirement, extras)
        ]
    return {name for name, _ in seen}


def without_marker(requirement: Requirement) -> str:
    bare = Requirement(str(requirement))
    bare.marker = None
    return str(bare)


def test_the_installed_distribution_is_the_checkouts() -> None:
    """Stale metadata (an install from an older pyproject.toml) would make the tests below meaningless."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    stale = "the installed metadata is not pyproject.toml's: reinstall with pip install -e '.[test]'"
    assert canonicalize_name(project["name"]) == canonicalize_name(DISTRIBUTION)
    assert sorted(str(requirement) for requirement in runtime_requirements()) == sorted(
        str(Requirement(line)) for line in project["dependencies"]
    ), stale
    assert sorted(
        without_marker(requirement)
        for requirement in requirements(DISTRIBUTION)
        if not needed(requirement) and needed(requirement, frozenset({TEST_EXTRA}))
    ) == sorted(str(Requirement(line)) for line in project["optional-dependencies"][TEST_EXTRA]), stale


def test_pytest_is_required_by_the_test_extra_only() -> None:
    pytest_requirements = [r for r in requirements(DISTRIBUTION) if canonicalize_name(r.name) == "pytest"]
    assert [str(requirement.marker) for requirement in pytest_requirements] == [f'extra == "{TEST_EXTRA}"']
    assert {"pytest", "pytest-timeout", "moto", "hypothesis", "ruff"} <= only_for_tests()
    assert "playwright" in added_by("screenshot") and "jupyterlab" in added_by("notebooks")


def test_nothing_a_plain_install_pulls_in_is_test_only() -> None:
    closure = runtime_closure()
    assert "dagster" in closure and "duckdb" in closure  # the walk follows the requirements
    assert closure & set().union(*(added_by(extra) for extra in [TEST_EXTRA, *feature_extras()])) == set()


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """The top-level module of every absolute import in `path`, lazy ones included."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def test_no_module_of_the_package_imports_a_test_only_package() -> None:
    providers = importlib.metadata.packages_distributions()
    forbidden = only_for_tests()
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {module} ({', '.join(sorted(distributions))})"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line, module in imported_modules(path)
        if (distributions := {canonicalize_name(name) for name in providers.get(module, [])}) & forbidden
    ]
    assert found == []
