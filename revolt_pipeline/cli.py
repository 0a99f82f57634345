"""The `revolt` command line: one entry point whose subcommands later features extend."""

import contextlib
import sys
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import click

from revolt_pipeline.private_files import restrict_umask
from revolt_pipeline.settings import Settings
from revolt_pipeline.sources import PLATFORMS, WRITE_KEY_RULE, SourcesError, add_source, load_sources


def _parse_moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    from revolt_pipeline.contract import parse_timestamp

    moment = parse_timestamp(value)
    if moment is None:
        raise click.BadParameter(f"expected an RFC 3339 date-time with offset, got {value!r}")
    return moment


@contextlib.contextmanager
def _sending_progress() -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr for demo traffic, fed with (messages sent, messages planned)."""
    with click.progressbar(length=1, label="sending demo traffic", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        yield progress


@click.group()
@click.version_option(package_name="revolt-pipeline")
def main() -> None:
    """revolt: self-hosted product analytics. Settings come from REVOLT_* environment variables."""
    # Write keys, tokens, the spool and landed events are private: everything this process creates is 0600/0700.
    restrict_umask()
    # Dagster flags the backfill policies and partition mappings we rely on as beta on every import.
    warnings.filterwarnings("ignore", message=r".*is currently in beta")


@main.group()
def collector() -> None:
    """The event collector (Segment HTTP Tracking API)."""


@collector.command("serve")
@click.option("--host", default=None, help="Address to bind [REVOLT_COLLECTOR_HOST, 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [REVOLT_COLLECTOR_PORT, 8088].")
@click.option(
    "--simulated-clock",
    metavar="RFC3339",
    default=None,
    help="Start a settable clock at this time (demo traffic replays days through /admin/clock).",
)
def collector_serve(host: str | None, port: int | None, simulated_clock: str | None) -> None:
    """Accept events over HTTP, spool them durably and land them in storage."""
    from revolt_pipeline.clock import SimulatedClock
    from revolt_pipeline.collector.server import serve
    from revolt_pipeline.collector.service import CollectorConfig

    settings = Settings.from_env()
    start = _parse_moment(simulated_clock)
    try:
        config = CollectorConfig.from_settings(settings)
        serve(
            config,
            host or settings.collector_host,
            port if port is not None else settings.collector_port,
            clock=SimulatedClock(start) if start else None,
        )
    except (SourcesError, RuntimeError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


@collector.command("admin-token")
def collector_admin_token() -> None:
    """Print the admin token the pipeline uses (REVOLT_ADMIN_TOKEN, or the one kept in REVOLT_HOME)."""
    click.echo(Settings.from_env().resolved_admin_token())


@main.command("demo")
@click.option("--seed", type=int, default=7, show_default=True, help="Same seed, same traffic.")
@click.option("--users", type=click.IntRange(1), default=250, show_default=True, help="Scale the traffic up.")
@click.option("--days", type=click.IntRange(1, 60), default=7, show_default=True)
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default=None, help="First day [two weeks ago].")
@click.option("--reset", is_flag=True, help="Delete a previous demo's data in REVOLT_HOME first.")
def demo(seed: int, users: int, days: int, start: datetime | None, reset: bool) -> None:
    """Run everything on the embedded default: demo traffic, then raw, cleaned and report layers."""
    import shutil

    from revolt_pipeline.demo.pipeline import existing_demo_data, run_demo, summarize

    settings = Settings.from_env()
    leftovers = existing_demo_data(settings)
    if leftovers and not reset:
        raise click.ClickException(
            f"{settings.home} already holds demo data ({', '.join(leftovers)}); "
            "run `revolt demo --reset` to start over, or point REVOLT_HOME elsewhere"
        )
    if reset:
        for name in ("store", "spool", "dagster", "demo"):
            shutil.rmtree(settings.home / name, ignore_errors=True)
        for name in ("reports.sqlite", "reports.sqlite-wal", "reports.sqlite-shm"):
            (settings.home / name).unlink(missing_ok=True)
    with _sending_progress() as progress:

        def say(text: str) -> None:
            click.echo(f"  {text}", err=True)

        try:
            result = run_demo(
                settings,
                seed=seed,
                users=users,
                days=days,
                start=start.date() if start else None,
                say=say,
                progress=progress,
            )
        except (SourcesError, RuntimeError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
    for line in summarize(settings, result):
        click.echo(line)
    timings = ", ".join(f"{name} {value:.0f} s" for name, value in result.seconds.items())
    click.echo(f"took {timings}")


@main.command("demo-traffic")
@click.option("--seed", type=int, default=7, show_default=True, help="Same seed, same traffic.")
@click.option("--users", type=click.IntRange(1), default=250, show_default=True, help="Scale the traffic.")
@click.option("--days", type=click.IntRange(1, 60), default=7, show_default=True)
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default=None, help="First day [two weeks ago].")
@click.option(
    "--collector-url",
    default=None,
    help="Send to this collector (started with --simulated-clock) instead of one started in-process.",
)
@click.option(
    "--ground-truth",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write the ground truth [REVOLT_HOME/demo/ground-truth.json].",
)
def demo_traffic(
    seed: int,
    users: int,
    days: int,
    start: datetime | None,
    collector_url: str | None,
    ground_truth: Path | None,
) -> None:
    """Send a window of realistic time-tracking traffic through the SDK, and write its ground truth."""
    from revolt_pipeline.collector.admin_client import CollectorAdminError
    from revolt_pipeline.demo.run import run_demo_traffic

    settings = Settings.from_env()
    with _sending_progress() as progress:
        try:
            result = run_demo_traffic(
                settings,
                seed=seed,
                users=users,
                days=days,
                start=start.date() if start else None,
                collector_url=collector_url,
                ground_truth_path=ground_truth,
                progress=progress,
            )
        except (CollectorAdminError, SourcesError, RuntimeError) as exc:
            raise click.ClickException(str(exc)) from exc
    totals = result.truth["totals"]
    click.echo(
        f"sent {totals['messages_sent']:,} messages "
        f"({totals['duplicate_deliveries']:,} duplicate deliveries, "
        f"{totals['too_late']:,} beyond the lateness window) and {totals['malformed']:,} malformed ones "
        f"in {result.seconds:.1f} s"
    )
    click.echo(
        f"{totals['people']} people ({totals['anonymous_visitors']} anonymous visitors), "
        f"{totals['devices']} devices, "
        f"{totals['sessions']:,} sessions from {result.traffic.start} for {result.traffic.days} days"
    )
    click.echo(f"ground truth: {result.ground_truth_path}")
    if not collector_url:
        click.echo(f"landed in: {settings.storage_url}")


@main.group()
def sources() -> None:
    """Apps and platforms that send events, and their write keys."""


@sources.command("add")
@click.argument("name")
@click.option("--platform", type=click.Choice(PLATFORMS), required=True)
@click.option("--write-key", default=None, help=f"Use this key instead of a generated one ({WRITE_KEY_RULE}).")
@click.option(
    "--allowed-origin",
    "allowed_origins",
    multiple=True,
    metavar="ORIGIN",
    help="A browser origin that may send with this key, e.g. https://app.example.com; repeatable; '*' for any. "
    "[web: any origin; other platforms: none]",
)
def sources_add(name: str, platform: str, write_key: str | None, allowed_origins: tuple[str, ...]) -> None:
    """Register a source; prints its write key."""
    path = Settings.from_env().sources_file
    try:
        source = add_source(path, name, platform, write_key, allowed_origins or None)
    except SourcesError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{source.name}\t{source.platform}\t{source.write_key}")
    if source.allowed_origins:
        click.echo(f"browser origins allowed: {', '.join(source.allowed_origins)}", err=True)
    click.echo(f"saved in {path}; a running collector picks it up within seconds", err=True)


@sources.command("list")
def sources_list() -> None:
    """List sources with their platforms and write keys."""
    path = Settings.from_env().sources_file
    try:
        registered = load_sources(path)
    except SourcesError as exc:
        raise click.ClickException(str(exc)) from exc
    if not registered:
        click.echo(f"no sources in {path}; add one with `revolt sources add NAME --platform web`", err=True)
    for source in sorted(registered.values(), key=lambda s: s.name):
        click.echo(f"{source.name}\t{source.platform}\t{source.write_key}")


if __name__ == "__main__":
    main()
