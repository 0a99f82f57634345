"""A pseudonym made in Python equals the one SQL makes, and differs with the salt."""

import duckdb

from revolt_pipeline.contract.pseudonyms import pseudonym
from revolt_pipeline.settings import Settings


def test_python_and_sql_agree_on_a_pseudonym() -> None:
    for value in ["user-1", "ünïcode 👋", ""]:
        sql = duckdb.execute("SELECT sha256($salt || $value)", {"salt": "pepper", "value": value}).fetchall()[0][0]
        assert pseudonym("pepper", value) == sql


def test_the_salt_changes_the_pseudonym() -> None:
    assert pseudonym("a", "user-1") != pseudonym("b", "user-1")


def test_the_embedded_default_generates_its_salt_once(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REVOLT_HOME", str(tmp_path))
    monkeypatch.delenv("REVOLT_PRIVACY_SALT", raising=False)
    first = Settings.from_env().resolved_privacy_salt()
    assert first == Settings.from_env().resolved_privacy_salt()
    assert len(first) == 64
    assert (tmp_path / "privacy-salt").stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("REVOLT_PRIVACY_SALT", "from-the-environment")
    assert Settings.from_env().resolved_privacy_salt() == "from-the-environment"
