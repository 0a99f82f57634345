"""`revolt demo --ml`: a history too short for the models is refused before anything is sent."""

from pathlib import Path

from click.testing import CliRunner

from revolt_pipeline.cli import main


def test_the_ml_demo_refuses_a_history_too_short_for_the_models(tmp_path: Path) -> None:
    env = {"REVOLT_HOME": str(tmp_path), "REVOLT_PARTITIONS_START": "2026-01-01"}
    result = CliRunner().invoke(main, ["demo", "--ml", "--days", "30", "--users", "5"], env=env)
    assert result.exit_code == 1
    assert "the models need at least 48 days of history: run the demo with --days 56" in result.output
    assert not (tmp_path / "store").exists() and not (tmp_path / "spool").exists()
