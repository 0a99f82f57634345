"""docs/architecture.md finds any piece by its name: every module, every name Dagster shows, every path it gives.

Read from the document's own tables, like test_import_rules.py: a new module, a new or renamed asset,
check, job, sensor, schedule or resource, or a moved file fails here until the document says where it is.

Which `__init__.py` must be named: one that holds code (a function, a constant, a statement run at
import), since a reader may look for what it defines; not one that only says what its package is for and
re-exports names (a docstring, imports, `__all__`, `__version__`), which the package's row already covers.
"""

import ast
import inspect
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import dagster as dg
import pytest

from revolt_pipeline.settings import Settings
from revolt_pipeline_tests.architecture.test_import_rules import ARCHITECTURE, PACKAGE

REPOSITORY = PACKAGE.parent
PARTS = "The parts"
DAGSTER_NAMES = "Find it by its Dagster name"
KINDS = ("asset", "asset check", "job", "sensor", "schedule", "resource")
NOT_CODE = {"__all__", "__version__"}  # what an `__init__.py` may assign and still hold no code worth naming


def section(title: str) -> str:
    text = ARCHITECTURE.read_text()
    assert f"\n## {title}\n" in text, f"docs/architecture.md has no section '## {title}'"
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def table_rows(text: str) -> list[list[str]]:
    """The cells of every table row of `text`, without header rows and separators."""
    rows, previous = [], ""
    for line in text.splitlines():
        line = line.strip()
        # A table's first line is its header; the line under it, its separator.
        if line.startswith("|") and previous.startswith("|") and not re.fullmatch(r"\|[\s|:-]+\|", line):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
        previous = line
    return rows


def spans(text: str) -> list[str]:
    """The code spans (`...`) of `text`."""
    return re.findall(r"`([^`]+)`", text)


def is_path(span: str) -> bool:
    return span.endswith(".py") or ("/" in span and "://" not in span and not span.startswith("/"))


def holds_code(path: Path) -> bool:
    for node in ast.parse(path.read_text(), filename=str(path)).body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue  # the docstring
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Assign) and all(
            isinstance(target, ast.Name) and target.id in NOT_CODE for target in node.targets
        ):
            continue
        return True
    return False


def modules() -> set[str]:
    """Every module of the package as a path from revolt_pipeline/, `__init__.py` files only if they hold code."""
    return {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" or holds_code(path)
    }


def named_among_the_parts() -> Iterator[tuple[str, str]]:
    """(span, the module it names) for each `.py` span of the parts table: a path from revolt_pipeline/,
    or one from a part the row's first cell names (`checks.py` in the row of `layers/`)."""
    for cells in table_rows(section(PARTS)):
        folders = [span for span in spans(cells[0]) if span.endswith("/")]
        for span in spans(" | ".join(cells)):
            if span.endswith(".py"):
                yield span, span
                for folder in folders:
                    yield span, folder + span


@dataclass(frozen=True)
class NameRow:
    """A row of the Dagster name table: what kind of definition, its names, the files that define them."""

    kind: str
    names: tuple[str, ...]
    files: tuple[str, ...]


def name_table() -> list[NameRow]:
    rows = []
    for cells in table_rows(section(DAGSTER_NAMES)):
        assert len(cells) == 3, f"a row of '{DAGSTER_NAMES}' has three cells (kind, names, defined in): {cells}"
        assert cells[0] in KINDS, f"'{cells[0]}' is not one of {KINDS}"
        files = tuple(span for span in spans(cells[2]) if is_path(span))
        rows.append(NameRow(cells[0], tuple(spans(cells[1])), files))
    return rows


@dataclass(frozen=True)
class Produced:
    """The names `build_definitions` makes, by kind, and for some the file whose code defines them."""

    assets: dict[str, Path]
    steps: dict[str, Path]  # the ops of the assets: a run's steps carry these names
    checks: dict[tuple[str, str], Path]  # (asset, check)
    jobs: set[str]
    sensors: set[str]
    schedules: set[str]
    resources: dict[str, Path]

    def names_of(self, kind: str) -> set[str]:
        return {
            "asset": set(self.assets) | set(self.steps),
            "asset check": {check for _, check in self.checks} | set(self.assets),
            "job": self.jobs,
            "sensor": self.sensors,
            "schedule": self.schedules,
            "resource": set(self.resources),
        }[kind]


def source_file(code: Callable[..., object]) -> Path:
    """The file of a function or class, as the table's paths resolve."""
    return Path(inspect.getsourcefile(code) or "").resolve()


