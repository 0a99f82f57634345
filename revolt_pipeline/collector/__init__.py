"""The event collector: a Segment-compatible HTTP service that never loses an acknowledged event."""
