"""事项准入's check keeps its plans for the session: ``matter_outside_list`` in PL/pgSQL instead of SQL.

The function's body has sub-queries, so PostgreSQL never inlines it: as ``LANGUAGE sql`` it is parsed and planned
again each time it is called from a new executor state — and the insert trigger ``flag_matter_outside_list``
evaluates it in a state that lives one transaction. Intake stores a report in one statement in autocommit (a
transaction of its own), so every report paid that planning: ~0.2 ms of PostgreSQL time, a third of the insert's
execution (EXPLAIN ANALYZE: ``Trigger flag_incident_matter … time=0.20``). A PL/pgSQL function keeps its plans
for the session (single-row inserts in autocommit: +~0.2 ms over no trigger with the SQL function, within the
noise with this one). Same rule, same result for every input (NULL community or category included); the bulk
listings of ``layers.matters`` call it as before.

Revision ID: 0742
Revises: 0741
"""

from alembic import op

revision = "0742"
down_revision = "0741"
branch_labels = None
depends_on = None

PLPGSQL = """
CREATE OR REPLACE FUNCTION matter_outside_list(p_type text, p_community text, p_category text)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM matter_items WHERE district_code = left(p_community, 6))
       AND NOT EXISTS (SELECT 1 FROM matter_items
                        WHERE district_code = left(p_community, 6)
                          AND p_category = ANY(CASE WHEN p_type = 'incident' THEN incident_categories
                                                    ELSE order_categories END));
END $$
"""

SQL = """
CREATE OR REPLACE FUNCTION matter_outside_list(p_type text, p_community text, p_category text)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM matter_items WHERE district_code = left(p_community, 6))
       AND NOT EXISTS (SELECT 1 FROM matter_items
                        WHERE district_code = left(p_community, 6)
                          AND p_category = ANY(CASE WHEN p_type = 'incident' THEN incident_categories
                                                    ELSE order_categories END))
$$
"""


def upgrade() -> None:
    op.execute(PLPGSQL)


def downgrade() -> None:
    op.execute(SQL)
