"""Where things land in the object store. Every key the collector writes is built here."""

import re
from datetime import date, datetime

LANDING = "landing"
QUARANTINE = "quarantine"
WATERMARKS = "watermarks"


def landed_object_key(area: str, received_hour: datetime, collector_id: str, segment_id: str) -> str:
    """`landing/received_date=YYYY-MM-DD/hour=HH/<collector>-<segment>.jsonl.gz` (or `quarantine/...`).

    Deterministic in its inputs, so uploading a segment again after a crash overwrites rather than
    duplicates.
    """
    return f"{area}/received_date={received_hour:%Y-%m-%d}/hour={received_hour:%H}/{collector_id}-{segment_id}.jsonl.gz"


def received_date_prefix(area: str, day: date) -> str:
    return f"{area}/received_date={day:%Y-%m-%d}/"


def watermark_key(collector_id: str) -> str:
    return f"{WATERMARKS}/{collector_id}.json"


# The lake: Hive-style partitioned Parquet that DuckDB, Spark, Athena or Glue read directly.
# Partition columns live in the path only, as those engines expect.
def raw_events_key(day: date) -> str:
    return f"raw_events/received_date={day:%Y-%m-%d}/events.parquet"


def raw_profile_key(day: date) -> str:
    """What the crawler learned of a received day: counts, assigned days, property catalog."""
    return f"raw_profiles/received_date={day:%Y-%m-%d}.json"


def identity_links_key(day: date) -> str:
    return f"identity_links/received_date={day:%Y-%m-%d}/links.parquet"


IDENTITY_LINKS = "identity_links"


def events_key(day: date) -> str:
    return f"events/event_date={day:%Y-%m-%d}/events.parquet"


def events_quarantine_key(day: date) -> str:
    return f"events_quarantine/event_date={day:%Y-%m-%d}/quarantine.parquet"


def sessionized_events_key(day: date) -> str:
    return f"sessionized_events/event_date={day:%Y-%m-%d}/events.parquet"


def sessions_key(day: date) -> str:
    return f"sessions/session_date={day:%Y-%m-%d}/sessions.parquet"


def aggregate_key(name: str, day: date) -> str:
    return f"aggregates/{name}/date={day:%Y-%m-%d}/{name}.parquet"


def person_days_key(day: date) -> str:
    return f"person_days/event_date={day:%Y-%m-%d}/person_days.parquet"


def people_key(day: date) -> str:
    """The people snapshot as of the end of a day."""
    return f"people/snapshot_date={day:%Y-%m-%d}/people.parquet"


def active_users_key(table: str, day: date) -> str:
    return f"active_users/{table}/date={day:%Y-%m-%d}/{table}.parquet"


def people_report_key(table: str, day: date) -> str:
    """A people-layer day's rows in the shape of the report table `table` (`person_days`, `people`)."""
    return f"people_reports/{table}/date={day:%Y-%m-%d}/{table}.parquet"


def funnel_progress_key(day: date) -> str:
    """Per person and funnel entered on a day: the entry and the time of each step reached."""
    return f"funnel_progress/event_date={day:%Y-%m-%d}/funnel_progress.parquet"


def funnel_steps_key(table: str, day: date) -> str:
    """A daily funnel step table, or (`day` a Monday) a weekly one as of the latest day built in its week."""
    return f"funnel_steps/{table}/date={day:%Y-%m-%d}/{table}.parquet"


def cohort_activity_key(day: date) -> str:
    """People of the retention cohorts still open on a day, and their active days (the retention snapshot)."""
    return f"cohort_activity/snapshot_date={day:%Y-%m-%d}/cohort_activity.parquet"


def person_platforms_key(day: date) -> str:
    """Each person's platforms and app versions and the day first active with each, as of a day (the snapshot
    lifecycle by platform judges new people by)."""
    return f"person_platforms/snapshot_date={day:%Y-%m-%d}/person_platforms.parquet"


