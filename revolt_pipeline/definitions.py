"""The Dagster code location: every definition under defs/, with the resources of this environment."""

import dagster as dg

from revolt_pipeline.defs.resources import build_resources
from revolt_pipeline.settings import Settings

defs = dg.Definitions(resources=build_resources(Settings.from_env()))
