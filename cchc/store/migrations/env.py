"""Alembic environment: runs on the connection handed over by cchc.store.db (migrate, downgrade), or, for the
alembic command line, opens one the same way (db.make_engine: on SQLite, BEGIN IMMEDIATE issued by us).

Every step runs inside that one transaction, SQLite's DDL included: an interrupted run leaves the store as it
was. ``on_version_apply`` is the test seam of db.on_migration_step.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from cchc.store.db import make_engine
from cchc.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run_on(conn: Connection) -> None:
    context.configure(
        connection=conn,
        target_metadata=target_metadata,
        render_as_batch=True,
        on_version_apply=config.attributes.get("on_version_apply", ()),
    )
    context.run_migrations()


def run() -> None:
    conn = config.attributes.get("connection")
    if conn is not None:
        _run_on(conn)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    try:
        with engine.begin() as c:
            _run_on(c)
    finally:
        engine.dispose()


run()
