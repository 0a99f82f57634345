"""Behavioural segments: people clustered by how they use the product, each segment described in plain words.

A person's **behaviour profile** over the 28 days before a cutoff, from their features (`transforms/features.py`,
the churn model's too): how often they come (`active_day_share`), how many sessions on an active day and events
in a session, the platform they mostly use (`platform: web`, 1 or 0) and the share of their feature use going to
each tracked event (`item: track: Invoice Sent`, events used by enough people to say something).

Feature use is a mix of shares, clustered as text is clustered by its words: the square roots of the shares
(the Hellinger distance between mixes), each item weighted by its inverse document frequency (an item everyone
uses says nothing of anyone), and each person's vector scaled to length 1 (a heavy and a light user of the same
mix fall together). How often and where a person comes is scaled to mean 0 and variance 1 and enters at a fifth of
that weight (`BEHAVIOUR_WEIGHT`): it tells apart people of the same mix without splitting people by its noise
(weighted equally, the platform mixes of the demo's people outweigh what they do). The result is clustered with
k-means for every number of segments in a range, seeded; the number kept is the one with the best silhouette
(how much closer people are to their own segment than to the next). Segments are numbered by size, largest
first, and described from their centre against everyone's: how often, on what, how intensely, and which
features they use far more than others ("daily desktop power users of Invoice Sent and Rate Set").
"""

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

PROFILE_DAYS = 28  # the days of behaviour before a cutoff a profile describes (the features' window)
SEGMENT_COUNTS = range(2, 9)  # the numbers of segments tried
SEED = 0
MIN_ITEM_PEOPLE_SHARE = 0.02  # an item enters the profile when this share of people used it
MAX_ITEMS = 40  # at most this many items (the most used) enter the profile
SILHOUETTE_SAMPLE = 3000  # people the silhouette is measured on, drawn with the seed, when there are more
KMEANS_RESTARTS = 10
BEHAVIOUR_WEIGHT = 0.2  # of the activity and platform columns, against feature use (of length 1 per person)
PLATFORM_PREFIX = "platform: "
ITEM_PREFIX = "item: "


def behaviour_profile(features: pd.DataFrame, *, min_item_people_share: float = MIN_ITEM_PEOPLE_SHARE) -> pd.DataFrame:
    """One row per person (index `person_id`), in the columns the module docstring names, from each person's
    features as of a cutoff (`transforms/features.py`: `active_days_28d`, `sessions_28d`, `events_28d`,
    `primary_platform`, `feature_events_28d` and `feature_usage_28d`, the uses of each tracked event)."""
    if features.empty:
        return pd.DataFrame(index=pd.Index([], name="person_id"), dtype=np.float64)
    features = features.set_index("person_id")
    active_days = features["active_days_28d"].clip(lower=1)
    profile = pd.DataFrame(index=features.index)
    profile["active_day_share"] = features["active_days_28d"] / PROFILE_DAYS
    profile["sessions_per_active_day"] = features["sessions_28d"] / active_days
    profile["events_per_session"] = features["events_28d"] / features["sessions_28d"].clip(lower=1)
    platforms = pd.get_dummies(features["primary_platform"].fillna("unknown"), dtype=np.float64)
    profile = profile.join(platforms.add_prefix(PLATFORM_PREFIX))
    uses = pd.DataFrame(
        [
            (person, f"track: {event}", count)
            for person, usage in features["feature_usage_28d"].items()
            for event, count in (usage or [])
        ],
        columns=["person_id", "item", "uses"],
    )
    people_per_item = uses.groupby("item")["person_id"].nunique().sort_values(ascending=False, kind="stable")
    kept = people_per_item[people_per_item >= min_item_people_share * len(profile)].index[:MAX_ITEMS]
    items = uses[uses["item"].isin(kept)].pivot_table(
        index="person_id", columns="item", values="uses", aggfunc="sum", fill_value=0
    )
    items = items.div(features["feature_events_28d"].clip(lower=1), axis=0).add_prefix(ITEM_PREFIX)
    profile = profile.join(items).fillna(0.0)
    return profile.sort_index().reindex(sorted(profile.columns), axis=1).astype(np.float64)


@dataclass(frozen=True)
class Segments:
    """The chosen clustering of a profile: each person's segment, the segments' centres and descriptions."""

    labels: pd.Series  # person_id -> segment (0 the largest)
    centres: pd.DataFrame  # segment -> profile columns, in the profile's units
    descriptions: dict[int, str]
    silhouettes: dict[int, float]  # number of segments tried -> silhouette
    overall: pd.Series  # the profile's means, the centres are described against

    @property
    def count(self) -> int:
        return len(self.centres)

    @property
    def silhouette(self) -> float:
        return self.silhouettes[self.count]

    def sizes(self) -> pd.Series:
        return self.labels.value_counts().reindex(self.centres.index, fill_value=0)


