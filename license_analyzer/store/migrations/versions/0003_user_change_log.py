"""user change log: triggers record which users' pipeline inputs changed

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 03:00:00

The SQL is frozen here (not generated from models.py) so this migration keeps meaning what it
meant when later ones change the tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# table -> (column holding the Entra object id, {part: columns whose change matters})
WATCHED: dict[str, tuple[str, dict[str, list[str]]]] = {
    "directoryuser": ("id", {
        "user": ["user_principal_name", "display_name", "account_enabled", "user_type",
                 "department", "company_name", "created_at"],
        "signin": ["last_sign_in_at", "last_non_interactive_sign_in_at",
                   "last_successful_sign_in_at", "sign_in_activity_collected"]}),
    "licenseassignment": ("user_id", {"user": [
        "sku_id", "via", "disabled_plans", "graph_updated_at", "valid_from", "valid_to"]}),
    "assignmentorigin": ("user_id", {"user": ["sku_id", "assigned_since", "provenance"]}),
    "dataverseuser": ("entra_object_id", {"user": [
        "environment_url", "systemuser_id", "access_mode", "is_disabled",
        "is_application_user", "is_human"]}),
    "financeoperationsuser": ("matched_user_id", {"user": ["environment_url", "user_id",
                                                            "enabled"]}),
}


def _sqlite(table: str, user: str, part: str, columns: list[str]) -> list[str]:
    def log(row: str, also: str = "") -> str:
        return (f"INSERT INTO user_change (profile, user_id, part) SELECT {row}.profile,"
                f" {row}.{user}, '{part}' WHERE {row}.{user} IS NOT NULL{also};")

    moved = f" AND (NEW.profile IS NOT OLD.profile OR NEW.{user} IS NOT OLD.{user})"

    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in ["profile", user, *columns])
    name = f"{table}_{part}_changed"
    return [
        f"CREATE TRIGGER {name}_ins AFTER INSERT ON {table} BEGIN {log('NEW')} END",
        f"CREATE TRIGGER {name}_del AFTER DELETE ON {table} BEGIN {log('OLD')} END",
        f"CREATE TRIGGER {name}_upd AFTER UPDATE ON {table} WHEN {changed}"
        f" BEGIN {log('OLD')} {log('NEW', moved)} END",
    ]


def _postgresql(table: str, user: str, part: str, columns: list[str]) -> list[str]:
    # ::text because json columns have no equality operator
    old = ", ".join(f"OLD.{c}::text" for c in ["profile", user, *columns])
    new = ", ".join(f"NEW.{c}::text" for c in ["profile", user, *columns])
    name = f"{table}_{part}_changed"

    def log(row: str) -> str:
        return (f"INSERT INTO user_change (profile, user_id, part)"
                f" VALUES ({row}.profile, {row}.{user}, '{part}');")

    return [
        f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND ROW({old}) IS NOT DISTINCT FROM ROW({new}) THEN
    RETURN NULL;
  END IF;
  IF TG_OP <> 'INSERT' AND OLD.{user} IS NOT NULL THEN {log('OLD')} END IF;
  IF NEW.{user} IS NOT NULL AND (TG_OP = 'INSERT' OR ROW(OLD.profile, OLD.{user})
      IS DISTINCT FROM ROW(NEW.profile, NEW.{user})) THEN {log('NEW')} END IF;
  RETURN NULL;
END $$""",
        f"CREATE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE ON {table}"
        f" FOR EACH ROW EXECUTE FUNCTION {name}()",
    ]


def upgrade() -> None:
    op.create_table(
        'user_change',
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('profile', sa.String(), nullable=False),
        sa.Column('user_id', sa.String(), nullable=False),
        sa.Column('part', sa.String(), nullable=False),
        sa.PrimaryKeyConstraint('seq'),
        sqlite_autoincrement=True,
    )
    op.create_table(
        'user_change_pruned',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('through', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.execute("INSERT INTO user_change_pruned (id, through) VALUES (1, 0)")
    # a daily analysis looks up the changed users' rows by their Entra object id
    op.create_index('ix_dataverseuser_entra', 'dataverseuser', ['profile', 'entra_object_id'])
    op.create_index('ix_financeoperationsuser_matched', 'financeoperationsuser',
                    ['profile', 'matched_user_id'])
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, (user, parts) in WATCHED.items():
        for part, columns in parts.items():
            for statement in (_sqlite if sqlite else _postgresql)(table, user, part, columns):
                op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, (_, parts) in WATCHED.items():
        for part in parts:
            name = f"{table}_{part}_changed"
            if sqlite:
                for suffix in ("ins", "del", "upd"):
                    op.execute(f"DROP TRIGGER IF EXISTS {name}_{suffix}")
            else:
                op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
                op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_index('ix_financeoperationsuser_matched', 'financeoperationsuser')
    op.drop_index('ix_dataverseuser_entra', 'dataverseuser')
    op.drop_table('user_change_pruned')
    op.drop_table('user_change')
