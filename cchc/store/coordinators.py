"""Coordinators (who may put a plan in through the portal) and their plan submissions, each change audited.

Every query that a coordinator's request leads to is narrowed to her own rows here, by her id: the portal
never lists or loads a submission by its id alone.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cchc.store.models import AuditRow, CoordinatorRow, EvidenceRow, PlanSubmissionRow, ReportRunRow
from cchc.store.repo import audit

STATUSES = ("draft", "pending", "accepted", "rejected")


class SubmissionStateError(Exception):
    """The submission is not in the state the action needs (already decided, not yet sent)."""


def commune_scope(code: int) -> str:
    """The audit trail's plan column for actions on a commune rather than one plan."""
    return f"commune-{code}"


def actor(row: CoordinatorRow) -> str:
    """A coordinator as the audit trail names her: her id, e-mail and name."""
    return f"coordinator:{row.id}:{row.email} ({row.name})"


def add(
    session: Session, name: str, email: str, commune_code: int, plan_ids: Sequence[str], by: str, now: dt.datetime
) -> CoordinatorRow:
    row = CoordinatorRow(
        name=name[:200],
        email=email[:320],
        commune_code=commune_code,
        plan_ids=",".join(plan_ids),
        created_at=now,
        created_by=by[:200],
    )
    session.add(row)
    session.flush()
    scope = f"kế hoạch {', '.join(plan_ids)}" if plan_ids else "mọi kế hoạch của xã"
    audit(session, now, by, "coordinator.add", commune_scope(commune_code), detail=f"{actor(row)}; {scope}")
    return row


def get(session: Session, coordinator_id: int) -> CoordinatorRow | None:
    return session.get(CoordinatorRow, coordinator_id)


def all_coordinators(session: Session) -> list[CoordinatorRow]:
    return list(session.scalars(select(CoordinatorRow).order_by(CoordinatorRow.id)))


def revoke(session: Session, coordinator_id: int, by: str, reason: str, now: dt.datetime) -> CoordinatorRow | None:
    row = session.scalar(select(CoordinatorRow).where(CoordinatorRow.id == coordinator_id).with_for_update())
    if row is None:
        return None
    if row.revoked_at is None:
        row.revoked_at, row.revoked_by = now, by[:200]
        audit(session, now, by, "coordinator.revoke", commune_scope(row.commune_code), reason=reason, detail=actor(row))
    return row


