"""Privacy in Dagster: deletions carried out and verified (`assets.py`, `sensors.py`), and the retention policy's
job and schedule (`retention_policy.py`); docs/privacy.md."""
