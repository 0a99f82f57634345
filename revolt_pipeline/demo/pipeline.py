"""`revolt demo`: demo traffic through an in-process collector, then every layer through Dagster.

The Dagster definitions are the ones the UI uses; only the collector resource is the in-process
one. Raw days run as one partition range, then the cascade's own sensors are evaluated and the runs
they request executed, so the demo cascades exactly as production does. Its raw days reach yesterday, so
the days after its traffic are built too (empty) and the UI shows no day of its window missing.

Everything the demo needs is checked before it sends anything (the report database, the object
store, the partitions), so a missing piece costs one sentence and leaves nothing to clean up.
"""

import dataclasses
import shutil
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import sqlalchemy as sa
import yaml

from revolt_pipeline.defs.cascade import InProcessCascade, partition_range_tags, tagged_days
from revolt_pipeline.defs.ingestion.resources import InProcessCollectorResource
from revolt_pipeline.demo.generator import DEMO_FUNNELS_FILE, Traffic, plan_traffic
from revolt_pipeline.demo.population import PLANTED_CHURN_MIN_DAYS
from revolt_pipeline.demo.run import (
    ensure_demo_sources,
    in_process_collector,
    send_to_in_process_collector,
    write_ground_truth,
)
from revolt_pipeline.instance import ensure_dagster_home
from revolt_pipeline.instance.launch import failure_reason
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import (
    OutdatedReportTables,
    create_engine,
    drop_views,
    ensure_tables,
    is_connection_error,
)
from revolt_pipeline.retrying import Backoff, RetriesExhausted
from revolt_pipeline.settings import REPORT_DB_URL_ENV, Settings, record_partitions_start, write_once
from revolt_pipeline.storage import ObjectStore

Say = Callable[[str], None]
# Dagster's console logger shows only what the demo cannot say better itself.
QUIET_RUN = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
LAYER_AREAS = ("raw_events", "events", "events_quarantine", "sessions")
# What a local Dagster instance writes in its home (runs, event logs, schedules, compute logs, its own
# bookkeeping): what --reset removes there, leaving dagster.yaml and anything else alone.
# `revolt demo --ml`: the days of history it plans by default (the training cutoffs need 28 days of features and
# a 14-day label each before the validation cutoff and its own label), and the least it accepts (the planted churn);
# and the people: with 250, a validation cutoff holds about 50 churners, too few to tell two good models apart.
ML_DAYS = 56
ML_USERS = 500
# Checks of ml_job the demo reports with the metrics they judge, instead of stopping at them.
MODEL_VERDICTS = frozenset({"churn_model:beats_best_baseline"})
ML_MIN_DAYS = PLANTED_CHURN_MIN_DAYS
DAGSTER_HOME_DATA = ("history", "storage", "schedules", "logs", ".logs_queue", ".nux", ".telemetry")


def ml_min_days(settings: Settings) -> int:
    """The least days `--ml` plans: the planted churn's window, and the churn model's history with these settings
    (`layers/ml.churn_history_days`, the days its asset refuses to train without)."""
    from revolt_pipeline.layers.ml import churn_history_days  # scikit-learn: only when the models are asked for

    return max(ML_MIN_DAYS, churn_history_days(settings.churn))


class DemoError(RuntimeError):
    """Why the demo cannot run or did not finish, in a sentence that says what to do."""


@dataclass
class DemoResult:
    truth: dict[str, Any]
    ground_truth_path: Path
    instance_home: Path
    received_range: tuple[str, str]
    event_range: tuple[str, str]
    run_ids: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    ml_as_of: date | None = None  # the day the models were trained for (`--ml`), None without them


def existing_demo_data(settings: Settings) -> list[str]:
    """What a previous run left in the configured locations that would mix with a new one."""
    leftovers = []
    if not settings.store.is_empty():
        leftovers.append(settings.storage_url)
    if settings.spool_dir.is_dir() and any(path.is_file() for path in settings.spool_dir.rglob("*")):
        leftovers.append(str(settings.spool_dir))
    if _report_rows(settings.report_db_url):
        leftovers.append(f"report tables in {_shown(settings.report_db_url)}")
    return leftovers


