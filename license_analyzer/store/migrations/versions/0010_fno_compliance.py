"""F&O license compliance: security roles, user-role assignments, imported admin-center files,
and Dataverse users writing restricted tables

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 01:00:00

The analysis' per-user cache does not read these tables (compliance is computed from them
directly), so no user_change trigger watches them.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "fnosecurityrole",
        sa.Column("profile", text(), nullable=False),
        sa.Column("environment_url", text(), nullable=False),
        sa.Column("role_id", text(), nullable=False),
        sa.Column("name", text(), nullable=True),
        sa.Column("license_type", text(), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("profile", "environment_url", "role_id"),
    )
    op.create_table(
        "fnouserrole",
        sa.Column("profile", text(), nullable=False),
        sa.Column("environment_url", text(), nullable=False),
        sa.Column("user_id", text(), nullable=False),
        sa.Column("role_id", text(), nullable=False),
        sa.Column("role_name", text(), nullable=True),
        sa.Column("assignment_status", text(), nullable=True),
        sa.Column("assignment_mode", text(), nullable=True),
        sa.Column("license_type", text(), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("profile", "environment_url", "user_id", "role_id"),
    )
    op.create_index("ix_fnouserrole_user", "fnouserrole", ["profile", "user_id"])
    op.create_table(
        "complianceimport",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", text(), nullable=False),
        sa.Column("file_name", text(), nullable=False),
        sa.Column("sha256", text(), nullable=False),
        sa.Column("refreshed_on", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("imported_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("rows", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "dataverserestrictedwrite",
        sa.Column("profile", text(), nullable=False),
        sa.Column("environment_url", text(), nullable=False),
        sa.Column("user_id", text(), nullable=False),
        sa.Column("table_name", text(), nullable=False),
        sa.Column("role_name", text(), nullable=False),
        sa.Column("via", text(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("profile", "environment_url", "user_id", "table_name",
                                "role_name", "via"),
    )


def downgrade() -> None:
    op.drop_table("dataverserestrictedwrite")
    op.drop_table("complianceimport")
    op.drop_index("ix_fnouserrole_user", table_name="fnouserrole")
    op.drop_table("fnouserrole")
    op.drop_table("fnosecurityrole")
