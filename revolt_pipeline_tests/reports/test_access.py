"""`revolt reports grant-readonly ROLE`: the role reads every report table, now and later, and does nothing else.

Each test runs against a real PostgreSQL server set up as production is (deploy/production/databases.sql):
the pipeline's own role owns the report database and creates the tables, the command runs with its URL
(REVOLT_REPORT_DB_URL), and what the BI role can do is tried by connecting as that role.
"""

import datetime
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result
from psycopg import sql

from revolt_pipeline.cli import main
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.access import AccessError, grant_readonly
from revolt_pipeline.reports.loader import create_engine, ensure_audit_tables, ensure_tables
from revolt_pipeline.reports.views import VIEWS
from revolt_pipeline_tests.deployment.processes import clean_environment
from revolt_pipeline_tests.fixtures.postgres import PostgresServer
from revolt_pipeline_tests.fixtures.services import free_port

pytestmark = pytest.mark.services
REPOSITORY = Path(__file__).resolve().parents[2]
DAY = datetime.date(2026, 11, 20)
FORBIDDEN = {
    "insert": "INSERT INTO daily_active_users VALUES ('2026-11-21', 1, 1, 0)",
    "update": "UPDATE daily_active_users SET active_users = 0",
    "delete": "DELETE FROM daily_active_users",
    "truncate": "TRUNCATE daily_active_users",
    "drop": "DROP TABLE daily_active_users",
    "alter": "ALTER TABLE daily_active_users ADD COLUMN note text",
    "create in the report schema": "CREATE TABLE public.bi_scratch (x int)",
    "create a view in the report schema": "CREATE VIEW public.bi_view AS SELECT 1 AS x",
    "create a schema": "CREATE SCHEMA bi_own",
    "read another schema": "SELECT * FROM private.salaries",
    "read another role's table in the report schema": "SELECT * FROM public.admin_notes",
    "lock for writing": "LOCK TABLE daily_active_users IN EXCLUSIVE MODE",
}


@dataclass
class ReportDatabase:
    """A report database owned by the pipeline's role, holding its tables and a day of rows."""

    server: PostgresServer
    name: str
    owner: str

    def url(self, role: str | None = None, database: str | None = None) -> str:
        return (
            f"postgresql+psycopg://{role or self.owner}@{self.server.host}:{self.server.port}/{database or self.name}"
        )

    def connect(self, role: str, database: str | None = None) -> psycopg.Connection:
        return psycopg.connect(
            host=self.server.host,
            port=self.server.port,
            user=role,
            dbname=database or self.name,
            autocommit=True,
            connect_timeout=10,
        )

    def as_superuser(self, statement: str | sql.Composable, database: str = "postgres") -> None:
        with self.connect(self.server.user, database) as connection:
            connection.execute(statement)

    def as_owner(self, statement: str | sql.Composable) -> None:
        with self.connect(self.owner) as connection:
            connection.execute(statement)

    def make_role(self, prefix: str, options: str = "LOGIN") -> str:
        role = f"{prefix}_{uuid.uuid4().hex[:8]}"
        self.as_superuser(f"CREATE ROLE {role} {options}")
        return role


@pytest.fixture
def reports(postgres_server: PostgresServer) -> Iterator[ReportDatabase]:
    """As databases.sql sets production up: a role of the pipeline owning the database, which creates the tables."""
    suffix = uuid.uuid4().hex[:8]
    database = ReportDatabase(postgres_server, f"reports_{suffix}", f"pipeline_{suffix}")
    database.as_superuser(f"CREATE ROLE {database.owner} LOGIN")
    database.as_superuser(f"CREATE DATABASE {database.name} OWNER {database.owner}")
    database.as_superuser(f"REVOKE ALL ON DATABASE {database.name} FROM PUBLIC")
    engine = create_engine(database.url())
    ensure_tables(engine)
    engine.dispose()
    database.as_owner("INSERT INTO daily_active_users VALUES ('2026-11-20', 3, 2, 1)")
    # What the BI role must not read: the owner's other schema, another role's table beside the reports.
    database.as_owner("CREATE SCHEMA private")
    database.as_owner("CREATE TABLE private.salaries (name text, salary int)")
    database.as_superuser("CREATE TABLE public.admin_notes (note text)", database.name)
    yield database
    postgres_server.drop_database(database.name)


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVOLT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("REVOLT_REPORT_DB_URL", raising=False)


