"""Object storage addressed by URL (`file://` or `s3://`) and the key layout of everything we land."""

from revolt_pipeline.storage.object_store import ObjectInfo, ObjectStore

__all__ = ["ObjectInfo", "ObjectStore"]
