"""Personal data: configured keys hashed or dropped by cleaning at any depth, and the catalog's PII scanner."""

import gzip
import json
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from revolt_pipeline.contract.pseudonyms import pseudonym
from revolt_pipeline.defs.rules import pipeline_rules, rules_metadata
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.settings import Settings, SettingsError
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import LANDING, landed_object_key
from revolt_pipeline.transforms.pii import (
    DEFAULT_PII_HASH_KEYS,
    PiiRules,
    likely_pii_sql,
    register_pii_functions,
)
from revolt_pipeline.transforms.raw import catalog_rows, likely_pii_findings
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.transforms.harness import Lake, at, duckdb_connection, landed, run_pipeline

SALT = "test-salt-9f2c"
RULES = PipelineRules(pii=PiiRules(DEFAULT_PII_HASH_KEYS, ("internal_note",), salt=SALT))
DAY = date(2026, 11, 10)


def hashed(value: str) -> str:
    return pseudonym(SALT, value)


def _json(text: str | None) -> Any:
    return json.loads(text) if text is not None else None


def events_by_id(lake: Lake) -> dict[str, dict[str, Any]]:
    return {row["message_id"]: row for row in lake.all_rows(lake.events)}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    """One day with personal data at every place it can hide, built through every layer with the PII rules."""
    records = [
        landed(
            "identify-1",
            at("2026-11-10 09:00"),
            kind="identify",
            traits={
                "email": "Ada@Example.com",
                "name": "Ada Lovelace",
                "firstName": "Ada",
                "Phone-Number": 4155551234,
                "address": {"street": "1 Main St", "city": "London"},
                "plan": "team",
                "internal_note": "VIP, call before renewal",
            },
        ),
        landed(
            "track-1",
            at("2026-11-10 09:05"),
            properties={
                "name": "Pro plan",  # a product's name: `name` is hashed as a trait only
                "recipients": [{"email": "bob@example.com", "role": "cc"}, {"email": None}],
                "customer": {"E_Mail": "Ada@Example.com"},
                "amount": 12.5,
            },
            context={"traits": {"email": "Ada@Example.com", "name": "Ada Lovelace"}},
        ),
        landed("page-1", at("2026-11-10 09:06"), kind="page", event="Pricing", properties={"name": "Pricing"}),
        # The same message delivered again: quarantined as a duplicate, with the message as sent.
        landed("track-1", at("2026-11-10 09:05"), received=at("2026-11-10 09:20"), properties={"email": "a@b.io"}),
    ]
    with duckdb_connection(threads=1) as connection:
        yield run_pipeline(connection, tmp_path_factory.mktemp("pii"), records, RULES)


def test_configured_trait_keys_are_hashed_and_dropped_in_cleaned_events(lake: Lake) -> None:
    traits = _json(events_by_id(lake)["identify-1"]["traits"])
    assert traits == {
        "email": hashed("Ada@Example.com"),  # as sent: not lower-cased
        "name": hashed("Ada Lovelace"),
        "firstName": hashed("Ada"),  # first_name, whatever the case and separators
        "Phone-Number": hashed("4155551234"),  # a number, by its JSON text
        "address": {"street": hashed("1 Main St"), "city": hashed("London")},  # every value of an object
        "plan": "team",
    }  # internal_note dropped


def test_keys_are_matched_at_any_depth_of_properties_and_context_traits(lake: Lake) -> None:
    event = events_by_id(lake)["track-1"]
    assert _json(event["properties"]) == {
        "name": "Pro plan",
        "recipients": [{"email": hashed("bob@example.com"), "role": "cc"}, {"email": None}],
        "customer": {"E_Mail": hashed("Ada@Example.com")},
        "amount": 12.5,
    }
    context = _json(event["context"])
    assert context["traits"] == {"email": hashed("Ada@Example.com"), "name": hashed("Ada Lovelace")}
    assert context["app"] == {"version": "1.0"}
    # A page's `name` property is its name, not a person's.
    assert _json(events_by_id(lake)["page-1"]["properties"]) == {"name": "Pricing"}


