"""Where things land in the object store. Every key the collector writes is built here."""

from datetime import date, datetime

LANDING = "landing"
QUARANTINE = "quarantine"
WATERMARKS = "watermarks"


def landed_object_key(area: str, received_hour: datetime, collector_id: str, segment_id: str) -> str:
    """`landing/received_date=YYYY-MM-DD/hour=HH/<collector>-<segment>.jsonl.gz` (or `quarantine/...`).

    Deterministic in its inputs, so uploading a segment again after a crash overwrites rather than
    duplicates.
    """
    return (
        f"{area}/received_date={received_hour:%Y-%m-%d}/hour={received_hour:%H}/"
        f"{collector_id}-{segment_id}.jsonl.gz"
    )


def received_date_prefix(area: str, day: date) -> str:
    return f"{area}/received_date={day:%Y-%m-%d}/"


def watermark_key(collector_id: str) -> str:
    return f"{WATERMARKS}/{collector_id}.json"
