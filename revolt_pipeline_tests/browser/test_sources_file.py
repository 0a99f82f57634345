"""sources.toml: write keys from a documented ASCII alphabet, allowed origins, and a file only ever replaced whole.

A write key with a character outside the Basic Multilingual Plane used to be written as JSON surrogate escapes
that TOML refuses, after which `revolt collector serve` would not start.
"""

import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from revolt_pipeline.cli import main
from revolt_pipeline.sources import ANY_ORIGIN, SourcesError, add_source, load_sources
from revolt_pipeline_tests.fixtures.collector import ADMIN_TOKEN, CollectorProcess

BAD_WRITE_KEYS = [
    "wk_\U0001f600_outside_the_bmp",
    "wk_caf\u00e9_latin1",
    "wk_with space",
    "wk_colon:inside",
    "wk_newline\n",
    "wk_nul\x00key",
    "short",
    "x" * 129,
]


def revolt(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed command line, as an operator runs it."""
    env = {**os.environ, "REVOLT_HOME": str(home), "REVOLT_ADMIN_TOKEN": ADMIN_TOKEN}
    env.pop("REVOLT_SOURCES_FILE", None)
    return subprocess.run(
        [sys.executable, "-m", "revolt_pipeline.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def cli(home: Path, *args: str) -> tuple[int, str]:
    """The same command line in-process (click's runner): quicker for the many refusals."""
    result = CliRunner().invoke(main, list(args), env={"REVOLT_HOME": str(home), "REVOLT_SOURCES_FILE": None})
    return result.exit_code, result.output


@pytest.mark.parametrize("write_key", BAD_WRITE_KEYS, ids=range(len(BAD_WRITE_KEYS)))
def test_sources_add_refuses_a_write_key_outside_the_alphabet(tmp_path: Path, write_key: str) -> None:
    assert cli(tmp_path, "sources", "add", "web", "--platform", "web")[0] == 0
    before = (tmp_path / "sources.toml").read_bytes()

    code, output = cli(tmp_path, "sources", "add", "app", "--platform", "ios", "--write-key", write_key)

    assert code != 0
    assert "write key must be 8 to 128 characters from A-Z, a-z, 0-9, '_' and '-'" in output
    assert (tmp_path / "sources.toml").read_bytes() == before


@pytest.mark.services
def test_a_write_key_outside_the_bmp_cannot_stop_the_collector_from_starting(
    tmp_path: Path, collector_process: Callable[..., CollectorProcess]
) -> None:
    added = revolt(tmp_path, "sources", "add", "web", "--platform", "web", "--write-key", "wk_web_browser")
    assert added.returncode == 0, added.stderr
    refused = revolt(tmp_path, "sources", "add", "app", "--platform", "ios", "--write-key", "wk_\U0001f600_emoji")
    assert refused.returncode != 0 and "write key must be" in refused.stderr

    collector = collector_process(tmp_path)
    track = {"event": "Timer Started", "userId": "user-1"}
    response = httpx.post(f"{collector.url}/v1/t", json=track, auth=("wk_web_browser", ""))
    assert response.status_code == 200


def test_a_sources_file_with_a_bad_write_key_names_the_source(tmp_path: Path) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_text('[sources.web]\nwrite_key = "wk_web_ok_key"\n\n[sources.legacy]\nwrite_key = "wk legacy!"\n')

    with pytest.raises(SourcesError, match=r"source 'legacy': a write key must be 8 to 128 characters"):
        load_sources(sources)
    result = revolt(tmp_path, "collector", "serve", "--port", "0")
    assert result.returncode != 0
    assert "source 'legacy': a write key must be" in result.stderr
    assert "wk legacy!" not in result.stderr  # a write key is a credential: not echoed into logs


@pytest.mark.services
def test_a_sources_file_that_cannot_be_read_keeps_the_running_collector_serving(
    tmp_path: Path, collector_process: Callable[..., CollectorProcess]
) -> None:
    sources = tmp_path / "sources.toml"
    add_source(sources, "web", "web", "wk_web_browser")
    collector = collector_process(tmp_path)
    sources.unlink()
    sources.mkdir()  # unreadable as a file, whoever we run as (root reads past file modes)
    track = {"event": "Timer Started", "userId": "user-1"}
    for _ in range(3):  # across the cache's re-check interval
        response = httpx.post(f"{collector.url}/v1/t", json=track, auth=("wk_web_browser", ""))
        assert response.status_code == 200, response.text
        time.sleep(1.1)

    collector.stop()
    with pytest.raises(SourcesError, match="cannot be read"):
        load_sources(sources)
    started = revolt(tmp_path, "collector", "serve", "--port", "0")
    assert started.returncode != 0 and "cannot be read" in started.stderr


def test_sources_toml_is_private_and_replaced_whole(tmp_path: Path) -> None:
    sources = tmp_path / "sources.toml"
    add_source(sources, "web", "web", "wk_web_browser")
    first_inode = sources.stat().st_ino
    add_source(sources, "ios", "ios")

    assert stat.S_IMODE(sources.stat().st_mode) == 0o600
    assert sources.stat().st_ino != first_inode  # renamed over, never rewritten in place
    assert [path.name for path in tmp_path.iterdir() if path.name.endswith(".tmp")] == []
    assert sorted(source.name for source in load_sources(sources).values()) == ["ios", "web"]


def test_a_broken_sources_file_is_left_untouched(tmp_path: Path) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_bytes(b'[sources.web]\nwrite_key = "wk_\\ud83d\\ude00_x"\n')  # what the old code wrote
    before = sources.read_bytes()

    code, output = cli(tmp_path, "sources", "add", "ios", "--platform", "ios")

    assert code != 0 and "not valid TOML" in output
    assert sources.read_bytes() == before


def test_concurrent_additions_keep_every_source(tmp_path: Path) -> None:
    sources = tmp_path / "sources.toml"
    names = [f"app-{number}" for number in range(12)]
    threads = [threading.Thread(target=add_source, args=(sources, name, "android")) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(source.name for source in load_sources(sources).values()) == sorted(names)


def test_allowed_origins_are_written_as_browsers_send_them(tmp_path: Path) -> None:
    code, output = cli(
        tmp_path,
        "sources",
        "add",
        "shop",
        "--platform",
        "web",
        "--allowed-origin",
        "https://Shop.Example.com/",
        "--allowed-origin",
        "https://*.shop.example.com:443",
        "--allowed-origin",
        "http://127.0.0.1:8080",
    )
    assert code == 0, output
    assert cli(tmp_path, "sources", "add", "web", "--platform", "web")[0] == 0
    assert cli(tmp_path, "sources", "add", "ios", "--platform", "ios")[0] == 0

    by_name = {source.name: source for source in load_sources(tmp_path / "sources.toml").values()}
    shop = by_name["shop"]
    assert shop.allowed_origins == ("https://shop.example.com", "https://*.shop.example.com", "http://127.0.0.1:8080")
    assert shop.allows_origin("https://shop.example.com") and shop.allows_origin("https://eu.shop.example.com")
    assert not shop.allows_origin("https://shop.example.com.evil.test")
    assert not shop.allows_origin("http://shop.example.com") and not shop.allows_origin("https://evilshop.example.com")
    assert by_name["web"].allowed_origins == (ANY_ORIGIN,)  # write keys of web sources are public anyway
    assert by_name["ios"].allowed_origins == ()  # apps send no Origin; a page using this key is refused


@pytest.mark.parametrize(
    "origin", ["https://shop.example.com/checkout", "shop.example.com", "https://shop.example.com:99999", "null"]
)
def test_sources_add_refuses_what_is_not_an_origin(tmp_path: Path, origin: str) -> None:
    code, output = cli(tmp_path, "sources", "add", "shop", "--platform", "web", "--allowed-origin", origin)
    assert code != 0 and f"allowed origin {origin!r}" in output
    assert not (tmp_path / "sources.toml").exists()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('allowed_origins = "https://a.example.com"', "allowed_origins must be a list of strings"),
        ('allowed_origins = ["https://a.example.com/path"]', "source 'web': allowed origin"),
        ('write_key = "wk_second_key"', "not valid TOML"),  # a key twice
    ],
)
def test_a_hand_edited_file_is_refused_with_the_source_named(tmp_path: Path, entry: str, message: str) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_text(f'[sources.web]\nwrite_key = "wk_web_browser"\nplatform = "web"\n{entry}\n')
    with pytest.raises(SourcesError, match=message):
        load_sources(sources)
