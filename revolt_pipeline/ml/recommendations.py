"""Which features, screens and events to suggest to a person: item-item co-occurrence, judged on later events.

An **item** is a path step (`screen: Timesheet`, `track: Invoice Sent`, transforms/paths.py). The model is the
cosine similarity of items over the people who used them: a person's score for an item they have not used yet is
the sum of its similarities to the items they have. It is a handful of matrix products, has no hyperparameter to
tune, and explains itself (the items behind a suggestion); with tens to hundreds of items, a matrix factorisation
(implicit ALS) would add a compiled dependency and a search without more to learn from.

It is judged as it is used: fitted on the events before a split day, it suggests what each person has not used
yet, and the suggestions are scored against the items each person then used for the first time, in the days
from the split to the cutoff (never a random split across time). The baseline suggests the most used items.
All inputs are tables of `interactions`: one row per person, day and item, with its number of events.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy import sparse

INTERACTION_COLUMNS = ("person_id", "event_date", "item", "events")
SUGGESTIONS = 5  # how many items each person is suggested, and the k of the metrics
MIN_PEOPLE = 2  # an item used by fewer people in the training window is never suggested
TRAINING_DAYS = 28  # the days of events a model learns from
HOLDOUT_DAYS = 7  # the latest days of the window before a cutoff, held out to judge the model on
BATCH_PEOPLE = 20_000  # people scored at once: the score matrix is people x items


@dataclass(frozen=True)
class ItemModel:
    """Items, their popularity (people who used each), and item-to-item weights (zero for the popularity model)."""

    name: str
    items: list[str]
    people_per_item: np.ndarray
    weights: np.ndarray | None  # items x items; None: rank by popularity alone
    informativeness: np.ndarray | None = None  # how much a person's use of each item says (its IDF)


def _usage(interactions: pd.DataFrame, people: list[str], items: list[str]) -> sparse.csr_matrix:
    """Who used what (1 or 0), people x items, for the given people and items."""
    person_index = pd.Index(people)
    item_index = pd.Index(items)
    known = interactions[interactions["item"].isin(item_index) & interactions["person_id"].isin(person_index)]
    pairs = known[["person_id", "item"]].drop_duplicates()
    rows = person_index.get_indexer(pairs["person_id"])
    columns = item_index.get_indexer(pairs["item"])
    data = np.ones(len(pairs), dtype=np.float64)
    return sparse.csr_matrix((data, (rows, columns)), shape=(len(people), len(items)))


def _vocabulary(history: pd.DataFrame, min_people: int) -> tuple[list[str], np.ndarray]:
    """The items used by at least `min_people`, by name, and how many people used each."""
    people = history.groupby("item")["person_id"].nunique()
    people = people[people >= min_people].sort_index()
    return list(people.index), people.to_numpy(dtype=np.float64)


def fit_item_cooccurrence(history: pd.DataFrame, *, min_people: int = MIN_PEOPLE) -> ItemModel:
    """Cosine similarity of items over the people who used them (an item is not similar to itself)."""
    items, people_per_item = _vocabulary(history, min_people)
    used = _usage(history, sorted(history["person_id"].unique()), items)
    together = (used.T @ used).toarray()
    norms = np.sqrt(np.diag(together))
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.nan_to_num(together / np.outer(norms, norms))
    np.fill_diagonal(weights, 0.0)
    # An item everyone uses (the dashboard) is similar to every item a little, and says nothing of a person: a
    # person's items count by their inverse document frequency, so rarer habits decide what comes next.
    informativeness = np.log(used.shape[0] / np.maximum(people_per_item, 1.0))
    return ItemModel("item_cooccurrence", items, people_per_item, weights, informativeness)


def fit_popularity(history: pd.DataFrame, *, min_people: int = MIN_PEOPLE) -> ItemModel:
    """The baseline: the items most people used, for everyone alike."""
    items, people_per_item = _vocabulary(history, min_people)
    return ItemModel("popularity", items, people_per_item, None)


def recommend(model: ItemModel, history: pd.DataFrame, k: int = SUGGESTIONS) -> pd.DataFrame:
    """Up to `k` items per person of `history` that they have not used: `person_id`, `rank` (1 first), `item`,
    `score` (the summed similarity; the share of people who used it, for the popularity model). Ties are broken by
    popularity, then by name, so the result is the same on every run."""
    people = sorted(history["person_id"].unique())
    frames = [frame for frame in _recommend_batches(model, history, people, k) if len(frame)]
    if not frames:
        return pd.DataFrame({"person_id": [], "rank": [], "item": [], "score": []}).astype(
            {"person_id": str, "rank": np.int32, "item": str, "score": np.float64}
        )
    return pd.concat(frames, ignore_index=True)


def _recommend_batches(model: ItemModel, history: pd.DataFrame, people: list[str], k: int) -> Iterator[pd.DataFrame]:
    if not model.items:
        return
    share = model.people_per_item / max(1.0, float(model.people_per_item.max()))
    # Popularity then name: the order among equal scores (items are sorted by name, so the index breaks ties).
    tie_order = np.lexsort((np.arange(len(model.items)), -model.people_per_item))
    tie_rank = np.empty(len(model.items), dtype=np.int64)
    tie_rank[tie_order] = np.arange(len(model.items))
    for start in range(0, len(people), BATCH_PEOPLE):
        batch = people[start : start + BATCH_PEOPLE]
        used = _usage(history, batch, model.items)
        if model.weights is None:
            scores = np.tile(share, (len(batch), 1))
        else:
            scores = np.asarray(used.multiply(model.informativeness[np.newaxis, :]).tocsr() @ model.weights)
        candidates = used.toarray() == 0
        rows, ranks, items, values = [], [], [], []
        for row in range(len(batch)):
            open_items = np.flatnonzero(candidates[row])
            if not len(open_items):
                continue
            order = open_items[np.lexsort((tie_rank[open_items], -scores[row, open_items]))][:k]
            rows += [batch[row]] * len(order)
            ranks += list(range(1, len(order) + 1))
            items += [model.items[i] for i in order]
            values += [float(scores[row, i]) for i in order]
        yield pd.DataFrame({"person_id": rows, "rank": np.array(ranks, dtype=np.int32), "item": items, "score": values})


def suggested_items(recommendations: pd.DataFrame) -> dict[str, list[str]]:
    """Each person's suggestions in rank order."""
    ordered = recommendations.sort_values(["person_id", "rank"])
    return {person: list(group["item"]) for person, group in ordered.groupby("person_id", sort=False)}


