"""Report use cases over the store: draft, decide, deliver, settle. Shared by the CLI and the report flow.

Each step is idempotent, because a Prefect run is at-least-once: a draft is made again only
when its records changed (or on demand), a delivery row exists once per recipient, and the
delivery becomes evidence once.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from cchc.app import service
from cchc.app.report_render import MEDIA_TYPES, render_docx, render_html, render_markdown
from cchc.core.assemble import Approval, EvidenceItem, ReportModel, assemble, fmt_day
from cchc.core.calendar import Occurrence, plan_occurrences, to_local
from cchc.core.spec import EvidenceKind, Plan, Report, UnitRole
from cchc.core.workdays import working_days_before
from cchc.settings import Settings
from cchc.store import outbox as ob
from cchc.store import repo
from cchc.store.db import session_scope
from cchc.store.models import EvidenceRow, OutboxRow, ReportRunRow, WaiverRow
from notifications import compose
from notifications.messages import coordinator_notice, sender_domain

PENDING, DRAFTED, SENT_BACK, APPROVED, DELIVERED = "pending", "drafted", "sent_back", "approved", "delivered"
STATE_VI = {
    None: "chưa lập dự thảo",
    PENDING: "chưa lập dự thảo",
    DRAFTED: "chờ duyệt",
    SENT_BACK: "trả lại để sửa",
    APPROVED: "đã duyệt, đang gửi",
    DELIVERED: "đã gửi",
}
STEP_DRAFT, STEP_DELIVERY, STEP_LATE = (ob.REPORT_STEP_PREFIX + s for s in ("draft", "delivery", "approval-late"))


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

    @property
    def period(self) -> str:
        return self.occurrence.period

    @property
    def draft_day(self) -> dt.date:
        return working_days_before(self.occurrence.last_day, self.report.draft_working_days)

    @property
    def approval_deadline(self) -> dt.date:
        """Not approved by this day (1 working day before the due time): the leader is told."""
        return working_days_before(self.occurrence.last_day, 1)


@dataclass
class DraftOutcome:
    target: Target
    model: ReportModel
    state: str
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
                return Target(report, o)
        known = ", ".join(o.period for o in occ)
        raise service.UserError(f"report {report_id} of plan {plan.id} has no period '{period}' (periods: {known})")
    today = to_local(at, plan.timezone).date()
    started = [o for o in occ if working_days_before(o.last_day, report.draft_working_days) <= today]
    return Target(report, started[-1] if started else occ[0])


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
    recorded = EvidenceRow.recorded_at <= recorded_until if recorded_until is not None else true()
    # An item rejected after the draft was read still stood when the approver read it.
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
            EvidenceRow.plan_id == plan.id,
            standing,
            EvidenceRow.occurred_on <= today,
            recorded,
        )
    ).all()
    items = [EvidenceItem(*r) for r in rows]
    waivers = {
        (w.duty_id, w.period): w.reason
        for w in session.scalars(select(WaiverRow).where(WaiverRow.plan_id == plan.id, WaiverRow.at <= at))
    }
    return items, waivers


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
    return assemble(plan, report_id, period, at, items, waivers, approval)


def _run(session: Session, plan_id: str, report_id: str, period: str, now: dt.datetime) -> ReportRunRow:
    row = session.scalar(
        select(ReportRunRow)
        .where(ReportRunRow.plan_id == plan_id, ReportRunRow.report_id == report_id, ReportRunRow.period == period)
        .with_for_update()
    )
    if row is None:
        dialect = session.get_bind().dialect.name
        ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(ReportRunRow).values(
            plan_id=plan_id,
            report_id=report_id,
            period=period,
            state=PENDING,
            version=0,
            fingerprint="",
            updated_at=now,
        )
        session.execute(ins.on_conflict_do_nothing())
        row = session.scalar(
            select(ReportRunRow).where(
                ReportRunRow.plan_id == plan_id, ReportRunRow.report_id == report_id, ReportRunRow.period == period
            )
        )
    assert row is not None
    return row


def run_state(settings: Settings, plan: Plan, report_id: str, period: str) -> ReportRunRow | None:
    with session_scope(service.engine_for(settings)) as s:
        row = s.scalar(
            select(ReportRunRow).where(
                ReportRunRow.plan_id == plan.id, ReportRunRow.report_id == report_id, ReportRunRow.period == period
            )
        )
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
        run = _run(s, plan.id, tgt.report.id, tgt.period, now)
        if run.state in (APPROVED, DELIVERED):
            return DraftOutcome(tgt, model, run.state, run.version, False, run.draft_sha256)
        if not force and run.draft_sha256 and run.fingerprint == model.fingerprint:
            return DraftOutcome(tgt, model, run.state, run.version, False, run.draft_sha256)
    sha = service.store_bytes(settings, render_docx(model, settings.report_template))
    with session_scope(engine) as s:
        run = _run(s, plan.id, tgt.report.id, tgt.period, now)
        if run.state in (APPROVED, DELIVERED):  # approved while we rendered
            return DraftOutcome(tgt, model, run.state, run.version, False, run.draft_sha256)
        if not force and run.draft_sha256 and run.fingerprint == model.fingerprint:  # an overlapping run drafted it
            return DraftOutcome(tgt, model, run.state, run.version, False, run.draft_sha256)
        run.version += 1
        run.state, run.fingerprint, run.draft_sha256, run.drafted_at, run.updated_at = (
            DRAFTED,
            model.fingerprint,
            sha,
            at,
            now,
        )
        run.evidence_until = now
        version = run.version
        queued = ob.enqueue(s, draft_messages(settings, plan, tgt, model, version, sha, now), now)
    return DraftOutcome(tgt, model, DRAFTED, version, True, sha, queued)


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
    subject = (
        f"[CCHC {plan.commune_label}] Dự thảo báo cáo (bản {version}): {model.summary} — "
        f"cần duyệt trước {fmt_day(tgt.approval_deadline)}"
    )
    lines = [
        f"Hệ thống đã lập dự thảo báo cáo {model.summary[:1].lower()}{model.summary[1:]} (bản {version}), "
        f"số liệu từ ngày {fmt_day(model.data_from)} đến ngày {fmt_day(model.data_to)}; tệp Word đính kèm.",
        f"{model.overview} Có {len(model.shortfalls)} đơn vị còn nhiệm vụ quá hạn hoặc không đạt.",
        f"Hạn gửi báo cáo: {fmt_day(tgt.occurrence.last_day)}. Đề nghị duyệt (hoặc trả lại) trên Prefect, mục "
        "Flow runs, lần chạy báo cáo đang tạm dừng (Paused) → Resume, chậm nhất ngày "
        f"{fmt_day(tgt.approval_deadline)}. Khi duyệt, ghi số văn bản và người ký.",
    ]
    out = []
    for u in _coordinators(plan):
        r = compose.render_report_mail(plan, u.name, subject, lines, f"Hệ thống theo dõi {plan.commune_label}")
        key = f"{plan.id}:{tgt.report.id}:{tgt.period}:{STEP_DRAFT}:v{version}:{u.id}"
        out.append(_message(settings, plan, key, STEP_DRAFT, tgt, list(u.emails), u.id, r, now, [docx]))
    return out


def approval_late(settings: Settings, plan: Plan, tgt: Target, at: dt.datetime, now: dt.datetime) -> list[str]:
    """From 1 working day before the due time, an unapproved report is the leader's business."""
    today = to_local(at, plan.timezone).date()
    if today < tgt.approval_deadline:
        return []
    run = run_state(settings, plan, tgt.report.id, tgt.period)
    if run is not None and run.state in (APPROVED, DELIVERED):
        return []
    state = STATE_VI[run.state if run else None]
    text = (
        f'Báo cáo "{tgt.report.title}" ({tgt.period}) phải gửi trước hết ngày {fmt_day(tgt.occurrence.last_day)} '
        f"nhưng đến {fmt_day(today)} vẫn chưa được duyệt (tình trạng: {state}"
        + (f"; ghi chú khi trả lại: {run.note}" if run and run.note else "")
        + f"). Đơn vị tổng hợp: {plan.unit(tgt.report.compiler).name}. Đề nghị chỉ đạo duyệt và ký ban hành kịp hạn."
    )
    messages = []
    for u in plan.units_with_role(UnitRole.leader):
        if not u.emails:
            continue
        r = compose.render_notice(plan, u.name, f"báo cáo {tgt.period} chưa được duyệt", text)
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
) -> str:
    """Record the approver's decision on draft ``version`` (when given). An approval needs a document number;
    the first approval wins; a decision on a draft that has since been replaced is refused."""
    if decision is Decision.approve and not number.strip():
        raise service.UserError("approving a report needs its document number (e.g. 12/BC-UBND)")
    with session_scope(service.engine_for(settings)) as s:
        run = _run(s, plan.id, tgt.report.id, tgt.period, now)
        if run.state in (APPROVED, DELIVERED):
            return run.state
        if run.draft_sha256 is None:
            raise service.UserError(f"report {tgt.report.id} {tgt.period} has no draft yet; nothing to decide on")
        if version is not None and version != run.version:
            raise StaleDraft(
                f"bản dự thảo {version} đã được thay bằng bản {run.version}; đề nghị duyệt bản {run.version}"
            )
        run.state = APPROVED if decision is Decision.approve else SENT_BACK
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
        return run.state


