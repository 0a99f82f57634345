"""Privacy requests in Dagster: deletions carried out and verified (`assets.py`, `sensors.py`)."""
