"""The dashboard's churn, segments and person pages over real ML output: the churn model, the segments and the
recommendations trained on the ML session lake (`ml_lake`, the history `revolt demo --ml` plans) as the fast demo
trains them, their report tables loaded by the layer library, and each page served over HTTP showing exactly
those tables' rows."""

import dataclasses
import html
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from revolt_pipeline.dashboard.urls import page_url
from revolt_pipeline.layers.commits import committed_days
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.layers.ml import build_churn_model, load_churn_scores
from revolt_pipeline.layers.people import PEOPLE
from revolt_pipeline.ml.training import ChurnSettings
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import create_engine, ensure_tables, read_rows
from revolt_pipeline.settings import Settings
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.dashboard.harness import dashboard_server
from revolt_pipeline_tests.ml.conftest import MlLake

pytestmark = pytest.mark.xdist_group("ml_lake")


@dataclass(frozen=True)
class ModelReports:
    settings: Settings
    rows: dict[str, list[dict[str, Any]]]
    as_of: str


@pytest.fixture(scope="module")
def model_reports(ml_lake: MlLake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelReports]:
    """The session lake copied (the models write into it), the three models of its last day, and the people and
    model report tables in a SQLite report database."""
    folder = tmp_path_factory.mktemp("dashboard-ml")
    shutil.copytree(ml_lake.store.root, folder / "store")
    store = ObjectStore((folder / "store").as_uri())
    (folder / "work").mkdir()
    builder = DayBuilder(store, PipelineRules(), folder / "work", connect=lambda: nullcontext(ml_lake.connection))
    as_of = ml_lake.last_day
    # Untuned (no search trials): the pages are judged on what the model wrote, not on how good it is.
    build_churn_model(store, ml_lake.connection, as_of, ChurnSettings(trials=0), folder / "work")
    builder.recommendations([as_of])
    builder.segments([as_of])
    url = f"sqlite:///{folder / 'reports.sqlite'}"
    engine = create_engine(url)
    try:
        ensure_tables(engine)
        builder.people_reports(engine, committed_days(store, PEOPLE))
        builder.model_reports(engine, [as_of])
        load_churn_scores(engine, store, schema.churn_scores, [as_of])
        tables = (schema.churn_scores, schema.segment_sizes, schema.person_segments, schema.people)
        rows = {table.name: read_rows(engine, table) for table in (*tables, schema.person_sessions)}
    finally:
        engine.dispose()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVOLT_HOME", str(folder))
        settings = dataclasses.replace(Settings.from_env(), report_db_url=url)
    yield ModelReports(settings, rows, as_of.isoformat())


def _metric(page: str, key: str) -> int:
    found = re.search(rf'data-metric="{key}" data-value="([0-9.]+)"', page)
    assert found, key
    return int(float(found.group(1)))


def _bars(page: str) -> dict[str, float]:
    """The first chart's bars: label -> value."""
    chart = page.split("</svg>")[0]
    return {
        html.unescape(label): float(value)
        for label, value in re.findall(r'<rect class="bar"[^>]*data-label="([^"]*)" data-value="([^"]*)"', chart)
    }


def test_the_churn_page_shows_the_churn_scores_of_the_model(model_reports: ModelReports) -> None:
    scores = model_reports.rows["churn_scores"]
    assert scores, "the model scored people"
    with dashboard_server(model_reports.settings) as base:
        page = httpx.get(page_url(base, "churn")).text
    assert f"as of {model_reports.as_of}" in page
    assert _metric(page, "scored") == len(scores)
    bands = Counter(row["risk_band"] for row in scores)
    for band in ("high", "medium", "low"):
        assert _metric(page, f"band-{band}") == bands[band], band
    riskiest = sorted(scores, key=lambda row: (-row["score"], row["person_id"]))[:25]
    shown = re.findall(r'<tr data-key="([^"]+)"><td><a', page.split('data-table="at-risk"')[1])
    assert [html.unescape(key) for key in shown] == [row["person_id"] for row in riskiest]


def test_the_segments_page_names_each_segment_by_its_description(model_reports: ModelReports) -> None:
    sizes = model_reports.rows["segment_sizes"]
    assert len(sizes) > 1, "the model found segments"
    with dashboard_server(model_reports.settings) as base:
        page = httpx.get(page_url(base, "segments")).text
    assert _bars(page) == {row["description"]: float(row["people"]) for row in sizes}
    assert "segment 0<" not in page  # no bare numbers for labels
    for row in sizes:
        assert f'<tr data-key="{row["segment"]}" data-people="{row["people"]}"><td>{row["segment"]}</td>' in page
        assert f"<td>{html.escape(row['description'])}</td>" in page


def test_a_persons_page_shows_their_score_segment_and_sessions(model_reports: ModelReports) -> None:
    rows = model_reports.rows
    score = max(rows["churn_scores"], key=lambda row: (row["score"], row["person_id"]))
    person = score["person_id"]
    segment = next(row for row in rows["person_segments"] if row["person_id"] == person)
    sessions = [row for row in rows["person_sessions"] if row["person_id"] == person]
    profile = next(row for row in rows["people"] if row["person_id"] == person)
    assert sessions and len(sessions) == profile["sessions"]
    first, last = min(r["session_date"] for r in sessions), max(r["session_date"] for r in sessions)
    with dashboard_server(model_reports.settings) as base:
        page = httpx.get(page_url(base, "person", person_id=person, from_=str(first), to=str(last))).text
    assert f'data-churn="{score["score"]}"' in page and f"{score['risk_band']} ({score['score']:.2f})" in page
    assert f'data-segment="{segment["segment"]}">{segment["segment"]}: {html.escape(segment["description"])}' in page
    assert f'data-sessions-total="{len(sessions)}"' in page
    newest = sorted(sessions, key=lambda row: row["session_start"], reverse=True)[:50]
    assert re.findall(r'<tr data-key="([^"]+)" data-events', page) == [row["session_id"] for row in newest]
