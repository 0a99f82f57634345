"""Each event's country, found offline: from its IP (the message's, else the sender's), else its time zone.

And the dimensions reports break down by: events and active users per OS, device type, country, locale, source
and SDK library, with people's first and latest OS, country and locale.
"""

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from revolt_pipeline.transforms.actives import active_users_query, stage_window
from revolt_pipeline.transforms.aggregates import BY_COUNTRY, aggregate_query
from revolt_pipeline.transforms.countries import timezone_countries
from revolt_pipeline.transforms.engine import copy_to_parquet, parquet, sql_string
from revolt_pipeline.transforms.people import NO_SESSIONS, people_query, person_days_query, stitch_people
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.transforms.harness import at, duckdb_connection, landed, run_pipeline

D10, D11 = date(2026, 11, 10), date(2026, 11, 11)


def event(message_id: str, ip: str | None = None, timezone: str | None = None, **options: Any) -> dict[str, Any]:
    context = {key: value for key, value in (("ip", ip), ("timezone", timezone)) if value is not None}
    return landed(message_id, at("2026-11-10 10:00"), context=context, **options)


def test_the_country_comes_from_the_ip_else_the_time_zone_and_says_which(tmp_path: Path) -> None:
    records = [
        event("a-ip", ip="8.8.8.8", timezone="Asia/Tokyo"),  # the address wins over the zone
        event("b-client", client_ip="193.99.144.80"),  # no context.ip: the address the collector saw
        event("c-withheld", ip="0.0.0.0", timezone="Asia/Tokyo", client_ip="8.8.8.8"),  # Segment's "do not record"
        event("d-private", ip="10.1.2.3", timezone="Asia/Calcutta"),  # private: no country; the zone is a link
        event("e-loopback", client_ip="127.0.0.1"),  # the collector's own host, and no zone
        event("f-garbage", ip="not an address", timezone="UTC"),  # UTC names no country
        event("g-ipv6", ip="2001:4860:4860::8888"),
        event("h-mapped", ip=" ::ffff:8.8.8.8 "),  # an IPv4 client of a dual-stack socket, spaces around
    ]
    with duckdb_connection(threads=1) as connection:
        lake = run_pipeline(connection, tmp_path, records)
        rows = lake.rows(lake.events[D10], order="message_id")
    assert [(r["message_id"], r["ip"], r["country"], r["country_method"]) for r in rows] == [
        ("a-ip", "8.8.8.8", "US", "ip"),
        ("b-client", "193.99.144.80", "DE", "ip"),
        ("c-withheld", "0.0.0.0", "JP", "timezone"),
        ("d-private", "10.1.2.3", "IN", "timezone"),
        ("e-loopback", "127.0.0.1", None, "unknown"),
        ("f-garbage", "not an address", None, "unknown"),
        ("g-ipv6", "2001:4860:4860::8888", "US", "ip"),
        ("h-mapped", " ::ffff:8.8.8.8 ", "US", "ip"),
    ]


def test_every_zone_of_the_tz_database_and_its_old_names_name_their_country() -> None:
    zones = timezone_countries()
    assert len(zones) > 400
    assert (zones["Europe/Berlin"], zones["America/Sao_Paulo"], zones["Australia/Sydney"]) == ("DE", "BR", "AU")
    assert (zones["US/Eastern"], zones["Asia/Calcutta"], zones["Japan"], zones["GB"]) == ("US", "IN", "JP", "GB")
    assert zones["Europe/Copenhagen"] == "DK"  # a zone of its own in zone.tab, though linked to Berlin's rules
    assert "UTC" not in zones and "Etc/GMT" not in zones and "CET" not in zones


def dimension_context(os: tuple[str, str], country_ip: str, locale: str, library: tuple[str, str]) -> dict[str, Any]:
    return {
        "os": {"name": os[0], "version": os[1]},
        "device": {"type": "ios"},
        "ip": country_ip,
        "locale": locale,
        "library": {"name": library[0], "version": library[1]},
    }


