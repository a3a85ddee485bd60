"""outbox claimed_by: the pass that holds a row's lease, so a pass that lost it cannot settle it

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 06:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cchc.store.db import guard_downgrade

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=64), nullable=True))


def downgrade() -> None:
    # Refuses to drop rows unless forced; forced, copies the store first (see cchc.store.db).
    guard_downgrade(columns=[('outbox', 'claimed_by')])
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('claimed_by')
