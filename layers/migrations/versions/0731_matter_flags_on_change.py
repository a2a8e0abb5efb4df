"""事项准入: the check runs again when an incident's or order's category or community changes.

0671 flagged a category outside the district's list only when the incident or order was created, so a
reclassified incident (or one moved to another community's grid) kept the verdict of its first category. Now
the same trigger runs after ``UPDATE OF category, grid_code`` (incidents) and ``category, community_code``
(orders): a new category outside the list puts the flag back to ``pending`` for that category (a decision on
the old one does not cover the new); a category on the list withdraws a pending flag (``withdrawn``).

Revision ID: 0731
Revises: 0651
"""

from alembic import op

revision = "0731"
down_revision = "0651"
branch_labels = None
depends_on = None

FLAG = """
CREATE OR REPLACE FUNCTION flag_matter_outside_list() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_type text;
    v_community text;
    v_old_community text;
BEGIN
    IF TG_TABLE_NAME = 'incidents' THEN
        v_type := 'incident'; v_community := left(NEW.grid_code, 12);
        IF TG_OP = 'UPDATE' THEN v_old_community := left(OLD.grid_code, 12); END IF;
    ELSE
        v_type := 'order'; v_community := NEW.community_code;
        IF TG_OP = 'UPDATE' THEN v_old_community := OLD.community_code; END IF;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.category IS NOT DISTINCT FROM OLD.category
       AND v_community IS NOT DISTINCT FROM v_old_community THEN
        RETURN NEW;
    END IF;
    IF v_community IS NOT NULL AND matter_outside_list(v_type, v_community, NEW.category) THEN
        INSERT INTO matter_flags (subject_type, subject_id, community_code, category, state, flagged_at, note)
        VALUES (v_type, NEW.id, v_community, NEW.category, 'pending', now(),
                CASE WHEN TG_OP = 'UPDATE' THEN '类别或社区已变更，须重新审批 (changed: to be approved again)' END)
        ON CONFLICT ON CONSTRAINT uq_matter_flags_subject DO UPDATE
           SET category = EXCLUDED.category, community_code = EXCLUDED.community_code, state = 'pending',
               flagged_at = now(), decided_by = NULL, decided_at = NULL, note = EXCLUDED.note
         WHERE matter_flags.category IS DISTINCT FROM EXCLUDED.category
            OR matter_flags.community_code IS DISTINCT FROM EXCLUDED.community_code
            OR matter_flags.state = 'withdrawn';
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE matter_flags SET state = 'withdrawn', decided_by = 'system:matters', decided_at = now(),
               note = '类别已改为清单内事项 (now a category on the list)'
         WHERE subject_type = v_type AND subject_id = NEW.id AND state = 'pending';
    END IF;
    RETURN NEW;
END $$
"""

TRIGGERS = [
    "DROP TRIGGER IF EXISTS flag_incident_matter ON incidents",
    "DROP TRIGGER IF EXISTS flag_order_matter ON service_orders",
    "CREATE TRIGGER flag_incident_matter AFTER INSERT OR UPDATE OF category, grid_code ON incidents "
    "FOR EACH ROW EXECUTE FUNCTION flag_matter_outside_list()",
    "CREATE TRIGGER flag_order_matter AFTER INSERT OR UPDATE OF category, community_code ON service_orders "
    "FOR EACH ROW EXECUTE FUNCTION flag_matter_outside_list()",
]

OLD_FLAG = """
CREATE OR REPLACE FUNCTION flag_matter_outside_list() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_type text;
    v_community text;
BEGIN
    IF TG_TABLE_NAME = 'incidents' THEN
        v_type := 'incident'; v_community := left(NEW.grid_code, 12);
    ELSE
        v_type := 'order'; v_community := NEW.community_code;
    END IF;
    IF v_community IS NOT NULL AND matter_outside_list(v_type, v_community, NEW.category) THEN
        INSERT INTO matter_flags (subject_type, subject_id, community_code, category, state, flagged_at)
        VALUES (v_type, NEW.id, v_community, NEW.category, 'pending', now())
        ON CONFLICT ON CONSTRAINT uq_matter_flags_subject DO NOTHING;
    END IF;
    RETURN NEW;
END $$
"""


def upgrade() -> None:
    op.drop_constraint("state_valid", "matter_flags", type_="check")
    op.create_check_constraint("state_valid", "matter_flags",
                               "state IN ('pending', 'approved', 'refused', 'withdrawn')")
    op.execute(FLAG)
    for sql in TRIGGERS:
        op.execute(sql)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS flag_incident_matter ON incidents")
    op.execute("DROP TRIGGER IF EXISTS flag_order_matter ON service_orders")
    op.execute(OLD_FLAG)
    op.execute("CREATE TRIGGER flag_incident_matter AFTER INSERT ON incidents "
               "FOR EACH ROW EXECUTE FUNCTION flag_matter_outside_list()")
    op.execute("CREATE TRIGGER flag_order_matter AFTER INSERT ON service_orders "
               "FOR EACH ROW EXECUTE FUNCTION flag_matter_outside_list()")
    op.execute("UPDATE matter_flags SET state = 'refused' WHERE state = 'withdrawn'")
    op.drop_constraint("state_valid", "matter_flags", type_="check")
    op.create_check_constraint("state_valid", "matter_flags", "state IN ('pending', 'approved', 'refused')")
