"""The cleaned layer: events by the day they happened, deduplicated and stitched, and their sessions."""
