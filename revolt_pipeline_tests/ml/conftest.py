"""The demo's long histories, planted signal included, built once per session for every ML test module.

The demo's plan is written straight into the lake's sessionized layer and identity links and built through the
people layer by the one builder the benchmark uses too (`demo/ml_history.py`): the person days `revolt demo --ml`
gets through every layer, in about a minute instead of several. Modules using these fixtures are marked
`xdist_group("ml_lake")` to share them.

- `ml_lake`: the plan as `revolt demo --ml` makes it (ML_USERS people, ML_DAYS days): the churn model's history.
- `persona_lake` and `trained_on_seed`: four weeks of 250 users of a seed (the demo's and others), with the
  recommendations and segments trained on them once per session (not `demo_lake`: that is the pipeline tests'
  lake of the default demo run through every layer).
"""

from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from revolt_pipeline.demo.generator import Traffic, plan_traffic
from revolt_pipeline.demo.ml_history import last_day, write_history
from revolt_pipeline.demo.pipeline import ML_DAYS, ML_USERS
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.layers.recommendations import RecommendationsDay, RecommenderSettings
from revolt_pipeline.layers.segments import SegmentsDay
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
    days: list[date]  # the traffic's window

    @property
    def last_day(self) -> date:
        """The traffic's last day, which `revolt demo --ml` trains the models as of."""
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


PLANNED_START = date(2026, 9, 7)  # a Monday
DAYS = 28
USERS = 250
# Four weeks of traffic: three to learn from, the last to judge on (the model's default is four and one).
SETTINGS = RecommenderSettings(training_days=DAYS - 7, holdout_days=7)
# Seeds besides the demo's the floors are checked on (of the nine they were measured on).
OTHER_SEEDS = (4, 9)  # 9: the lowest adjusted Rand index and hit rate of the nine, 4 the next lowest


@dataclass(frozen=True)
class PlannedLake:
    """A seed's weeks of traffic written into a lake of its own (`write_planned_lake`)."""

    store: ObjectStore
    traffic: Traffic
    cutoff: date  # the day after the traffic's last

    @property
    def as_of(self) -> date:
        """The traffic's last day: the models as of its end have the cutoff `cutoff`."""
        return self.cutoff - timedelta(days=1)

    def workdir(self, name: str) -> Path:
        folder = Path(self.store.path(f"_work/{name}"))
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def write_planned_lake(folder: Path, *, seed: int, users: int, days: int) -> PlannedLake:
    """The plan of `seed` from PLANNED_START, written and built through the people layer in a store under `folder`."""
    traffic = plan_traffic(seed=seed, users=users, days=days, start=PLANNED_START)
    lake = PlannedLake(ObjectStore((folder / "store").as_uri()), traffic, last_day(traffic) + timedelta(days=1))
    write_history(traffic, DayBuilder(lake.store, PipelineRules(), lake.workdir("history")))
    return lake


@dataclass(frozen=True)
class TrainedLake:
    lake: PlannedLake
    recommendations: RecommendationsDay
    segments: SegmentsDay


def train(lake: PlannedLake) -> TrainedLake:
    """Both models of the day after the traffic, as their assets build them."""
    builder = DayBuilder(lake.store, PipelineRules(), lake.workdir("models"))
    (recommended,) = builder.recommendations([lake.as_of], SETTINGS)
    (segmented,) = builder.segments([lake.as_of])
    return TrainedLake(lake, recommended, segmented)


@pytest.fixture(scope="session")
def persona_lake(tmp_path_factory: pytest.TempPathFactory) -> TrainedLake:
    lake = write_planned_lake(tmp_path_factory.mktemp("ml-lake"), seed=7, users=USERS, days=DAYS)
    assert lake.cutoff - lake.traffic.start == timedelta(days=DAYS)
    return train(lake)


@pytest.fixture(scope="session")
def trained_on_seed(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], TrainedLake]:
    """Both models of another seed's four weeks, trained once per session whichever test asks first."""
    trained: dict[int, TrainedLake] = {}

    def on_seed(seed: int) -> TrainedLake:
        if seed not in trained:
            folder = tmp_path_factory.mktemp(f"ml-lake-seed-{seed}")
            trained[seed] = train(write_planned_lake(folder, seed=seed, users=USERS, days=DAYS))
        return trained[seed]

    return on_seed
