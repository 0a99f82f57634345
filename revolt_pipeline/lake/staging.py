"""Local copies of objects for DuckDB, which reads files: the files themselves on a local store."""

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from revolt_pipeline.storage import ObjectStore


@contextlib.contextmanager
def local_copies(store: ObjectStore, keys: list[str]) -> Iterator[list[str]]:
    """Paths DuckDB can read, in the order of `keys`.

    DuckDB's own S3 support is an extension it would download at run time; copying through the
    store's pyarrow filesystem keeps one S3 client and works offline.
    """
    if store.is_local:
        yield [store.path(key) for key in keys]
        return
    with tempfile.TemporaryDirectory(prefix="revolt-lake-") as folder:
        paths = []
        for number, key in enumerate(keys):
            local = Path(folder) / f"{number:06d}-{Path(key).name}"
            store.download(key, local)
            paths.append(str(local))
        yield paths
