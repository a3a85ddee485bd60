"""outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 04:12:05.319916
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cchc.store.models
from cchc.store.db import guard_downgrade

revision = '0002'
down_revision = '0001'
branch_labels = ('outbox',)
depends_on = None


def upgrade() -> None:

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=400), nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('duty_id', sa.String(length=64), nullable=True),
    sa.Column('period', sa.String(length=32), nullable=True),
    sa.Column('step', sa.String(length=64), nullable=False),
    sa.Column('unit_id', sa.String(length=64), nullable=True),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('cc', sa.Text(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('body_text', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=False),
    sa.Column('message_id', sa.String(length=300), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('server_reply', sa.Text(), nullable=True),
    sa.Column('due_at', cchc.store.models.UTCDateTime(), nullable=False),
    sa.Column('created_at', cchc.store.models.UTCDateTime(), nullable=False),
    sa.Column('next_attempt_at', cchc.store.models.UTCDateTime(), nullable=False),
    sa.Column('claimed_at', cchc.store.models.UTCDateTime(), nullable=True),
    sa.Column('sent_at', cchc.store.models.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('key', name=op.f('uq_outbox_key'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index('ix_outbox_status_next', ['status', 'next_attempt_at'], unique=False)




def downgrade() -> None:
    # Refuses to drop rows unless forced; forced, copies the store first (see cchc.store.db).
    guard_downgrade(tables=['outbox'])
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status_next')
        batch_op.drop_index(batch_op.f('ix_outbox_plan_id'))

    op.drop_table('outbox')

