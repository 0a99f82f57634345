"""The `revolt` command line: one entry point whose subcommands later features extend."""

import os
import sys
import time
import warnings
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TextIO
from urllib.parse import urlparse

import click

from revolt_pipeline.dashboard.urls import PAGES
from revolt_pipeline.private_files import restrict_umask
from revolt_pipeline.settings import Settings, SettingsError
from revolt_pipeline.sources import PLATFORMS, WRITE_KEY_RULE, SourcesError, add_source, load_sources


def _parse_moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    from revolt_pipeline.contract import parse_timestamp

    moment = parse_timestamp(value)
    if moment is None:
        raise click.BadParameter(f"expected an RFC 3339 date-time with offset, got {value!r}")
    return moment


class Console:
    """Status lines and one progress line on stderr, never glued together.

    On a terminal the progress line is redrawn in place, with an ETA from the rate since the first
    message went out; elsewhere (a log, a pipe) it is written once, when sending is done.
    """

    REDRAW_SECONDS = 0.2

    def __init__(self, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream or sys.stderr
        self.clock = clock
        self.interactive = self.stream.isatty()
        self._started: float | None = None
        self._drawn = 0.0
        self._open_line = False

    def say(self, text: str) -> None:
        self._end_line()
        click.echo(f"  {text}", file=self.stream)

    def progress(self, done: int, total: int) -> None:
        """Messages sent so far out of those planned."""
        now = self.clock()
        if self._started is None:
            self._started = now
        finished = total > 0 and done >= total
        if self.interactive and (finished or now - self._drawn >= self.REDRAW_SECONDS):
            self._drawn = now
            click.echo(f"\r  {self.progress_text(done, total, now - self._started)}\x1b[K", file=self.stream, nl=False)
            self._open_line = True
        if finished:
            if not self.interactive:
                click.echo(f"  {self.progress_text(done, total, now - self._started)}", file=self.stream)
            self._end_line()
            self._started = None

    @staticmethod
    def progress_text(done: int, total: int, elapsed: float) -> str:
        percent = 100 * done // total if total else 100
        text = f"sending {percent:3d}%  {done:,} of {total:,} messages"
        if done >= total:
            return f"sent {total:,} messages in {elapsed:.1f} s"
        if done and elapsed >= 1.0:
            text += f", {_duration(elapsed * (total - done) / done)} left"
        return text

    def _end_line(self) -> None:
        if self._open_line:
            click.echo("", file=self.stream)
            self._open_line = False


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:.0f} min"


