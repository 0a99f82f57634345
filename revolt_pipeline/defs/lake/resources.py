"""The lake resource: the object store holding landed events and every Parquet layer."""

import dagster as dg
from pydantic import PrivateAttr

from revolt_pipeline.storage import ObjectStore


class LakeResource(dg.ConfigurableResource):
    """Where landed events and Parquet layers live: REVOLT_STORAGE_URL (`file://` or `s3://`)."""

    url: str
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    _store: ObjectStore | None = PrivateAttr(default=None)

    @property
    def store(self) -> ObjectStore:
        if self._store is None:
            self._store = ObjectStore(self.url, s3_endpoint_url=self.s3_endpoint_url, s3_region=self.s3_region)
        return self._store