def test_events_and_active_users_break_down_by_each_dimension_and_people_keep_first_and_latest(tmp_path: Path) -> None:
    """u1 moves from an iPhone in the US to one in Germany; u2 stays in Japan on Android; u3 sends nothing of it."""
    us = dimension_context(("iOS", "17.6"), "8.8.8.8", "en-US", ("analytics-ios", "4.1"))
    de = dimension_context(("iOS", "18.1"), "193.99.144.80", "de-DE", ("analytics-ios", "4.2"))
    jp = dimension_context(("Android", "15"), "133.1.1.1", "ja-JP", ("analytics-android", "4.1"))
    day1, day2 = at("2026-11-10 10:00"), at("2026-11-11 10:00")
    records = [
        landed("m1", day1, user_id="u1", platform="ios", context=us),
        landed("m2", day1 + timedelta(minutes=5), user_id="u1", platform="ios", app_version="1.1", context=us),
        landed("m3", day1, user_id="u2", platform="android", context=jp),
        landed("m4", day2, user_id="u1", platform="ios", context=de),
        landed("m5", day2, user_id="u3", platform="web", context={"os": None}),
    ]
    with duckdb_connection(threads=1) as connection:
        lake = run_pipeline(connection, tmp_path, records)
        by_country = {
            day: lake.rows(lake.actives["active_users_daily_by_country"][day], order="country") for day in (D10, D11)
        }
        by_os = lake.rows(lake.actives["active_users_daily_by_os"][D11], order="os_name, os_version")
        by_library = lake.rows(
            lake.actives["active_users_daily_by_library"][D11], order="library_name, library_version"
        )
        (person,) = [row for row in lake.rows(lake.people[D11]) if row["person_id"] == "u1"]
        (quiet,) = [row for row in lake.rows(lake.people[D11]) if row["person_id"] == "u3"]
        events_by_country = lake.rows(
            str(lake.folder / "work" / "events_daily_by_country-2026-11-10.parquet"), order="country, app_version"
        )
    figures = ("dau", "wau", "mau", "new_users")
    assert [(r["country"], r["country_method"], *(r[f] for f in figures)) for r in by_country[D10]] == [
        ("JP", "ip", 1, 1, 1, 1),
        ("US", "ip", 1, 1, 1, 1),
    ]
    # Day 2: u1 is in Germany today, in the US this week still; u3 sent no country.
    assert [(r["country"], r["country_method"], *(r[f] for f in figures)) for r in by_country[D11]] == [
        ("DE", "ip", 1, 1, 1, 0),
        ("JP", "ip", 0, 1, 1, 0),
        ("US", "ip", 0, 1, 1, 0),
        ("unknown", "unknown", 1, 1, 1, 1),
    ]
    assert [(r["os_name"], r["os_version"], r["dau"], r["mau"]) for r in by_os] == [
        ("Android", "15", 0, 1),
        ("iOS", "17.6", 0, 1),
        ("iOS", "18.1", 1, 1),
        ("unknown", "unknown", 1, 1),
    ]
    assert [(r["library_name"], r["library_version"], r["dau"]) for r in by_library] == [
        ("analytics-android", "4.1", 0),
        ("analytics-ios", "4.1", 0),
        ("analytics-ios", "4.2", 1),
        ("unknown", "unknown", 1),
    ]
    # Events by country per platform and app version: u1's two events in the US were sent by two versions.
    assert [
        (r["platform"], r["app_version"], r["country"], r["country_method"], r["event_name"], r["events"], r["users"])
        for r in events_by_country
    ] == [
        ("android", "1.0", "JP", "ip", "Timer Started", 1, 1),
        ("ios", "1.0", "US", "ip", "Timer Started", 1, 1),
        ("ios", "1.1", "US", "ip", "Timer Started", 1, 1),
    ]
    keys = ("first_country", "first_country_method", "country", "country_method", "first_os_version")
    assert {key: person[key] for key in keys} == {
        "first_country": "US",
        "first_country_method": "ip",
        "country": "DE",
        "country_method": "ip",
        "first_os_version": "17.6",
    }
    assert (person["os_version"], person["first_locale"], person["locale"]) == ("18.1", "en-US", "de-DE")
    assert (quiet["country"], quiet["country_method"], quiet["first_country"]) == (None, None, None)


