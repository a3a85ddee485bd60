"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cchc.store.models
from cchc.store.db import guard_downgrade

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = None


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    # Name every table and column this drops: a downgrade refuses to drop rows unless forced
    # (tests/test_migrations_safety.py checks that the names match the drops below).
    guard_downgrade(tables=[], columns=[])
    ${downgrades if downgrades else "pass"}