class _Commands(click.Group):
    """The `revolt` group: a setting the environment gets wrong is one line naming it, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Commands)
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


# `revolt demo` sends its days through the collector and Dagster, up to DEMO_MAX_DAYS; `--fast` builds them
# straight through the layers (a year in minutes), by default a year.
DEMO_MAX_DAYS = 60
FAST_DEMO_DAYS = 365
FAST_DEMO_MAX_DAYS = 3660


@main.command("demo")
@click.option("--seed", type=int, default=7, show_default=True, help="Same seed, same traffic.")
@click.option("--users", type=click.IntRange(1), default=None, help="Scale the traffic up [250; 500 with --ml].")
@click.option(
    "--days",
    type=click.IntRange(1, FAST_DEMO_MAX_DAYS),
    default=None,
    help=f"Days of traffic, at most {DEMO_MAX_DAYS} but with --fast [7; 56 with --ml; 365 with --fast].",
)
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default=None, help="First day [two weeks ago].")
@click.option(
    "--ml",
    is_flag=True,
    help="Plan a longer history of more people (56 days, 500 people, unless --days and --users say otherwise), then "
    "train the models (ml_job) for its last day and print their metrics next to the baselines'.",
)
@click.option(
    "--reset",
    is_flag=True,
    help="First empty what a previous demo left where the settings point: REVOLT_STORAGE_URL, the spool, "
    "the report tables in REVOLT_REPORT_DB_URL, the Dagster runs in DAGSTER_HOME [REVOLT_HOME/dagster].",
)
@click.option(
    "--fast",
    is_flag=True,
    help="Write the plan straight into the cleaned layer and build every later layer, the models and the report "
    "tables with the layer library, without the collector or Dagster runs: a year (the default with --fast) in "
    "minutes, to try the dashboard on.",
)
def demo(
    seed: int, users: int | None, days: int | None, start: datetime | None, ml: bool, reset: bool, fast: bool
) -> None:
    """Run everything on the embedded default: demo traffic, then raw, cleaned and report layers."""
    from revolt_pipeline.demo.generator import plan_traffic
    from revolt_pipeline.demo.pipeline import (
        ML_DAYS,
        ML_USERS,
        DemoError,
        check_prerequisites,
        churn_summary,
        existing_demo_data,
        partitions_for,
        reset_demo_data,
        run_demo,
        segments_and_recommendations_summary,
        summarize,
    )

    settings = Settings.from_env()
    console = Console()
    if days is not None and days > DEMO_MAX_DAYS and not fast:
        raise click.UsageError(
            f"--days {days}: the demo sends at most {DEMO_MAX_DAYS} days through the collector and Dagster; "
            "add --fast to build more straight through the layers"
        )
    days = days or (FAST_DEMO_DAYS if fast else ML_DAYS if ml else 7)
    users = users or (ML_USERS if ml else 250)
    if fast:
        _fast_demo(settings, console, seed=seed, users=users, days=days, start=start, reset=reset)
        return
    try:
        traffic = plan_traffic(seed=seed, users=users, days=days, start=start.date() if start else None)
        moved = partitions_for(settings, traffic, reset=reset)
        if moved.partitions_start != settings.partitions_start:
            console.say(f"the daily partitions now begin on {moved.partitions_start}, the demo's first day")
        settings = moved
        check_prerequisites(settings, traffic)
        if reset:
            for location in reset_demo_data(settings):
                console.say(f"emptied {location}")
        else:
            leftovers = existing_demo_data(settings)
            if leftovers:
                raise DemoError(
                    f"a previous demo's data is still there ({'; '.join(leftovers)}): run `revolt demo --reset` "
                    "to start over, or point REVOLT_HOME elsewhere"
                )
        result = run_demo(
            settings,
            seed=seed,
            users=users,
            days=days,
            start=None,
            say=console.say,
            progress=console.progress,
            traffic=traffic,
            ml=ml,
        )
    except (DemoError, SourcesError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    for line in summarize(settings, result):
        click.echo(line)
    if result.ml_as_of is not None:
        lines, beats = churn_summary(settings, result.ml_as_of)
        for line in lines:
            click.echo(line)
        for line in segments_and_recommendations_summary(settings.store, result.ml_as_of, result.truth):
            click.echo(line)
        if not beats:
            raise click.ClickException(
                "the churn model does not beat its best baseline (its check beats_best_baseline failed): see the "
                "metrics above, and churn_model in `revolt ui`"
            )
    timings = ", ".join(f"{name} {value:.0f} s" for name, value in result.seconds.items())
    click.echo(f"took {timings}")


def _fast_demo(
    settings: Settings, console: Console, *, seed: int, users: int, days: int, start: datetime | None, reset: bool
) -> None:
    """`revolt demo --fast`: the plan straight into the lake, every later layer by the layer library."""
    from revolt_pipeline.demo.fast import run_fast_demo, summarize_fast_demo
    from revolt_pipeline.demo.generator import plan_traffic
    from revolt_pipeline.demo.pipeline import DemoError, existing_demo_data, first_day, reset_demo_data

    try:
        if reset:
            for location in reset_demo_data(settings):
                console.say(f"emptied {location}")
        elif leftovers := existing_demo_data(settings):
            raise DemoError(
                f"a previous demo's data is still there ({'; '.join(leftovers)}): run `revolt demo --fast --reset` "
                "to start over, or point REVOLT_HOME elsewhere"
            )
        console.say(f"planning {days} days of {users} people")
        traffic = plan_traffic(seed=seed, users=users, days=days, start=start.date() if start else None)
        first_day(traffic)  # refuses a plan without traffic before anything is written
        console.say(f"writing {len(traffic.messages):,} planned messages from {traffic.start} into the lake")
        built = run_fast_demo(settings, traffic, say=console.say)
    except (DemoError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    for line in summarize_fast_demo(built):
        click.echo(line)


# `revolt dashboard-screenshot`: the README's screenshot, from the demo's data by default (a fixed plan, so the
# picture changes only when the dashboard or the demo does).
SCREENSHOT_DEMO_START = "2026-09-07"


@main.command("dashboard-screenshot")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The PNG to write.")
@click.option(
    "--page",
    type=click.Choice([page for page, path in PAGES.items() if "{" not in path]),  # a person's needs an id
    default="overview",
    show_default=True,
)
@click.option(
    "--from-settings",
    is_flag=True,
    help="Show the report database the settings name (REVOLT_REPORT_DB_URL) instead of building the demo's data.",
)
@click.option("--days", type=click.IntRange(1, FAST_DEMO_MAX_DAYS), default=56, show_default=True)
@click.option("--users", type=click.IntRange(1), default=250, show_default=True)
@click.option("--full-page", is_flag=True, help="The whole page, not only the first 1280 x 900 pixels.")
@click.option("--browser", default=None, help="Chromium to drive [/usr/bin/chromium, Debian's].")
def dashboard_screenshot(
    out: Path, page: str, from_settings: bool, days: int, users: int, full_page: bool, browser: str | None
) -> None:
    """Save a PNG of a dashboard page, taken in headless chromium from the dashboard served on 127.0.0.1.

    By default over the demo's data, built by `revolt demo --fast` into a temporary folder (seed 7, from
    2026-09-07): the README's screenshot is made so. Needs Playwright (pip install -e '.[test]') and chromium."""
    import tempfile

    from revolt_pipeline.dashboard.screenshot import CHROMIUM, ScreenshotError, screenshot_page

    settings = Settings.from_env()
    try:
        with tempfile.TemporaryDirectory(prefix="revolt-screenshot-") as folder:
            if not from_settings:
                from revolt_pipeline.demo.fast import run_fast_demo, settings_in
                from revolt_pipeline.demo.generator import plan_traffic

                settings = settings_in(Path(folder), settings)
                start = date.fromisoformat(SCREENSHOT_DEMO_START)
                click.echo(f"building {days} days of the demo's {users} people from {start}", err=True)
                run_fast_demo(settings, plan_traffic(seed=7, users=users, days=days, start=start))
            shown, errors = screenshot_page(settings, out, page, browser=browser or CHROMIUM, full_page=full_page)
    except ScreenshotError as exc:
        raise click.ClickException(str(exc)) from exc
    if errors:
        raise click.ClickException(f"the page {shown} logged errors in the browser: {'; '.join(errors)}")
    click.echo(f"saved the {page} page ({shown}) as {out} ({out.stat().st_size:,} bytes)")


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
    try:
        result = run_demo_traffic(
            settings,
            seed=seed,
            users=users,
            days=days,
            start=start.date() if start else None,
            collector_url=collector_url,
            ground_truth_path=ground_truth,
            progress=Console().progress,
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


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


@main.command("launch")
@click.argument("job")
@click.option("--day", type=click.DateTime(["%Y-%m-%d"]), default=None, help="One day (one partition).")
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]), default=None, help="First day of a range.")
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Last day of the range.")
@click.option("--wait", is_flag=True, help="Follow the run until it finishes; exit 1 unless it succeeds.")
def launch(job: str, day: datetime | None, first: datetime | None, last: datetime | None, wait: bool) -> None:
    """Launch a run of JOB (raw_job, clean_job, catalog_job, report_job) for a day, or a range of days as one run.

    The run goes through the Dagster instance in DAGSTER_HOME [REVOLT_HOME/dagster] as `dagster job launch`
    sends it: queued until a dagster-daemon serving that instance starts it (`revolt ui` runs one). Prints
    the run id and its page in the UI [REVOLT_DAGSTER_UI_URL], and says when no daemon is running.
    """
    from revolt_pipeline.instance import ensure_dagster_home
    from revolt_pipeline.instance.launch import LaunchError, launch_run

    settings = Settings.from_env()
    first_day, last_day = _launch_days(settings, _day(day), _day(first), _day(last))
    home = ensure_dagster_home(settings.dagster_home)
    try:
        launch_run(
            home,
            job,
            first_day,
            last_day,
            ui_url=settings.dagster_ui_url,
            wait=wait,
            say=click.echo,
            note=lambda line: click.echo(line, err=True),
        )
    except LaunchError as exc:
        raise click.ClickException(str(exc)) from exc


