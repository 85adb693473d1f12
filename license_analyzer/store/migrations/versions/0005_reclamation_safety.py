"""reclamation safety: a decision version per candidate, the steps of every applied change

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 21:00:00

`candidate.version` goes up on every change of a candidate's status (a decision, an import, a
reopening or cancellation by propose, apply, restore): every writer compares it with the
version it read (compare-and-set), so a decision made meanwhile is never overwritten, and an
exported file carries it so an older export cannot overrule a newer decision.
`appliedchange.steps` records each Graph call of an applied change as it is attempted and as it
succeeds, so `restore` undoes exactly what happened after a partial failure.
The pipeline reads neither column: the user_change triggers of 0003 stay as they are.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('candidate', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='0',
                                      nullable=False))
    with op.batch_alter_table('appliedchange', schema=None) as batch_op:
        batch_op.add_column(sa.Column('steps', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('appliedchange', schema=None) as batch_op:
        batch_op.drop_column('steps')
    with op.batch_alter_table('candidate', schema=None) as batch_op:
        batch_op.drop_column('version')
