"""A read-only PostgreSQL role for BI tools: it reads every report table, now and later, and nothing else.

`grant_readonly` is `revolt reports grant-readonly ROLE`. In one transaction it gives ROLE CONNECT on the
report database, USAGE on the report schema, SELECT on every table and view the pipeline's role owns there
but the audit of privacy requests, and the same on every one that role creates later (ALTER DEFAULT
PRIVILEGES); it takes back anything more ROLE held there (a write privilege, CREATE on the schema) and CREATE
on the schema from PUBLIC, through which every role could otherwise add tables. It then checks what ROLE can
actually do, through PUBLIC and any grant of its own, and says what is still possible; running it again
changes nothing.

A role that could do more whatever is granted (a superuser, a role that can create roles or databases,
a member of another role, an owner of tables) is refused rather than made to look read-only.
deploy/production/databases.sql makes the `bi` role with the same grants; a test checks that they agree.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql

from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import create_engine

# What a read-only role must not hold on a table (MAINTAIN exists from PostgreSQL 17 on).
TABLE_WRITES = ("INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
TABLE_WRITES_17 = (*TABLE_WRITES, "MAINTAIN")
# pg_class kinds a BI tool reads: tables, partitioned tables, views, materialized views, foreign tables.
READABLE_KINDS = ["r", "p", "v", "m", "f"]
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")
# The audit of privacy requests, beside the report tables but not one of them: no BI role reads it.
PRIVATE_TABLES = frozenset(table.name for table in schema.audit_metadata.sorted_tables)

SQLITE_ADVICE = (
    "the report database is a SQLite file ({path}): a file has no roles to grant. Give BI tools a read-only "
    "copy, refreshed after the report runs (sqlite3 {path} \".backup 'reports-bi.sqlite'\"), or read access "
    "to the file through its permissions (a group for the BI tool's user); see docs/bi.md. For a role that "
    "reads and cannot write, load the reports into PostgreSQL (REVOLT_REPORT_DB_URL=postgresql+psycopg://...)."
)


class AccessError(Exception):
    """The grant could not be made, or would not make the role read-only: the message says why and what to do."""


@dataclass
class ReadOnlyGrant:
    """What `grant_readonly` did and found."""

    role: str
    owner: str
    schema: str
    database: str
    created: bool = False
    tables: list[str] = field(default_factory=list)  # what the role reads now, in the report schema
    changed: bool = False  # False: the role was read-only already, exactly so
    notes: list[str] = field(default_factory=list)  # what the role can reach beyond the report tables


@dataclass(frozen=True)
class _Privileges:
    """What a role can do in the report database, as PostgreSQL answers (its own grants and PUBLIC's)."""

    connect: bool
    usage: bool
    create: bool
    readable: frozenset[str]
    writable: frozenset[str]  # "table: PRIVILEGE"
    default_grants: frozenset[str]  # "PRIVILEGE" on the owner's future tables, to the role or PUBLIC


def grant_readonly(
    url: str,
    role: str,
    *,
    owner: str | None = None,
    schema_name: str | None = None,
    create_password: str | None = None,
) -> ReadOnlyGrant:
    """Make `role` read the report tables at `url` and nothing else; idempotent.

    `owner` is the role that creates the report tables (default: the owner of the existing ones, else the
    role `url` connects as); `schema_name` the schema they live in (default: theirs, else the current
    schema). With `create_password`, a missing role is created (LOGIN, the password sent as a SCRAM hash).
    """
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise AccessError(f"not a database URL: {url!r} (expected postgresql+psycopg://user@host:port/dbname)") from exc
    if parsed.get_backend_name() == "sqlite":
        raise AccessError(SQLITE_ADVICE.format(path=parsed.database or ":memory:"))
    engine = create_engine(url)
    try:
        with _transaction(engine) as cursor:
            return _grant(cursor, role, owner, schema_name, create_password)
    except (sa.exc.DBAPIError, psycopg.Error) as exc:
        # Statements run on the driver's cursor raise psycopg's errors; the connection, SQLAlchemy's.
        original = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
        raise AccessError(_explain(original, engine.url.render_as_string(hide_password=True))) from exc
    finally:
        engine.dispose()


@contextmanager
def _transaction(engine: sa.Engine) -> Iterator[psycopg.Cursor[Any]]:
    """A psycopg cursor inside one SQLAlchemy transaction: role and grant statements take identifiers,
    which psycopg.sql quotes, and none of it is visible until all of it is done."""
    with engine.begin() as connection:
        driver_connection = connection.connection.driver_connection
        with driver_connection.cursor() as cursor:
            yield cursor


def _explain(original: BaseException | None, where: str) -> str:
    message = " ".join(str(original).split())
    if isinstance(original, psycopg.errors.InsufficientPrivilege):
        return (
            f"{message} (in {where}). Run the command as the role that creates the report tables (the "
            "REVOLT_REPORT_DB_URL of the pipeline, which owns them and the database), or as a superuser "
            "with --database-url and --owner; --create needs a role that may create roles."
        )
    if isinstance(original, psycopg.OperationalError):
        return f"cannot reach the report database {where}: {message}"
    return f"{message} (in {where})"


def _grant(
    cursor: psycopg.Cursor[Any],
    role: str,
    owner: str | None,
    schema_name: str | None,
    create_password: str | None,
) -> ReadOnlyGrant:
    # Two runs at once would race on the same catalog rows; the second waits for the first.
    cursor.execute("SELECT pg_advisory_xact_lock(hashtext('revolt reports grant-readonly'))")
    database, server_version = _one(cursor, "SELECT current_database(), current_setting('server_version_num')::int")
    owner, schema_name = _report_tables_home(cursor, owner, schema_name)
    if _role_oid(cursor, owner) is None:
        raise AccessError(f"the owner role {owner!r} does not exist: name the role that creates the report tables")
    if _one(cursor, "SELECT oid FROM pg_namespace WHERE nspname = %s", [schema_name]) is None:
        raise AccessError(f"schema {schema_name!r} does not exist in database {database!r}")
    if role == owner:
        raise AccessError(
            f"{role!r} creates the report tables, so it can always change them: create a role of its own for BI tools"
        )

    grant = ReadOnlyGrant(role=role, owner=owner, schema=schema_name, database=database)
    role_oid = _role_oid(cursor, role)
    if role_oid is None:
        if create_password is None:
            raise AccessError(
                f"role {role!r} does not exist: create it first (as a superuser: CREATE ROLE {_name(role)} LOGIN "
                f"PASSWORD '...'), or add --create --password-file FILE to create it here"
            )
        _create_role(cursor, role, create_password)
        grant.created = True
        role_oid = _role_oid(cursor, role)
    _refuse_unsafe_role(cursor, role, role_oid)

    writes = TABLE_WRITES_17 if server_version >= 170000 else TABLE_WRITES
    before = _privileges(cursor, role_oid, owner, schema_name, writes)
    owned = _owned_relations(cursor, owner, schema_name)
    tables = [name for name in owned if name not in PRIVATE_TABLES]
    private = [name for name in owned if name in PRIVATE_TABLES]
    for statement in readonly_statements(role, owner, schema_name, database, tables, writes, private):
        cursor.execute(statement)
    after = _privileges(cursor, role_oid, owner, schema_name, writes)

    problems = _problems(after, tables, owner, schema_name)
    if problems:
        raise AccessError(f"{role!r} would not be read-only: " + "; ".join(problems) + ". Nothing was changed.")
    grant.tables = sorted(after.readable)
    grant.changed = grant.created or before != after
    grant.notes = _beyond_the_report_tables(cursor, role_oid, role, schema_name, database)
    return grant


def readonly_statements(
    role: str,
    owner: str,
    schema_name: str,
    database: str,
    tables: list[str],
    writes: tuple[str, ...] = TABLE_WRITES,
    private: Sequence[str] = (),
) -> list[sql.Composed]:
    """The statements that make `role` read `owner`'s tables in `schema_name`, present and future, and nothing more.

    Each takes back what is more than reading before it grants reading, so a role that held more ends
    up holding exactly this. deploy/production/databases.sql runs the same ones for `bi` on a fresh
    database (no tables yet). `private` (the audit, `PRIVATE_TABLES`) is closed to the role and to PUBLIC; the
    pipeline closes it again whenever it creates it (`loader.ensure_audit_tables`), against the default privileges.
    """
    who, by, where = sql.Identifier(role), sql.Identifier(owner), sql.Identifier(schema_name)
    write_list = sql.SQL(", ").join(sql.SQL(privilege) for privilege in writes)
    statements = [
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), who),
        sql.SQL("REVOKE CREATE ON SCHEMA {} FROM PUBLIC").format(where),
        sql.SQL("REVOKE CREATE ON SCHEMA {} FROM {}").format(where, who),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(where, who),
        sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} REVOKE ALL ON TABLES FROM {}").format(
            by, where, who
        ),
        sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} REVOKE {} ON TABLES FROM {}").format(by, write_list, who),
        sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
            by, where, who
        ),
    ]
    if tables:
        names = sql.SQL(", ").join(sql.Identifier(schema_name, table) for table in tables)
        statements += [
            sql.SQL("REVOKE {} ON TABLE {} FROM PUBLIC").format(write_list, names),
            sql.SQL("REVOKE ALL ON TABLE {} FROM {}").format(names, who),
            sql.SQL("GRANT SELECT ON TABLE {} TO {}").format(names, who),
        ]
    if private:
        closed = sql.SQL(", ").join(sql.Identifier(schema_name, table) for table in private)
        statements += [
            sql.SQL("REVOKE ALL ON TABLE {} FROM PUBLIC").format(closed),
            sql.SQL("REVOKE ALL ON TABLE {} FROM {}").format(closed, who),
        ]
    return statements


