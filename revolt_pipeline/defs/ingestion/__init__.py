"""Getting events in: the resource that wraps the collector."""
