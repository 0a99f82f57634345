"""One object store interface over a local folder and S3, addressed by URL.

Both go through a pyarrow filesystem, so readers downstream (pyarrow datasets, DuckDB, Dagster IO)
use the very same object. Writes are atomic on both: S3 puts are, and local writes go to a hidden
temporary file that is fsynced and renamed into place. Local objects are private to their owner (0600
in 0700 folders): they are user data.
"""

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

import pyarrow.fs as pafs

from revolt_pipeline.private_files import FILE_MODE, make_private_dirs


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int


class ObjectStore:
    """Objects under a root URL: `file:///abs/folder` or `s3://bucket/prefix`.

    Built from the settings by `Settings.store`; `s3_region` None leaves the region to AWS's own lookup.
    """

    def __init__(self, url: str, *, s3_endpoint_url: str | None = None, s3_region: str | None = None) -> None:
        parsed = urlparse(url)
        self.url = url.rstrip("/")
        if parsed.scheme == "file":
            if parsed.netloc not in ("", "localhost"):
                raise ValueError(f"file URLs must be absolute paths on this machine, got {url!r}")
            self.filesystem: pafs.FileSystem = pafs.LocalFileSystem()
            self.root = str(Path(parsed.path).resolve())
            self.is_local = True
        elif parsed.scheme == "s3":
            if not parsed.netloc:
                raise ValueError(f"s3 URLs need a bucket: s3://bucket/prefix, got {url!r}")
            self.filesystem = _s3_filesystem(s3_endpoint_url, s3_region)
            self.root = f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
            self.is_local = False
        else:
            raise ValueError(f"storage URL must start with file:// or s3://, got {url!r}")

    def __repr__(self) -> str:
        return f"ObjectStore({self.url!r})"

    def path(self, key: str) -> str:
        """The object's path inside `self.filesystem`, for pyarrow and DuckDB readers."""
        key = key.strip("/")
        if not key or ".." in key.split("/"):
            raise ValueError(f"invalid object key {key!r}")
        return f"{self.root}/{key}"

    def uri(self, key: str) -> str:
        return f"{self.url}/{key.strip('/')}"

    def put(self, key: str, data: bytes) -> None:
        """Write the whole object or nothing: a reader never sees half of it."""
        path = self.path(key)
        if self.is_local:
            _atomic_local_write(Path(path), data)
        else:
            # compression=None: pyarrow would otherwise (de)compress by file extension.
            with self.filesystem.open_output_stream(path, compression=None) as stream:
                stream.write(data)

    def put_file(self, key: str, local_path: str | Path) -> None:
        """Upload a local file, atomically as `put`; streamed, so large Parquet files need no memory."""
        path = self.path(key)
        if self.is_local:
            with open(local_path, "rb") as source:
                _atomic_local_write(Path(path), source)
            return
        with (
            open(local_path, "rb") as source,
            self.filesystem.open_output_stream(path, compression=None) as stream,
        ):
            shutil.copyfileobj(source, stream, length=8 * 1024 * 1024)

    def local_path(self, key: str) -> str | None:
        """The object's file on this machine when the store is a local folder, else None."""
        return self.path(key) if self.is_local else None

    def download(self, key: str, destination: str | Path) -> None:
        try:
            with (
                self.filesystem.open_input_stream(self.path(key), compression=None) as stream,
                open(destination, "wb") as target,
            ):
                shutil.copyfileobj(stream, target, length=8 * 1024 * 1024)
        except FileNotFoundError:
            raise FileNotFoundError(f"no object {self.uri(key)}") from None

    def get(self, key: str) -> bytes:
        try:
            with self.filesystem.open_input_stream(self.path(key), compression=None) as stream:
                return stream.read()
        except FileNotFoundError:
            raise FileNotFoundError(f"no object {self.uri(key)}") from None

    def exists(self, key: str) -> bool:
        return self.filesystem.get_file_info(self.path(key)).type == pafs.FileType.File

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.filesystem.delete_file(self.path(key))

    def is_empty(self) -> bool:
        """Whether the store holds no object or folder at all: one listing of its top level, however large."""
        selector = pafs.FileSelector(self.root, recursive=False, allow_not_found=True)
        return not self.filesystem.get_file_info(selector)

    def delete_everything(self) -> None:
        """Empty the store (its root stays): for starting a demo over, never for the pipeline."""
        self.filesystem.delete_dir_contents(self.root, missing_dir_ok=True)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with the folder `prefix`, in key order."""
        base = self.path(prefix) if prefix.strip("/") else self.root
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        infos = self.filesystem.get_file_info(selector)
        keys = []
        for info in infos:
            if info.type != pafs.FileType.File:
                continue
            key = info.path[len(self.root) + 1 :]
            if key.rsplit("/", 1)[-1].startswith("."):
                continue  # a local write in progress
            keys.append(ObjectInfo(key=key, size=info.size or 0))
        return iter(sorted(keys, key=lambda item: item.key))


def _s3_filesystem(endpoint_url: str | None, region: str | None) -> pafs.S3FileSystem:
    options: dict[str, object] = {"region": region} if region else {}
    if endpoint_url:
        parsed = urlparse(endpoint_url)
        if not parsed.scheme or not parsed.netloc:
            raise ValueError(f"S3 endpoint must be a URL like http://127.0.0.1:9000, got {endpoint_url!r}")
        options["endpoint_override"] = parsed.netloc
        options["scheme"] = parsed.scheme
    # Credentials come from the standard AWS environment variables and profiles.
    return pafs.S3FileSystem(**options)


def _atomic_local_write(path: Path, data: bytes | BinaryIO) -> None:
    """Write bytes, or a file's content, beside `path` (0600), sync, and rename into place."""
    make_private_dirs(path.parent)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            if isinstance(data, bytes):
                handle.write(data)
            else:
                shutil.copyfileobj(data, handle, length=8 * 1024 * 1024)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new file in `directory` survive a crash, not just the file's bytes."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
