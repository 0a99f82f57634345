"""The raw layer: a received day's landed events, consolidated, profiled and catalogued."""
