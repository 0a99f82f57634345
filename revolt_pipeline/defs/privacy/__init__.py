"""Privacy: the Dagster jobs that delete personal data (docs/privacy.md)."""
