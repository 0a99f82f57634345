"""`revolt demo-traffic` end to end: through the SDK into a collector, checked against the plan."""

import json
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from revolt_pipeline.cli import main
from revolt_pipeline.contract.envelope import epoch_ms
from revolt_pipeline.demo.generator import plan_traffic
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline_tests.fixtures.collector import CollectorProcess, read_landed

START = "2026-11-02"


def check_landing(home: Path, users: int) -> None:
    truth = json.loads((home / "demo" / "ground-truth.json").read_text())
    traffic = plan_traffic(seed=5, users=users, days=7, start=date.fromisoformat(START))
    store = ObjectStore((home / "store").as_uri())
    landed = read_landed(store)
    assert len(landed) == truth["totals"]["messages_sent"]  # the collector keeps duplicates and late ones
    assert len({r["messageId"] for r in landed}) == truth["totals"]["unique_messages"]
    planned = {m.message_id: m for m in traffic.messages}
    for record in landed:
        # Device clocks are wrong, some by decades; skew correction recovers the true event time exactly.
        assert record["timestamp"] == epoch_ms(planned[record["messageId"]].event_time)
    # Each delivery, duplicates included, was received at the simulated moment it was planned for.
    assert Counter((r["messageId"], r["receivedAt"]) for r in landed) == Counter(
        (m.message_id, epoch_ms(m.send_time)) for m in traffic.messages
    )
    quarantined = Counter(record["reason"] for record in read_landed(store, "quarantine"))
    assert quarantined == truth["totals"]["malformed_by_reason"]
    received_dates = {info.key.split("/")[1] for info in store.list("landing")}
    assert len(received_dates) >= 7


def test_demo_traffic_into_an_in_process_collector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVOLT_HOME", str(tmp_path))
    result = CliRunner().invoke(main, ["demo-traffic", "--seed", "5", "--users", "40", "--start", START])
    assert result.exit_code == 0, result.output
    assert "ground truth:" in result.output
    check_landing(tmp_path, users=40)


def test_demo_traffic_into_a_collector_process_with_a_simulated_clock(
    tmp_path: Path, collector_process: Callable[..., CollectorProcess]
) -> None:
    collector = collector_process(tmp_path, args=("--simulated-clock", "2026-11-01T00:00:00Z"))
    result = CliRunner().invoke(
        main,
        ["demo-traffic", "--seed", "5", "--users", "25", "--start", START, "--collector-url", collector.url],
        env=collector.env,
    )
    assert result.exit_code == 0, result.output
    check_landing(tmp_path, users=25)


def test_demo_traffic_refuses_a_collector_on_the_system_clock(
    tmp_path: Path, collector_process: Callable[..., CollectorProcess]
) -> None:
    collector = collector_process(tmp_path)
    result = CliRunner().invoke(
        main, ["demo-traffic", "--users", "5", "--collector-url", collector.url], env=collector.env
    )
    assert result.exit_code != 0
    assert "runs on the system clock" in result.output
