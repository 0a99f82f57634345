"""Which ids a privacy request covers: every id stitched to the person any one of them belongs to."""

import duckdb
import pytest

from revolt_pipeline.transforms.privacy import person_ids_query

# anonymous a1 became user u-old, whom an alias renamed u-new; a2 is u-new's other device; a3 was first
# identified as u-new, then shared with u-other (an id's first link wins).
LINKS = """(SELECT * FROM (VALUES
    ('a1', 'u-old', TIMESTAMPTZ '2026-11-01 10:00+00', 'm1'),
    ('u-old', 'u-new', TIMESTAMPTZ '2026-11-02 10:00+00', 'm2'),
    ('a2', 'u-new', TIMESTAMPTZ '2026-11-03 10:00+00', 'm3'),
    ('a3', 'u-new', TIMESTAMPTZ '2026-11-04 10:00+00', 'm4'),
    ('a3', 'u-other', TIMESTAMPTZ '2026-11-05 10:00+00', 'm5'),
    ('a4', 'u-other', TIMESTAMPTZ '2026-11-05 11:00+00', 'm6')
) AS links(from_id, to_user_id, linked_at, message_id))"""
EVERY_ID_OF_U_NEW = ["a1", "a2", "a3", "u-new", "u-old"]


@pytest.mark.parametrize("requested", [["a1"], ["u-old"], ["u-new"], ["a2"], ["a3"], ["a1", "u-new"]])
def test_any_id_of_a_person_covers_all_of_them(requested: list[str]) -> None:
    assert _ids(requested) == EVERY_ID_OF_U_NEW


def test_a_shared_device_stays_with_the_person_first_identified_on_it() -> None:
    assert _ids(["u-other"]) == ["a4", "u-other"]


def test_two_people_at_once_and_an_id_no_link_names() -> None:
    assert _ids(["u-other", "never-identified"]) == ["a4", "never-identified", "u-other"]
    assert _ids(["a1", "a4"]) == sorted([*EVERY_ID_OF_U_NEW, "a4", "u-other"])


def test_ids_are_values_not_sql() -> None:
    assert _ids(["x' OR '1'='1"]) == ["x' OR '1'='1"]


def _ids(requested: list[str]) -> list[str]:
    with duckdb.connect() as connection:
        return [row[0] for row in connection.execute(person_ids_query(LINKS, requested)).fetchall()]
