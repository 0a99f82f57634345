"""Behavioural segments of each cutoff day, in plain words, and the person_segments and segment_sizes tables."""
