"""The one place that knows SQLite from PostgreSQL: insert-or-ignore and row locks differ between them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert(session: Session, table: Any) -> Any:
    """An INSERT that supports ``.on_conflict_do_nothing()`` on either dialect (both constructs share it)."""
    # Imported here: loading SQLAlchemy's PostgreSQL dialect costs a SQLite command (`cchc status`) ~10 %.
    if is_postgres(session):
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)
