"""assignment errors: Error-state licenses, unknown low usage

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 21:00:00

The analysis now reads licenseassignment.state and .error (an assignment in state Error holds
no seat), so the user-change triggers of 0003 on that table are recreated watching them too;
PositionDaily gains assignment_errors and a nullable low_usage (unknown where the evidence
cannot cover the low-usage window); AssignmentErrorDaily lists who a licensing group failed
to license. Entra sign-in activity coverage used to start at 2023-12-01 (how far back the last
successful sign-in speaks); it now records only the listings, so days are counted from the
first one: existing spans start when their profile was first collected. The trigger SQL is
frozen here, like 0003's.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

TABLE, USER, PART = "licenseassignment", "user_id", "user"
BEFORE = ["sku_id", "via", "disabled_plans", "graph_updated_at", "valid_from", "valid_to"]
AFTER = [*BEFORE, "state", "error"]
NAME = f"{TABLE}_{PART}_changed"


def _sqlite(columns: list[str]) -> list[str]:
    def log(row: str, also: str = "") -> str:
        return (f"INSERT INTO user_change (profile, user_id, part) SELECT {row}.profile,"
                f" {row}.{USER}, '{PART}' WHERE {row}.{USER} IS NOT NULL{also};")

    moved = f" AND (NEW.profile IS NOT OLD.profile OR NEW.{USER} IS NOT OLD.{USER})"
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in ["profile", USER, *columns])
    return [
        f"CREATE TRIGGER {NAME}_ins AFTER INSERT ON {TABLE} BEGIN {log('NEW')} END",
        f"CREATE TRIGGER {NAME}_del AFTER DELETE ON {TABLE} BEGIN {log('OLD')} END",
        f"CREATE TRIGGER {NAME}_upd AFTER UPDATE ON {TABLE} WHEN {changed}"
        f" BEGIN {log('OLD')} {log('NEW', moved)} END",
    ]


def _postgresql(columns: list[str]) -> list[str]:
    # ::text because json columns have no equality operator
    old = ", ".join(f"OLD.{c}::text" for c in ["profile", USER, *columns])
    new = ", ".join(f"NEW.{c}::text" for c in ["profile", USER, *columns])

    def log(row: str) -> str:
        return (f"INSERT INTO user_change (profile, user_id, part)"
                f" VALUES ({row}.profile, {row}.{USER}, '{PART}');")

    return [
        f"""CREATE OR REPLACE FUNCTION {NAME}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND ROW({old}) IS NOT DISTINCT FROM ROW({new}) THEN
    RETURN NULL;
  END IF;
  IF TG_OP <> 'INSERT' AND OLD.{USER} IS NOT NULL THEN {log('OLD')} END IF;
  IF NEW.{USER} IS NOT NULL AND (TG_OP = 'INSERT' OR ROW(OLD.profile, OLD.{USER})
      IS DISTINCT FROM ROW(NEW.profile, NEW.{USER})) THEN {log('NEW')} END IF;
  RETURN NULL;
END $$""",
        f"CREATE TRIGGER {NAME} AFTER INSERT OR UPDATE OR DELETE ON {TABLE}"
        f" FOR EACH ROW EXECUTE FUNCTION {NAME}()",
    ]


def _triggers(columns: list[str]) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for suffix in ("ins", "del", "upd"):
            op.execute(f"DROP TRIGGER IF EXISTS {NAME}_{suffix}")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {NAME} ON {TABLE}")
    for statement in (_sqlite if sqlite else _postgresql)(columns):
        op.execute(statement)


def upgrade() -> None:
    _triggers(AFTER)
    first = "(SELECT p.created_at FROM profile p WHERE p.name = coverage.profile)"
    op.execute(f"UPDATE coverage SET start = {first} WHERE source = 'entra_signin'"
               f" AND start < {first}")
    with op.batch_alter_table('positiondaily', schema=None) as batch_op:
        batch_op.alter_column('low_usage', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('assignment_errors', sa.Integer(), server_default='0',
                                      nullable=False))
    op.create_table(
        'assignmenterrordaily',
        sa.Column('profile', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('sku_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('sku_part_number', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('product_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('user_principal_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('display_name', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('department', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('assigned_via', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('error', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint('profile', 'day', 'user_id', 'sku_id'),
    )


def downgrade() -> None:
    op.drop_table('assignmenterrordaily')
    op.execute("UPDATE positiondaily SET low_usage = 0 WHERE low_usage IS NULL")
    with op.batch_alter_table('positiondaily', schema=None) as batch_op:
        batch_op.drop_column('assignment_errors')
        batch_op.alter_column('low_usage', existing_type=sa.Integer(), nullable=False)
    _triggers(BEFORE)