def _launch_days(settings: Settings, day: date | None, first: date | None, last: date | None) -> tuple[date, date]:
    """The first and last day to run, checked against the daily partitions."""
    if day is not None and (first or last):
        raise click.UsageError("give --day, or --from and --to, not both")
    if day is not None:
        first = last = day
    if first is None or last is None:
        raise click.UsageError("give the day to run (--day 2026-11-20) or a range (--from 2026-11-17 --to 2026-11-21)")
    if first > last:
        raise click.UsageError(f"--from {first} is after --to {last}")
    start = date.fromisoformat(settings.partitions_start)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    if first < start:
        raise click.UsageError(f"{first} is before the first partition, {start} (REVOLT_PARTITIONS_START)")
    if last > yesterday:
        raise click.UsageError(f"{last} has no partition yet: a day's partition exists once the day is over (UTC)")
    return first, last


@main.command("ui")
@click.option("--host", default=None, help="Address to bind [host of REVOLT_DAGSTER_UI_URL, 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [port of REVOLT_DAGSTER_UI_URL, 3000].")
def ui(host: str | None, port: int | None) -> None:
    """The Dagster UI and a daemon (`dagster dev`) on the instance in DAGSTER_HOME [REVOLT_HOME/dagster].

    That is where `revolt demo` and `revolt launch` put their runs. The collector must run too
    (`revolt collector serve`): raw_events asks it to land what it holds before it reads a day.
    """
    from revolt_pipeline.instance import ensure_dagster_home
    from revolt_pipeline.instance.launch import serve_ui

    settings = Settings.from_env()
    home = ensure_dagster_home(settings.dagster_home)
    address = urlparse(settings.dagster_ui_url)
    host = host or address.hostname or "127.0.0.1"
    port = port or address.port or 3000
    # The process becomes `dagster dev` (same id), so `pkill -f "revolt ui"` would find nothing: say what stops it.
    click.echo(f"Dagster UI on http://{host}:{port}, runs in {home}; Ctrl-C or `kill {os.getpid()}` stops it", err=True)
    serve_ui(home, host, port)


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


