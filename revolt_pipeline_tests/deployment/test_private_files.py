"""Everything under REVOLT_HOME is private: write keys, tokens, the spool, landed events, Parquet, reports.

The real commands write a fresh REVOLT_HOME (`revolt demo` through Dagster, then `revolt collector
serve` landing more), under the usual 022 umask; then every file must be 0600 and every folder 0700.
"""

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

from revolt_pipeline.storage import ObjectStore
from revolt_pipeline_tests.fixtures.collector import ADMIN_TOKEN, CollectorProcess

# The fixture's own log, written by the test process rather than by the project.
FIXTURE_FILES = {"collector.log"}


def revolt_environment(home: Path) -> dict[str, str]:
    """This machine's environment without REVOLT_* overrides, so everything goes to `home`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("REVOLT_")}
    return {**env, "REVOLT_HOME": str(home)}


def not_private(home: Path) -> list[str]:
    found = []
    for folder, folders, files in os.walk(home):
        for name in folders:
            path = Path(folder, name)
            if stat.S_IMODE(path.lstat().st_mode) != 0o700:
                found.append(f"{oct(stat.S_IMODE(path.lstat().st_mode))} {path.relative_to(home)}/")
        for name in files:
            path = Path(folder, name)
            if name in FIXTURE_FILES and Path(folder) == home:
                continue
            if stat.S_IMODE(path.lstat().st_mode) != 0o600:
                found.append(f"{oct(stat.S_IMODE(path.lstat().st_mode))} {path.relative_to(home)}")
    return found


def test_the_demo_and_the_collector_write_a_private_revolt_home(
    tmp_path: Path, collector_process: Callable[..., CollectorProcess]
) -> None:
    home = tmp_path / "home"
    env = revolt_environment(home)
    old_umask = os.umask(0o022)  # what a login shell has; the commands must not depend on it
    try:
        demo = subprocess.run(
            [sys.executable, "-m", "revolt_pipeline.cli", "demo", "--users", "5", "--days", "2"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert demo.returncode == 0, demo.stderr[-3000:]
        overrides = {key: "" for key in os.environ if key.startswith("REVOLT_")}
        collector = collector_process(home, env=overrides)
    finally:
        os.umask(old_umask)
    with httpx.Client(timeout=30) as http:
        sources = {line.split("\t")[0]: line.split("\t")[2] for line in _sources_list(env)}
        body = {"batch": [{"type": "track", "event": "Timer Started", "userId": "u1", "messageId": "private-1"}]}
        sent = http.post(collector.url + "/v1/batch", content=orjson.dumps(body), auth=(sources["tempo-web"], ""))
        assert sent.status_code == 200, sent.text
        flushed = http.post(collector.url + "/admin/flush", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert flushed.status_code == 200, flushed.text
    collector.stop()

    store = ObjectStore((home / "store").as_uri())
    assert any(info.key.startswith("landing/") for info in store.list("landing"))
    for expected in ("sources.toml", "admin-token", "reports.sqlite", "spool/ledger.sqlite", "spool/collector-id"):
        assert (home / expected).is_file(), expected
    assert not_private(home) == []


def _sources_list(env: dict[str, str]) -> list[str]:
    listed = subprocess.run(
        [sys.executable, "-m", "revolt_pipeline.cli", "sources", "list"], env=env, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    return [line for line in listed.stdout.splitlines() if line]


def test_the_project_writes_private_files_under_any_umask(tmp_path: Path) -> None:
    """Used as a library (tests, another program's umask), its own writes still give their modes."""
    from revolt_pipeline.collector.server import CollectorServer
    from revolt_pipeline.defs.reports.resources import ReportDatabaseResource
    from revolt_pipeline_tests.fixtures.collector import SOURCES, collector_config

    home = tmp_path / "home"
    old_umask = os.umask(0o022)
    try:
        store = ObjectStore((home / "store").as_uri())
        store.put("a/b/object.json", b"{}")
        (tmp_path / "local.parquet").write_bytes(b"PAR1")
        store.put_file("c/d/layer.parquet", tmp_path / "local.parquet")
        config = collector_config(tmp_path, (home / "collector-store").as_uri(), spool_dir=home / "deep" / "spool")
        with CollectorServer(config) as server, httpx.Client() as http:
            body = orjson.dumps({"batch": [{"type": "track", "event": "e", "userId": "u"}]})
            assert http.post(server.url + "/v1/batch", content=body, auth=(SOURCES["web"][1], "")).status_code == 200
            http.post(server.url + "/admin/flush", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        engine = ReportDatabaseResource(url=f"sqlite:///{home / 'reports' / 'reports.sqlite'}").engine
        engine.dispose()
    finally:
        os.umask(old_umask)
    assert (home / "deep" / "spool" / "ledger.sqlite").is_file()
    assert (home / "reports" / "reports.sqlite").is_file()
    assert not_private(home) == []
