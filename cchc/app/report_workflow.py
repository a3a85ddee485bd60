"""Report use cases over the store: draft, decide, deliver, settle. Shared by the CLI and the report flow.

Each step is idempotent, because a Prefect run is at-least-once: a draft is made again only
when its records changed (or on demand), a delivery row exists once per recipient, and the
delivery becomes evidence once. Every state change passes cchc.core.report_state.advance, the
queries are cchc.store.reports', and the wording of every message is a template of notifications.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from cchc.app import service
from cchc.app.report_render import MEDIA_TYPES, render_docx, render_html, render_markdown
from cchc.core import assumptions
from cchc.core.assemble import Approval, EvidenceItem, ReportModel, assemble
from cchc.core.calendar import Occurrence, plan_occurrences, served_by, to_local
from cchc.core.report_state import DECIDED, ReportState, advance
from cchc.core.report_state import label as state_label
from cchc.core.spec import EvidenceKind, Plan, Report, UnitRole
from cchc.core.workdays import NATIONAL, WorkCalendar, working_days_before
from cchc.settings import Settings
from cchc.store import outbox as ob
from cchc.store import repo
from cchc.store import reports as store
from cchc.store.db import session_scope
from cchc.store.models import ReportRunRow
from cchc.store.reports import STEP_DELIVERY, STEP_DRAFT, STEP_LATE
from notifications import compose
from notifications.messages import sender_domain, to_unit

# The states under their former names, for callers that still use them (the machine is ReportState's).
PENDING, DRAFTED, SENT_BACK, APPROVED, DELIVERED = (
    ReportState.pending,
    ReportState.drafted,
    ReportState.sent_back,
    ReportState.approved,
    ReportState.delivered,
)


class StaleDraft(service.UserError):
    """The decision was made on a draft that a newer one replaced."""


class Decision(StrEnum):
    approve = "approve"
    send_back = "send_back"


@dataclass(frozen=True)
class Target:
    """One report of one period: the spec, its occurrence, and the days that matter."""

    report: Report
    occurrence: Occurrence
    cal: WorkCalendar = NATIONAL  # the plan's working calendar, local changes included

    @property
    def period(self) -> str:
        return self.occurrence.period

    @property
    def draft_day(self) -> dt.date:
        return working_days_before(self.occurrence.last_day, self.report.draft_working_days, self.cal)

    @property
    def approval_deadline(self) -> dt.date:
        """Not approved by this day (1 working day before the due time): the leader is told."""
        return working_days_before(self.occurrence.last_day, 1, self.cal)


@dataclass
class DraftOutcome:
    target: Target
    model: ReportModel
    state: ReportState
    version: int
    new: bool
    docx_sha256: str | None
    queued: list[str] = field(default_factory=list)


def target(plan: Plan, report_id: str, period: str | None, at: dt.datetime) -> Target:
    """The named period, or the latest one whose drafting has begun (the first one before that)."""
    try:
        report = plan.report(report_id)
    except KeyError:
        ids = ", ".join(r.id for r in plan.reports) or "none"
        raise service.UserError(f"plan {plan.id} has no report '{report_id}' (reports: {ids})") from None
    occ = [o for o in plan_occurrences(plan) if o.duty == report_id]
    if period is not None:
        for o in occ:
            if o.period == period:
                return Target(report, o, plan.work_calendar)
        known = ", ".join(o.period for o in occ)
        raise service.UserError(f"report {report_id} of plan {plan.id} has no period '{period}' (periods: {known})")
    today = to_local(at, plan.timezone).date()
    cal = plan.work_calendar
    started = [o for o in occ if working_days_before(o.last_day, report.draft_working_days, cal) <= today]
    return Target(report, started[-1] if started else occ[0], cal)


def find_report(plan: Plan, period: str) -> str:
    """`cchc report PLAN --period 2025-Q3`: the plan's report whose cadence matches the period."""
    cadence = (
        "quarter" if "-Q" in period else "half" if "-H" in period else "year" if re.fullmatch(r"\d{4}", period) else ""
    )
    matches = [r.id for r in plan.reports if r.cadence == cadence]
    if not matches:
        kinds = ", ".join(f"{r.id} ({r.cadence})" for r in plan.reports) or "none"
        raise service.UserError(f"plan {plan.id} has no report for a period like '{period}' (reports: {kinds})")
    return matches[0]