def test_the_pseudonym_equals_pythons_and_duckdbs_so_a_hashed_email_joins(lake: Lake) -> None:
    expected = lake.connection.execute("SELECT sha256(? || ?)", [SALT, "Ada@Example.com"]).fetchone()[0]
    assert expected == hashed("Ada@Example.com")
    events = events_by_id(lake)
    assert (
        _json(events["identify-1"]["traits"])["email"] == _json(events["track-1"]["properties"])["customer"]["E_Mail"]
    )


def test_the_people_snapshot_holds_the_hash_in_its_typed_trait_columns(lake: Lake) -> None:
    (person,) = lake.rows(lake.people[DAY])
    assert (person["email"], person["name"], person["plan"]) == (
        hashed("Ada@Example.com"),
        hashed("Ada Lovelace"),
        "team",
    )
    assert "internal_note" not in _json(person["traits"])


def test_the_quarantine_keeps_no_configured_value_while_raw_keeps_the_message_as_sent(lake: Lake) -> None:
    (duplicate,) = lake.rows(lake.quarantine[DAY])
    assert duplicate["reason"] == "duplicate"
    assert _json(duplicate["message"])["properties"] == {"email": hashed("a@b.io")}
    raw = "".join(row["message"] for row in lake.rows(lake.raw[DAY]))
    assert "a@b.io" in raw and "Ada@Example.com" in raw  # until the retention policy deletes the raw day


def test_documents_naming_no_configured_key_are_kept_byte_for_byte() -> None:
    rules = PiiRules(("email",), salt=SALT)
    with duckdb_connection(threads=1) as connection:
        names = register_pii_functions(connection, rules)
        documents = ['{"n": 1.10,  "email_sent": true}', '{"Email" : "x@y.z"}', None, "not json"]
        connection.register("documents", pa.table({"document": documents}))
        rewritten = [
            row[0] for row in connection.execute(f"SELECT {names['properties']}(document) FROM documents").fetchall()
        ]
    assert rewritten == [documents[0], json.dumps({"Email": hashed("x@y.z")}, separators=(",", ":")), None, "not json"]


def test_a_quarantined_message_spelling_a_key_with_json_escapes_is_hashed_too() -> None:
    """Cleaned documents come out of DuckDB's JSON with escapes decoded; a message as sent keeps them."""
    message = r'{"type":"track","properties":{"em\u0061il":"a@b.io"},"context":{"traits":{"Email":"a@b.io"}}}'
    with duckdb_connection(threads=1) as connection:
        names = register_pii_functions(connection, PiiRules(("email",), salt=SALT))
        (rewritten,) = connection.execute(f"SELECT {names['message']}(?)", [message]).fetchone()
    assert json.loads(rewritten) == {
        "type": "track",
        "properties": {"email": hashed("a@b.io")},
        "context": {"traits": {"Email": hashed("a@b.io")}},
    }


def test_a_path_names_one_place_and_a_dropped_key_wins_over_a_hashed_one() -> None:
    rules = PiiRules(("properties.customer.name", "email"), ("email",), salt=SALT)
    assert rules.action("properties", ("customer", "name")) == "hash"
    assert rules.action("properties", ("name",)) is None
    assert rules.action("traits", ("customer", "name")) is None
    assert rules.action("traits", ("contact", "email")) == "drop"


def test_rules_refuse_what_they_cannot_apply() -> None:
    with pytest.raises(ValueError, match="privacy salt"):
        PiiRules(("email",))
    with pytest.raises(ValueError, match=r"traits\. or properties\."):
        PiiRules(("context.email",), salt=SALT)
    with pytest.raises(ValueError, match="a name or a path"):
        PiiRules(drop_keys=("traits..name",))
    assert SALT not in repr(RULES)  # never printed, nor logged with the rules


# The scanner: values that are personal data, and values that only look numeric or dotted.
LOOKS_PERSONAL = {
    "ada@example.com": "email",
    "o'brien+news@mail.co.uk": "email",
    "4111 1111 1111 1111": "card",
    "378282246310005": "card",
    "+33 6 12 34 56 78": "phone",
    "+1 (415) 555-1234": "phone",
    "415.555.1234": "phone",
    "192.168.1.20": "ip",
    "2001:db8::1": "ip",
}
LOOKS_HARMLESS = [
    "1.2.3",  # a version
    "10.0.19045",
    "2026-11-30",  # a date
    "2026-11-30T10:00:00Z",
    "12:30:00",  # a time
    "1732912345678",  # a timestamp in milliseconds
    "4111111111111112",  # an id of a card's length that fails the Luhn check
    "123456789",  # an order id
    "550e8400-e29b-41d4-a716-446655440000",
    "pkg@1.2.3",
    "Pro plan",
    "deadbeef",
    "-1.5",
]


