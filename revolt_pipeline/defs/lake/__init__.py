"""The lake: the object store holding landed events and every Parquet layer."""
