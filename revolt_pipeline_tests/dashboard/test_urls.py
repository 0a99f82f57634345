"""Links built by `page_url` (the Dagster UI's, the browser tests') reach the page they name."""

import pytest

from revolt_pipeline.dashboard.urls import page_url


def test_a_person_id_with_url_characters_stays_one_path_segment() -> None:
    url = page_url("http://127.0.0.1:3030/", "person", person_id="a/b?c#d e", from_="2026-11-01")
    assert url == "http://127.0.0.1:3030/people/a%2Fb%3Fc%23d%20e?from=2026-11-01"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"page": "nowhere"}, "no dashboard page 'nowhere'"),
        ({"page": "person"}, "needs a person_id"),
        ({"page": "overview", "since": "2026-11-01"}, "unknown dashboard filters ['since']"),
    ],
)
def test_a_link_to_nothing_is_refused(arguments: dict[str, str], message: str) -> None:
    with pytest.raises((KeyError, ValueError), match=message.replace("[", r"\[").replace("]", r"\]")):
        page_url("http://127.0.0.1:3030", **arguments)
