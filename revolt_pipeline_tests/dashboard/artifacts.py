"""Where tests keep what a person should look at afterwards (the dashboard's screenshots), and the line the test
run ends with to say so: CI's log then leads to them (`.ci/run` keeps the checkout, `test-artifacts/` in it)."""

import os
from pathlib import Path

ARTIFACTS_ENV = "REVOLT_TEST_ARTIFACTS"


def artifacts_root() -> Path:
    """REVOLT_TEST_ARTIFACTS, else the checkout's gitignored test-artifacts/."""
    base = os.environ.get(ARTIFACTS_ENV, "").strip()
    return Path(base) if base else Path(__file__).resolve().parents[2] / "test-artifacts"


def artifacts_dir(kind: str = "dashboard") -> Path:
    """The folder of one kind of artefact, made if need be."""
    folder = artifacts_root() / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def kept_since(started: float, root: Path | None = None) -> list[str]:
    """What the run kept, for its summary: one line per folder of `root` written to since `started` (a
    `time.time()`), with the number of files and their folder's absolute path; none when nothing was kept."""
    root = root or artifacts_root()
    if not root.is_dir():
        return []
    counts: dict[Path, int] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.stat().st_mtime >= started:
            counts[path.parent] = counts.get(path.parent, 0) + 1
    return [f"{count} kept in {folder.resolve()}" for folder, count in counts.items()]