def _report_rows(url: str) -> int:
    """Rows in the report tables that exist at `url`; 0 when there are none, or no database yet."""
    if url.startswith("sqlite") and not _sqlite_file(url).exists():
        return 0
    engine = create_engine(url, retry=Backoff(retries=0))
    try:
        existing = set(sa.inspect(engine).get_table_names())
        with engine.connect() as connection:
            return sum(
                connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for table in schema.metadata.sorted_tables
                if table.name in existing
            )
    except sa.exc.DBAPIError:
        return 0  # unreachable: check_prerequisites says so
    finally:
        engine.dispose()


def _sqlite_file(url: str) -> Path:
    return Path(sa.make_url(url).database or "")


def _shown(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)


def first_day(traffic: Traffic) -> date:
    """The day the traffic starts; DemoError when the plan holds none (a few people over a weekend send nothing)."""
    if not traffic.messages:
        raise DemoError(
            f"the demo planned no traffic: {len(traffic.people)} people over {traffic.days} day(s) from "
            f"{traffic.start} send nothing (the demo's people are quiet on weekends): add --users or --days"
        )
    return traffic.messages[0].send_time.date()


def partitions_for(settings: Settings, traffic: Traffic, *, reset: bool) -> Settings:
    """Settings whose daily partitions begin by the traffic's first day. A home's recorded default (15 days back)
    is moved back to it when nothing was built on it yet (a new home, or one being reset), so `revolt demo --ml`
    works on a new home as it is; a configured REVOLT_PARTITIONS_START, or a home holding data, stays as it is
    for `check_prerequisites` to refuse."""
    first = first_day(traffic)
    if not settings.partitions_start_recorded or first.isoformat() >= settings.partitions_start:
        return settings
    if not reset and existing_demo_data(settings):
        return settings
    record_partitions_start(settings.home, first)
    return dataclasses.replace(settings, partitions_start=first.isoformat())


def check_prerequisites(settings: Settings, traffic: Traffic) -> None:
    """Raise DemoError unless the report database, the object store and the partitions can take the demo."""
    _check_report_database(settings.report_db_url)
    _check_store(settings)
    first = first_day(traffic).isoformat()
    if first < settings.partitions_start:
        raise DemoError(
            f"the demo's traffic starts on {first}, before the first daily partition, {settings.partitions_start} "
            f"(REVOLT_PARTITIONS_START): start it later (--start, fewer --days) or set REVOLT_PARTITIONS_START={first}"
        )
    if traffic.end.date() >= datetime.now(UTC).date():
        raise DemoError(
            f"the demo's traffic reaches {traffic.end.date()}: its days must be over, so start it earlier (--start)"
        )


def _check_report_database(url: str) -> None:
    try:
        engine = create_engine(url, retry=Backoff(retries=0))
    except ValueError as exc:
        raise DemoError(f"{REPORT_DB_URL_ENV} is not a usable report database URL: {exc}") from None
    try:
        if url.startswith("sqlite"):
            _sqlite_file(url).parent.mkdir(parents=True, exist_ok=True)
        ensure_tables(engine)
    except OutdatedReportTables as exc:
        raise DemoError(f"the report database {_shown(url)} ({REPORT_DB_URL_ENV}): {exc}") from None
    except (RetriesExhausted, sa.exc.DBAPIError, OSError) as exc:
        cause = exc.__cause__ if isinstance(exc, RetriesExhausted) and exc.__cause__ is not None else exc
        reason = " ".join(str(getattr(cause, "orig", None) or cause).split())
        if is_connection_error(cause):
            what, advice = "cannot reach", "Start it"
        else:
            what = "cannot create the report tables in"
            advice = "Let its role create tables there (deploy/production/databases.sql makes it the owner)"
        raise DemoError(
            f"{what} the report database {_shown(url)} ({REPORT_DB_URL_ENV}): {reason.rstrip('.?')}. {advice}, "
            f"or unset {REPORT_DB_URL_ENV} to use SQLite in REVOLT_HOME"
        ) from None
    finally:
        engine.dispose()


