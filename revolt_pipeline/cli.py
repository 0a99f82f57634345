"""The `revolt` command line: one entry point whose subcommands later features extend."""

from datetime import datetime

import click

from revolt_pipeline.settings import Settings
from revolt_pipeline.sources import PLATFORMS, SourcesError, add_source, load_sources


def _parse_moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    from revolt_pipeline.contract import parse_timestamp

    moment = parse_timestamp(value)
    if moment is None:
        raise click.BadParameter(f"expected an RFC 3339 date-time with offset, got {value!r}")
    return moment


@click.group()
@click.version_option(package_name="revolt-pipeline")
def main() -> None:
    """revolt: self-hosted product analytics. Settings come from REVOLT_* environment variables."""


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


@main.group()
def sources() -> None:
    """Apps and platforms that send events, and their write keys."""


@sources.command("add")
@click.argument("name")
@click.option("--platform", type=click.Choice(PLATFORMS), required=True)
@click.option("--write-key", default=None, help="Use this key instead of a generated one.")
def sources_add(name: str, platform: str, write_key: str | None) -> None:
    """Register a source; prints its write key."""
    path = Settings.from_env().sources_file
    try:
        source = add_source(path, name, platform, write_key)
    except SourcesError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{source.name}\t{source.platform}\t{source.write_key}")
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
