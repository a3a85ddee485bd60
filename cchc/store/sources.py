"""Automatic sources: which of a feed's links a duty already holds, and each source's last reading.

A source's reading is one row per (plan, duty, address), created on first use. Two overlapping runs
must not both see a failure as new, so the row is taken with a row lock (``FOR UPDATE``; SQLite
serialises writers anyway).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from cchc.store import repo
from cchc.store.dialect import insert
from cchc.store.models import EvidenceRow, SourceCheckRow


def _key(link: str) -> str | None:
    try:
        return repo.url_key(link)
    except repo.StoreError:
        return None  # not a link the store would key: never "known", recording it reports why


def known_links(session: Session, plan_id: str, duty_id: str, links: Iterable[str]) -> set[str]:
    """Those of ``links`` already recorded as the duty's evidence (by dedup key), in one query."""
    keyed = {link: k for link in links if (k := _key(link))}
    if not keyed:
        return set()
    q = select(EvidenceRow.dedup_key).where(
        EvidenceRow.plan_id == plan_id,
        EvidenceRow.duty_id == duty_id,
        EvidenceRow.dedup_key.in_(sorted(set(keyed.values()))),
    )
    found = set(session.scalars(q))
    return {link for link, k in keyed.items() if k in found}


def check_row(session: Session, plan_id: str, duty_id: str, url: str, now: dt.datetime) -> SourceCheckRow:
    """The source's reading row, created if missing, locked until the transaction ends."""
    session.execute(
        insert(session, SourceCheckRow)
        .values(plan_id=plan_id, duty_id=duty_id, url=url, checked_at=now, items_seen=0)
        .on_conflict_do_nothing()
    )
    row = session.scalar(
        select(SourceCheckRow)
        .where(SourceCheckRow.plan_id == plan_id, SourceCheckRow.duty_id == duty_id, SourceCheckRow.url == url)
        .with_for_update()  # two overlapping runs must not both see a new failure
    )
    assert isinstance(row, SourceCheckRow)
    return row


def record_ok(session: Session, plan_id: str, duty_id: str, url: str, now: dt.datetime, seen: int) -> None:
    """The source was read: it is not failing (any more)."""
    row = check_row(session, plan_id, duty_id, url, now)
    row.checked_at, row.ok_at, row.failing_since, row.last_error, row.items_seen = now, now, None, None, seen


def record_failure(session: Session, plan_id: str, duty_id: str, url: str, error: str, now: dt.datetime) -> bool:
    """The source could not be read; True when it starts failing now (it was not failing already)."""
    row = check_row(session, plan_id, duty_id, url, now)
    row.checked_at, row.last_error = now, error
    if row.failing_since is not None:
        return False
    row.failing_since = now
    return True


def failing(session: Session, plan_id: str) -> list[SourceCheckRow]:
    """The plan's sources that are failing now (for the plan's home page), oldest failure first."""
    q = (
        select(SourceCheckRow)
        .where(SourceCheckRow.plan_id == plan_id, SourceCheckRow.failing_since.is_not(None))
        .order_by(SourceCheckRow.failing_since, SourceCheckRow.duty_id, SourceCheckRow.url)
    )
    return list(session.scalars(q))
