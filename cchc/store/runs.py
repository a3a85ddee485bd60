"""Run beats and stops in the store.

Several runs of one plan start at the same minute (every duty at 08:00), so the beat is read
and moved in one locked step: exactly one of them sees the previous beat, the others see the
first one's, and a stop is found (and recorded) once. SQLite takes the write lock at BEGIN
(BEGIN IMMEDIATE, see db.py); PostgreSQL locks the row (SELECT ... FOR UPDATE), and a first
beat is an insert that waits for a concurrent one instead of failing.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cchc.core.runs import Gap
from cchc.store.dialect import insert as _insert
from cchc.store.models import PlanBeatRow, RunGapRow


def record_beat(session: Session, plan_id: str, now: dt.datetime) -> dt.datetime | None:
    """Note that a run of the plan started at ``now``; return the previous beat (None the first time).

    The beat only moves forward: a run that reaches the lock after a later-started one leaves it.
    """
    for _ in range(3):
        previous = session.scalar(
            select(PlanBeatRow.last_run_at).where(PlanBeatRow.plan_id == plan_id).with_for_update()
        )
        if previous is not None:
            if previous < now:
                session.execute(update(PlanBeatRow).where(PlanBeatRow.plan_id == plan_id).values(last_run_at=now))
            return previous
        ins = _insert(session, PlanBeatRow).values(plan_id=plan_id, last_run_at=now)
        created = session.execute(
            ins.on_conflict_do_nothing(index_elements=["plan_id"]).returning(PlanBeatRow.plan_id)
        ).scalar()
        if created is not None:
            return None
        # Another run inserted the first beat meanwhile (PostgreSQL): read it, locked, again.
    raise RuntimeError(f"the run beat of plan {plan_id} could not be read or written")


def add_gap(session: Session, plan_id: str, stopped_from: dt.datetime, resumed_at: dt.datetime) -> bool:
    """Record a stop once; False when it was already recorded."""
    ins = _insert(session, RunGapRow).values(plan_id=plan_id, stopped_from=stopped_from, resumed_at=resumed_at)
    created = session.execute(
        ins.on_conflict_do_nothing(index_elements=["plan_id", "stopped_from"]).returning(RunGapRow.id)
    ).scalar()
    return created is not None


def gaps_since(session: Session, plan_id: str, since: dt.datetime) -> list[Gap]:
    """Stops of the plan that ended (were found) at or after ``since``, oldest first."""
    rows = session.execute(
        select(RunGapRow.stopped_from, RunGapRow.resumed_at)
        .where(RunGapRow.plan_id == plan_id, RunGapRow.resumed_at >= since)
        .order_by(RunGapRow.stopped_from)
    )
    return [Gap(stopped_from, resumed_at) for stopped_from, resumed_at in rows]