def _check_store(settings: Settings) -> None:
    store = settings.store
    try:
        next(store.list("landing"), None)
    except OSError as exc:
        raise DemoError(
            f"cannot read the object store {settings.storage_url} (REVOLT_STORAGE_URL): {' '.join(str(exc).split())}"
        ) from None


def received_days(traffic: Traffic, partitions_start: str, today: date | None = None) -> tuple[str, str]:
    """The days the demo's traffic is received on, as far as the partitions reach: from the day before
    its first day (its users' first local day begins there in UTC) to yesterday (the day before `today`, the
    current UTC day unless given: two demos compared must not straddle a midnight).

    The days after the last delivery are received too, empty: the collector's clock is moved past them,
    so every raw partition of the window is built and none shows as missing.
    """
    first_send = traffic.messages[0].send_time.date()
    first = max(min(first_send, traffic.start - timedelta(days=1)), date.fromisoformat(partitions_start))
    last = max(traffic.end.date(), (today or datetime.now(UTC).date()) - timedelta(days=1))
    return first.isoformat(), last.isoformat()


def reset_demo_data(settings: Settings) -> list[str]:
    """Empty the configured locations a demo writes, after checking every one can be; returns what was emptied.

    The object store (REVOLT_STORAGE_URL), the spool, the report tables (REVOLT_REPORT_DB_URL), the runs of
    the Dagster instance (DAGSTER_HOME, or REVOLT_HOME/dagster) and the ground truth.
    """
    dagster_home = settings.dagster_home
    _refuse_shared_instance(dagster_home)
    removed = []
    store = settings.store
    if not store.is_empty():
        store.delete_everything()
        removed.append(settings.storage_url)
    if settings.spool_dir.exists():
        shutil.rmtree(settings.spool_dir)
        removed.append(str(settings.spool_dir))
    if _drop_report_tables(settings.report_db_url):
        removed.append(f"report tables in {_shown(settings.report_db_url)}")
    instance_data = [dagster_home / name for name in DAGSTER_HOME_DATA if (dagster_home / name).exists()]
    for path in instance_data:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    if instance_data:
        removed.append(f"Dagster runs in {dagster_home}")
    ground_truth = settings.home / "demo"
    if ground_truth.exists():
        shutil.rmtree(ground_truth)
        removed.append(str(ground_truth))
    return removed


def _refuse_shared_instance(dagster_home: Path) -> None:
    """A Dagster instance that keeps its runs elsewhere (PostgreSQL) is not the demo's to wipe."""
    config_file = dagster_home / "dagster.yaml"
    if not config_file.exists():
        return
    config = yaml.safe_load(config_file.read_text()) or {}
    elsewhere = [key for key in ("storage", "run_storage", "event_log_storage") if key in config]
    if elsewhere and "sqlite" not in (config.get("storage") or {}):
        raise DemoError(
            f"DAGSTER_HOME={dagster_home} is an instance that keeps its runs in a database ({', '.join(elsewhere)} "
            "in its dagster.yaml): --reset does not wipe it. Unset DAGSTER_HOME (the demo then uses "
            "REVOLT_HOME/dagster) or point it at a folder of its own"
        )


def _drop_report_tables(url: str) -> bool:
    if url.startswith("sqlite") and not _sqlite_file(url).exists():
        return False
    engine = create_engine(url, retry=Backoff(retries=0))
    try:
        existing = set(sa.inspect(engine).get_table_names())
        tables = [table for table in schema.metadata.sorted_tables if table.name in existing]
        drop_views(engine)  # they depend on the tables
        schema.metadata.drop_all(engine, tables=tables)
        return bool(tables)
    except sa.exc.DBAPIError as exc:
        raise DemoError(
            f"cannot reach the report database {_shown(url)} ({REPORT_DB_URL_ENV}) to reset it: "
            f"{' '.join(str(exc.orig or exc).split())}"
        ) from None
    finally:
        engine.dispose()


