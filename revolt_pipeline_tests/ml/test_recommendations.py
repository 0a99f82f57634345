"""Recommendations: the metrics, the time split, and the planted habits found better than popularity would."""

from collections.abc import Callable
from datetime import date, timedelta

import pandas as pd
import pyarrow.parquet as pq
import pytest

from revolt_pipeline.demo.generator import persona_truth
from revolt_pipeline.layers.checks import recommendation_checks
from revolt_pipeline.ml.recommendations import (
    evaluate_recommendations,
    fit_item_cooccurrence,
    fit_popularity,
    hit_rate_at_k,
    newly_used,
    recall_at_k,
    recommend,
    suggested_items,
)
from revolt_pipeline_tests.ml.conftest import OTHER_SEEDS, SETTINGS, TrainedLake

pytestmark = pytest.mark.xdist_group("ml_lake")

DAY = date(2026, 9, 1)


def interactions(*rows: tuple[str, int, str]) -> pd.DataFrame:
    """(person, day number, item) -> one event each."""
    return pd.DataFrame(
        [(person, DAY + timedelta(days=day), item, 1) for person, day, item in rows],
        columns=["person_id", "event_date", "item", "events"],
    )


def test_hit_rate_and_recall_count_relevant_items_among_the_first_k() -> None:
    suggested = {"a": ["x", "y", "z"], "b": ["x", "y"], "c": ["q"]}
    relevant = {"a": {"z", "w"}, "b": {"w"}, "c": set(), "d": {"x"}}
    # People without relevant items are not judged; a person without suggestions misses.
    assert hit_rate_at_k(suggested, relevant, 3) == pytest.approx(1 / 3)
    assert hit_rate_at_k(suggested, relevant, 2) == 0.0
    assert recall_at_k(suggested, relevant, 3) == pytest.approx((1 / 2 + 0 + 0) / 3)
    assert hit_rate_at_k({}, {}, 5) == 0.0 and recall_at_k({}, {}, 5) == 0.0


def test_suggestions_are_items_the_person_has_not_used_ranked_by_co_occurrence() -> None:
    history = interactions(
        *[(f"billing-{n}", 0, "Client Added") for n in range(4)],
        *[(f"billing-{n}", 1, "Rate Set") for n in range(3)],
        *[(f"tracker-{n}", 0, "Tag Added") for n in range(6)],
        *[
            (person, 2, "Dashboard")
            for person in [*(f"billing-{n}" for n in range(4)), *(f"tracker-{n}" for n in range(6))]
        ],
    )
    model = fit_item_cooccurrence(history)
    suggested = suggested_items(recommend(model, history, k=2))
    # billing-3 used Client Added like the others who went on to Rate Set: that comes first, though Tag Added is
    # used by more people (what popularity suggests).
    assert suggested["billing-3"] == ["Rate Set", "Tag Added"]
    assert suggested_items(recommend(fit_popularity(history), history, k=2))["billing-3"] == ["Tag Added", "Rate Set"]
    assert "billing-0" not in suggested or "Client Added" not in suggested["billing-0"]
    # Deterministic: the same rows give the same ranks and scores.
    assert recommend(model, history, k=2).equals(recommend(model, history.sample(frac=1, random_state=1), k=2))


def test_the_evaluation_learns_only_from_the_days_before_its_split() -> None:
    # Everyone takes up B after A; from the split on, a lone new item C appears for one person only. Were the
    # held-out days learnt from, the model would know C; it cannot suggest what it never saw.
    rows = [(f"p{n}", 0, "A") for n in range(6)] + [(f"p{n}", 1, "B") for n in range(4)]
    rows += [("p4", 8, "B"), ("p5", 8, "B"), ("p4", 9, "C"), ("p5", 9, "C")]
    judged = evaluate_recommendations(interactions(*rows), DAY + timedelta(days=10), training_days=7, holdout_days=3)
    assert judged.split_date == DAY + timedelta(days=7)
    assert judged.people_evaluated == 2  # p4 and p5 used B and C for the first time after the split
    assert judged.hit_rate == 1.0 and judged.recall == 0.5  # B found, C unknown to a model of the days before
    assert newly_used(interactions(("p", 0, "A")), interactions(("p", 1, "A"), ("q", 1, "B"))) == {}


