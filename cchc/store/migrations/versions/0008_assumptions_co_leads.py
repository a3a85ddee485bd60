"""assumption decisions and co-leads: the coordinator's word on a spec's assumptions; joint lead units

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 08:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cchc.store.models
from cchc.store.db import guard_downgrade

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('assumption_decisions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('item_id', sa.String(length=64), nullable=False),
    sa.Column('aspect', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=False),
    sa.Column('decided_at', cchc.store.models.UTCDateTime(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('value', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assumption_decisions'))
    )
    with op.batch_alter_table('assumption_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assumption_decisions_plan_id'), ['plan_id'], unique=False)
    with op.batch_alter_table('occurrences', schema=None) as batch_op:
        batch_op.add_column(sa.Column('co_leads', sa.Text(), nullable=False, server_default=''))


def downgrade() -> None:
    # Refuses to drop rows unless forced; forced, copies the store first (see cchc.store.db).
    guard_downgrade(tables=['assumption_decisions'], columns=[('occurrences', 'co_leads')])
    with op.batch_alter_table('occurrences', schema=None) as batch_op:
        batch_op.drop_column('co_leads')
    with op.batch_alter_table('assumption_decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assumption_decisions_plan_id'))
    op.drop_table('assumption_decisions')