def add_draft(
    session: Session,
    coordinator: CoordinatorRow,
    filename: str,
    workbook: bytes,
    sha256: str,
    plan_id: str,
    now: dt.datetime,
) -> PlanSubmissionRow:
    """A valid workbook of her commune, uploaded and not yet sent to the operator."""
    row = PlanSubmissionRow(
        coordinator_id=coordinator.id,
        commune_code=coordinator.commune_code,
        filename=filename[:255],
        workbook=workbook,
        workbook_sha256=sha256,
        plan_id=plan_id,
        status="draft",
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit(
        session,
        now,
        actor(coordinator),
        "submission.upload",
        plan_id,
        detail=f"hồ sơ #{row.id}: {row.filename} (sha256 {sha256[:16]})",
    )
    return row


def own_submission(
    session: Session, coordinator_id: int, submission_id: int, *, lock: bool = False
) -> PlanSubmissionRow | None:
    """Her submission by id, or None when there is none or it is someone else's."""
    q = select(PlanSubmissionRow).where(
        PlanSubmissionRow.id == submission_id, PlanSubmissionRow.coordinator_id == coordinator_id
    )
    return session.scalar(q.with_for_update() if lock else q)


def submit(session: Session, coordinator: CoordinatorRow, submission_id: int, now: dt.datetime) -> PlanSubmissionRow:
    row = own_submission(session, coordinator.id, submission_id, lock=True)
    if row is None:
        raise LookupError(submission_id)
    if row.status != "draft":
        raise SubmissionStateError(row.status)
    row.status, row.submitted_at = "pending", now
    audit(session, now, actor(coordinator), "submission.submit", row.plan_id, detail=f"hồ sơ #{row.id}: {row.filename}")
    return row


def submissions_of(session: Session, coordinator_id: int) -> list[PlanSubmissionRow]:
    q = (
        select(PlanSubmissionRow)
        .where(PlanSubmissionRow.coordinator_id == coordinator_id)
        .order_by(PlanSubmissionRow.id.desc())
    )
    return list(session.scalars(q))


def submissions(session: Session, statuses: Sequence[str] = ()) -> list[PlanSubmissionRow]:
    q = select(PlanSubmissionRow).order_by(PlanSubmissionRow.id)
    if statuses:
        q = q.where(PlanSubmissionRow.status.in_(list(statuses)))
    return list(session.scalars(q))


def submission(session: Session, submission_id: int, *, lock: bool = False) -> PlanSubmissionRow | None:
    q = select(PlanSubmissionRow).where(PlanSubmissionRow.id == submission_id)
    return session.scalar(q.with_for_update() if lock else q)


def decide(
    session: Session,
    row: PlanSubmissionRow,
    status: str,
    by: str,
    now: dt.datetime,
    note: str | None = None,
    detail: str | None = None,
) -> None:
    """The operator's decision on a pending submission: accepted or rejected, with who and why."""
    if row.status != "pending":
        raise SubmissionStateError(row.status)
    row.status, row.decided_by, row.decided_at, row.note = status, by[:200], now, note
    action = "submission.accept" if status == "accepted" else "submission.reject"
    audit(session, now, by, action, row.plan_id, reason=note, detail=detail or f"hồ sơ #{row.id}: {row.filename}")


def note_errors(session: Session, row: PlanSubmissionRow, errors: Sequence[str], by: str, now: dt.datetime) -> None:
    """Acceptance found the workbook no longer valid: keep what it found on the submission, still pending."""
    row.errors = json.dumps(list(errors), ensure_ascii=False)
    audit(
        session,
        now,
        by,
        "submission.invalid",
        row.plan_id,
        detail=f"hồ sơ #{row.id}: {len(errors)} lỗi khi duyệt",
    )


def refused(session: Session, coordinator: CoordinatorRow, plan_id: str, reason: str, now: dt.datetime) -> None:
    """An attempt outside her scope (another commune's plan): refused, and kept in the audit trail."""
    audit(session, now, actor(coordinator), "submission.refused", plan_id[:64] or commune_scope(0), reason=reason)


# ------------------------------------------------------------------ her actions on her commune's plans


def acting(row: CoordinatorRow, where: str) -> str:
    """The audit trail's actor for an action she takes in the portal: who, and from which address."""
    return f"{actor(row)} từ {where}"[:200]


def evidence_plan(session: Session, evidence_id: int) -> str | None:
    """The plan a piece of evidence belongs to (None when there is no such id): an id posted on her plan's
    page that belongs to another plan is a forged field, not a typo."""
    return session.scalar(select(EvidenceRow.plan_id).where(EvidenceRow.id == evidence_id))


def recent_evidence(session: Session, plan_id: str, limit: int = 50) -> list[EvidenceRow]:
    """The plan's newest evidence, rejected items included (they stay in the record), newest first."""
    q = (
        select(EvidenceRow)
        .where(EvidenceRow.plan_id == plan_id)
        .order_by(EvidenceRow.recorded_at.desc(), EvidenceRow.id.desc())
        .limit(limit)
    )
    rows = list(session.scalars(q))
    for r in rows:
        session.expunge(r)
    return rows


def drafted_reports(session: Session, plan_id: str) -> list[tuple[str, str, str, int]]:
    """(report, period, state, version) of each report of the plan that has a draft: what she may decide on,
    and what was decided since (a late answer is told so, not taken for a forged field)."""
    q = (
        select(ReportRunRow.report_id, ReportRunRow.period, ReportRunRow.state, ReportRunRow.version)
        .where(ReportRunRow.plan_id == plan_id, ReportRunRow.draft_sha256.is_not(None))
        .order_by(ReportRunRow.period, ReportRunRow.report_id)
    )
    return [(r, p, st, v) for r, p, st, v in session.execute(q)]


def refused_action(
    session: Session, coordinator: CoordinatorRow, plan_id: str, what: str, reason: str, where: str, now: dt.datetime
) -> None:
    """An action outside her commune (another plan, a forged id or field, a bad form token): refused, kept."""
    audit(session, now, acting(coordinator, where), "coordinator.refused", plan_id[:64], reason=reason, detail=what)


def note(
    session: Session, coordinator: CoordinatorRow, action: str, plan_id: str, detail: str, where: str, now: dt.datetime
) -> None:
    """An action whose use case keeps its own record without an audit row (a decision on an assumption)."""
    audit(session, now, acting(coordinator, where), action, plan_id, detail=detail)


def coordinator_audit(
    session: Session, plan_ids: Sequence[str] = (), commune_code: int | None = None, limit: int = 500
) -> list[AuditRow]:
    """What coordinators did (and were refused), newest first; narrowed to one commune: its plans' rows, the
    commune's own, and whatever its coordinators tried elsewhere (a refusal names the plan she tried)."""
    q = select(AuditRow).where(AuditRow.actor.like("coordinator:%"))
    if commune_code is not None:
        ids = session.scalars(select(CoordinatorRow.id).where(CoordinatorRow.commune_code == commune_code))
        q = q.where(
            or_(
                AuditRow.plan_id.in_(list(plan_ids)),
                AuditRow.plan_id == commune_scope(commune_code),
                *(AuditRow.actor.like(f"coordinator:{i}:%") for i in ids),
            )
        )
    return list(session.scalars(q.order_by(AuditRow.id.desc()).limit(limit)))