def records(
    session: Session, plan: Plan, at: dt.datetime, recorded_until: dt.datetime | None = None
) -> tuple[list[EvidenceItem], dict[tuple[str, str], str]]:
    """Evidence dated up to ``at`` (not rejected; recorded by ``recorded_until`` if given) and the waivers."""
    today = to_local(at, plan.timezone).date()
    return store.evidence_items(session, plan.id, today, recorded_until), store.waivers(session, plan.id, at)


def build(
    settings: Settings,
    plan: Plan,
    report_id: str,
    period: str,
    at: dt.datetime,
    approval: Approval | None = None,
    recorded_until: dt.datetime | None = None,
) -> ReportModel:
    engine = service.engine_for(settings)
    service.ensure_plan(engine, plan, at)
    with session_scope(engine) as s:
        items, waivers = records(s, plan, at, recorded_until)
        calendar = repo.stored_occurrences(s, plan)
    return assemble(plan, report_id, period, at, items, waivers, approval, calendar)


def run_state(settings: Settings, plan: Plan, report_id: str, period: str) -> ReportRunRow | None:
    with session_scope(service.engine_for(settings)) as s:
        row = store.find_run(s, plan.id, report_id, period)
        if row is not None:
            s.expunge(row)
        return row


def file_name(plan: Plan, report_id: str, period: str, suffix: str, draft: bool) -> str:
    return f"{'du-thao-' if draft else ''}{report_id}-{period}-{plan.id}.{suffix}"


def draft(
    settings: Settings, plan: Plan, tgt: Target, at: dt.datetime, now: dt.datetime, force: bool = False
) -> DraftOutcome:
    """Assemble and store a draft when the records changed since the last one (or when asked)."""
    model = build(settings, plan, tgt.report.id, tgt.period, at)
    engine = service.engine_for(settings)
    with session_scope(engine) as s:
        run = store.lock_run(s, plan.id, tgt.report.id, tgt.period, now)
        if run.state in DECIDED:
            return DraftOutcome(tgt, model, ReportState(run.state), run.version, False, run.draft_sha256)
        if not force and run.draft_sha256 and run.fingerprint == model.fingerprint:
            return DraftOutcome(tgt, model, ReportState(run.state), run.version, False, run.draft_sha256)
    sha = service.store_bytes(settings, render_docx(model, settings.report_template))
    with session_scope(engine) as s:
        run = store.lock_run(s, plan.id, tgt.report.id, tgt.period, now)
        if run.state in DECIDED:  # approved while we rendered
            return DraftOutcome(tgt, model, ReportState(run.state), run.version, False, run.draft_sha256)
        if not force and run.draft_sha256 and run.fingerprint == model.fingerprint:  # an overlapping run drafted it
            return DraftOutcome(tgt, model, ReportState(run.state), run.version, False, run.draft_sha256)
        run.version += 1
        run.state, run.fingerprint, run.draft_sha256, run.drafted_at, run.updated_at = (
            advance(run.state, ReportState.drafted),
            model.fingerprint,
            sha,
            at,
            now,
        )
        run.evidence_until = now
        version = run.version
        queued = ob.enqueue(s, draft_messages(settings, plan, tgt, model, version, sha, now), now)
    return DraftOutcome(tgt, model, ReportState.drafted, version, True, sha, queued)


def _coordinators(plan: Plan) -> list[Any]:
    return [u for u in plan.units_with_role(UnitRole.coordinator) if u.emails]