def fit_segments(profile: pd.DataFrame, *, counts: range = SEGMENT_COUNTS, seed: int = SEED) -> Segments:
    """Cluster the scaled profile with k-means for each number of segments in `counts` (fewer than people), and
    keep the one with the best silhouette; ties go to fewer segments."""
    tried = [k for k in counts if 2 <= k < len(profile)]
    if not tried:
        raise ValueError(f"{len(profile)} people cannot be split into {counts.start} or more segments")
    scaled = clustering_space(profile)
    sample = min(SILHOUETTE_SAMPLE, len(profile))
    silhouettes, fitted = {}, {}
    for k in tried:
        model = KMeans(n_clusters=k, n_init=KMEANS_RESTARTS, random_state=seed).fit(scaled)
        if len(set(model.labels_)) < 2:
            continue
        silhouettes[k] = float(silhouette_score(scaled, model.labels_, sample_size=sample, random_state=seed))
        fitted[k] = model.labels_
    if not silhouettes:
        raise ValueError("every person has the same behaviour profile: there is nothing to segment")
    best = max(silhouettes, key=lambda k: (round(silhouettes[k], 6), -k))
    raw = pd.Series(fitted[best], index=profile.index)
    # Number segments by size, largest first (then by their first person), so the numbering is stable.
    order = sorted(raw.unique(), key=lambda label: (-(raw == label).sum(), raw[raw == label].index[0]))
    labels = raw.map({label: number for number, label in enumerate(order)}).rename("segment")
    centres = profile.groupby(labels).mean().sort_index()
    overall = profile.mean()
    descriptions = {int(segment): describe_segment(centres.loc[segment], overall) for segment in centres.index}
    return Segments(labels, centres, descriptions, silhouettes, overall)


def clustering_space(profile: pd.DataFrame) -> np.ndarray:
    """The profile as k-means sees it (the module docstring says why): feature use as square roots of its shares,
    weighted by each item's inverse document frequency and of length 1 per person, beside the other columns
    standardized and weighted by `BEHAVIOUR_WEIGHT`."""
    items = [column for column in profile.columns if column.startswith(ITEM_PREFIX)]
    others = [column for column in profile.columns if column not in items]
    use = np.sqrt(profile[items].to_numpy()) * np.log(1.0 / (profile[items] > 0).mean().clip(lower=1e-9)).to_numpy()
    lengths = np.linalg.norm(use, axis=1, keepdims=True)
    use = np.divide(use, lengths, out=np.zeros_like(use), where=lengths > 0)
    behaviour = StandardScaler().fit_transform(profile[others].to_numpy()) * BEHAVIOUR_WEIGHT if others else None
    return use if behaviour is None else np.hstack([use, behaviour])


def _feature_name(column: str) -> str:
    """`item: track: Invoice Sent` -> `Invoice Sent`, `item: screen: Timesheet` -> `the Timesheet screen`."""
    kind, _, name = column.removeprefix(ITEM_PREFIX).partition(": ")
    return {"screen": f"the {name} screen", "page": f"the {name} page"}.get(kind, name)


def _joined(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def describe_segment(centre: pd.Series, overall: pd.Series) -> str:
    """A segment in plain words from its centre: `daily desktop power users of Invoice Sent and Rate Set`.

    How often: daily (active on half the days or more), weekly (a fifth), else occasional. On what: the primary
    platform of 60% of them or more, else multi-platform. How intensely: power users with a quarter more events per
    session than everyone, light users with a quarter fewer. Of what: up to three items they use at least 1.5
    times as much as everyone (and on 2% of their feature use or more), the most over-used first."""
    share = centre.get("active_day_share", 0.0)
    often = "daily" if share >= 0.5 else "weekly" if share >= 0.2 else "occasional"
    platforms = centre[[c for c in centre.index if c.startswith(PLATFORM_PREFIX)]]
    top = platforms.idxmax() if len(platforms) else None
    on = top.removeprefix(PLATFORM_PREFIX) if top is not None and platforms[top] >= 0.6 else "multi-platform"
    intensity = centre.get("events_per_session", 0.0) / max(overall.get("events_per_session", 0.0), 1e-9)
    who = "power users" if intensity >= 1.25 else "light users" if intensity <= 0.75 else "users"
    items = [c for c in centre.index if c.startswith(ITEM_PREFIX) and centre[c] >= 0.02]
    lifts = {c: centre[c] / max(overall[c], 1e-9) for c in items}
    over = sorted((c for c in items if lifts[c] >= 1.5), key=lambda c: (-lifts[c], c))[:3]
    text = f"{often} {on} {who}"
    return f"{text} of {_joined([_feature_name(c) for c in over])}" if over else text


def segment_sizes(segments: Segments, as_of: date) -> pd.DataFrame:
    """One row per segment: `as_of_date`, `segment`, `description`, `people`, `share` of the people profiled."""
    sizes = segments.sizes()
    return pd.DataFrame(
        {
            "as_of_date": as_of,
            "segment": sizes.index.astype(np.int32),
            "description": [segments.descriptions[int(s)] for s in sizes.index],
            "people": sizes.to_numpy(dtype=np.int64),
            "share": (sizes / sizes.sum()).to_numpy(dtype=np.float64),
        }
    )


def person_segments(segments: Segments, as_of: date) -> pd.DataFrame:
    """One row per person: `as_of_date`, `person_id`, `segment`, `description`."""
    labels = segments.labels
    return pd.DataFrame(
        {
            "as_of_date": as_of,
            "person_id": labels.index.astype(str),
            "segment": labels.to_numpy(dtype=np.int32),
            "description": [segments.descriptions[int(s)] for s in labels],
        }
    )
