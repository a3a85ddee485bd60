"""reports: report runs, and attachments on outbox rows

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cchc.store.models
from cchc.store.db import guard_downgrade

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('report_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('report_id', sa.String(length=64), nullable=False),
    sa.Column('period', sa.String(length=32), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('draft_sha256', sa.String(length=64), nullable=True),
    sa.Column('drafted_at', cchc.store.models.UTCDateTime(), nullable=True),
    sa.Column('evidence_until', cchc.store.models.UTCDateTime(), nullable=True),
    sa.Column('number', sa.String(length=64), nullable=True),
    sa.Column('signer_name', sa.String(length=200), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decided_at', cchc.store.models.UTCDateTime(), nullable=True),
    sa.Column('final_sha256', sa.String(length=64), nullable=True),
    sa.Column('delivered_at', cchc.store.models.UTCDateTime(), nullable=True),
    sa.Column('updated_at', cchc.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_runs')),
    sa.UniqueConstraint('plan_id', 'report_id', 'period', name=op.f('uq_report_runs_plan_id_report_id_period'))
    )
    with op.batch_alter_table('report_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_runs_plan_id'), ['plan_id'], unique=False)
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attachments', sa.Text(), nullable=True))
        batch_op.alter_column('recipient', existing_type=sa.String(length=320), type_=sa.Text(), existing_nullable=False)


def downgrade() -> None:
    # Refuses to drop rows unless forced; forced, copies the store first (see cchc.store.db).
    guard_downgrade(tables=['report_runs'], columns=[('outbox', 'attachments')])
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('recipient', existing_type=sa.Text(), type_=sa.String(length=320), existing_nullable=False)
        batch_op.drop_column('attachments')
    with op.batch_alter_table('report_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_runs_plan_id'))
    op.drop_table('report_runs')