@main.group()
def reports() -> None:
    """The report database that BI tools read (REVOLT_REPORT_DB_URL)."""


@reports.command("grant-readonly")
@click.argument("role")
@click.option(
    "--create",
    is_flag=True,
    help="Create ROLE (LOGIN, with the password of --password-file) if it does not exist; needs a role that may "
    "create roles (--database-url).",
)
@click.option(
    "--password-file",
    type=click.File("r"),
    default=None,
    help="With --create: a file holding the new role's password ('-' reads it from stdin).",
)
@click.option(
    "--database-url",
    default=None,
    metavar="URL",
    help="Connect with this URL instead [REVOLT_REPORT_DB_URL], e.g. as a superuser to --create the role.",
)
@click.option(
    "--owner",
    default=None,
    help="The role that creates the report tables [the owner of the existing ones, else the role connected as].",
)
@click.option("--schema", "schema_name", default=None, help="The report tables' schema [theirs, else the current one].")
def reports_grant_readonly(
    role: str,
    create: bool,
    password_file: TextIO | None,
    database_url: str | None,
    owner: str | None,
    schema_name: str | None,
) -> None:
    """Let ROLE read every report table, now and later, and nothing else (PostgreSQL); safe to run again.

    ROLE gets CONNECT on the report database, USAGE on its schema and SELECT on every table and view the
    pipeline's role has there or creates later; anything more it held there is taken back, and so is
    CREATE on the schema from PUBLIC. It can then neither write (INSERT, UPDATE, DELETE, TRUNCATE, CREATE)
    nor read other schemas or databases beyond what PUBLIC may, which the command lists. A superuser, a
    role that may create roles or databases, or a member of another role is refused.
    """
    from revolt_pipeline.reports.access import AccessError, grant_readonly

    if create != (password_file is not None):
        raise click.UsageError("--create and --password-file go together: the new role needs a password")
    password = password_file.read().rstrip("\r\n") if password_file is not None else None
    settings = Settings.from_env()
    try:
        grant = grant_readonly(
            database_url or settings.report_db_url,
            role,
            owner=owner,
            schema_name=schema_name,
            create_password=password,
        )
    except (AccessError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if grant.created:
        click.echo(f"created role {role} (LOGIN)")
    elif create:
        click.echo(f"role {role} exists already: left as it is, its password unchanged", err=True)
    tables = ", ".join(grant.tables) if grant.tables else "none yet"
    click.echo(
        f"{role} reads the report tables and views of database {grant.database}, schema {grant.schema} ({tables}), "
        f"and every table and view {grant.owner} creates there later"
    )
    click.echo(f"{role} cannot insert, update, delete, truncate or create there (checked in the database)")
    click.echo("granted" if grant.changed else f"nothing to change: {role} was read-only already")
    for note in grant.notes:
        click.echo(f"note: {note}", err=True)


@main.group()
def privacy() -> None:
    """Privacy requests by any of a person's ids: export everything held about them, or delete them everywhere
    (docs/privacy.md)."""


@privacy.command("export")
@click.option("--user-id", "user_ids", multiple=True, metavar="ID", help="A user id of the person (repeatable).")
@click.option(
    "--anonymous-id", "anonymous_ids", multiple=True, metavar="ID", help="An anonymous id of the person (repeatable)."
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True, path_type=Path),
    default="-",
    show_default=True,
    help="Where to write the JSON document ('-': standard output); a file is created readable by its owner only.",
)
@click.option(
    "--flush/--no-flush",
    default=True,
    show_default=True,
    help="Ask the collector (REVOLT_COLLECTOR_URL) to land its spool first, so that events it accepted in the last "
    "minutes are included.",
)
def privacy_export(user_ids: tuple[str, ...], anonymous_ids: tuple[str, ...], output: Path, flush: bool) -> None:
    """Write everything the lake (REVOLT_STORAGE_URL) and the report database hold about a person as JSON.

    Any one id of theirs is enough: every id stitched to it (their devices' anonymous ids, older user ids) is
    included. Rows of other people that name them are listed as mentions (where, not what). The collector lands
    its spool first (--no-flush skips it); a collector that cannot be reached is named in a warning and in the
    document's `spool`. It reads every object of the store, so it takes as long as reading the whole lake once.
    """
    import dataclasses
    import json

    from revolt_pipeline.layers.privacy import export_person, json_value
    from revolt_pipeline.private_files import create_private_file
    from revolt_pipeline.reports.loader import create_engine
    from revolt_pipeline.transforms.engine import duckdb_connection

    requested = [*user_ids, *anonymous_ids]
    if not requested or any(not value.strip() for value in requested):
        raise click.UsageError("name the person: --user-id ID or --anonymous-id ID (not empty)")
    settings = Settings.from_env()
    spool = _land_the_spool(settings) if flush else {"flushed": False, "reason": "--no-flush"}
    if not spool["flushed"] and flush:
        click.echo(f"warning: events still in the collector's spool are not included: {spool['reason']}", err=True)
    engine = create_engine(settings.report_db_url)
    try:
        with duckdb_connection(memory_limit=settings.duckdb_memory_limit) as connection:
            found = export_person(settings.store, connection, engine, requested)
    finally:
        engine.dispose()
    found = dataclasses.replace(found, spool=spool)
    text = json.dumps(found.document(datetime.now(UTC)), default=json_value, indent=1, ensure_ascii=False) + "\n"
    if str(output) == "-":
        click.echo(text, nl=False)
    else:
        create_private_file(output)
        output.write_text(text)
    click.echo(
        f"{found.rows()} rows and records in {len(found.objects)} objects and {len(found.report_tables)} report "
        f"tables, and {found.mentions()} rows of others naming them, for the ids {', '.join(found.ids)}",
        err=True,
    )