def run(*args: str, url: str | None = None, stdin: str | None = None) -> Result:
    env = {"REVOLT_REPORT_DB_URL": url} if url else {}
    return CliRunner().invoke(main, ["reports", "grant-readonly", *args], env=env, input=stdin)


def refused(connection: psycopg.Connection, statement: str) -> type[Exception] | None:
    """The error class PostgreSQL answers `statement` with, or None if it ran."""
    try:
        with connection.transaction():  # one of its own, as a BI tool's session would run it
            connection.execute(statement)
    except psycopg.Error as exc:
        return type(exc)
    return None


@pytest.mark.usefixtures("isolated_env")
def test_the_role_reads_every_report_table_and_can_neither_write_nor_read_anything_else(
    reports: ReportDatabase,
) -> None:
    bi = reports.make_role("bi")
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        reports.connect(bi)  # databases.sql's REVOKE ALL ON DATABASE ... FROM PUBLIC: closed until granted

    result = run(bi, url=reports.url())
    assert result.exit_code == 0, result.output
    assert f"{bi} reads the report tables and views of database {reports.name}, schema public" in result.output
    for table in [*schema.metadata.sorted_tables, *VIEWS]:
        assert table.name in result.output
    assert "granted" in result.output

    with reports.connect(bi) as connection:
        assert connection.execute("SELECT active_users FROM daily_active_users").fetchall() == [(3,)]
        for table in [*schema.metadata.sorted_tables, *VIEWS]:
            connection.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table.name))).fetchall()
        errors = {what: refused(connection, statement) for what, statement in FORBIDDEN.items()}
        # A grant without the grant option only warns ("no privileges were granted"): the write still fails.
        connection.execute(f"GRANT INSERT ON daily_active_users TO {bi}")
        errors["insert after granting itself"] = refused(connection, FORBIDDEN["insert"])
    assert {what: error for what, error in errors.items() if error is not psycopg.errors.InsufficientPrivilege} == {}

    # A table the pipeline creates after the grant (a new report table) is readable, and only readable.
    reports.as_owner("CREATE TABLE weekly_active_users (week date PRIMARY KEY, active_users int NOT NULL)")
    reports.as_owner("INSERT INTO weekly_active_users VALUES ('2026-11-16', 5)")
    reports.as_owner("CREATE VIEW dau_totals AS SELECT event_date, active_users FROM daily_active_users")
    with reports.connect(bi) as connection:
        assert connection.execute("SELECT active_users FROM weekly_active_users").fetchall() == [(5,)]
        assert connection.execute("SELECT active_users FROM dau_totals").fetchall() == [(3,)]
        assert refused(connection, "INSERT INTO weekly_active_users VALUES ('2026-11-23', 1)") is (
            psycopg.errors.InsufficientPrivilege
        )
        assert refused(connection, "DELETE FROM weekly_active_users") is psycopg.errors.InsufficientPrivilege
    # Rows the pipeline loads are in the next read: nothing is copied.
    reports.as_owner("UPDATE daily_active_users SET active_users = 4")
    with reports.connect(bi) as connection:
        assert connection.execute("SELECT active_users FROM daily_active_users").fetchall() == [(4,)]