def run_demo(
    settings: Settings,
    *,
    seed: int,
    users: int,
    days: int,
    start: date | None,
    say: Say,
    progress: Callable[[int, int], None] | None = None,
    traffic: Traffic | None = None,
    ml: bool = False,
    today: date | None = None,
) -> DemoResult:
    """Send the traffic, then build every layer through Dagster; DemoError says what went wrong.

    `ml`: then run `ml_job` for the traffic's last day (its models need ml_min_days of history). `today`: the day
    the days received end before (the current UTC day unless given)."""
    from revolt_pipeline.definitions import build_definitions

    seconds: dict[str, float] = {}
    began = time.monotonic()
    traffic = traffic or plan_traffic(seed=seed, users=users, days=days, start=start)
    check_prerequisites(settings, traffic)
    if ml and traffic.days < ml_min_days(settings):
        raise DemoError(
            f"the models need at least {ml_min_days(settings)} days of history: run the demo with --days {ML_DAYS}"
        )
    write_keys = ensure_demo_sources(settings.sources_file)
    instance_home = ensure_dagster_home(settings.dagster_home)
    if settings.funnels_file is not None:  # the demo's funnels, unless the user wrote their own
        write_once(settings.funnels_file, DEMO_FUNNELS_FILE.read_text(encoding="utf-8"))
    received = received_days(traffic, settings.partitions_start, today)
    with in_process_collector(settings, traffic) as (server, clock):
        say(f"sending {len(traffic.messages):,} messages of {users} people over {days} days from {traffic.start}")
        through = date.fromisoformat(received[1])
        send_to_in_process_collector(server, clock, traffic, write_keys, progress, through)
        truth, truth_path = write_ground_truth(settings, traffic, None)
        seconds["send"] = time.monotonic() - began
        definitions = build_definitions(
            settings, collector=InProcessCollectorResource(collector_id=server.collector_id)
        )
        run_ids: dict[str, str] = {}
        with dg.DagsterInstance.from_config(str(instance_home)) as instance:
            cascade = InProcessCascade(definitions, instance)
            stage = time.monotonic()
            say(f"raw_job: received days {received[0]} to {received[1]}")
            raw = _execute(definitions, "raw_job", instance, received)
            run_ids["raw_job"] = raw.run_id
            seconds["raw_job"] = time.monotonic() - stage
            ranges: dict[str, tuple[str, str]] = {}

            def execute(job: str, tags: Mapping[str, str]) -> dg.ExecuteInProcessResult:
                days = tagged_days(tags) or received
                say(f"{job}: {'received' if job == 'catalog_job' else 'event'} days {days[0]} to {days[1]}")
                stage = time.monotonic()
                result = _execute(definitions, job, instance, days)
                run_ids[job], ranges[job] = result.run_id, days
                seconds[job] = time.monotonic() - stage
                return result

            cascade.follow(execute)
            if "clean_job" not in ranges:
                raise DemoError("the raw days touched no event day inside the partitions")
            event_range = ranges["clean_job"]
            ml_as_of = None
            if ml:
                ml_as_of = traffic.start + timedelta(days=traffic.days - 1)
                say(f"ml_job: as of the end of {ml_as_of}")
                stage = time.monotonic()
                # A model that does not beat its baselines is the demo's finding, printed with its metrics.
                run_ids["ml_job"] = _execute(
                    definitions, "ml_job", instance, (str(ml_as_of), str(ml_as_of)), MODEL_VERDICTS
                ).run_id
                seconds["ml_job"] = time.monotonic() - stage
    seconds["total"] = time.monotonic() - began
    return DemoResult(truth, truth_path, instance_home, received, event_range, run_ids, seconds, ml_as_of)