def _land_the_spool(settings: Settings) -> dict[str, object]:
    """Ask the collector to land what it holds (as a deletion does before erasing), so an export includes the events
    accepted in the last minutes; what happened, for the export's `spool`."""
    from revolt_pipeline.collector.admin_client import CollectorAdminClient, CollectorAdminError

    try:
        client = CollectorAdminClient(settings.collector_url, settings.resolved_admin_token(), timeout=60.0)
    except OSError as exc:
        return {"flushed": False, "reason": f"no admin token ({exc})"}
    try:
        report = client.flush()
    except CollectorAdminError as exc:
        return {"flushed": False, "reason": str(exc)[:300]}
    finally:
        client.close()
    return {"flushed": True, "collector_id": report.collector_id, "objects_landed": len(report.uploaded)}


@privacy.command("delete")
@click.option("--user-id", "user_ids", multiple=True, metavar="ID", help="A user id of the person (repeatable).")
@click.option(
    "--anonymous-id", "anonymous_ids", multiple=True, metavar="ID", help="An anonymous id of the person (repeatable)."
)
@click.option("--requested-by", metavar="WHO", default=None, help="Who asks, for the audit [the OS user].")
@click.option("--reason", metavar="TEXT", default=None, help="Why, for the audit (a ticket, an article of law).")
def privacy_delete(
    user_ids: tuple[str, ...], anonymous_ids: tuple[str, ...], requested_by: str | None, reason: str | None
) -> None:
    """Record a request to delete a person everywhere; privacy_job carries it out.

    Any one id of theirs is enough: every id stitched to it is deleted too. The request is recorded in the
    report database (REVOLT_REPORT_DB_URL, table privacy_requests) as pending; the sensor privacy_after_request
    launches privacy_job within a minute while a Dagster daemon runs (`revolt ui` runs one). An id nothing holds
    is recorded all the same: its events may still be on their way, and the collector will drop them.
    """
    import getpass

    import sqlalchemy as sa

    from revolt_pipeline.layers.deletion import record_deletion
    from revolt_pipeline.reports.loader import create_engine
    from revolt_pipeline.retrying import Backoff, RetriesExhausted

    requested = [*user_ids, *anonymous_ids]
    if not requested or any(not value.strip() for value in requested):
        raise click.UsageError("name the person: --user-id ID or --anonymous-id ID (not empty)")
    who = requested_by or getpass.getuser()
    for text, option in ((who, "--requested-by"), (reason or "", "--reason")):
        if any(value in text for value in requested):
            raise click.UsageError(f"{option} names the person: the audit keeps it after the deletion, so it must not")
    settings = Settings.from_env()
    try:
        # Someone at a terminal would rather hear at once that the database is down than wait out the pipeline's
        # minutes of retries: one more try, a second later.
        engine = create_engine(settings.report_db_url, retry=Backoff(retries=1, first_delay=1.0))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        recorded = record_deletion(
            engine,
            settings.resolved_privacy_salt(),
            user_ids=user_ids,
            anonymous_ids=anonymous_ids,
            requested_by=who,
            reason=reason,
        )
    except (RetriesExhausted, sa.exc.DBAPIError) as exc:
        raise click.ClickException(
            f"nothing was recorded: the report database {_safe_url(settings.report_db_url)} (REVOLT_REPORT_DB_URL) "
            f"cannot be written ({' '.join(str(exc).split())[:300]}). Start it, or point REVOLT_REPORT_DB_URL at it, "
            "and ask again."
        ) from exc
    finally:
        engine.dispose()
    click.echo(f"deletion request {recorded.request_id} recorded (pending) for {', '.join(recorded.requested)}")
    click.echo(
        "next: privacy_job erases the person and every id stitched to them from the lake and the report tables, "
        "then the pipeline rebuilds the days that changed. The sensor privacy_after_request launches it within a "
        "minute while a Dagster daemon runs (`revolt ui` runs one); to run it now, launch privacy_job from the UI "
        "or with `dagster job launch -j privacy_job` (DAGSTER_HOME exported)."
    )
    click.echo("follow it: revolt privacy requests")