def test_days_cleaned_before_countries_were_found_still_build_and_report_unknown(tmp_path: Path) -> None:
    """An upgrade: sessionized events and a people snapshot written by the previous version lack the new columns."""
    records = [event("m1", ip="8.8.8.8"), event("m2", user_id="u2", timezone="Asia/Tokyo")]
    with duckdb_connection(threads=1) as connection:
        lake = run_pipeline(connection, tmp_path, records)
        old_events, old_people = str(tmp_path / "old-sessionized.parquet"), str(tmp_path / "old-people.parquet")
        connection.execute(
            f"COPY (SELECT * EXCLUDE (country, country_method) FROM {parquet(lake.sessionized[D10])}) "
            f"TO {sql_string(old_events)} (FORMAT parquet)"
        )
        connection.execute(
            f"COPY (SELECT * EXCLUDE (country_method, first_os_name, first_os_version, first_country, first_locale, "
            f"first_country_method) FROM {parquet(lake.people[D10])}) TO {sql_string(old_people)} (FORMAT parquet)"
        )
        by_country = connection.execute(
            aggregate_query("events_daily_by_country", old_events, lake.sessions[D10], D10)
        ).fetchall()
        person_map = stitch_people(connection, [])
        person_days = str(tmp_path / "person-days.parquet")
        copy_to_parquet(connection, person_days_query(parquet(old_events), NO_SESSIONS, D11, person_map), person_days)
        copy_to_parquet(connection, people_query(old_people, person_days, D11, person_map), str(tmp_path / "p.parquet"))
        people = lake.rows(str(tmp_path / "p.parquet"))
    # platform, app version, country, method, events
    assert [(*row[1:5], row[-2]) for row in by_country] == [("web", "1.0", "unknown", "unknown", 2)]
    assert {row["person_id"]: (row["country"], row["first_country"]) for row in people} == {
        "u1": ("US", None),  # the old snapshot's country stays; its first country was never recorded
        "u2": ("JP", None),
    }


def test_person_days_written_before_country_methods_still_build_active_users_by_country(tmp_path: Path) -> None:
    """An upgrade: the day before's person days list `countries` and no `country_methods`; its people count in no
    country's row (until people_job builds the day again), the day's own people by country and method."""
    records = [event("m1", ip="8.8.8.8"), landed("m2", at("2026-11-11 10:00"), user_id="u2", context={"ip": "8.8.8.8"})]
    with duckdb_connection(threads=1) as connection:
        lake = run_pipeline(connection, tmp_path, records)
        old = str(tmp_path / "old-person-days.parquet")
        connection.execute(
            f"COPY (SELECT * EXCLUDE (country_methods), ['US'] AS countries FROM {parquet(lake.person_days[D10])}) "
            f"TO {sql_string(old)} (FORMAT parquet)"
        )
        window = stage_window(connection, {D10: old, D11: lake.person_days[D11]}, D11, stitch_people(connection, []))
        query = active_users_query(window, lake.people[D11], D11, PipelineRules().actives_window, BY_COUNTRY)
        rows = connection.execute(f"SELECT country, country_method, dau, mau FROM ({query})").fetchall()
    assert rows == [("US", "ip", 1, 1)]  # u2 today; u1 of the older day is not counted in any country


def test_dimension_values_the_report_database_cannot_hold_are_made_safe(tmp_path: Path) -> None:
    long_os = "Android" + "x" * 300
    context = {"os": {"name": long_os, "version": "1\x00"}, "locale": "en-US\x00", "library": {"name": "all"}}
    with duckdb_connection(threads=1) as connection:
        lake = run_pipeline(connection, tmp_path, [landed("m1", at("2026-11-10 10:00"), context=context)])
        by_os = lake.rows(lake.actives["active_users_daily_by_os"][D10])
        by_locale = lake.rows(lake.actives["active_users_daily_by_locale"][D10])
        by_library = lake.rows(lake.actives["active_users_daily_by_library"][D10])
        (sent,) = lake.rows(lake.events[D10])
    (os_row,) = by_os
    assert len(os_row["os_name"]) == 64 and os_row["os_name"].startswith("Androidxxx") and "…" in os_row["os_name"]
    assert os_row["os_version"] == "1\ufffd"
    assert [row["locale"] for row in by_locale] == ["en-US\ufffd"]
    assert [(row["library_name"], row["library_version"]) for row in by_library] == [("all", "unknown")]
    assert sent["os_name"] == long_os  # the lake keeps the value as sent
