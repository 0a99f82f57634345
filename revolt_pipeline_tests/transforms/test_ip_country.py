"""Cleaning takes an event's country from what the collector found before truncating its address (`ipCountry`),
and looks the landed address up only where the collector found none, as for records landed before collectors
did."""

import gzip
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import LANDING, landed_object_key
from revolt_pipeline.transforms.engine import parquet
from revolt_pipeline_tests.transforms.harness import DEFAULT_RULES, at, duckdb_connection, landed

D10 = date(2026, 11, 10)


def event(message_id: str, ip: str | None, ip_country: str | None = None, **options: Any) -> dict[str, Any]:
    context = {"ip": ip, "timezone": "Asia/Tokyo"} if ip else {"timezone": "Asia/Tokyo"}
    record = landed(message_id, at("2026-11-10 10:00"), context=context, **options)
    if ip_country is not None or "old" not in message_id:
        record["ipCountry"] = ip_country
    return record


def test_the_collectors_country_wins_and_old_records_are_looked_up(tmp_path: Path) -> None:
    records = [
        # A block the registries split below /24 would look up otherwise once truncated: the collector's answer.
        event("a-collector", "8.8.8.0", ip_country="DE"),
        event("b-old", "8.8.8.8"),  # landed before collectors found countries: its full address, looked up
        event("c-dropped", None, ip_country="US"),  # the address dropped (REVOLT_IP_POLICY=drop), its country kept
        event("d-none", None),  # neither: the time zone
    ]
    store = ObjectStore((tmp_path / "store").as_uri())
    lines = b"".join(orjson.dumps(record) + b"\n" for record in records)
    store.put(landed_object_key(LANDING, at("2026-11-10 10:00"), "c1", "000001"), gzip.compress(lines))
    (tmp_path / "work").mkdir()
    builder = DayBuilder(store, DEFAULT_RULES, tmp_path / "work")  # raw and cleaning only: nothing else reads it
    raw_path = builder.raw_days([D10])[0].raw_path
    events_path = builder.event_days([D10]).cleaned[0].events_path
    with duckdb_connection(threads=1) as connection:
        rows = connection.execute(
            f"SELECT message_id, ip, country, country_method FROM {parquet(events_path)} ORDER BY 1"
        ).fetchall()
        raw = connection.execute(f"SELECT ip_country FROM {parquet(raw_path)} ORDER BY message_id").fetchall()
    assert rows == [
        ("a-collector", "8.8.8.0", "DE", "ip"),
        ("b-old", "8.8.8.8", "US", "ip"),
        ("c-dropped", None, "US", "ip"),
        ("d-none", None, "JP", "timezone"),
    ]
    assert [country for (country,) in raw] == ["DE", None, "US", None]
