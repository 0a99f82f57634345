"""The models' settings are refused when they load, naming the variable and what it accepts, never deep in training."""

import os
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from revolt_pipeline.cli import main
from revolt_pipeline.settings import ML_INTEGER_SETTINGS, Settings, SettingsError

# Each variable, the range it accepts, and what its error says the range is.
ACCEPTED = {
    "REVOLT_CHURN_HORIZON_DAYS": (1, 365, "from 1 to 365 days"),
    "REVOLT_CHURN_TRAINING_CUTOFFS": (1, 52, "from 1 to 52 weekly cutoffs"),
    "REVOLT_CHURN_TUNING_TRIALS": (0, 1000, "from 0 to 1000 trials (0: no search)"),
    "REVOLT_ML_SEED": (0, 2**32 - 1, "from 0 to 4294967295"),  # numpy's seeds: 2**32 fails in scikit-learn's fit
    "REVOLT_ML_RETRAIN_DAYS": (0, 365, "from 0 to 365 days (0: off)"),
}
FIELDS = {setting.variable: name for name, setting in ML_INTEGER_SETTINGS.items()}


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A clean environment (nothing REVOLT_* set but a throwaway home) to set the models' variables in."""
    for name in [name for name in os.environ if name.startswith("REVOLT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("REVOLT_HOME", str(tmp_path))
    return monkeypatch


def test_every_ml_setting_has_a_range() -> None:
    assert set(FIELDS) == set(ACCEPTED)


def refused(low: int, high: int) -> list[str]:
    """Values a setting of `low` to `high` refuses: not whole numbers, below its range, above it, absurd."""
    return ["abc", "14.0", "1e3", "1_000", "٣", "0x10", str(low - 1), str(high + 1), "99999999999999999999999"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [(variable, value) for variable, (low, high, _) in ACCEPTED.items() for value in refused(low, high)],
)
def test_a_value_out_of_range_names_the_setting_and_the_range(
    environment: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    environment.setenv(variable, value)
    with pytest.raises(SettingsError) as refusal:
        Settings.from_env()
    message = str(refusal.value)
    assert message.startswith(f"{variable} must be a whole number {ACCEPTED[variable][2]}, got ")
    assert value in message


@pytest.mark.parametrize("variable", ACCEPTED)
def test_the_ends_of_the_range_and_blank_are_accepted(environment: pytest.MonkeyPatch, variable: str) -> None:
    low, high, _ = ACCEPTED[variable]
    field = FIELDS[variable]
    for value, expected in [(str(low), low), (f" {high} ", high), ("+1", 1), ("", getattr(Settings, field))]:
        environment.setenv(variable, value)
        assert getattr(Settings.from_env(), field) == expected, value


def test_zero_is_refused_where_it_means_nothing_and_taken_where_it_means_something(
    environment: pytest.MonkeyPatch,
) -> None:
    """No horizon, no training cutoff: refused. No search, seed 0, no automatic training: what they say."""
    for variable in ("REVOLT_CHURN_HORIZON_DAYS", "REVOLT_CHURN_TRAINING_CUTOFFS"):
        environment.setenv(variable, "0")
        with pytest.raises(SettingsError, match=variable):
            Settings.from_env()
        environment.delenv(variable)
    for variable in ("REVOLT_CHURN_TUNING_TRIALS", "REVOLT_ML_SEED", "REVOLT_ML_RETRAIN_DAYS"):
        environment.setenv(variable, "0")
    settings = Settings.from_env()
    assert (settings.churn.trials, settings.churn.seed, settings.ml_retrain_days) == (0, 0, 0)


def test_settings_made_in_code_are_held_to_the_same_ranges(environment: pytest.MonkeyPatch) -> None:
    settings = Settings.from_env()
    with pytest.raises(SettingsError, match="REVOLT_ML_SEED must be a whole number from 0 to 4294967295, got -1"):
        replace(settings, ml_seed=-1)
    with pytest.raises(SettingsError, match="REVOLT_CHURN_HORIZON_DAYS"):
        replace(settings, churn_horizon_days=10_000)


def test_the_revolt_command_says_which_setting_is_wrong_without_a_traceback(tmp_path: Path) -> None:
    env = {"REVOLT_HOME": str(tmp_path), "REVOLT_CHURN_HORIZON_DAYS": "-14"}
    result = CliRunner().invoke(main, ["demo", "--ml"], env=env)
    assert result.exit_code == 1
    assert result.output == "Error: REVOLT_CHURN_HORIZON_DAYS must be a whole number from 1 to 365 days, got -14\n"
    assert not (tmp_path / "store").exists()  # refused before anything was sent or built