def _name(identifier: str) -> str:
    """`identifier` as it must be written in SQL: bare when PostgreSQL would read it back unchanged, else quoted."""
    if identifier.isidentifier() and identifier.isascii() and identifier == identifier.lower():
        return identifier
    return '"' + identifier.replace('"', '""') + '"'


def _one(cursor: psycopg.Cursor[Any], query: str, params: list[Any] | None = None) -> Any:
    cursor.execute(query, params)
    row = cursor.fetchone()
    if row is None:
        return None
    return row if len(row) > 1 else row[0]


def _role_oid(cursor: psycopg.Cursor[Any], role: str) -> int | None:
    # By exact name: to_regrole would fold an unquoted name to lower case.
    return _one(cursor, "SELECT oid FROM pg_roles WHERE rolname = %s", [role])


def _report_tables_home(cursor: psycopg.Cursor[Any], owner: str | None, schema_name: str | None) -> tuple[str, str]:
    """The owner and schema of the report tables: as given, else those of the existing ones, else the session's."""
    cursor.execute(
        "SELECT DISTINCT n.nspname, pg_get_userbyid(c.relowner) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relname = ANY(%s) AND c.relkind = ANY(%s) AND (%s::text IS NULL OR n.nspname = %s) "
        "AND (%s::text IS NOT NULL OR pg_table_is_visible(c.oid))",
        [[table.name for table in schema.metadata.sorted_tables], ["r", "p"], schema_name, schema_name, schema_name],
    )
    found = cursor.fetchall()
    if len({home for home, _ in found}) > 1 and schema_name is None:
        raise AccessError(f"report tables in several schemas ({', '.join(sorted({h for h, _ in found}))}): name one")
    owners = {table_owner for _, table_owner in found}
    if len(owners) > 1 and owner is None:
        raise AccessError(f"the report tables have several owners ({', '.join(sorted(owners))}): name one (--owner)")
    current_user, current_schema = _one(cursor, "SELECT current_user, current_schema()")
    if current_schema is None and schema_name is None and not found:
        raise AccessError("the session has no current schema: name the report schema (--schema)")
    return (
        owner or (found[0][1] if found else current_user),
        schema_name or (found[0][0] if found else current_schema),
    )


