"""revolt_pipeline: self-hosted product analytics, from SDK events to report tables."""

__version__ = "0.1.0"
