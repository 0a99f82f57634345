"""The Dagster instance the `revolt` command works on, and the workspace every Dagster process loads.

`dagster.yaml` here is the embedded default's instance (SQLite under DAGSTER_HOME, runs queued for a
daemon, no telemetry, no welcome dialog); `workspace.yaml` names the code location. The checkout's
top-level files of the same names are links to these, so `dagster dev` run there reads them too.
"""

import os
import shutil
from importlib.resources import files
from pathlib import Path

from revolt_pipeline.private_files import FILE_MODE, make_private_dirs

INSTANCE_FILE = Path(str(files(__package__).joinpath("dagster.yaml")))
WORKSPACE_FILE = Path(str(files(__package__).joinpath("workspace.yaml")))


def ensure_dagster_home(home: Path) -> Path:
    """`home` as a Dagster home: created private, given the embedded default's dagster.yaml if it has none.

    An existing dagster.yaml (a production one, say) is the user's and stays as it is.
    """
    make_private_dirs(home)
    config = home / "dagster.yaml"
    if not config.exists():
        temporary = config.with_name(f".dagster.yaml.{os.getpid()}.tmp")
        shutil.copyfile(INSTANCE_FILE, temporary)
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, config)
    return home