def _create_role(cursor: psycopg.Cursor[Any], role: str, password: str) -> None:
    if not password:
        raise AccessError("the password file is empty: write the new role's password in it")
    # Hashed here, so the password itself never reaches the server (nor its statement log).
    hashed = cursor.connection.pgconn.encrypt_password(password.encode(), role.encode()).decode()
    cursor.execute(
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(hashed)),
    )


def _refuse_unsafe_role(cursor: psycopg.Cursor[Any], role: str, role_oid: int) -> None:
    """A role that can do more than it is granted is refused: no grant would make it read-only."""
    superuser, createrole, createdb, replication, bypassrls = _one(
        cursor,
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls FROM pg_roles WHERE oid = %s",
        [role_oid],
    )
    quoted = _name(role)
    reasons = [
        text
        for held, text in (
            (superuser, f"is a superuser (ALTER ROLE {quoted} NOSUPERUSER)"),
            (createrole, f"may create roles (ALTER ROLE {quoted} NOCREATEROLE)"),
            (createdb, f"may create databases (ALTER ROLE {quoted} NOCREATEDB)"),
            (replication, f"may stream the whole cluster (ALTER ROLE {quoted} NOREPLICATION)"),
            (bypassrls, f"bypasses row security (ALTER ROLE {quoted} NOBYPASSRLS)"),
        )
        if held
    ]
    cursor.execute(
        "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid WHERE m.member = %s ORDER BY 1",
        [role_oid],
    )
    groups = [name for (name,) in cursor.fetchall()]
    if groups:
        reasons.append(
            f"is a member of {', '.join(groups)}, with their privileges (REVOKE {_name(groups[0])} FROM {quoted})"
        )
    cursor.execute(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relowner = %s AND c.relkind = ANY(%s) AND n.nspname <> ALL(%s) AND n.nspname NOT LIKE 'pg\\_%%' "
        "ORDER BY 1 LIMIT 5",
        [role_oid, READABLE_KINDS, list(SYSTEM_SCHEMAS)],
    )
    owned = [name for (name,) in cursor.fetchall()]
    if owned:
        reasons.append(f"owns {', '.join(owned)}, which an owner can always change")
    if reasons:
        raise AccessError(
            f"{role!r} can do more than any grant allows, so it cannot be made read-only: it {'; '.join(reasons)}"
        )


