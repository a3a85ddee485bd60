"""occurrences.in_force: a period mostly before the plan took effect is not judged

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 07:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cchc.store.db import guard_downgrade

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('occurrences', schema=None) as batch_op:
        batch_op.add_column(sa.Column('in_force', sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    # Refuses to drop rows unless forced; forced, copies the store first (see cchc.store.db).
    guard_downgrade(columns=[('occurrences', 'in_force')])
    with op.batch_alter_table('occurrences', schema=None) as batch_op:
        batch_op.drop_column('in_force')