@privacy.command("requests")
def privacy_requests_list() -> None:
    """List the deletion requests and what became of them (the audit in privacy_requests), oldest first."""
    import json

    from revolt_pipeline.reports.loader import create_engine, privacy_requests

    settings = Settings.from_env()
    engine = create_engine(settings.report_db_url)
    try:
        rows = privacy_requests(engine)
    finally:
        engine.dispose()
    if not rows:
        click.echo("no privacy request recorded")
    for row in rows:
        removed = json.loads(row["removed"]) if row["removed"] else {}
        counts = (
            f"{sum(removed.get('rows', {}).values())} rows in {removed.get('objects_rewritten', 0)} objects, "
            f"{sum(removed.get('rows_of_others_redacted', {}).values())} rows of others blanked, "
            f"{sum(removed.get('report_rows', {}).values())} report rows "
            f"({sum(removed.get('report_rows_of_others_redacted', {}).values())} of others blanked)"
            if removed
            else "nothing removed yet"
        )
        finished = f", finished {row['finished_at']:%Y-%m-%d %H:%M:%S}Z" if row["finished_at"] else ""
        click.echo(
            f"{row['request_id']} {row['kind']} {row['status']}: requested {row['requested_at']:%Y-%m-%d %H:%M:%S}Z "
            f"by {row['requested_by']}{finished}, attempts {row['attempts']}; {counts}"
        )
        if row["error"]:
            click.echo(f"  error: {row['error']}")


@main.command("dashboard")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (beyond loopback: a token).")
@click.option("--port", type=int, default=3030, show_default=True, help="Port.")
def dashboard(host: str, port: int) -> None:
    """The dashboard's pages over the report database (REVOLT_REPORT_DB_URL), in a browser.

    With REVOLT_DASHBOARD_TOKEN set, every page asks for it (a login form, or Authorization: Bearer);
    without it the dashboard listens on loopback only and refuses any other address (exit status 2).
    """
    from revolt_pipeline.dashboard.server import DashboardRefused, check_exposure, serve

    settings = Settings.from_env()
    try:
        check_exposure(host, settings.dashboard_token)
    except DashboardRefused as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from exc
    click.echo(f"dashboard on http://{host}:{port}, reading {_safe_url(settings.report_db_url)}", err=True)
    serve(settings, host, port)


def _safe_url(url: str) -> str:
    """A database URL with its password hidden."""
    import sqlalchemy as sa

    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "an unreadable URL"


if __name__ == "__main__":
    main()
