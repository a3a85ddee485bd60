"""run gaps: each plan's last run start, and the stops found between runs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 05:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cchc.store.models
from cchc.store.db import guard_downgrade

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('plan_beats',
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('last_run_at', cchc.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('plan_id', name=op.f('pk_plan_beats'))
    )
    op.create_table('run_gaps',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('stopped_from', cchc.store.models.UTCDateTime(), nullable=False),
    sa.Column('resumed_at', cchc.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_run_gaps')),
    sa.UniqueConstraint('plan_id', 'stopped_from', name=op.f('uq_run_gaps_plan_id_stopped_from'))
    )


def downgrade() -> None:
    # Refuses to drop rows unless forced; forced, copies the store first (see cchc.store.db).
    guard_downgrade(tables=['run_gaps', 'plan_beats'])
    op.drop_table('run_gaps')
    op.drop_table('plan_beats')
