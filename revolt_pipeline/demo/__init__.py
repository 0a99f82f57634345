"""Realistic, deterministic demo traffic for a time-tracking product, with its ground truth."""
