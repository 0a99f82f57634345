"""How the models are trained, as plain values: light to import (settings.py reads the defaults from here, and the
collector reads settings without loading scikit-learn)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ChurnSettings:
    """The churn label's horizon, how many weekly training cutoffs and daily validation cutoffs, the search's
    trials, the seed of everything."""

    horizon_days: int = 14
    training_cutoffs: int = 4
    cutoff_spacing_days: int = 7
    # A week of daily validation cutoffs: each weekday is a cutoff once (recency on a Monday counts a weekend), and
    # a week of people leaving judges the model, not the few who leave around one day (`ml/churn.split_cutoffs`).
    validation_cutoffs: int = 7
    trials: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        if self.horizon_days < 1:
            raise ValueError(f"the churn horizon must be at least one day, not {self.horizon_days}")
        if self.training_cutoffs < 1:
            raise ValueError(f"the churn model needs at least one training cutoff, not {self.training_cutoffs}")
        if self.validation_cutoffs < 1:
            raise ValueError(f"the churn model needs at least one validation cutoff, not {self.validation_cutoffs}")
        if self.trials < 0:
            raise ValueError(f"the number of tuning trials cannot be negative ({self.trials})")
