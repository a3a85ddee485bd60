"""initial store

Revision ID: 0001
Revises:
Create Date: 2026-11-25 02:54:33.958334
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cchc.store.models
from cchc.store.db import guard_downgrade

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('duty_evidence_kinds',
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('duty_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.PrimaryKeyConstraint('plan_id', 'duty_id', 'kind', name=op.f('pk_duty_evidence_kinds'))
    )
    op.create_table('evidence',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('duty_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('file_sha256', sa.String(length=64), nullable=True),
    sa.Column('file_name', sa.Text(), nullable=True),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('unit_id', sa.String(length=64), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('recorded_at', cchc.store.models.UTCDateTime(), nullable=False),
    sa.Column('dedup_key', sa.String(length=600), nullable=False),
    sa.Column('rejected_at', cchc.store.models.UTCDateTime(), nullable=True),
    sa.Column('rejected_reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence')),
    sa.UniqueConstraint('plan_id', 'duty_id', 'dedup_key', name=op.f('uq_evidence_plan_id_duty_id_dedup_key'))
    )
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.create_index('ix_evidence_plan_duty_day', ['plan_id', 'duty_id', 'occurred_on'], unique=False)

    op.create_table('plans',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('commune_code', sa.Integer(), nullable=False),
    sa.Column('commune_name', sa.String(length=200), nullable=False),
    sa.Column('province', sa.String(length=200), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('spec_sha256', sa.String(length=64), nullable=False),
    sa.Column('spec_json', sa.Text(), nullable=False),
    sa.Column('loaded_at', cchc.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plans'))
    )
    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plans_commune_code'), ['commune_code'], unique=False)

    op.create_table('waivers',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('duty_id', sa.String(length=64), nullable=False),
    sa.Column('period', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('by', sa.String(length=200), nullable=False),
    sa.Column('at', cchc.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_waivers')),
    sa.UniqueConstraint('plan_id', 'duty_id', 'period', name=op.f('uq_waivers_plan_id_duty_id_period'))
    )
    op.create_table('duties',
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('duty_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('lead', sa.String(length=64), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_duties_plan_id_plans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('plan_id', 'duty_id', name=op.f('pk_duties'))
    )
    op.create_table('occurrences',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('duty_id', sa.String(length=64), nullable=False),
    sa.Column('period', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('lead', sa.String(length=64), nullable=False),
    sa.Column('starts', cchc.store.models.UTCDateTime(), nullable=False),
    sa.Column('due', cchc.store.models.UTCDateTime(), nullable=False),
    sa.Column('closes', cchc.store.models.UTCDateTime(), nullable=False),
    sa.Column('due_soon_from', cchc.store.models.UTCDateTime(), nullable=False),
    sa.Column('start_day', sa.Date(), nullable=False),
    sa.Column('last_day', sa.Date(), nullable=False),
    sa.Column('close_day', sa.Date(), nullable=False),
    sa.Column('required', sa.Integer(), nullable=True),
    sa.Column('needed', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=True),
    sa.Column('status_at', cchc.store.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_occurrences_plan_id_plans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_occurrences')),
    sa.UniqueConstraint('plan_id', 'duty_id', 'period', name=op.f('uq_occurrences_plan_id_duty_id_period'))
    )
    with op.batch_alter_table('occurrences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_occurrences_plan_id'), ['plan_id'], unique=False)

    


def downgrade() -> None:
    # Refuses to drop rows unless forced; forced, copies the store first (see cchc.store.db).
    guard_downgrade(tables=['occurrences', 'duties', 'waivers', 'plans', 'evidence', 'duty_evidence_kinds'])
    with op.batch_alter_table('occurrences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_occurrences_plan_id'))

    op.drop_table('occurrences')
    op.drop_table('duties')
    op.drop_table('waivers')
    with op.batch_alter_table('plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plans_commune_code'))

    op.drop_table('plans')
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_index('ix_evidence_plan_duty_day')

    op.drop_table('evidence')
    op.drop_table('duty_evidence_kinds')
    