def lifecycle_daily_key(day: date, table: str = "lifecycle_daily") -> str:
    """A day's lifecycle rows (`table`: in total, by platform, or by app version)."""
    return f"lifecycle/{table}/date={day:%Y-%m-%d}/{table}.parquet"


def lifecycle_weekly_key(week_start: date, table: str = "lifecycle_weekly") -> str:
    """A week's lifecycle rows (`table`: in total, by platform, or by app version), rewritten by each day of the
    week."""
    return f"lifecycle/{table}/week_start={week_start:%Y-%m-%d}/{table}.parquet"


def retention_daily_key(cohort_date: date, table: str = "retention_daily") -> str:
    """A day cohort's retention rows (`table`: in total, or by app version), rewritten by each of the 31 days of
    its horizon."""
    return f"retention/{table}/cohort_date={cohort_date:%Y-%m-%d}/{table}.parquet"


def retention_weekly_key(cohort_week: date, table: str = "retention_weekly") -> str:
    """A week cohort's retention rows (by its Monday; `table`: in total, or by app version), rewritten by each day
    of the 13 weeks of its horizon."""
    return f"retention/{table}/cohort_week={cohort_week:%Y-%m-%d}/{table}.parquet"


# Recommendations and segments (issue 9), as of the end of a day (their cutoff the midnight after it), like the
# churn model's: their outputs, by day like the report tables they load, and each model's description and metrics
# beside them (JSON, outside the Parquet folders).
def recommendations_key(as_of: date) -> str:
    """Each person's suggested items as of the end of a day (the `recommendations` report table's rows)."""
    return f"recommendations/as_of_date={as_of:%Y-%m-%d}/recommendations.parquet"


def segments_key(table: str, as_of: date) -> str:
    """A segments table as of the end of a day: `person_segments` or `segment_sizes`."""
    return f"segments/{table}/as_of_date={as_of:%Y-%m-%d}/{table}.parquet"


def model_key(model: str, as_of: date) -> str:
    """A model's description as of the end of a day (`recommendations`, `segments`): parameters and metrics, JSON."""
    return f"models/{model}/as_of_date={as_of:%Y-%m-%d}/model.json"


# Written last by the step that builds a lake day: the day's objects are complete (layers/commits.py).
# The leading underscore keeps it out of what Spark, Athena and Glue read as data.
COMMITS = "_commits"


def commit_key(layer: str, day: date) -> str:
    return f"{COMMITS}/{layer}/date={day:%Y-%m-%d}.json"


# Machine learning (layers/ml.py): features as of a cutoff, and models versioned by the cutoff they score.
def person_features_key(cutoff: date) -> str:
    """Each person's features as of a cutoff (midnight UTC): from what happened strictly before it."""
    return f"person_features/cutoff={cutoff:%Y-%m-%d}/person_features.parquet"


def churn_model_folder(as_of: date) -> str:
    """A churn model's files (`model.pkl`, `model.json`: metrics, feature list, settings), by the day it scores
    people as of (the cutoff is the midnight after it)."""
    return f"models/churn/as_of_date={as_of:%Y-%m-%d}/"


def churn_scores_key(as_of: date) -> str:
    """Each person's churn score as of the end of a day, in the shape of the report table `churn_scores`."""
    return f"churn_scores/as_of_date={as_of:%Y-%m-%d}/churn_scores.parquet"


# Privacy requests (docs/privacy.md): their own records, which hold object keys and counts, never a person's id.
PRIVACY = "privacy"
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def erasure_progress_key(request_id: str) -> str:
    """An erasure's progress: per object changed, what it lost (`layers/erasure.py`)."""
    if not _REQUEST_ID.fullmatch(request_id):
        raise ValueError(f"a request id is 1 to 128 letters, digits, '.', '_' or '-', got {request_id!r}")
    return f"{PRIVACY}/erasures/{request_id}.json"
