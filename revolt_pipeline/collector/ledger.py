"""The collector's record of what it landed, kept beside the spool so counts survive restarts."""

import sqlite3
import threading
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from revolt_pipeline.private_files import create_private_file


@dataclass(frozen=True)
class LandedObject:
    key: str
    area: str
    received_date: str
    hour: int
    events: int
    bytes: int
    compressed_bytes: int
    uploaded_at: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class Ledger:
    """One row per landed object, keyed by object key so a repeated upload replaces, never adds."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        # SQLite gives new files the umask's mode, and its WAL and shared memory the database's: 0600 first.
        create_private_file(path)
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute(
            """CREATE TABLE IF NOT EXISTS landed (
                key TEXT PRIMARY KEY, area TEXT NOT NULL, received_date TEXT NOT NULL,
                hour INTEGER NOT NULL, events INTEGER NOT NULL, bytes INTEGER NOT NULL,
                compressed_bytes INTEGER NOT NULL, uploaded_at TEXT NOT NULL)"""
        )
        self._connection.execute("CREATE INDEX IF NOT EXISTS landed_by_date ON landed (received_date)")

    def record(self, landed: LandedObject) -> None:
        with self._lock:
            self._connection.execute(
                "INSERT OR REPLACE INTO landed VALUES (:key, :area, :received_date, :hour, :events, :bytes,"
                " :compressed_bytes, :uploaded_at)",
                landed.as_dict(),
            )

    def for_date(self, received_date: date) -> list[LandedObject]:
        with self._lock:
            rows = self._connection.execute(
                "SELECT key, area, received_date, hour, events, bytes, compressed_bytes, uploaded_at"
                " FROM landed WHERE received_date = ? ORDER BY key",
                (received_date.isoformat(),),
            ).fetchall()
        return [LandedObject(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._connection.close()