@dataclass
class Delivery:
    queued: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    final_sha256: str | None = None
    markdown: str = ""


def deliver(settings: Settings, plan: Plan, tgt: Target, now: dt.datetime) -> Delivery:
    """Render the final (numbered, dated the day of approval) and queue it once per recipient."""
    run = run_state(settings, plan, tgt.report.id, tgt.period)
    if run is None or run.state not in (APPROVED, DELIVERED) or run.decided_at is None:
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
    subject = f"Báo cáo số {model.number_line.removeprefix('Số: ')} của UBND {plan.commune_label}: {model.summary}"
    messages: list[ob.NewMessage] = []
    missing: list[str] = []
    for i, rc in enumerate(tgt.report.recipients, start=1):
        addresses = list(rc.emails) or (list(plan.unit(rc.unit).emails) if rc.unit else [])
        if not addresses:
            out.problems.append(f"recipient '{rc.name}' of report {tgt.report.id} has no email address")
            missing.append(rc.name)
            continue
        lines = [
            f"Ủy ban nhân dân {plan.commune_label} gửi {model.summary[:1].lower()}{model.summary[1:]} "
            f"({model.number_line.removeprefix('Số: ')}, {model.place_date.split(', ', 1)[1]}).",
            "Báo cáo đính kèm dạng Word (.docx) và HTML; bản giấy có chữ ký, đóng dấu được lưu tại văn thư.",
        ]
        r = compose.render_report_mail(plan, rc.name, subject, lines, f"Ủy ban nhân dân {plan.commune_label}")
        key = f"{plan.id}:{tgt.report.id}:{tgt.period}:{STEP_DELIVERY}:{i}:{rc.unit or _slug(rc.name)}"
        messages.append(_message(settings, plan, key, STEP_DELIVERY, tgt, addresses, rc.unit, r, now, files))
    if missing:
        text = (
            f"Báo cáo {tgt.report.id} kỳ {tgt.period} đã được duyệt nhưng không gửi được tới: {', '.join(missing)}, "
            "vì kế hoạch chưa có địa chỉ thư điện tử của nơi nhận này. Đề nghị bổ sung 'emails' cho nơi nhận "
            f"trong plan_specs/{plan.id}.yaml, hoặc gửi bản giấy."
        )
        key = f"{plan.id}:notice:report-no-email:{tgt.report.id}:{tgt.period}"
        messages += coordinator_notice(settings, plan, key, "báo cáo thiếu địa chỉ nơi nhận", text, now)
    with session_scope(service.engine_for(settings)) as s:
        run_row = _run(s, plan.id, tgt.report.id, tgt.period, now)
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
        runs = list(
            s.scalars(select(ReportRunRow).where(ReportRunRow.plan_id == plan.id, ReportRunRow.state == APPROVED))
        )
        for run in runs:
            rows = list(
                s.scalars(
                    select(OutboxRow).where(
                        OutboxRow.plan_id == plan.id,
                        OutboxRow.duty_id == run.report_id,
                        OutboxRow.period == run.period,
                        OutboxRow.step == STEP_DELIVERY,
                    )
                )
            )
            if rows and all(r.status == ob.SENT for r in rows):
                sent = max(r.sent_at for r in rows if r.sent_at is not None)
                done.append((run.report_id, run.period, sent, run.final_sha256))
    recorded = []
    for report_id, period, sent, sha in done:
        report = plan.report(report_id)
        names = ", ".join(rc.name for rc in report.recipients)
        service.record_evidence(
            settings,
            plan,
            service.EvidenceInput(
                duty=report_id,
                kind=EvidenceKind.report_delivery.value,
                title=f"Đã gửi báo cáo {period} tới {names}",
                occurred_on=to_local(sent, plan.timezone).date(),
                source="report",
                file_sha256=sha,
                file_name=file_name(plan, report_id, period, "docx", False),
                unit=report.compiler,
            ),
            now,
        )
        with session_scope(engine) as s:
            run = _run(s, plan.id, report_id, period, now)
            run.state, run.delivered_at, run.updated_at = DELIVERED, sent, now
        recorded.append((report_id, period))
    return recorded


def listing(settings: Settings, plan: Plan, at: dt.datetime) -> list[dict[str, Any]]:
    """`cchc reports PLAN --json`: every report occurrence with its status, approval and delivery."""
    judged = {(j.occurrence.duty, j.occurrence.period): j for j in service.judge_plan(settings, plan, at)}
    engine = service.engine_for(settings)
    with session_scope(engine) as s:
        runs = {
            (r.report_id, r.period): r for r in s.scalars(select(ReportRunRow).where(ReportRunRow.plan_id == plan.id))
        }
        mail = list(
            s.scalars(
                select(OutboxRow)
                .where(OutboxRow.plan_id == plan.id, OutboxRow.step == STEP_DELIVERY)
                .order_by(OutboxRow.id)
            )
        )
    out = []
    for o in plan_occurrences(plan):
        if not any(r.id == o.duty for r in plan.reports):
            continue
        tgt = Target(plan.report(o.duty), o)
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
                    "state_vi": STATE_VI[run.state if run else None],
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
