"""One long history of the demo, planted churn included, built once per session for every ML test module.

The demo's plan, as `revolt demo --ml` makes it (ML_USERS people, ML_DAYS days), is written straight into the
sessionized layer and built through the people layer (`demo/ml_history.py`): the person days `revolt demo --ml`
gets through every layer, in about a minute instead of several. Modules using it are marked
`xdist_group("ml_lake")` to share it.
"""

from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest

from revolt_pipeline.demo.generator import Traffic, plan_traffic
from revolt_pipeline.demo.ml_history import write_history
from revolt_pipeline.demo.pipeline import ML_DAYS, ML_USERS
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.transforms.engine import duckdb_connection
from revolt_pipeline.transforms.rules import PipelineRules

ML_SEED = 7  # the demo's default seed; people and days as `revolt demo --ml` plans them
ML_START = date(2026, 9, 1)


@dataclass
class MlLake:
    traffic: Traffic
    store: ObjectStore
    connection: duckdb.DuckDBPyConnection
    folder: Path
    days: list[date]

    @property
    def last_day(self) -> date:
        return self.days[-1]


@pytest.fixture(scope="session")
def ml_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlLake]:
    folder = tmp_path_factory.mktemp("ml_lake")
    (folder / "work").mkdir()
    store = ObjectStore((folder / "store").as_uri())
    traffic = plan_traffic(seed=ML_SEED, users=ML_USERS, days=ML_DAYS, start=ML_START)
    with duckdb_connection() as connection:
        builder = DayBuilder(store, PipelineRules(), folder / "work", connect=lambda: nullcontext(connection))
        days = write_history(traffic, builder)
        yield MlLake(traffic, store, connection, folder, days)
