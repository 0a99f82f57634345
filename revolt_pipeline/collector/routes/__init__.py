"""HTTP routes of the collector: ingestion (Segment API), admin (for the pipeline), operations."""