def _execute(
    definitions: dg.Definitions,
    job: str,
    instance: dg.DagsterInstance,
    days: tuple[str, str],
    reported: frozenset[str] = frozenset(),
) -> dg.ExecuteInProcessResult:
    """Run a job for the days; DemoError when it fails or an error check fails, but for the checks named in
    `reported` (`asset:check`), which the caller reports itself."""
    result = definitions.resolve_job_def(job).execute_in_process(
        instance=instance, tags=partition_range_tags(*days), run_config=QUIET_RUN, raise_on_error=False
    )
    if not result.success:
        reasons = [
            f"{event.step_key}: {failure_reason(event.step_failure_data)}" for event in result.get_step_failure_events()
        ]
        raise DemoError(f"{job} failed ({'; '.join(reasons) or 'see its run'}); its run is {result.run_id}")
    failed = [
        evaluation
        for evaluation in result.get_asset_check_evaluations()
        if not evaluation.passed
        and evaluation.severity == dg.AssetCheckSeverity.ERROR
        and f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}" not in reported
    ]
    if failed:
        names = ", ".join(f"{check.asset_key.to_user_string()}:{check.check_name}" for check in failed)
        raise DemoError(f"{job} finished with failed asset checks: {names}; its run is {result.run_id}")
    return result


def churn_summary(settings: Settings, as_of: date) -> tuple[list[str], bool]:
    """The churn model trained for `as_of`: its validation metrics next to its baselines', from its description,
    and whether it beats the best of them."""
    from revolt_pipeline.layers.ml import read_churn_model

    _, description = read_churn_model(settings.store, as_of)
    metrics = description["metrics"]
    model = metrics["gradient_boosting"]
    lines = [
        f"churn model as of {as_of} (horizon {description['horizon_days']} days): trained on the cutoffs "
        f"{', '.join(description['training_cutoffs'])}, validated on the cutoffs "
        f"{description['validation_cutoffs'][0]} to {description['validation_cutoff']} "
        f"({model['people']} examples, {model['positives']} churned); {description['trials']} tuning trials",
        f"{'model':<26}{'ROC AUC':>9}{'PR AUC':>9}{'Brier':>8}{'lift@10%':>10}{'cal. error':>12}",
    ]
    names = {
        "gradient_boosting": "gradient boosting",
        "logistic_regression": "logistic regression",
        "recency_rule": f"no activity for {description['recency_rule_k']}+ days",
    }
    for name, shown in names.items():
        m = metrics[name]
        lines.append(
            f"{shown:<26}{m['roc_auc']:>9.3f}{m['pr_auc']:>9.3f}{m['brier']:>8.3f}{m['top_decile_lift']:>10.2f}"
            f"{m['calibration_error']:>12.3f}"
        )
    verdict = "beats" if description["beats_baseline"] else "does NOT beat"
    lines.append(
        f"the model {verdict} the best baseline ({names[description['best_baseline']]}); scores in churn_scores"
    )
    return lines, bool(description["beats_baseline"])


