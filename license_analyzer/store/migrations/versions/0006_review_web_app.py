"""review web app: reviewer identity on decisions, managers, browser sessions, the list indexes

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:00:00

Columns are added with plain ALTER TABLE (no batch copy on SQLite): rebuilding directoryuser
would drop the user_change triggers of migration 0003. manager_id is not read by the
analysis, so those triggers need no change.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# a frozen copy of models.LIST_INDEXES (see models.py for why)
_FILTERS = ["product_name", "rule", "department", "action", "search_key"]
LIST_INDEXES = {
    "ix_candidate_list_saving": ["status", "monthly_saving", "id", *_FILTERS],
    "ix_candidate_list_idle": ["status", "days_inactive", "monthly_saving", "id", *_FILTERS],
    "ix_candidate_list_user": ["status", "user_principal_name", "monthly_saving", "id",
                               *_FILTERS],
}


def upgrade() -> None:
    op.add_column('candidate', sa.Column('decided_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column('candidate', sa.Column('search_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    # propose writes it from now on (models.search_key); lower() folds only ASCII on SQLite, as
    # older versions' candidates are rewritten by the next analysis anyway
    op.execute("UPDATE candidate SET search_key = lower(user_principal_name || ' ' || coalesce(display_name, ''))")
    for name, columns in LIST_INDEXES.items():
        op.create_index(name, 'candidate', columns)
    op.add_column('decision', sa.Column('by_object_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column('directoryuser', sa.Column('manager_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.create_index('ix_directoryuser_manager', 'directoryuser', ['profile', 'manager_id'])
    op.create_table(
        'web_session',
        sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('flow', sa.JSON(), nullable=True),
        sa.Column('next_path', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('object_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('upn', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('roles', sa.JSON(), nullable=True),
        sa.Column('csrf', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_web_session_expires_at', 'web_session', ['expires_at'])


def downgrade() -> None:
    op.drop_index('ix_web_session_expires_at', table_name='web_session')
    op.drop_table('web_session')
    for name in LIST_INDEXES:
        op.drop_index(name, table_name='candidate')
    op.drop_index('ix_directoryuser_manager', table_name='directoryuser')
    with op.batch_alter_table('directoryuser') as batch:
        batch.drop_column('manager_id')
    with op.batch_alter_table('decision') as batch:
        batch.drop_column('by_object_id')
    with op.batch_alter_table('candidate') as batch:
        batch.drop_column('search_key')
        batch.drop_column('decided_by')