def _message(
    settings: Settings,
    plan: Plan,
    key: str,
    step: str,
    tgt: Target,
    to: list[str],
    unit_id: str | None,
    rendered: compose.Rendered,
    due: dt.datetime,
    attachments: list[ob.Attachment],
) -> ob.NewMessage:

    return ob.NewMessage(
        key=key,
        plan_id=plan.id,
        duty_id=tgt.report.id,
        period=tgt.period,
        step=step,
        unit_id=unit_id,
        recipient=", ".join(to),
        subject=rendered.subject,
        body_text=rendered.text,
        body_html=rendered.html,
        message_id=compose.new_message_id(sender_domain(settings)),
        due_at=due,
        attachments=tuple(attachments),
    )


def draft_messages(
    settings: Settings, plan: Plan, tgt: Target, model: ReportModel, version: int, sha: str, now: dt.datetime
) -> list[ob.NewMessage]:
    docx = ob.Attachment(sha, file_name(plan, tgt.report.id, tgt.period, "docx", True), MEDIA_TYPES["docx"])
    out = []
    for u in _coordinators(plan):
        r = compose.render_report_draft(
            plan, u.name, model, version, tgt.occurrence.last_day, approve_by=tgt.approval_deadline
        )
        key = f"{plan.id}:{tgt.report.id}:{tgt.period}:{STEP_DRAFT}:v{version}:{u.id}"
        out.append(_message(settings, plan, key, STEP_DRAFT, tgt, list(u.emails), u.id, r, now, [docx]))
    return out


def approval_late(settings: Settings, plan: Plan, tgt: Target, at: dt.datetime, now: dt.datetime) -> list[str]:
    """From 1 working day before the due time, an unapproved report is the leader's business."""
    today = to_local(at, plan.timezone).date()
    if today < tgt.approval_deadline:
        return []
    run = run_state(settings, plan, tgt.report.id, tgt.period)
    if run is not None and run.state in DECIDED:
        return []
    messages = []
    for u in plan.units_with_role(UnitRole.leader):
        if not u.emails:
            continue
        r = compose.render_report_late(
            plan,
            u.name,
            tgt.report.title,
            tgt.period,
            tgt.occurrence.last_day,
            today,
            run.state if run else None,
            run.note if run else None,
            plan.unit(tgt.report.compiler).name,
            assumptions.note(assumptions.unconfirmed(plan, tgt.report.id)),
        )
        key = f"{plan.id}:{tgt.report.id}:{tgt.period}:{STEP_LATE}:{u.id}"
        messages.append(_message(settings, plan, key, STEP_LATE, tgt, list(u.emails), u.id, r, now, []))
    with session_scope(service.engine_for(settings)) as s:
        return ob.enqueue(s, messages, now)


def decide(
    settings: Settings,
    plan: Plan,
    tgt: Target,
    decision: Decision,
    now: dt.datetime,
    number: str = "",
    signer_name: str = "",
    note: str = "",
    by: str = "",
    version: int | None = None,
) -> ReportState:
    """Record the approver's decision on draft ``version`` (when given). An approval needs a document number;
    the first approval wins; a decision on a draft that has since been replaced is refused."""
    if decision is Decision.approve and not number.strip():
        raise service.UserError("approving a report needs its document number (e.g. 12/BC-UBND)")
    with session_scope(service.engine_for(settings)) as s:
        run = store.lock_run(s, plan.id, tgt.report.id, tgt.period, now)
        if run.state in DECIDED:
            return ReportState(run.state)
        if run.draft_sha256 is None:
            raise service.UserError(f"report {tgt.report.id} {tgt.period} has no draft yet; nothing to decide on")
        if version is not None and version != run.version:
            raise StaleDraft(
                f"bản dự thảo {version} đã được thay bằng bản {run.version}; đề nghị duyệt bản {run.version}"
            )
        decided = advance(run.state, ReportState.approved if decision is Decision.approve else ReportState.sent_back)
        run.state = decided
        run.number = number.strip() or None
        run.signer_name = signer_name.strip() or tgt.report.signer.name
        run.note = note.strip() or None
        run.decided_by, run.decided_at, run.updated_at = by or None, now, now
        repo.audit(
            s,
            now,
            by or "prefect",
            f"report.{decision.value}",
            plan.id,
            tgt.report.id,
            tgt.period,
            reason=run.note,
            detail=f"bản {run.version}; số {run.number or '-'}; người ký {run.signer_name or '-'}",
        )
        return decided


