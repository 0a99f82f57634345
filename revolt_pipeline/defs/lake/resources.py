"""The lake resource: one object store for a local folder or S3, and local copies for DuckDB to read."""

import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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

    @contextlib.contextmanager
    def local_files(self, keys: list[str]) -> Iterator[list[str]]:
        """Paths DuckDB can read: the files themselves on a local store, downloaded copies from S3.

        DuckDB's own S3 support is an extension it would download at run time; copying with the
        store's pyarrow filesystem keeps one S3 client and works offline.
        """
        if self.store.is_local:
            paths = [self.store.local_path(key) for key in keys]
            yield [path for path in paths if path is not None]
            return
        with tempfile.TemporaryDirectory(prefix="revolt-lake-") as folder:
            paths = []
            for number, key in enumerate(keys):
                local = Path(folder) / f"{number:06d}-{Path(key).name}"
                self.store.download(key, local)
                paths.append(str(local))
            yield paths

    def existing(self, keys: list[str]) -> list[str]:
        return [key for key in keys if self.store.exists(key)]

    def put_json(self, key: str, document: Any) -> None:
        self.store.put(key, json.dumps(document, indent=1, sort_keys=True, default=str).encode())

    def get_json(self, key: str) -> Any:
        return json.loads(self.store.get(key))
