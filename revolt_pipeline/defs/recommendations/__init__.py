"""Recommendations: the item model of each cutoff day, judged against popularity, and the recommendations table."""