@dataclass
class Delivery:
    queued: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    final_sha256: str | None = None
    markdown: str = ""


def deliver(settings: Settings, plan: Plan, tgt: Target, now: dt.datetime) -> Delivery:
    """Render the final (numbered, dated the day of approval) and queue it once per recipient."""
    run = run_state(settings, plan, tgt.report.id, tgt.period)
    if run is None or run.state not in DECIDED or run.decided_at is None:
        return Delivery()
    signed_on = to_local(run.decided_at, plan.timezone).date()
    approval = Approval(run.number, run.signer_name, signed_on)
    # The records of the approved draft, no more: what the approver read is what is sent.
    model = build(
        settings, plan, tgt.report.id, tgt.period, run.drafted_at or run.decided_at, approval, run.evidence_until
    )
    docx_sha = service.store_bytes(settings, render_docx(model, settings.report_template))
    html_sha = service.store_bytes(settings, render_html(model).encode())
    files = [
        ob.Attachment(docx_sha, file_name(plan, tgt.report.id, tgt.period, "docx", False), MEDIA_TYPES["docx"]),
        ob.Attachment(html_sha, file_name(plan, tgt.report.id, tgt.period, "html", False), "text/html"),
    ]
    out = Delivery(final_sha256=docx_sha, markdown=render_markdown(model))
    messages: list[ob.NewMessage] = []
    missing: list[str] = []
    for i, rc in enumerate(tgt.report.recipients, start=1):
        addresses = list(rc.emails) or (list(plan.unit(rc.unit).emails) if rc.unit else [])
        if not addresses:
            out.problems.append(f"recipient '{rc.name}' of report {tgt.report.id} has no email address")
            missing.append(rc.name)
            continue
        r = compose.render_report_delivery(plan, rc.name, model)
        key = f"{plan.id}:{tgt.report.id}:{tgt.period}:{STEP_DELIVERY}:{i}:{rc.unit or _slug(rc.name)}"
        messages.append(_message(settings, plan, key, STEP_DELIVERY, tgt, addresses, rc.unit, r, now, files))
    if missing:
        # A coordinator notice (as notifications.messages.coordinator_notice queues), worded by its own template.
        key = f"{plan.id}:notice:report-no-email:{tgt.report.id}:{tgt.period}"
        messages += [
            to_unit(
                settings,
                u,
                f"{key}:{u.id}",
                "notice",
                compose.render_report_no_email(plan, u.name, tgt.report.id, tgt.period, missing),
                plan,
                now,
            )
            for u in _coordinators(plan)
        ]
    with session_scope(service.engine_for(settings)) as s:
        run_row = store.lock_run(s, plan.id, tgt.report.id, tgt.period, now)
        if run_row.final_sha256 is None:
            run_row.final_sha256 = docx_sha
        out.queued = ob.enqueue(s, messages, now)
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")[:40] or "noi-nhan"


