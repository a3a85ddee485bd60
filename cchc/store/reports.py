"""The report workflow's reads and writes: the records a report is assembled from, the run rows, their mail.

One ``report_runs`` row per (plan, report, period) holds where the report stands
(cchc.core.report_state). It is read and changed under a lock (SQLite: BEGIN IMMEDIATE, see db.py;
PostgreSQL: SELECT ... FOR UPDATE), so two overlapping Prefect runs never both draft or decide.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.orm import Session

from cchc.core.assemble import EvidenceItem
from cchc.core.report_state import INITIAL, ReportState
from cchc.store.dialect import insert
from cchc.store.models import EvidenceRow, OutboxRow, ReportRunRow, WaiverRow
from cchc.store.outbox import REPORT_STEP_PREFIX

# The outbox steps of the report's own mail: never ladder steps (outbox.cancel leaves them alone).
STEP_DRAFT, STEP_DELIVERY, STEP_LATE, STEP_SIGNING = (
    REPORT_STEP_PREFIX + s for s in ("draft", "delivery", "approval-late", "signing")
)


def evidence_items(
    session: Session, plan_id: str, up_to: dt.date, recorded_until: dt.datetime | None = None
) -> list[EvidenceItem]:
    """The plan's evidence dated up to ``up_to`` that stands, as the report assembler reads it.

    With ``recorded_until`` (the moment the approved draft read the store), only what was recorded by
    then, and items rejected after it still count: the final must carry what the approver read.
    Without it, every item recorded so far that is not rejected.
    """
    recorded: ColumnElement[bool] = EvidenceRow.recorded_at <= recorded_until if recorded_until is not None else true()
    standing = (
        or_(EvidenceRow.rejected_at.is_(None), EvidenceRow.rejected_at > recorded_until)
        if recorded_until is not None
        else EvidenceRow.rejected_at.is_(None)
    )
    rows = session.execute(
        select(
            EvidenceRow.id,
            EvidenceRow.duty_id,
            EvidenceRow.kind,
            EvidenceRow.title,
            EvidenceRow.occurred_on,
            EvidenceRow.url,
            EvidenceRow.unit_id,
            EvidenceRow.file_name,
        ).where(
            EvidenceRow.plan_id == plan_id,
            standing,
            EvidenceRow.occurred_on <= up_to,
            recorded,
        )
    ).all()
    return [EvidenceItem(*r) for r in rows]


def waivers(session: Session, plan_id: str, at: dt.datetime) -> dict[tuple[str, str], str]:
    """The reason of every waiver granted by ``at``, by (duty, period): the report says why nothing was due."""
    return {
        (w.duty_id, w.period): w.reason
        for w in session.scalars(select(WaiverRow).where(WaiverRow.plan_id == plan_id, WaiverRow.at <= at))
    }


def _run_query(plan_id: str, report_id: str, period: str) -> ColumnElement[bool]:
    return (ReportRunRow.plan_id == plan_id) & (ReportRunRow.report_id == report_id) & (ReportRunRow.period == period)


def lock_run(session: Session, plan_id: str, report_id: str, period: str, now: dt.datetime) -> ReportRunRow:
    """The run row, locked for this transaction; created ``pending`` first when there is none.

    Every state change goes through here, so two runs that draft or decide at once take turns. The
    insert ignores a row a concurrent run created meanwhile (PostgreSQL), then reads that one.
    """
    row = session.scalar(select(ReportRunRow).where(_run_query(plan_id, report_id, period)).with_for_update())
    if row is None:
        ins = insert(session, ReportRunRow).values(
            plan_id=plan_id,
            report_id=report_id,
            period=period,
            state=INITIAL.value,
            version=0,
            fingerprint="",
            updated_at=now,
        )
        session.execute(ins.on_conflict_do_nothing())
        row = session.scalar(select(ReportRunRow).where(_run_query(plan_id, report_id, period)))
    assert row is not None
    return row


def find_run(session: Session, plan_id: str, report_id: str, period: str) -> ReportRunRow | None:
    """The run row without a lock (None before the first draft): for reading where a report stands."""
    return session.scalar(select(ReportRunRow).where(_run_query(plan_id, report_id, period)))


def plan_runs(
    session: Session, plan_id: str, state: ReportState | Collection[ReportState] | None = None
) -> list[ReportRunRow]:
    """The plan's run rows, or only those in ``state`` (settling reads the approved and signed ones)."""
    q = select(ReportRunRow).where(ReportRunRow.plan_id == plan_id)
    if isinstance(state, ReportState):
        q = q.where(ReportRunRow.state == state.value)
    elif state is not None:
        q = q.where(ReportRunRow.state.in_([s.value for s in state]))
    return list(session.scalars(q))


def delivery_rows(
    session: Session, plan_id: str, report_id: str | None = None, period: str | None = None
) -> list[OutboxRow]:
    """The outbox rows that carry finals to their recipients, oldest first: of one report period, or of the plan.

    A report is delivered when every one of them was sent.
    """
    q = select(OutboxRow).where(OutboxRow.plan_id == plan_id, OutboxRow.step == STEP_DELIVERY)
    if report_id is not None:
        q = q.where(OutboxRow.duty_id == report_id)
    if period is not None:
        q = q.where(OutboxRow.period == period)
    return list(session.scalars(q.order_by(OutboxRow.id)))
