"""Data versions: one row per watched table, bumped when a transaction that changed the table commits.

Every per-process cache (the point locator, the roster audit, a plan's validation problems, suggested sites,
street graphs) asks ``data_versions`` — one indexed read — whether the tables it was built from changed, so every API
process on the database sees every write, whoever made it (another process, the CLI, QGIS, psql), geometry
edited in place and validity dates included. See ``layers/data_versions.py``.

How: a statement-level trigger on each watched table notes ``(transaction, table)`` in
``data_version_marks``; a deferred constraint trigger on that table runs once at commit and gives each table
the transaction changed a new number from ``data_version_seq``. The version rows are locked only while
committing, in table-name order (no deadlock between writers, no writer waits for another's long
transaction). A transaction sees its own marks, so a cache can tell that its tables have uncommitted changes
of this very transaction and not trust its entry.

Revision ID: 0611
Revises: 0601
Create Date: 2026-12-05 12:00:00
"""

from alembic import op

revision = "0611"
down_revision = "0601"
branch_labels = None
depends_on = None

# The tables the caches read when this revision was written; later revisions watch more with
# SELECT data_version_watch('<table>').
WATCHED = ("admin_areas", "building_access", "buildings", "facilities", "grid_plans", "grids", "service_circles",
           "staff_assignments", "stairwells", "street_edges", "street_responsibilities")


def upgrade() -> None:
    op.execute("""
        CREATE TABLE data_versions (
            table_name text PRIMARY KEY,
            version bigint NOT NULL,
            changed_at timestamptz NOT NULL DEFAULT now()
        );
        COMMENT ON TABLE data_versions IS
            'per watched table, a number that changes when a transaction that changed the table commits';
        -- a random start: two databases (or one dropped and made again) never show the same numbers
        DO $$ BEGIN
            EXECUTE format('CREATE SEQUENCE data_version_seq START WITH %s', 1 + floor(random() * 1e12)::bigint);
        END $$;
        -- a logged table: a hot standby refuses to read unlogged ones, and caches read it there too
        CREATE TABLE data_version_marks (
            txid xid8 NOT NULL,
            table_name text NOT NULL,
            PRIMARY KEY (txid, table_name)
        );
        COMMENT ON TABLE data_version_marks IS
            'tables changed by transactions not yet committed; emptied by each at its commit';

        CREATE FUNCTION data_version_mark() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            INSERT INTO data_version_marks (txid, table_name) VALUES (pg_current_xact_id(), TG_TABLE_NAME)
            ON CONFLICT DO NOTHING;
            RETURN NULL;
        END $fn$;

        CREATE FUNCTION data_version_bump() RETURNS trigger LANGUAGE plpgsql AS $fn$
        DECLARE
            changed text[];
        BEGIN
            WITH gone AS (DELETE FROM data_version_marks WHERE txid = pg_current_xact_id() RETURNING table_name)
            SELECT array_agg(table_name ORDER BY table_name) INTO changed FROM gone;
            IF changed IS NULL THEN  -- an earlier firing in this commit did the work
                RETURN NULL;
            END IF;
            PERFORM 1 FROM data_versions WHERE table_name = ANY (changed) ORDER BY table_name FOR UPDATE;
            UPDATE data_versions SET version = nextval('data_version_seq'), changed_at = clock_timestamp()
             WHERE table_name = ANY (changed);
            RETURN NULL;
        END $fn$;

        CREATE CONSTRAINT TRIGGER data_version_bump AFTER INSERT ON data_version_marks
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION data_version_bump();

        CREATE FUNCTION data_version_watch(watched regclass) RETURNS void LANGUAGE plpgsql AS $fn$
        BEGIN
            INSERT INTO data_versions (table_name, version)
            VALUES ((SELECT relname FROM pg_class WHERE oid = watched), nextval('data_version_seq'))
            ON CONFLICT DO NOTHING;
            EXECUTE format('DROP TRIGGER IF EXISTS data_version_mark ON %s', watched);
            EXECUTE format('CREATE TRIGGER data_version_mark AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s '
                           'FOR EACH STATEMENT EXECUTE FUNCTION data_version_mark()', watched);
        END $fn$;
    """)
    for table in WATCHED:
        op.execute(f"SELECT data_version_watch('{table}')")


def downgrade() -> None:
    for table in WATCHED:
        op.execute(f"DROP TRIGGER IF EXISTS data_version_mark ON {table}")
    op.execute("""
        DROP FUNCTION data_version_watch(regclass);
        DROP TABLE data_version_marks;
        DROP FUNCTION data_version_bump();
        DROP FUNCTION data_version_mark();
        DROP SEQUENCE data_version_seq;
        DROP TABLE data_versions;
    """)