def _next_feature_share(trained: TrainedLake) -> float:
    """Of the people who used part of their persona's chain, the share whose first suggestion is the feature they
    habitually use next (after the furthest one they used before the cutoff)."""
    truth = persona_truth(trained.lake.traffic)
    habitual_next = truth["habitual_next"]
    rows = pq.read_table(trained.recommendations.path).to_pandas()
    first = rows[rows["rank"] == 1].set_index("person_id")["item"]
    since = trained.lake.cutoff - timedelta(days=SETTINGS.training_days)
    used: dict[str, set[str]] = {}
    for message in trained.lake.traffic.messages:
        if message.planted and not message.too_late and message.event_time.date() >= since:
            used.setdefault(message.person_key, set()).add(f"track: {message.name}")
    hits = judged = 0
    for person, items in used.items():
        chain = [step for step in [*habitual_next, *habitual_next.values()] if step in items]
        furthest = max(chain, key=lambda step: _position(habitual_next, step))
        if furthest in habitual_next and person in first.index:
            judged += 1
            hits += first[person] == habitual_next[furthest]
    return hits / judged


def _position(habitual_next: dict[str, str], step: str) -> int:
    earlier = {after: before for before, after in habitual_next.items()}
    position = 0
    while step in earlier:
        step, position = earlier[step], position + 1
    return position


def test_the_persona_lake_recommendations_find_the_habits_and_beat_popularity(persona_lake: TrainedLake) -> None:
    built = persona_lake.recommendations
    judged = built.evaluation
    # Seed 7 (the demo's): hit rate at 5 0.69 against popularity's 0.12, recall 0.60 against 0.08.
    assert judged.people_evaluated >= 80
    assert judged.hit_rate >= 0.45 and judged.recall >= 0.40
    assert judged.beats_popularity and judged.hit_rate >= 2 * judged.popularity_hit_rate
    assert [outcome.passed for outcome in recommendation_checks(built)] == [True]
    rows = pq.read_table(built.path).to_pandas()
    assert set(rows["as_of_date"]) == {persona_lake.lake.as_of}
    assert (
        rows.groupby("person_id")["rank"].apply(list).map(lambda ranks: ranks == list(range(1, len(ranks) + 1))).all()
    )
    # The people are the plan's, stitched: anonymous visits before signing up belong to the user.
    planned = {person.key for person in persona_lake.lake.traffic.people}
    assert set(rows["person_id"]) <= planned
    # The habitual next feature is the first suggestion of many people part way along a chain (seed 7: 0.457;
    # popularity suggests everyone the same first item: the next feature of one step of one persona's chain).
    assert _next_feature_share(persona_lake) >= 0.35


# Measured on seeds 1 to 9 (four weeks of 250 users, judged on the last): hit rate at 5 0.579 to 0.690 (popularity
# 0.082 to 0.157), recall at 5 0.523 to 0.609 (popularity 0.063 to 0.123). The floors leave more than 0.1 of
# margin under the lowest, and the model must do at least twice as well as popularity (it did 4.0 to 7.4 times).
HIT_RATE_FLOOR = 0.45
RECALL_FLOOR = 0.40


@pytest.mark.parametrize("seed", OTHER_SEEDS)
def test_recommendations_beat_popularity_on_other_seeds(
    trained_on_seed: Callable[[int], TrainedLake], seed: int
) -> None:
    judged = trained_on_seed(seed).recommendations.evaluation
    assert judged.hit_rate >= HIT_RATE_FLOOR, judged
    assert judged.recall >= RECALL_FLOOR, judged
    assert judged.hit_rate >= 2 * judged.popularity_hit_rate and judged.recall > judged.popularity_recall, judged
