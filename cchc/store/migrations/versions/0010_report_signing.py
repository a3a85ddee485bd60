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
    guard_downgrade(columns=[
        ('report_runs', 'sign_pdf_sha256'),
        ('report_runs', 'signed_sha256'),
        ('report_runs', 'signed_file_name'),
        ('report_runs', 'signed_by'),
        ('report_runs', 'signed_at'),
        ('report_runs', 'sent_via'),
        ('report_runs', 'sent_number'),
        ('report_runs', 'sent_on'),
    ])
    with op.batch_alter_table('report_runs', schema=None) as batch_op:
        batch_op.drop_column('sent_on')
        batch_op.drop_column('sent_number')
        batch_op.drop_column('sent_via')
        batch_op.drop_column('signed_at')
        batch_op.drop_column('signed_by')
        batch_op.drop_column('signed_file_name')
        batch_op.drop_column('signed_sha256')
        batch_op.drop_column('sign_pdf_sha256')
