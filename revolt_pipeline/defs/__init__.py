"""Dagster definitions only: assets, resources, sensors and schedules, one folder per domain."""

import warnings

import dagster as dg

# Dagster flags parameters we rely on (single-run backfill policies, partition mappings that allow
# missing upstream days) as beta every time these modules are imported: by each code server start, run
# worker and step process, and the daemon's code server reloads every minute. Known and chosen: not logged.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
