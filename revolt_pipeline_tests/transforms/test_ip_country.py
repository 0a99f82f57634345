"""Cleaning takes an event's country from what the collector found before truncating its address (`ipCountry`),
and looks the landed address up only where the collector found none, as for records landed before collectors
did."""

from datetime import date
from pathlib import Path
from typing import Any

from revolt_pipeline_tests.transforms.harness import at, duckdb_connection, landed, run_pipeline

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
    with duckdb_connection(threads=1) as connection:
        lake = run_pipeline(connection, tmp_path, records)
        rows = lake.rows(lake.events[D10], order="message_id")
        raw = lake.rows(lake.raw[D10], order="message_id")
    assert [(r["message_id"], r["ip"], r["country"], r["country_method"]) for r in rows] == [
        ("a-collector", "8.8.8.0", "DE", "ip"),
        ("b-old", "8.8.8.8", "US", "ip"),
        ("c-dropped", None, "US", "ip"),
        ("d-none", None, "JP", "timezone"),
    ]
    assert [r["ip_country"] for r in raw] == ["DE", None, "US", None]