def test_the_scanner_tells_personal_values_from_versions_timestamps_and_ids() -> None:
    values = [*LOOKS_PERSONAL, *LOOKS_HARMLESS]
    with duckdb_connection(threads=1) as connection:
        connection.register("values_", pa.table({"v": values}))
        found = dict(connection.execute(f"SELECT v, {likely_pii_sql('v')} FROM values_").fetchall())
    assert found == {**LOOKS_PERSONAL, **dict.fromkeys(LOOKS_HARMLESS)}


def test_the_catalog_flags_properties_that_look_personal_unless_cleaning_hashes_them(tmp_path: Path) -> None:
    records = [
        landed(f"t{n}", at("2026-11-10 10:00"), properties={"contact": f"user{n}@example.com", "version": "1.2.3"})
        for n in range(9)
    ]
    records += [
        landed("t9", at("2026-11-10 10:00"), properties={"contact": "call me", "version": "1.2.4", "email": "a@b.io"})
    ]
    store = ObjectStore((tmp_path / "store").as_uri())
    lines = b"".join(orjson.dumps(record) + b"\n" for record in records)
    store.put(landed_object_key(LANDING, at("2026-11-10 10:00"), "c1", "000001"), gzip.compress(lines))
    with duckdb_connection(threads=1) as connection:
        builder = DayBuilder(store, RULES, tmp_path, connect=lambda: nullcontext(connection))
        (raw_day,) = builder.raw_days([DAY])
    profile = raw_day.profile
    assert profile.likely_pii == {"track:Timer Started": {"contact": {"email": 9}, "email": {"email": 1}}}
    # `email` is hashed by cleaning; `contact` is kept as sent: the check warns of it alone.
    assert raw_day.unhashed_pii == [
        "track:Timer Started properties.contact: 9 of 10 values look like emails, and cleaning keeps them "
        "(REVOLT_PII_HASH_KEYS, REVOLT_PII_DROP_KEYS)"
    ]
    rows = {row["property"]: row for row in catalog_rows(DAY, profile.catalog, profile.likely_pii)}
    assert (rows["contact"]["likely_pii"], rows["contact"]["likely_pii_values"]) == ("email", 9)
    assert (rows["version"]["likely_pii"], rows["version"]["likely_pii_values"]) == (None, 0)
    assert likely_pii_findings(profile.catalog, profile.likely_pii, PiiRules(("contact", "email"), salt=SALT)) == []


def test_the_settings_read_the_keys_and_the_rules_take_the_salt_of_the_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REVOLT_HOME", str(tmp_path))
    monkeypatch.setenv("REVOLT_PII_HASH_KEYS", " email , traits.name ,")
    monkeypatch.setenv("REVOLT_PII_DROP_KEYS", "internal_note")
    settings = Settings.from_env()
    assert (settings.pii_hash_keys, settings.pii_drop_keys) == (("email", "traits.name"), ("internal_note",))
    rules = pipeline_rules(settings).pii
    assert rules.salt == (tmp_path / "privacy-salt").read_text().strip() == settings.resolved_privacy_salt()
    assert rules_metadata(pipeline_rules(settings))["rules/pii_hashed_keys"] == "email, traits.name"
    assert rules.salt not in repr(rules_metadata(pipeline_rules(settings)))

    monkeypatch.setenv("REVOLT_PII_HASH_KEYS", "none")
    assert Settings.from_env().pii_hash_keys == ()
    assert Settings.pii_hash_keys == DEFAULT_PII_HASH_KEYS
    monkeypatch.setenv("REVOLT_PII_DROP_KEYS", "context.ip")
    with pytest.raises(SettingsError, match="REVOLT_PII_DROP_KEYS"):
        Settings.from_env()