def settle(settings: Settings, plan: Plan, now: dt.datetime) -> list[tuple[str, str]]:
    """Approved reports whose every delivery row was sent become evidence of the report duty, once."""
    engine = service.engine_for(settings)
    done: list[tuple[str, str, dt.datetime, str | None]] = []
    with session_scope(engine) as s:
        for run in store.plan_runs(s, plan.id, ReportState.approved):
            rows = store.delivery_rows(s, plan.id, run.report_id, run.period)
            if rows and all(r.status == ob.SENT for r in rows):
                sent = max(r.sent_at for r in rows if r.sent_at is not None)
                done.append((run.report_id, run.period, sent, run.final_sha256))
    recorded = []
    for report_id, period, sent, sha in done:
        report = plan.report(report_id)
        names = ", ".join(rc.name for rc in report.recipients)
        _record_delivery(
            settings, plan, report, period, report_id, f"Đã gửi báo cáo {period} tới {names}", sent, sha, now
        )
        with session_scope(engine) as s:
            run = store.lock_run(s, plan.id, report_id, period, now)
            run.state, run.delivered_at, run.updated_at = advance(run.state, ReportState.delivered), sent, now
        recorded.append((report_id, period))
        recorded += _serve_others(settings, plan, report, period, sent, sha, now)
    return recorded


def _record_delivery(
    settings: Settings,
    plan: Plan,
    report: Report,
    period: str,
    duty: str,
    title: str,
    sent: dt.datetime,
    sha: str | None,
    now: dt.datetime,
) -> None:
    """The delivered document of ``report`` for ``period`` becomes evidence of ``duty`` (itself or one it serves)."""
    service.record_evidence(
        settings,
        plan,
        service.EvidenceInput(
            duty=duty,
            kind=EvidenceKind.report_delivery.value,
            title=title,
            occurred_on=to_local(sent, plan.timezone).date(),
            origin="report",
            file_sha256=sha,
            file_name=file_name(plan, report.id, period, "docx", False),
            unit=report.compiler,
        ),
        now,
    )


def _serve_others(
    settings: Settings, plan: Plan, report: Report, period: str, sent: dt.datetime, sha: str | None, now: dt.datetime
) -> list[tuple[str, str]]:
    """The one document also delivers the reports it serves (same days, same due date), as the spec says."""
    out = []
    for other_id in report.serves:
        other = plan.report(other_id)
        for o in plan_occurrences(plan):
            if o.duty != other_id or served_by(plan, other_id, o.period) != (report.id, period):
                continue
            title = f"Đã gửi báo cáo {period} ({report.title}), dùng chung cho {other.title} {o.period}"
            _record_delivery(settings, plan, report, period, other_id, title, sent, sha, now)
            out.append((other_id, o.period))
    return out


def listing(settings: Settings, plan: Plan, at: dt.datetime) -> list[dict[str, Any]]:
    """`cchc reports PLAN --json`: every report occurrence with its status, approval and delivery."""
    judged = {(j.occurrence.duty, j.occurrence.period): j for j in service.judge_plan(settings, plan, at)}
    engine = service.engine_for(settings)
    with session_scope(engine) as s:
        runs = {(r.report_id, r.period): r for r in store.plan_runs(s, plan.id)}
        mail = store.delivery_rows(s, plan.id)
    out = []
    for o in plan_occurrences(plan):
        if not any(r.id == o.duty for r in plan.reports):
            continue
        tgt = Target(plan.report(o.duty), o, plan.work_calendar)
        run = runs.get((o.duty, o.period))
        j = judged.get((o.duty, o.period))
        out.append(
            {
                "report": o.duty,
                "period": o.period,
                "title": tgt.report.title,
                "due": service.iso(service.due_display(o)),
                "draft_on": tgt.draft_day.isoformat(),
                "status": j.status.value if j else None,
                "approval": {
                    "state": run.state if run else None,
                    "state_vi": state_label(run.state if run else None),
                    "version": run.version if run else 0,
                    "number": run.number if run else None,
                    "signer": run.signer_name if run else None,
                    "note": run.note if run else None,
                    "decided_at": service.iso(run.decided_at) if run and run.decided_at else None,
                },
                "delivery": {
                    "delivered_at": service.iso(run.delivered_at) if run and run.delivered_at else None,
                    "messages": [
                        {
                            "to": m.recipient,
                            "status": m.status,
                            "sent_at": service.iso(m.sent_at) if m.sent_at else None,
                        }
                        for m in mail
                        if m.duty_id == o.duty and m.period == o.period
                    ],
                },
            }
        )
    return out
