"""coordinators and plan submissions: who may put a plan in through the portal, and what she sent

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cchc.store.models
from cchc.store.db import guard_downgrade

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('coordinators',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('commune_code', sa.Integer(), nullable=False),
    sa.Column('plan_ids', sa.Text(), server_default='', nullable=False),
    sa.Column('created_at', cchc.store.models.UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('revoked_at', cchc.store.models.UTCDateTime(), nullable=True),
    sa.Column('revoked_by', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coordinators'))
    )
    with op.batch_alter_table('coordinators', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coordinators_commune_code'), ['commune_code'], unique=False)
    op.create_table('plan_submissions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('coordinator_id', sa.Integer(), nullable=False),
    sa.Column('commune_code', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('workbook', sa.LargeBinary(), nullable=False),
    sa.Column('workbook_sha256', sa.String(length=64), nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('errors', sa.Text(), nullable=True),
    sa.Column('created_at', cchc.store.models.UTCDateTime(), nullable=False),
    sa.Column('submitted_at', cchc.store.models.UTCDateTime(), nullable=True),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decided_at', cchc.store.models.UTCDateTime(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['coordinator_id'], ['coordinators.id'], name=op.f('fk_plan_submissions_coordinator_id_coordinators')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_submissions'))
    )
    with op.batch_alter_table('plan_submissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_submissions_coordinator_id'), ['coordinator_id'], unique=False)


def downgrade() -> None:
    # Refuses to drop rows unless forced; forced, copies the store first (see cchc.store.db).
    guard_downgrade(tables=['plan_submissions', 'coordinators'])
    with op.batch_alter_table('plan_submissions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_submissions_coordinator_id'))
    op.drop_table('plan_submissions')
    with op.batch_alter_table('coordinators', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coordinators_commune_code'))
    op.drop_table('coordinators')
