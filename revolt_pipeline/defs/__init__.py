"""Dagster definitions only: assets, resources, sensors and schedules, one folder per domain."""
