"""The raw layer of one received day: consolidate, profile, catalogue, link identities."""

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

from revolt_pipeline.layers.commits import RAW_EVENTS, committing, is_committed
from revolt_pipeline.layers.retention_policy import refuse_expired_raw
from revolt_pipeline.layers.staging import local_copies
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import (
    LANDING,
    identity_links_key,
    raw_events_key,
    raw_profile_key,
    received_date_prefix,
)
from revolt_pipeline.transforms.identities import write_identity_links
from revolt_pipeline.transforms.raw import (
    Drift,
    RawProfile,
    compare_catalogs,
    consolidate_landed,
    estimate_event_counts,
    likely_pii_findings,
    merge_catalogs,
    merge_event_counts,
    profile_raw,
)
from revolt_pipeline.transforms.rules import PipelineRules

DRIFT_HISTORY_DAYS = 7


@dataclass
class RawDay:
    day: date
    rows: int
    landed_objects: int
    profile: RawProfile
    raw_path: str  # the local Parquet file, until the caller's work folder goes
    drift: list[str] = field(default_factory=list)
    unhashed_pii: list[str] = field(default_factory=list)  # properties that look personal, kept by cleaning


def read_profile(store: ObjectStore, day: date) -> dict[str, Any] | None:
    """The profile of a committed raw day, or None (never built, or its last build failed part way)."""
    return json.loads(store.get(raw_profile_key(day))) if is_committed(store, RAW_EVENTS, day) else None


def build_raw_day(
    store: ObjectStore, connection: duckdb.DuckDBPyConnection, day: date, rules: PipelineRules, workdir: Path
) -> RawDay:
    """Write `raw_events`, its identity links and its profile for a received day, committed together."""
    refuse_expired_raw(store, [day], f"building raw_events of {day}")  # its landed objects went with its rows
    landed = [info.key for info in store.list(received_date_prefix(LANDING, day))]
    raw_path = str(workdir / f"raw-{day}.parquet")
    links_path = str(workdir / f"links-{day}.parquet")
    with local_copies(store, landed) as landed_files:
        rows = consolidate_landed(connection, landed_files, raw_path)
    profile = profile_raw(connection, raw_path, day, rules)
    write_identity_links(connection, raw_path, links_path)
    drift = drift_against_history(store, day, profile)
    with committing(store, RAW_EVENTS, day) as commit:
        commit.put_file(raw_events_key(day), raw_path)
        commit.put_file(identity_links_key(day), links_path)
        commit.put(raw_profile_key(day), profile_document(day, profile, landed_objects=len(landed)))
    return RawDay(
        day=day,
        rows=rows,
        landed_objects=len(landed),
        profile=profile,
        raw_path=raw_path,
        drift=drift.findings(),
        unhashed_pii=likely_pii_findings(profile.catalog, profile.likely_pii, rules.pii),
    )


def profile_document(day: date, profile: RawProfile, *, landed_objects: int) -> bytes:
    """The raw day's profile object (`raw_profile_key`), as its build writes it and an erasure counts it again."""
    document = {
        "received_date": day.isoformat(),
        "rows": profile.rows,
        "rows_by_assigned_date": profile.rows_by_assigned_date,
        "rows_by_type": profile.rows_by_type,
        "null_counts": profile.null_counts,
        "catalog": profile.catalog,
        "catalog_values_made_safe": profile.catalog_made_safe,
        "event_counts": profile.event_counts,
        "likely_pii": profile.likely_pii,
        "landed_objects": landed_objects,
    }
    return json.dumps(document, indent=1, sort_keys=True).encode()


def drift_against_history(store: ObjectStore, day: date, profile: RawProfile) -> Drift:
    """The day's schema drift against the committed raw days of the week before (see `compare_catalogs`)."""
    history = [
        previous
        for offset in range(1, DRIFT_HISTORY_DAYS + 1)
        if (previous := read_profile(store, day - timedelta(days=offset))) is not None
    ]
    return compare_catalogs(
        profile.catalog,
        merge_catalogs([previous["catalog"] for previous in history]),
        today_events=profile.event_counts,
        history_events=merge_event_counts(
            [previous.get("event_counts") or estimate_event_counts(previous["catalog"]) for previous in history]
        ),
    )
