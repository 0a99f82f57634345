-- The PostgreSQL roles and databases of a production deployment. Run it once, as a superuser:
--
--   psql -h db -U postgres -v dagster_password=... -v reports_password=... -v bi_password=... \
--        -f deploy/production/databases.sql
--
-- dagster  Dagster's runs, event logs, schedules and sensor ticks (DAGSTER_PG_* in dagster.yaml)
-- reports  the report tables, which the pipeline creates and loads (REVOLT_REPORT_DB_URL)
-- bi       what BI tools connect as: reads the report tables, changes nothing
--
-- bi's grants are those `revolt reports grant-readonly bi` gives (revolt_pipeline/reports/access.py), on a
-- database without tables yet; a test checks that the command finds nothing to change after this file.
-- Run the command, as reports (REVOLT_REPORT_DB_URL), for another read-only role, or to check and repair
-- bi's: it also takes back anything more bi was given since (docs/bi.md).
\set ON_ERROR_STOP on
\if :{?dagster_password}
\else
DO $$ BEGIN RAISE EXCEPTION 'give the dagster role a password: psql -v dagster_password=...'; END $$;
\endif
\if :{?reports_password}
\else
DO $$ BEGIN RAISE EXCEPTION 'give the reports role a password: psql -v reports_password=...'; END $$;
\endif
\if :{?bi_password}
\else
DO $$ BEGIN RAISE EXCEPTION 'give the bi role a password: psql -v bi_password=...'; END $$;
\endif

CREATE ROLE dagster LOGIN PASSWORD :'dagster_password';
CREATE DATABASE dagster OWNER dagster;
REVOKE ALL ON DATABASE dagster FROM PUBLIC;

CREATE ROLE reports LOGIN PASSWORD :'reports_password';
CREATE DATABASE reports OWNER reports;
REVOKE ALL ON DATABASE reports FROM PUBLIC;

CREATE ROLE bi LOGIN PASSWORD :'bi_password';
GRANT CONNECT ON DATABASE reports TO bi;

-- Each database's owner owns its public schema, where Dagster and the pipeline create their tables
-- (PostgreSQL 15 and later do this already; older versions let every role create there).
\connect dagster
ALTER SCHEMA public OWNER TO dagster;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

\connect reports
ALTER SCHEMA public OWNER TO reports;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
-- bi reads every table reports creates in public, now or later (there are none yet), and nothing more:
-- no CREATE there, neither its own nor PUBLIC's; no temporary tables (ALL was revoked from PUBLIC above).
GRANT USAGE ON SCHEMA public TO bi;
ALTER DEFAULT PRIVILEGES FOR ROLE reports IN SCHEMA public GRANT SELECT ON TABLES TO bi;