def segments_and_recommendations_summary(store: ObjectStore, as_of: date, truth: dict[str, Any]) -> list[str]:
    """The recommendations and segments as of `as_of`: the recommender's hit rate and recall next to popularity's,
    and the segments, their sizes and words, and how well they recover the personas the demo planted."""
    import json

    from sklearn.metrics import adjusted_rand_score

    from revolt_pipeline.storage.layout import model_key, segments_key

    recommender = json.loads(store.get(model_key("recommendations", as_of)))
    metrics = recommender["metrics"]
    k = metrics["k"]
    verdict = "beats" if recommender["beats_popularity"] else "does NOT beat"
    lines = [
        f"recommendations as of {as_of}: {recommender['items']} items; judged on the days from {metrics['split_date']} "
        f"to the cutoff ({metrics['people_evaluated']} people used something new), fitted on the days before",
        f"{'model':<26}{f'hit rate@{k}':>12}{f'recall@{k}':>11}",
        f"{'item co-occurrence':<26}{metrics[f'hit_rate_at_{k}']:>12.3f}{metrics[f'recall_at_{k}']:>11.3f}",
        f"{'popularity (baseline)':<26}{metrics[f'popularity_hit_rate_at_{k}']:>12.3f}"
        f"{metrics[f'popularity_recall_at_{k}']:>11.3f}",
        f"the model {verdict} popularity; {k} suggestions per person in recommendations",
    ]
    segmenter = json.loads(store.get(model_key("segments", as_of)))
    if not segmenter["segments"]:
        return [*lines, f"segments as of {as_of}: too few people to segment"]
    lines.append(
        f"segments as of {as_of}: {segmenter['segments']} of {segmenter['people']} people (k-means, silhouette "
        f"{segmenter['silhouette']:.3f}, the best of {min(segmenter['silhouettes'], key=int)} to "
        f"{max(segmenter['silhouettes'], key=int)} segments tried)"
    )
    lines += [f"  {k:>2}  {size:>6,} people  {segmenter['descriptions'][k]}" for k, size in segmenter["sizes"].items()]
    personas = truth.get("person_personas", {})
    rows = pq.read_table(store.path(segments_key("person_segments", as_of)), filesystem=store.filesystem)
    columns = rows.to_pydict()
    planted = [
        (personas[person], segment)
        for person, segment in zip(columns["person_id"], columns["segment"], strict=True)
        if person in personas
    ]
    if planted:
        agreement = adjusted_rand_score([persona for persona, _ in planted], [segment for _, segment in planted])
        lines.append(
            f"  the planted personas of {len(planted):,} customers recovered: adjusted Rand index {agreement:.3f}"
        )
    return lines


def summarize(settings: Settings, result: DemoResult) -> list[str]:
    """What each layer holds after the demo, each day of traffic against its ground truth, and where it all is."""
    store = settings.store
    counts: dict[str, int] = {}
    reasons: Counter[str] = Counter()
    for area in LAYER_AREAS:
        counts[area] = 0
        for info in store.list(area):
            if not info.key.endswith(".parquet"):
                continue
            path = store.path(info.key)
            counts[area] += pq.ParquetFile(path, filesystem=store.filesystem).metadata.num_rows
            if area == "events_quarantine":
                column = pq.read_table(path, columns=["reason"], filesystem=store.filesystem).column("reason")
                reasons.update(column.to_pylist())
    dau, sessions = _report_totals(settings.report_db_url)
    windows = _active_user_windows(settings.report_db_url)
    truth = result.truth
    totals = truth["totals"]
    quarantined = ", ".join(f"{reason} {n:,}" for reason, n in sorted(reasons.items()))
    lines = [
        f"collector: {totals['messages_sent']:,} accepted, {totals['malformed']:,} refused and quarantined",
        f"raw_events: {counts['raw_events']:,} rows   events: {counts['events']:,}   "
        f"quarantined: {counts['events_quarantine']:,}" + (f" ({quarantined})" if quarantined else ""),
        f"sessions: {counts['sessions']:,}",
        "day          active users   sessions        WAU        MAU",
    ]
    differences = []
    for day, expected in sorted(truth["days"].items()):
        got = (dau.get(day, 0), sessions.get(day, 0))
        wau, mau = windows.get(day, (0, 0))
        lines.append(f"{day}   {got[0]:>12,}   {got[1]:>8,}   {wau:>8,}   {mau:>8,}")
        if got != (expected["daily_active_users"], expected["sessions"]):
            differences.append(f"{day} (expected {expected['daily_active_users']:,} and {expected['sessions']:,})")
        if (wau, mau) != (expected["weekly_active_users"], expected["monthly_active_users"]):
            differences.append(
                f"{day} (expected WAU {expected['weekly_active_users']:,}, MAU {expected['monthly_active_users']:,})"
            )
    funnel_lines, funnel_differences = _funnel_summary(settings.report_db_url, truth.get("funnels", {}))
    lines += funnel_lines
    differences += funnel_differences
    if differences:
        lines.append("differs from the ground truth on " + ", ".join(differences))
    else:
        lines.append(f"equal to the ground truth on all {len(truth['days'])} days")
    lines += _retention_row(settings.report_db_url)
    lines += [
        f"report database: {_shown(settings.report_db_url)}",
        f"Parquet lake:    {settings.storage_url}",
        f"ground truth:    {result.ground_truth_path}",
        f"Dagster UI:      revolt ui   (its runs are in {result.instance_home})",
        f"dashboard:       revolt dashboard   ({settings.dashboard_url})",
    ]
    return lines


