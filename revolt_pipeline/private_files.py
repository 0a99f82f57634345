"""Files and folders readable by their owner only, as everything under REVOLT_HOME is written.

Write keys, the admin token, the spool and the landed events are secrets or user data. The `revolt`
command, the collector and the Dagster code location set `UMASK`, so whatever they or their libraries
create (SQLite, Dagster's storage, DuckDB) is private; the project's own writes also give their modes
explicitly, so they stay private when used as a library under another umask.
"""

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
UMASK = 0o077


def restrict_umask() -> int:
    """Make every file and folder this process creates from now on private; returns the previous umask."""
    return os.umask(UMASK)


def make_private_dirs(path: Path) -> None:
    """Create `path` and its missing parents as 0700 (`Path.mkdir(parents=True)` gives parents the umask's mode).

    Existing folders keep their mode: they may be shared ones such as /var/lib.
    """
    missing: list[Path] = []
    current = path
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:
            if not folder.is_dir():
                raise


def create_private_file(path: Path) -> None:
    """Create an empty 0600 file unless it exists, so a library that creates it later (SQLite) keeps that mode."""
    make_private_dirs(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
