"""Funnels: per-person progress through the funnels of REVOLT_FUNNELS_FILE and their step tables."""
