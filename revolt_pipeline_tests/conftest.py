"""Fixtures shared by every test: real servers (PostgreSQL, S3, the collector), never mocks."""

import functools
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

# The tests' days are fixed (November 2026); the partitions' default start depends on the day a data
# directory is first used (settings.PARTITIONS_DEFAULT_DAYS). Set before any project module reads it; a test
# of the default unsets it.
os.environ["REVOLT_PARTITIONS_START"] = "2026-10-01"

from revolt_pipeline_tests.dashboard.artifacts import kept_since
from revolt_pipeline_tests.fixtures.collector import (  # noqa: F401
    collector_process,
    collector_server,
    s3_collector_server,
)
from revolt_pipeline_tests.fixtures.faults import faulty_s3  # noqa: F401
from revolt_pipeline_tests.fixtures.postgres import (  # noqa: F401
    postgres_server,
    postgres_url,
    restartable_postgres,
)
from revolt_pipeline_tests.fixtures.s3 import s3_bucket, s3_server  # noqa: F401

# A module's own group, as its top line `pytestmark = pytest.mark.xdist_group("NAME")` names it.
_GROUP_MARK = re.compile(r"""^pytestmark = pytest\.mark\.xdist_group\("([\w-]+)"\)""", re.MULTILINE)


@functools.cache
def _module_group(path: Path) -> str | None:
    match = _GROUP_MARK.search(path.read_text()) if path.is_file() else None
    return match.group(1) if match else None


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile`` (pyproject's addopts), except that modules naming one ``xdist_group`` share a worker.

    Modules that share a session fixture costing minutes (the demo runs) name one group, so one worker builds it.
    xdist's own ``--dist loadgroup`` cannot do this under pytest 9: it renames items through ``Item._nodeid``,
    which pytest 9 no longer reads, so every test went to either worker.
    """
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class GroupedFileScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = super()._split_scope(nodeid)
            return _module_group(config.rootpath / module) or module

    # xdist would order the work by number of tests: a group of few tests behind a session fixture of minutes
    # could then start last and run alone at the end. The collection's own order (`_groups_first`) rules instead.
    config.option.loadscopereorder = False
    return GroupedFileScheduling(config, log)


def _groups_first(items: list[pytest.Item]) -> None:
    """Order the collection as the work should start: the groups (their shared fixtures cost minutes) and the modules
    marked `slow`, then the other modules by number of tests, most first, as xdist's own reordering would.

    A worker takes up a module only as it runs out of work, and keeps it to the end: a module of minutes taken up
    last (by number of tests, a module of one long test comes last) runs on while the other worker has nothing
    left to do. Started first, the long modules leave the many quick ones to even out the workers' ends."""
    scopes: dict[str, list[pytest.Item]] = {}
    slow: set[str] = set()
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        scope = _module_group(item.config.rootpath / module) or module
        scopes.setdefault(scope, []).append(item)
        if item.get_closest_marker("slow") is not None:
            slow.add(scope)

    def weight(scope: str) -> tuple[bool, int]:
        return (scope.endswith(".py") and scope not in slow, -len(scopes[scope]))

    items[:] = [item for scope in sorted(scopes, key=weight) for item in scopes[scope]]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give schemathesis' items their operation back in their node id.

    schemathesis names an item per API operation (`test[POST /v1/batch]`) without a parametrization, and pytest 9
    builds the node id from the name less its brackets, so all 37 operations had one id; pytest-xdist keys its work
    by node id and ran one of them. Each item's id is its name again (`test_http_api_fuzz.py` checks).
    Then the items are ordered as the workers should take them up (`_groups_first`).
    """
    from _pytest.nodeid import coerce_node_id

    for item in items:
        if item.name.endswith("]") and not item.nodeid.endswith("]") and item.parent is not None:
            item._id = coerce_node_id(f"{item.parent.nodeid}::{item.name}")
    _groups_first(items)


_STARTED = time.time()  # the run's start: what tests write into the artefacts' folder after it, they kept


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """End the run by saying where its artefacts are (the dashboard's screenshots), so a CI log leads to them."""
    kept = kept_since(_STARTED)
    if kept:
        terminalreporter.write_sep("-", "test artefacts")
        for line in kept:
            terminalreporter.write_line(line)