@pytest.fixture(scope="module")
def produced(tmp_path_factory: pytest.TempPathFactory) -> Produced:
    """What `build_definitions` makes from the settings of a clean environment with a throwaway home."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("REVOLT_")]:
            patch.delenv(name)
        patch.setenv("REVOLT_HOME", str(tmp_path_factory.mktemp("home")))
        from revolt_pipeline.definitions import build_definitions  # builds its own `defs` at import: here, safely

        definitions = build_definitions(Settings.from_env())
    assets_defs = [item for item in definitions.assets or [] if isinstance(item, dg.AssetsDefinition)]
    assert len(assets_defs) == len(definitions.assets or [])
    code = {id(item): source_file(item.op.compute_fn.decorated_fn) for item in assets_defs}  # type: ignore[union-attr]
    return Produced(
        assets={key.to_user_string(): code[id(item)] for item in assets_defs for key in item.keys},
        steps={item.op.name: code[id(item)] for item in assets_defs},
        checks={
            (key.asset_key.to_user_string(), key.name): code[id(item)]
            for item in assets_defs
            for key in item.check_keys
        },
        jobs={job.name for job in definitions.jobs or []},
        sensors={sensor.name for sensor in definitions.sensors or []},
        schedules={schedule.name for schedule in definitions.schedules or []},
        resources={name: source_file(type(resource)) for name, resource in (definitions.resources or {}).items()},
    )


def test_every_module_is_named_among_the_parts() -> None:
    named = {module for _, module in named_among_the_parts()}
    missing = sorted(modules() - named)
    assert missing == [], f"name these modules in docs/architecture.md, '## {PARTS}': {missing}"


def test_every_module_the_parts_name_exists() -> None:
    found: dict[str, bool] = {}
    for span, module in named_among_the_parts():
        found[span] = found.get(span, False) or (PACKAGE / module).is_file()
    assert [span for span, exists in found.items() if not exists] == [], "no such module under revolt_pipeline/"


def test_every_dagster_name_is_in_the_table_under_its_kind(produced: Produced) -> None:
    rows = name_table()
    listed = {kind: {name for row in rows if row.kind == kind for name in row.names} for kind in KINDS}
    missing = [
        *(
            f"asset {name}"
            for name in sorted(set(produced.assets) | set(produced.steps))
            if name not in listed["asset"]
        ),
        *(f"job {name}" for name in sorted(produced.jobs - listed["job"])),
        *(f"sensor {name}" for name in sorted(produced.sensors - listed["sensor"])),
        *(f"schedule {name}" for name in sorted(produced.schedules - listed["schedule"])),
        *(f"resource {name}" for name in sorted(set(produced.resources) - listed["resource"])),
        *(
            f"asset check {check} (on {asset})"
            for asset, check in sorted(produced.checks)
            if not any(row.kind == "asset check" and {asset, check} <= set(row.names) for row in rows)
        ),
    ]
    assert missing == [], f"add them to docs/architecture.md, '## {DAGSTER_NAMES}': {missing}"


def test_the_table_names_nothing_the_definitions_do_not_make(produced: Produced) -> None:
    stale = [
        f"{row.kind} {name}" for row in name_table() for name in row.names if name not in produced.names_of(row.kind)
    ]
    assert stale == [], f"'{DAGSTER_NAMES}' names what build_definitions no longer makes"


def test_every_file_the_table_points_to_exists() -> None:
    rows = name_table()
    assert [row for row in rows if not row.files] == [], "every row says which file defines its names"
    absent = sorted({file for row in rows for file in row.files if not (PACKAGE / file).is_file()})
    assert absent == [], "files are given from revolt_pipeline/"


def made_in(produced: Produced, row: NameRow) -> dict[str, Path]:
    """The file whose code makes each of the row's names, where it can be asked for: an asset's (or step's)
    function, the function of the asset a check is on (`check on asset`), a resource's class."""
    if row.kind == "asset":
        return {name: path for name, path in {**produced.steps, **produced.assets}.items() if name in row.names}
    if row.kind == "asset check":
        return {
            f"{check} on {asset}": path
            for (asset, check), path in produced.checks.items()
            if {asset, check} <= set(row.names)
        }
    if row.kind == "resource":
        return {name: path for name, path in produced.resources.items() if name in row.names}
    return {}


@cache
def parsed_modules() -> list[tuple[Path, ast.Module]]:
    return [(path.resolve(), ast.parse(path.read_text(), filename=str(path))) for path in PACKAGE.rglob("*.py")]


def given_by_a_call(name: str) -> set[Path]:
    """The modules that give `name` to what they define: as `name=` or as the first argument of a call
    (`define_asset_job("raw_job", ...)`, `Cascade(name="clean_after_raw", ...)`), not merely mention it."""
    found = set()
    for path, tree in parsed_modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                given = [keyword.value for keyword in node.keywords if keyword.arg == "name"] + node.args[:1]
                if any(isinstance(value, ast.Constant) and value.value == name for value in given):
                    found.add(path)
    return found


def test_each_name_is_defined_in_a_file_its_row_points_to(produced: Produced) -> None:
    """Its row's files write the name, and hold the code that makes it (an asset's function, a resource's
    class) or the call that names it (a job, a sensor, a schedule)."""
    wrong = []
    for row in name_table():
        files = [(PACKAGE / file).resolve() for file in row.files if (PACKAGE / file).is_file()]
        texts = [path.read_text() for path in files]
        # A check row names the assets its checks are on; where those are defined is their own rows' business.
        own = [name for name in row.names if row.kind != "asset check" or name not in produced.assets]
        for name in own:
            if not any(re.search(rf"\b{re.escape(name)}\b", text) for text in texts):
                wrong.append(f"{row.kind} {name}: written in none of {row.files}")
        for name, path in made_in(produced, row).items():
            if path not in files:
                wrong.append(f"{row.kind} {name}: made in {path.relative_to(PACKAGE)}, not in {row.files}")
        if row.kind in ("job", "sensor", "schedule"):
            for name in row.names:
                if not given_by_a_call(name) & set(files):
                    wrong.append(f"{row.kind} {name}: given its name in none of {row.files}")
    assert wrong == []


def test_every_path_the_rest_of_the_document_gives_exists() -> None:
    """Outside the parts table (where a file may be named from its part): a path from revolt_pipeline/ or
    from the repository's root, such as `defs/cascade.py` or `deploy/production/`; `<domain>` stands for any."""
    text = ARCHITECTURE.read_text()
    parts_table = section(PARTS)
    absent = sorted(
        {
            span
            for span in spans(text.replace(parts_table, ""))
            if is_path(span) and "<" not in span and not any((root / span).exists() for root in (PACKAGE, REPOSITORY))
        }
    )
    assert absent == [], "docs/architecture.md points to paths that do not exist"