def _report_totals(url: str) -> tuple[dict[str, int], dict[str, int]]:
    """Daily active users and sessions per day, all platforms together, as the report's total tables hold them."""
    dau_table, sessions_table = schema.daily_active_users, schema.sessions_daily
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            dau = connection.execute(sa.select(dau_table.c.event_date, dau_table.c.active_users)).all()
            sessions = connection.execute(sa.select(sessions_table.c.session_date, sessions_table.c.sessions)).all()
    finally:
        engine.dispose()
    return {day.isoformat(): n for day, n in dau}, {day.isoformat(): n for day, n in sessions}


def _retention_row(url: str) -> list[str]:
    """The largest day cohort's retention (first_seen), day by day, as `retention_daily` holds it.

    The largest, not the first: the first cohort is often a handful of people whose skewed clocks put them on
    the day before the traffic. Trailing days nobody came back on read as one range (the demo's traffic stops
    while the partitions run on to today)."""
    table = schema.retention_daily
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(table.c.cohort_date, table.c.period, table.c.cohort_size, table.c.retained)
                .where(table.c.definition == "first_seen")
                .order_by(table.c.cohort_date, table.c.period)
            ).all()
    finally:
        engine.dispose()
    if not rows:
        return ["retention: no cohort yet"]
    largest = max(rows, key=lambda row: row.cohort_size).cohort_date  # the earliest of the largest: rows are sorted
    cohort = [row for row in rows if row.cohort_date == largest]
    size = cohort[0].cohort_size
    kept = len(cohort)
    while kept > 2 and cohort[kept - 1].retained == 0:
        kept -= 1
    cells = [f"d{row.period} {100 * row.retained / size:.0f}%" for row in cohort[:kept]]
    if kept < len(cohort):
        cells.append(f"d{cohort[kept].period}-d{cohort[-1].period} 0%")
    return [f"retention of the {largest} cohort ({size:,} people): {'  '.join(cells)}"]


def _active_user_windows(url: str) -> dict[str, tuple[int, int]]:
    """WAU and MAU per day, as `active_users_daily` holds them."""
    table = schema.active_users_daily
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.select(table.c.event_date, table.c.wau, table.c.mau)).all()
    finally:
        engine.dispose()
    return {day.isoformat(): (wau, mau) for day, wau, mau in rows}


def _funnel_summary(url: str, truth: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Each funnel's steps over the demo's days (attempts added up over days), and the days whose step rows
    differ from the ground truth."""
    table = schema.funnel_steps_daily
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(
                    table.c.event_date,
                    table.c.funnel,
                    table.c.step,
                    table.c.step_name,
                    table.c.entered,
                    table.c.reached,
                ).order_by(table.c.funnel, table.c.step)
            ).all()
    finally:
        engine.dispose()
    by_funnel: dict[str, dict[tuple[int, str], int]] = {}
    got: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
    for day, funnel, step, name, entered, reached in rows:
        steps = by_funnel.setdefault(funnel, {})
        steps[(step, name)] = steps.get((step, name), 0) + reached
        got.setdefault((day.isoformat(), funnel), []).append((step, entered, reached))
    lines = []
    for funnel, steps in by_funnel.items():
        entered = steps[min(steps)] if steps else 0
        shown = [
            f"{name} {reached:,}" + (f" ({100 * reached / entered:.0f}%)" if step > 1 and entered else "")
            for (step, name), reached in sorted(steps.items())
        ]
        lines.append(f"funnel {funnel}: " + " → ".join(shown))
    differences = [
        f"{day} (funnel {funnel})"
        for day, funnels in sorted(truth.get("daily", {}).items())
        for funnel, expected in funnels.items()
        if sorted(got.get((day, funnel), [])) != [(row["step"], row["entered"], row["reached"]) for row in expected]
    ]
    return lines, differences
