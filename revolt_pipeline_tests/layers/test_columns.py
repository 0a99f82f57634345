"""The lake's column descriptions: the ML tables, whose columns the demo's default run does not write."""

import pandas as pd

from revolt_pipeline.layers.columns import describe
from revolt_pipeline.ml.segments import behaviour_profile
from revolt_pipeline.reports import schema
from revolt_pipeline.transforms.features import NUMERIC_FEATURES, TEXT_FEATURES


def test_every_feature_is_described() -> None:
    columns = ["cutoff", "person_id", *NUMERIC_FEATURES, *TEXT_FEATURES, "feature_usage_28d"]
    assert [column for column in columns if not describe("person_features", column)] == []
    assert describe("person_features", "events_14d") == "Events the person sent in the 14 days before the cutoff."


def test_every_segment_profile_column_is_described() -> None:
    features = pd.DataFrame(
        {
            "person_id": ["a", "b"],
            "active_days_28d": [20, 2],
            "sessions_28d": [40, 2],
            "events_28d": [400, 9],
            "primary_platform": ["web", "ios"],
            "feature_events_28d": [30, 3],
            "feature_usage_28d": [[("Invoice Sent", 30)], [("Timer Started", 3)]],
        }
    )
    profile = behaviour_profile(features, min_item_people_share=0.0).reset_index()
    columns = ["person_id", "segment", *profile.columns]
    assert [column for column in columns if not describe("segment_profiles", column)] == []
    assert describe("segment_profiles", "platform: web") == "1 when web is the person's main platform, else 0."


def test_a_dataset_of_its_own_wins_over_the_shared_meaning() -> None:
    assert describe("events_quarantine", "message") != describe("raw_events", "message")
    # A lake dataset loaded into the report table of its name shares its COMMENTs.
    assert describe("people", "first_seen") == schema.people.c.first_seen.comment
    assert describe("nothing", "no such column") is None
