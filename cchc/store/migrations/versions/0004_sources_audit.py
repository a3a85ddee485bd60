"""sources and audit: source checks, the audit trail

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 20:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cchc.store.models
from cchc.store.db import guard_downgrade

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('source_checks',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('duty_id', sa.String(length=64), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('checked_at', cchc.store.models.UTCDateTime(), nullable=False),
    sa.Column('ok_at', cchc.store.models.UTCDateTime(), nullable=True),
    sa.Column('failing_since', cchc.store.models.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('items_seen', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_source_checks')),
    sa.UniqueConstraint('plan_id', 'duty_id', 'url', name=op.f('uq_source_checks_plan_id_duty_id_url'))
    )
    op.create_table('audit',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', cchc.store.models.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('duty_id', sa.String(length=64), nullable=True),
    sa.Column('period', sa.String(length=32), nullable=True),
    sa.Column('evidence_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit'))
    )
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_plan_id'), ['plan_id'], unique=False)


def downgrade() -> None:
    # Refuses to drop rows unless forced; forced, copies the store first (see cchc.store.db).
    guard_downgrade(tables=['audit', 'source_checks'])
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_plan_id'))
        batch_op.drop_index(batch_op.f('ix_audit_at'))
    op.drop_table('audit')
    op.drop_table('source_checks')
