"""report signing: the PDF made for signing, the signed copy, or the e-office number and date

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 10:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cchc.store.models
from cchc.store.db import guard_downgrade

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

COLUMNS = (
    'sign_pdf_sha256',
    'signed_sha256',
    'signed_file_name',
    'signed_by',
    'signed_at',
    'sent_via',
    'sent_number',
    'sent_on',
)


def upgrade() -> None:
    with op.batch_alter_table('report_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sign_pdf_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('signed_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('signed_file_name', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('signed_by', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('signed_at', cchc.store.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('sent_via', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('sent_number', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('sent_on', sa.Date(), nullable=True))


def downgrade() -> None:
    # Refuses to drop the signing records unless forced; forced, copies the store first (see cchc.store.db).
    guard_downgrade(columns=[('report_runs', name) for name in COLUMNS])
    with op.batch_alter_table('report_runs', schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