@pytest.mark.usefixtures("isolated_env")
def test_the_audit_of_privacy_requests_stays_closed_to_the_role(reports: ReportDatabase) -> None:
    """It holds the ids of people being deleted: neither the default privileges nor a stray grant opens it."""
    bi = reports.make_role("bi")
    assert run(bi, url=reports.url()).exit_code == 0
    engine = create_engine(reports.url())
    try:
        ensure_audit_tables(engine)  # created after the grant: the default privileges would give it to bi
        with reports.connect(bi) as connection:
            assert refused(connection, "SELECT * FROM privacy_requests") is psycopg.errors.InsufficientPrivilege

        reports.as_owner(f"GRANT SELECT ON privacy_requests TO {bi}, PUBLIC")
        result = run(bi, url=reports.url())
        assert result.exit_code == 0, result.output
        assert "privacy_requests" not in result.output
        with reports.connect(bi) as connection:
            assert refused(connection, "SELECT * FROM privacy_requests") is psycopg.errors.InsufficientPrivilege

        reports.as_owner(f"GRANT SELECT ON privacy_requests TO {bi}")
        ensure_audit_tables(engine)  # the next deletion request closes it again
        with reports.connect(bi) as connection:
            assert refused(connection, "SELECT * FROM privacy_requests") is psycopg.errors.InsufficientPrivilege
            assert connection.execute("SELECT active_users FROM daily_active_users").fetchall() == [(3,)]
    finally:
        engine.dispose()


@pytest.mark.usefixtures("isolated_env")
def test_other_databases_stay_closed_or_unreadable(reports: ReportDatabase) -> None:
    bi = reports.make_role("bi")
    closed, open_ = f"closed_{uuid.uuid4().hex[:8]}", f"open_{uuid.uuid4().hex[:8]}"
    for name in (closed, open_):
        reports.server.create_database(name)
        reports.as_superuser("CREATE TABLE secrets (value text)", name)
        reports.as_superuser("INSERT INTO secrets VALUES ('s3cret')", name)
    reports.as_superuser(f"REVOKE ALL ON DATABASE {closed} FROM PUBLIC")

    result = run(bi, url=reports.url())
    assert result.exit_code == 0, result.output
    assert "temporary tables" not in result.output  # the report database grants PUBLIC nothing
    reports.as_superuser(f"GRANT TEMPORARY ON DATABASE {reports.name} TO PUBLIC")  # PostgreSQL's default
    result = run(bi, url=reports.url())
    assert "can create temporary tables (its session's own" in result.output
    # PostgreSQL lets every role connect to a new database; the command says so rather than change it.
    assert "can also connect to" in result.output and open_ in result.output and closed not in result.output
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        reports.connect(bi, closed)
    with reports.connect(bi, open_) as connection:
        assert refused(connection, "SELECT * FROM secrets") is psycopg.errors.InsufficientPrivilege
        assert refused(connection, "CREATE TABLE mine (x int)") is psycopg.errors.InsufficientPrivilege
    for name in (closed, open_):
        reports.server.drop_database(name)