def _owned_relations(cursor: psycopg.Cursor[Any], owner: str, schema_name: str) -> list[str]:
    """The tables and views `owner` has in the schema: the report tables and the audit (`PRIVATE_TABLES`)."""
    cursor.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = %s) "
        "AND c.relkind = ANY(%s) ORDER BY 1",
        [schema_name, owner, READABLE_KINDS],
    )
    return [name for (name,) in cursor.fetchall()]


def _privileges(
    cursor: psycopg.Cursor[Any], role_oid: int, owner: str, schema_name: str, writes: tuple[str, ...]
) -> _Privileges:
    connect, usage, create = _one(
        cursor,
        "SELECT has_database_privilege(%(role)s, current_database(), 'CONNECT'), "
        "has_schema_privilege(%(role)s, n.oid, 'USAGE'), has_schema_privilege(%(role)s, n.oid, 'CREATE') "
        "FROM pg_namespace n WHERE n.nspname = %(schema)s",
        {"role": role_oid, "schema": schema_name},
    )
    cursor.execute(
        "SELECT c.relname, p.privilege, has_table_privilege(%(role)s, c.oid, p.privilege) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, unnest(%(privileges)s::text[]) p(privilege) "
        "WHERE n.nspname = %(schema)s AND c.relkind = ANY(%(kinds)s)",
        {"role": role_oid, "schema": schema_name, "privileges": ["SELECT", *writes], "kinds": READABLE_KINDS},
    )
    held = [(table, privilege) for table, privilege, granted in cursor.fetchall() if granted]
    # Default privileges of the owner, in the schema or everywhere, that reach the role directly or as PUBLIC.
    cursor.execute(
        "SELECT DISTINCT a.privilege_type FROM pg_default_acl d, aclexplode(d.defaclacl) a "
        "WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = %(owner)s) AND d.defaclobjtype = 'r' "
        "AND (d.defaclnamespace = 0 OR d.defaclnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s)) "
        "AND a.grantee IN (%(role)s, 0)",
        {"owner": owner, "schema": schema_name, "role": role_oid},
    )
    return _Privileges(
        connect=bool(connect),
        usage=bool(usage),
        create=bool(create),
        readable=frozenset(table for table, privilege in held if privilege == "SELECT"),
        writable=frozenset(f"{table}: {privilege}" for table, privilege in held if privilege != "SELECT"),
        default_grants=frozenset(privilege for (privilege,) in cursor.fetchall()),
    )


