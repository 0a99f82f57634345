"""Lifecycle and retention: the cohort_activity snapshot of each day, and the lifecycle and retention tables."""