def hit_rate_at_k(suggested: dict[str, list[str]], relevant: dict[str, set[str]], k: int) -> float:
    """The share of people (those with relevant items) with at least one relevant item among their first k."""
    people = [person for person, items in relevant.items() if items]
    if not people:
        return 0.0
    return sum(1 for person in people if set(suggested.get(person, [])[:k]) & relevant[person]) / len(people)


def recall_at_k(suggested: dict[str, list[str]], relevant: dict[str, set[str]], k: int) -> float:
    """The mean, over people with relevant items, of the share of their relevant items among their first k."""
    people = [person for person, items in relevant.items() if items]
    if not people:
        return 0.0
    return float(
        np.mean(
            [len(set(suggested.get(person, [])[:k]) & relevant[person]) / len(relevant[person]) for person in people]
        )
    )


def newly_used(history: pd.DataFrame, later: pd.DataFrame) -> dict[str, set[str]]:
    """The items each person of `history` used in `later` but not in `history`: what a suggestion should find."""
    before = history.groupby("person_id")["item"].agg(set)
    after = later[later["person_id"].isin(before.index)].groupby("person_id")["item"].agg(set)
    return {person: items - before[person] for person, items in after.items() if items - before[person]}


def window(interactions: pd.DataFrame, first: date, end: date) -> pd.DataFrame:
    """The interactions of the days from `first` up to (not including) `end`."""
    days = interactions["event_date"]
    return interactions[(days >= first) & (days < end)]


@dataclass(frozen=True)
class RecommendationEvaluation:
    """How the model and the popularity baseline did on the held-out days before a cutoff."""

    k: int
    split_date: date  # the first held-out day: both models learnt from the days before it
    people_evaluated: int  # people with history before the split who used something new after it
    hit_rate: float
    recall: float
    popularity_hit_rate: float
    popularity_recall: float

    @property
    def beats_popularity(self) -> bool:
        """Better hit rate than the baseline, and no worse recall."""
        return self.hit_rate > self.popularity_hit_rate and self.recall >= self.popularity_recall

    def metrics(self) -> dict[str, float | int | str]:
        return {
            "k": self.k,
            "split_date": self.split_date.isoformat(),
            "people_evaluated": self.people_evaluated,
            f"hit_rate_at_{self.k}": round(self.hit_rate, 4),
            f"recall_at_{self.k}": round(self.recall, 4),
            f"popularity_hit_rate_at_{self.k}": round(self.popularity_hit_rate, 4),
            f"popularity_recall_at_{self.k}": round(self.popularity_recall, 4),
        }


def evaluate_recommendations(
    interactions: pd.DataFrame,
    cutoff: date,
    *,
    training_days: int = TRAINING_DAYS,
    holdout_days: int = HOLDOUT_DAYS,
    k: int = SUGGESTIONS,
    min_people: int = MIN_PEOPLE,
) -> RecommendationEvaluation:
    """Fit both models on the `training_days` before `cutoff - holdout_days`, judge them on the days after."""
    split = cutoff - timedelta(days=holdout_days)
    history = window(interactions, split - timedelta(days=training_days), split)
    relevant = newly_used(history, window(interactions, split, cutoff))
    scored = history[history["person_id"].isin(relevant)]
    results = {}
    for fit in (fit_item_cooccurrence, fit_popularity):
        suggested = suggested_items(recommend(fit(history, min_people=min_people), scored, k))
        results[fit] = (hit_rate_at_k(suggested, relevant, k), recall_at_k(suggested, relevant, k))
    return RecommendationEvaluation(
        k=k,
        split_date=split,
        people_evaluated=len(relevant),
        hit_rate=results[fit_item_cooccurrence][0],
        recall=results[fit_item_cooccurrence][1],
        popularity_hit_rate=results[fit_popularity][0],
        popularity_recall=results[fit_popularity][1],
    )
