"""Local copies of objects for DuckDB, which reads files, and which store errors a retry may cure."""

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from revolt_pipeline.storage import ObjectStore

# AWS errors that no retry cures: the credentials, the bucket or the permissions are wrong.
_PERMANENT_S3_ERRORS = (
    "ACCESS_DENIED",
    "INVALID_ACCESS_KEY_ID",
    "SIGNATURE_DOES_NOT_MATCH",
    "NO_SUCH_BUCKET",
    "INVALID_BUCKET_NAME",
)


def store_may_recover(error: BaseException) -> bool:
    """Whether an object store error (or one of the local files staged for DuckDB) may pass if tried again.

    pyarrow reports every S3 failure as OSError naming the AWS error: a refused, reset or timed-out
    connection, throttling and 5xx answers may pass; a missing object, wrong credentials, a wrong
    bucket or permissions will not. Errors of the data or the transforms are never OSError.
    """
    if not isinstance(error, OSError):
        return False
    if isinstance(error, FileNotFoundError | PermissionError | IsADirectoryError | NotADirectoryError):
        return False
    return not any(code in str(error) for code in _PERMANENT_S3_ERRORS)


@contextlib.contextmanager
def local_copies(store: ObjectStore, keys: list[str]) -> Iterator[list[str]]:
    """Paths DuckDB can read, in the order of `keys`, each named as its object (raw's `landed_file`).

    DuckDB's own S3 support is an extension it would download at run time; copying through the
    store's pyarrow filesystem keeps one S3 client and works offline.
    """
    if store.is_local:
        yield [store.path(key) for key in keys]
        return
    with tempfile.TemporaryDirectory(prefix="revolt-lake-") as folder:
        paths = []
        for number, key in enumerate(keys):
            local = Path(folder) / f"{number:06d}" / Path(key).name  # keys of two days may share a name
            local.parent.mkdir()
            store.download(key, local)
            paths.append(str(local))
        yield paths
