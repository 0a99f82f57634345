"""Models trained on the lake: churn, segments, recommendations; pure functions of tables, no Dagster."""