def _problems(after: _Privileges, tables: list[str], owner: str, schema_name: str) -> list[str]:
    """What the role can still do, or still not do, once the statements ran: each a reason not to commit."""
    problems = []
    if not after.connect:
        problems.append("it cannot connect to the database")
    if not after.usage:
        problems.append(f"it cannot use schema {schema_name}")
    if unreadable := sorted(set(tables) - after.readable):
        problems.append(f"it cannot read {', '.join(unreadable)}")
    if private := sorted(after.readable & PRIVATE_TABLES):
        problems.append(f"it can read {', '.join(private)}, which holds the ids of people being deleted")
    if after.create:
        problems.append(f"it can create tables in schema {schema_name}")
    if after.writable:
        problems.append(
            f"it can change tables in {schema_name} owned by other roles: {', '.join(sorted(after.writable))}"
        )
    if more := sorted(after.default_grants - {"SELECT"}):
        problems.append(f"default privileges of {owner} give it (or PUBLIC) {', '.join(more)} on future tables")
    if "SELECT" not in after.default_grants:
        problems.append(f"it would not read the tables {owner} creates later")
    return problems


def _beyond_the_report_tables(
    cursor: psycopg.Cursor[Any], role_oid: int, role: str, schema_name: str, database: str
) -> list[str]:
    """What else the role can read or reach (through PUBLIC, mostly): said, not changed, since it is not ours."""
    notes = []
    cursor.execute(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname <> %s AND n.nspname <> ALL(%s) AND n.nspname NOT LIKE 'pg\\_%%' "
        "AND c.relkind = ANY(%s) AND has_schema_privilege(%s, n.oid, 'USAGE') "
        "AND has_table_privilege(%s, c.oid, 'SELECT') ORDER BY 1",
        [schema_name, list(SYSTEM_SCHEMAS), READABLE_KINDS, role_oid, role_oid],
    )
    elsewhere = [name for (name,) in cursor.fetchall()]
    if elsewhere:
        notes.append(
            f"{role} can also read {len(elsewhere)} relations outside schema {schema_name} through grants to it or "
            f"PUBLIC: {', '.join(elsewhere[:5])}{' ...' if len(elsewhere) > 5 else ''}"
        )
    if _one(cursor, "SELECT has_database_privilege(%s, current_database(), 'TEMPORARY')", [role_oid]):
        notes.append(
            f"{role} can create temporary tables (its session's own, gone when it disconnects; some BI tools use "
            f"them), through PUBLIC's default; to stop it: REVOKE TEMPORARY ON DATABASE {_name(database)} FROM PUBLIC"
        )
    cursor.execute(
        "SELECT datname FROM pg_database WHERE datallowconn AND datname <> current_database() "
        "AND has_database_privilege(%s, oid, 'CONNECT') ORDER BY 1",
        [role_oid],
    )
    databases = [name for (name,) in cursor.fetchall()]
    if databases:
        notes.append(
            f"{role} can also connect to {', '.join(databases)} (CONNECT granted to PUBLIC, PostgreSQL's default), "
            f"where it reads only what is granted to it or PUBLIC; to keep it out: "
            f"REVOKE CONNECT ON DATABASE {_name(databases[0])} FROM PUBLIC"
        )
    return notes