@pytest.mark.usefixtures("isolated_env")
def test_running_it_again_changes_nothing_and_a_role_that_held_more_is_brought_back_to_reading(
    reports: ReportDatabase,
) -> None:
    bi = reports.make_role("bi")
    # Someone once gave the role too much: a write on a report table, CREATE on the schema, future writes.
    reports.as_owner(f"GRANT INSERT, DELETE ON daily_active_users TO {bi}")
    reports.as_owner(f"GRANT CREATE ON SCHEMA public TO {bi}")
    reports.as_owner(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT INSERT ON TABLES TO {bi}")
    reports.as_owner("GRANT CREATE ON SCHEMA public TO PUBLIC")

    first = run(bi, url=reports.url())
    assert first.exit_code == 0, first.output
    assert "granted" in first.output
    second = run(bi, url=reports.url())
    assert second.exit_code == 0, second.output
    assert f"nothing to change: {bi} was read-only already" in second.output

    reports.as_owner("CREATE TABLE later (x int)")
    with reports.connect(bi) as connection:
        assert refused(connection, "DELETE FROM daily_active_users") is psycopg.errors.InsufficientPrivilege
        assert refused(connection, "CREATE TABLE public.mine (x int)") is psycopg.errors.InsufficientPrivilege
        assert refused(connection, "INSERT INTO later VALUES (1)") is psycopg.errors.InsufficientPrivilege
        assert connection.execute("SELECT count(*) FROM later").fetchone() == (0,)


@pytest.mark.usefixtures("isolated_env")
def test_a_missing_role_is_named_and_created_only_when_asked_with_a_hashed_password(
    reports: ReportDatabase, tmp_path: Path
) -> None:
    bi = f"bi_{uuid.uuid4().hex[:8]}"
    missing = run(bi, url=reports.url())
    assert missing.exit_code == 1
    assert f"role '{bi}' does not exist" in missing.output
    assert "--create --password-file" in missing.output

    password = tmp_path / "bi-password"
    password.write_text("correct horse battery staple\n")
    # The pipeline's role may not create roles: it is told what to do instead, and nothing changes.
    not_allowed = run(bi, "--create", "--password-file", str(password), url=reports.url())
    assert not_allowed.exit_code == 1
    assert "permission denied to create role" in not_allowed.output
    assert "--database-url" in not_allowed.output

    # As a superuser, the owner is found from the report tables.
    created = run(bi, "--create", "--password-file", str(password), "--database-url", reports.url(reports.server.user))
    assert created.exit_code == 0, created.output
    assert f"created role {bi} (LOGIN)" in created.output
    assert f"every table and view {reports.owner} creates there later" in created.output
    with reports.connect(reports.server.user) as connection:
        (stored,) = connection.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", [bi]).fetchone()
    assert stored.startswith("SCRAM-SHA-256$") and "staple" not in stored
    with reports.connect(bi) as connection:
        assert connection.execute("SELECT count(*) FROM daily_active_users").fetchone() == (1,)

    again = run(bi, "--create", "--password-file", "-", url=reports.url(), stdin="another\n")
    assert again.exit_code == 0, again.output
    assert "exists already: left as it is" in again.output
    assert "nothing to change" in again.output
    with reports.connect(reports.server.user) as connection:
        assert connection.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", [bi]).fetchone() == (stored,)
    assert run(bi, "--create", url=reports.url()).exit_code == 2  # a usage error: no password


@pytest.mark.usefixtures("isolated_env")
@pytest.mark.parametrize(
    "options, reason",
    [
        ("LOGIN CREATEROLE", "may create roles"),
        ("LOGIN CREATEDB", "may create databases"),
    ],
)
def test_a_role_that_may_create_roles_or_databases_is_refused(
    reports: ReportDatabase, options: str, reason: str
) -> None:
    role = reports.make_role("wide", options)
    result = run(role, url=reports.url(reports.server.user))
    assert result.exit_code == 1
    assert "cannot be made read-only" in result.output and reason in result.output
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        reports.connect(role)  # nothing was granted on the way (a superuser could connect anyway)


@pytest.mark.usefixtures("isolated_env")
def test_a_member_of_the_pipelines_role_and_the_pipelines_role_itself_are_refused(reports: ReportDatabase) -> None:
    member = reports.make_role("member")
    reports.as_superuser(f"GRANT {reports.owner} TO {member}")
    result = run(member, url=reports.url())
    assert result.exit_code == 1
    assert f"is a member of {reports.owner}" in result.output
    with reports.connect(member) as connection:  # refused, and nothing was granted on the way
        assert refused(connection, "SELECT 1") is None

    itself = run(reports.owner, url=reports.url())
    assert itself.exit_code == 1
    assert "creates the report tables" in itself.output


@pytest.mark.usefixtures("isolated_env")
def test_on_sqlite_it_says_a_file_has_no_roles(tmp_path: Path) -> None:
    path = tmp_path / "reports.sqlite"
    result = run("bi", url=f"sqlite:///{path}")
    assert result.exit_code == 1
    assert "a file has no roles" in result.output and "read-only copy" in result.output
    assert not path.exists()  # nothing created on the way
    with pytest.raises(AccessError, match="SQLite"):
        grant_readonly(f"sqlite:///{path}", "bi")


def test_databases_sql_gives_bi_what_the_command_gives(restartable_postgres: PostgresServer) -> None:
    """deploy/production/databases.sql and the command agree: after the file, the command has nothing to change."""
    server = restartable_postgres
    command = [
        str(server.bindir / "psql"), "-h", server.host, "-p", str(server.port), "-U", server.user, "-d", "postgres",
        "-v", "dagster_password=d", "-v", "reports_password=r", "-v", "bi_password=b",
        "-f", "deploy/production/databases.sql",
    ]  # fmt: skip
    created = subprocess.run(command, cwd=REPOSITORY, env=clean_environment(), capture_output=True, text=True)
    assert created.returncode == 0, created.stdout + created.stderr
    url = f"postgresql+psycopg://reports:r@{server.host}:{server.port}/reports"

    before_tables = grant_readonly(url, "bi")
    assert not before_tables.changed, "databases.sql grants less, or other, than the command"
    engine = create_engine(url)
    ensure_tables(engine)  # the pipeline's first report run
    engine.dispose()
    after_tables = grant_readonly(url, "bi")
    assert not after_tables.changed, "a table the pipeline created is not readable as the command makes it"
    # The tables and the views, which the role reads through the same default privileges.
    made = [table.name for table in schema.metadata.sorted_tables] + [view.name for view in VIEWS]
    assert after_tables.tables == sorted(made)


@pytest.mark.usefixtures("isolated_env")
def test_a_superuser_is_refused(reports: ReportDatabase) -> None:
    role = reports.make_role("root", "LOGIN SUPERUSER")
    result = run(role, url=reports.url(reports.server.user))
    assert result.exit_code == 1
    assert "is a superuser" in result.output and "cannot be made read-only" in result.output


@pytest.mark.usefixtures("isolated_env")
def test_a_role_name_is_only_ever_a_name(reports: ReportDatabase, tmp_path: Path) -> None:
    hostile = f'bi"; DROP TABLE daily_active_users; -- {uuid.uuid4().hex[:6]}'
    password = tmp_path / "password"
    password.write_text("pw")
    admin = reports.url(reports.server.user)
    result = run(hostile, "--create", "--password-file", str(password), "--database-url", admin)
    assert result.exit_code == 0, result.output
    with reports.connect(reports.server.user, reports.name) as connection:
        assert connection.execute("SELECT count(*) FROM daily_active_users").fetchone() == (1,)
        assert connection.execute(
            "SELECT has_table_privilege(%s, 'daily_active_users', 'SELECT')", [hostile]
        ).fetchone()[0]
        assert not connection.execute(
            "SELECT has_table_privilege(%s, 'daily_active_users', 'DELETE')", [hostile]
        ).fetchone()[0]


@pytest.mark.usefixtures("isolated_env")
def test_a_role_that_owns_a_table_is_refused(reports: ReportDatabase) -> None:
    role = reports.make_role("owning")
    reports.as_superuser("CREATE TABLE private.owned_by_bi (x int)", reports.name)
    reports.as_superuser(f"ALTER TABLE private.owned_by_bi OWNER TO {role}", reports.name)
    result = run(role, url=reports.url())
    assert result.exit_code == 1
    assert "owns private.owned_by_bi, which an owner can always change" in result.output


@pytest.mark.usefixtures("isolated_env")
def test_an_unreachable_server_or_a_wrong_url_is_said_plainly() -> None:
    unreachable = run("bi", url=f"postgresql+psycopg://reports:secret@127.0.0.1:{free_port('127.0.0.1')}/reports")
    assert unreachable.exit_code == 1
    assert "cannot reach the report database" in unreachable.output
    assert "secret" not in unreachable.output  # the URL is shown with its password hidden
    wrong = run("bi", url="not a url")
    assert wrong.exit_code == 1 and "not a database URL" in wrong.output


@pytest.mark.usefixtures("isolated_env")
def test_a_write_the_command_cannot_take_back_refuses_the_grant_and_changes_nothing(reports: ReportDatabase) -> None:
    bi = reports.make_role("bi")
    # Another role's table beside the reports, writable by everyone: not the pipeline's to revoke.
    reports.as_superuser("GRANT INSERT ON public.admin_notes TO PUBLIC", reports.name)
    result = run(bi, url=reports.url())
    assert result.exit_code == 1
    assert "would not be read-only" in result.output
    assert "owned by other roles: admin_notes: INSERT" in result.output
    assert "Nothing was changed" in result.output
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        reports.connect(bi)
