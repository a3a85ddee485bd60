"""The one place that knows SQLite from PostgreSQL: insert-or-ignore and row locks differ between them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert(session: Session, table: Any) -> Any:
    """An INSERT that supports ``.on_conflict_do_nothing()`` on either dialect (both constructs share it)."""
    return (pg_insert if is_postgres(session) else sqlite_insert)(table)
