"""Report use cases over the store: draft, decide, deliver, settle. Shared by the CLI and the report flow.

Each step is idempotent, because a Prefect run is at-least-once: a draft is made again only
when its records changed (or on demand), a delivery row exists once per recipient, and the
delivery becomes evidence once. Every state change passes cchc.core.report_state.advance, the
queries are cchc.store.reports', and the wording of every message is a template of notifications.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from cchc.app import service
from cchc.app.pdf import docx_to_pdf
from cchc.app.report_render import MEDIA_TYPES, render_docx, render_html, render_markdown
from cchc.core import assumptions
from cchc.core.assemble import Approval, EvidenceItem, ReportModel, assemble
from cchc.core.calendar import Occurrence, plan_occurrences, served_by, to_local
from cchc.core.report_state import DECIDED, DELIVERING, ReportState, advance
from cchc.core.report_state import label as state_label
from cchc.core.spec import EvidenceKind, Plan, Report, UnitRole
from cchc.core.workdays import NATIONAL, WorkCalendar, working_days_before
from cchc.settings import Settings
from cchc.store import outbox as ob
from cchc.store import repo
from cchc.store import reports as store
from cchc.store.db import session_scope
from cchc.store.models import ReportRunRow
from cchc.store.reports import STEP_DELIVERY, STEP_DRAFT, STEP_LATE, STEP_SIGNING
from notifications import compose
from notifications.messages import sender_domain, to_unit

# The states under their former names, for callers that still use them (the machine is ReportState's).
PENDING, DRAFTED, SENT_BACK, APPROVED, SIGNING, SIGNED, DELIVERED = (
    ReportState.pending,
    ReportState.drafted,
    ReportState.sent_back,
    ReportState.approved,
    ReportState.signing,
    ReportState.signed,
    ReportState.delivered,
)
EOFFICE = "e-office"
EMAIL = "email"
MAX_SIGNED_BYTES = 30 * 1024 * 1024  # a scanned report of a few pages; more would not pass through mail
# The signed copy: a PDF (digitally signed or scanned) or a scan as an image, recognised by its first bytes.
SIGNED_TYPES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "pdf", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "png", "image/png"),
    (b"\xff\xd8\xff", "jpg", "image/jpeg"),
    (b"II*\x00", "tif", "image/tiff"),
    (b"MM\x00*", "tif", "image/tiff"),
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
    settings: Settings,
    plan: Plan,
    tgt: Target,
    at: dt.datetime,
    now: dt.datetime,
    force: bool = False,
    figure: bool = True,
) -> DraftOutcome:
    """Assemble and store a draft when the records changed since the last one (or when asked);
    ``figure=False``: without the heatmap (`cchc replay` unless --figures)."""
    model = build(settings, plan, tgt.report.id, tgt.period, at)
    engine = service.engine_for(settings)
    with session_scope(engine) as s:
        run = store.lock_run(s, plan.id, tgt.report.id, tgt.period, now)
        if run.state in DECIDED:
            return DraftOutcome(tgt, model, ReportState(run.state), run.version, False, run.draft_sha256)
        if not force and run.draft_sha256 and run.fingerprint == model.fingerprint:
            return DraftOutcome(tgt, model, ReportState(run.state), run.version, False, run.draft_sha256)
    sha = service.store_bytes(settings, render_docx(model, settings.report_template, figure))
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


def hand_to_run(
    plan: Plan, tgt: Target, version: int, decision: Decision, number: str = "", signer_name: str = "", note: str = ""
) -> list[str]:
    """After a decision stored outside the report's run (the coordinator's page): resume the run paused for it,
    so it delivers now from the stored decision (it cannot deliver twice: ``decide`` keeps the first decision,
    the outbox sends each message once); with none paused, the report's event starts a run that does.
    Returns warnings for people (Prefect unreachable: the report's next scheduled run delivers)."""
    from cchc.io import events

    approve = decision is Decision.approve
    answer = {
        "decision": events.APPROVE_ANSWER if approve else events.SEND_BACK_ANSWER,
        "number": number.strip(),
        "signer_name": signer_name.strip(),
        "note": note.strip(),
    }
    keys = events.approval_keys(tgt.period, version)
    resumed, warning = events.resume_report_runs(plan.id, tgt.report.id, keys, answer)
    warnings = [warning] if warning else []
    if not resumed:
        why = f"báo cáo {tgt.period} đã {'duyệt' if approve else 'trả lại'} trên cổng"
        told = events.post_evidence_event(plan, tgt.report.id, repo.Recorded(0, False), why)
        warnings += [told] if told else []
    return warnings


def hand_signed_to_run(plan: Plan, tgt: Target) -> list[str]:
    """After the signed copy is attached (the coordinator's page, `cchc report sign`): resume the run paused for
    it, so it sends the queued copy now and records the delivery (the outbox sends each message once); with
    none paused, the next mail pass sends it. Returns warnings for people."""
    from cchc.io import events

    answer = {"via": events.ATTACHED_ANSWER, "number": "", "date": "", "by": ""}
    _, warning = events.resume_report_runs(plan.id, tgt.report.id, events.signing_keys(tgt.period), answer)
    return [warning] if warning else []


@dataclass
class Delivery:
    queued: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    final_sha256: str | None = None
    markdown: str = ""
    pdf_sha256: str | None = None  # the PDF made for signing (signing required)
    state: ReportState | None = None  # where the report stands after this step


def signing_required(report: Report) -> bool:
    return report.signing == "required"


def _final_model(settings: Settings, plan: Plan, tgt: Target, run: ReportRunRow) -> ReportModel:
    assert run.decided_at is not None
    signed_on = to_local(run.decided_at, plan.timezone).date()
    approval = Approval(run.number, run.signer_name, signed_on)
    # The records of the approved draft, no more: what the approver read is what is sent.
    return build(
        settings, plan, tgt.report.id, tgt.period, run.drafted_at or run.decided_at, approval, run.evidence_until
    )


def deliver(settings: Settings, plan: Plan, tgt: Target, now: dt.datetime) -> Delivery:
    """After approval: render the final (numbered, dated the day of approval).

    Signing required: the final DOCX and its PDF go to the coordinator for signing, and the report
    waits (``signing``). Not required: the DOCX goes to every recipient, once. Signed: the signed copy
    goes to every recipient, once. Sent through e-office: nothing more goes out.
    """
    run = run_state(settings, plan, tgt.report.id, tgt.period)
    if run is None or run.state not in DECIDED or run.decided_at is None:
        return Delivery()
    state = ReportState(run.state)
    if state is ReportState.signing or run.sent_via == EOFFICE:
        return Delivery(final_sha256=run.final_sha256, pdf_sha256=run.sign_pdf_sha256, state=state)
    model = _final_model(settings, plan, tgt, run)
    if state is ReportState.approved and signing_required(tgt.report):
        return _to_sign(settings, plan, tgt, model, now)
    if run.signed_sha256 is not None:
        name = run.signed_file_name or file_name(plan, tgt.report.id, tgt.period, "pdf", False)
        files = [ob.Attachment(run.signed_sha256, name, _signed_type(name))]
        out = Delivery(final_sha256=run.final_sha256, markdown=render_markdown(model), state=state)
    else:
        docx_sha = service.store_bytes(settings, render_docx(model, settings.report_template))
        html_sha = service.store_bytes(settings, render_html(model).encode())
        files = [
            ob.Attachment(docx_sha, file_name(plan, tgt.report.id, tgt.period, "docx", False), MEDIA_TYPES["docx"]),
            ob.Attachment(html_sha, file_name(plan, tgt.report.id, tgt.period, "html", False), "text/html"),
        ]
        out = Delivery(final_sha256=docx_sha, markdown=render_markdown(model), state=state)
    docx_sha = out.final_sha256 or ""
    messages: list[ob.NewMessage] = []
    missing: list[str] = []
    for i, rc in enumerate(tgt.report.recipients, start=1):
        addresses = list(rc.emails) or (list(plan.unit(rc.unit).emails) if rc.unit else [])
        if not addresses:
            out.problems.append(f"recipient '{rc.name}' of report {tgt.report.id} has no email address")
            missing.append(rc.name)
            continue
        r = (
            _render_signed_delivery(plan, rc.name, model, files[0].name)
            if run.signed_sha256
            else compose.render_report_delivery(plan, rc.name, model)
        )
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
        if run_row.final_sha256 is None and docx_sha:
            run_row.final_sha256 = docx_sha
        if run_row.sent_via is None:
            run_row.sent_via = EMAIL
        out.queued = ob.enqueue(s, messages, now)
    return out


def _to_sign(settings: Settings, plan: Plan, tgt: Target, model: ReportModel, now: dt.datetime) -> Delivery:
    """The final DOCX and its PDF to the coordinator for signing; the report waits in ``signing``."""
    docx_bytes = render_docx(model, settings.report_template)
    docx_name = file_name(plan, tgt.report.id, tgt.period, "docx", False)
    pdf = docx_to_pdf(docx_bytes, docx_name.removesuffix(".docx"))
    docx_sha, pdf_sha = service.store_bytes(settings, docx_bytes), service.store_bytes(settings, pdf)
    with session_scope(service.engine_for(settings)) as s:
        run = store.lock_run(s, plan.id, tgt.report.id, tgt.period, now)
        if run.state != ReportState.approved:  # an overlapping run prepared it meanwhile
            return Delivery(final_sha256=run.final_sha256, pdf_sha256=run.sign_pdf_sha256, state=ReportState(run.state))
        run.final_sha256, run.sign_pdf_sha256 = docx_sha, pdf_sha
        run.state, run.updated_at = advance(run.state, ReportState.signing), now
        files = [
            ob.Attachment(docx_sha, docx_name, MEDIA_TYPES["docx"]),
            ob.Attachment(pdf_sha, file_name(plan, tgt.report.id, tgt.period, "pdf", False), "application/pdf"),
        ]
        messages = []
        for u in _coordinators(plan):
            r = _render_signing(plan, u.name, model, tgt)
            key = f"{plan.id}:{tgt.report.id}:{tgt.period}:{STEP_SIGNING}:{u.id}"
            messages.append(_message(settings, plan, key, STEP_SIGNING, tgt, list(u.emails), u.id, r, now, files))
        queued = ob.enqueue(s, messages, now)
    return Delivery(
        queued=queued,
        final_sha256=docx_sha,
        markdown=render_markdown(model),
        pdf_sha256=pdf_sha,
        state=ReportState.signing,
    )


def _signed_type(name: str) -> str:
    suffix = name.rsplit(".", 1)[-1].lower()
    return next((media for _, ext, media in SIGNED_TYPES if ext == suffix), "application/octet-stream")


def _mail_context(plan: Plan, subject: str, recipient: str, model: ReportModel, **values: Any) -> dict[str, Any]:
    return {
        "subject": subject,
        "recipient": recipient,
        "commune": plan.commune_label,
        "plan_id": plan.id,
        "plan_title": plan.title,
        "coordinator": compose.coordinator_name(plan),
        "summary": model.summary[:1].lower() + model.summary[1:],
        "headline": model.summary,
        "number": model.number_line.removeprefix("Số: "),
        "signed_on": model.place_date.split(", ", 1)[-1],  # "ngày 05 tháng 9 năm 2025"
        **values,
    }


def _render_signing(plan: Plan, recipient: str, model: ReportModel, tgt: Target) -> compose.Rendered:
    """To the coordinator: the approved final to sign, and the two ways to finish."""
    number = model.number_line.removeprefix("Số: ")
    subject = compose.one_line(f"[CCHC {plan.commune_label}] Trình ký báo cáo số {number}: {model.summary}")
    context = _mail_context(
        plan,
        subject,
        recipient,
        model,
        plan_id=plan.id,
        report_id=tgt.report.id,
        period=tgt.period,
        due=tgt.occurrence.last_day.strftime("%d/%m/%Y"),
    )
    text, html = compose.render("report_signing", context)
    return compose.Rendered(subject, text, html)


def _render_signed_delivery(plan: Plan, recipient: str, model: ReportModel, attached: str) -> compose.Rendered:
    number = model.number_line.removeprefix("Số: ")
    subject = compose.one_line(f"Báo cáo số {number} của UBND {plan.commune_label}: {model.summary}")
    text, html = compose.render(
        "report_delivery_signed", _mail_context(plan, subject, recipient, model, attached=attached)
    )
    return compose.Rendered(subject, text, html)


def signed_kind(data: bytes) -> tuple[str, str] | None:
    """(extension, media type) of a signed copy, from its first bytes; None when it is no PDF or image."""
    return next(((ext, media) for magic, ext, media in SIGNED_TYPES if data.startswith(magic)), None)


def _signable(run: ReportRunRow | None, tgt: Target) -> ReportRunRow:
    """The run row of a report waiting for signature, or a Vietnamese refusal saying why not."""
    what = f"báo cáo {tgt.report.id} kỳ {tgt.period}"
    if not signing_required(tgt.report):
        raise service.UserError(
            f"{what} không có bước ký (signing: none trong kế hoạch): báo cáo được gửi ngay khi duyệt"
        )
    if run is None or run.state not in DECIDED:
        now_state = state_label(run.state if run else None)
        raise service.UserError(
            f"{what} chưa được duyệt (đang: {now_state}); duyệt trên Prefect trước, rồi mới ghi bản đã ký hoặc e-office"
        )
    if run.state == ReportState.approved:
        raise service.UserError(
            f"{what} vừa được duyệt, bản trình ký (Word, PDF) chưa lập xong; chạy lại lần chạy báo cáo rồi thử lại"
        )
    return run


def sign(settings: Settings, plan: Plan, tgt: Target, data: bytes, name: str, by: str, now: dt.datetime) -> Delivery:
    """Attach the signed copy: it then goes to every recipient, once. The same copy again changes nothing."""
    if not by.strip():
        raise service.UserError('cần ghi người đính kèm bản đã ký (--by), ví dụ --by "Nguyễn Thị Lan"')
    kind = signed_kind(data)
    if kind is None:
        raise service.UserError(
            f"tệp '{name}' không phải PDF hay ảnh quét (JPEG, PNG, TIFF); đính kèm bản đã ký dạng PDF hoặc ảnh quét"
        )
    if len(data) > MAX_SIGNED_BYTES:
        raise service.UserError(
            f"tệp '{name}' nặng {len(data) // (1024 * 1024)} MB, quá {MAX_SIGNED_BYTES // (1024 * 1024)} MB; "
            "quét lại với độ phân giải thấp hơn"
        )
    sha = hashlib.sha256(data).hexdigest()
    run = _signable(run_state(settings, plan, tgt.report.id, tgt.period), tgt)
    if run.signed_sha256 == sha:  # recorded already: the delivery (queued once) is all there is
        return deliver(settings, plan, tgt, now)
    _check_unsigned(run, tgt)
    service.store_bytes(settings, data)
    stem = file_name(plan, tgt.report.id, tgt.period, "", False).removesuffix(".")
    with session_scope(service.engine_for(settings)) as s:
        row = store.lock_run(s, plan.id, tgt.report.id, tgt.period, now)
        if row.signed_sha256 != sha:
            _check_unsigned(row, tgt)
            row.state = advance(row.state, ReportState.signed)
            row.signed_sha256, row.signed_file_name = sha, f"{stem}-da-ky.{kind[0]}"
            row.signed_by, row.signed_at, row.sent_via, row.updated_at = by.strip(), now, EMAIL, now
            repo.audit(
                s,
                now,
                by.strip(),
                "report.signed",
                plan.id,
                tgt.report.id,
                tgt.period,
                detail=f"bản đã ký {name} (sha256 {sha[:12]})",
            )
    return deliver(settings, plan, tgt, now)


def _check_unsigned(run: ReportRunRow, tgt: Target) -> None:
    what = f"báo cáo {tgt.report.id} kỳ {tgt.period}"
    if run.sent_via == EOFFICE:
        raise service.UserError(
            f"{what} đã ghi gửi qua e-office (số {run.sent_number}, ngày {_day(run.sent_on)}); không gửi thêm bản ký"
        )
    if run.signed_sha256 is not None:
        raise service.UserError(
            f"{what} đã có bản ký khác ({run.signed_file_name}, đính kèm bởi {run.signed_by}) và đã gửi đi; "
            "không thay được bản đã gửi"
        )


def _day(day: dt.date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else "-"


def parse_day(text: str) -> dt.date:
    """A day written day/month/year (12/09/2025); a Vietnamese error otherwise."""
    m = re.fullmatch(r"\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*", text)
    if m is None:
        raise service.UserError(f"ngày '{text}' không đúng dạng ngày/tháng/năm; ví dụ 12/09/2025")
    try:
        return dt.date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        raise service.UserError(f"ngày '{text}' không có thật; viết ngày/tháng/năm, ví dụ 12/09/2025") from None


def sent_eoffice(settings: Settings, plan: Plan, tgt: Target, number: str, day: str, by: str, now: dt.datetime) -> bool:
    """Record that the signed report went out through e-office: it is delivered, and no mail goes to the
    recipients. True when recorded now; False when the same record was there already."""
    number = " ".join(number.split())
    if not number:
        raise service.UserError("cần số văn bản đã gửi trên e-office (--number), ví dụ 123/BC-UBND")
    if not by.strip():
        raise service.UserError('cần ghi người ghi nhận (--by), ví dụ --by "Nguyễn Thị Lan"')
    sent_on = parse_day(day)
    run = _signable(run_state(settings, plan, tgt.report.id, tgt.period), tgt)
    if run.sent_via == EOFFICE and run.sent_number == number and run.sent_on == sent_on:
        if run.state != ReportState.delivered:  # a crash after the evidence: finish the move
            _eoffice_done(settings, plan, tgt, now)
        return False
    _check_unsigned(run, tgt)
    today = to_local(now, plan.timezone).date()
    approved_on = to_local(run.decided_at, plan.timezone).date() if run.decided_at else today
    if not approved_on <= sent_on <= today:
        raise service.UserError(
            f"ngày gửi {_day(sent_on)} phải từ ngày duyệt ({_day(approved_on)}) đến hôm nay ({_day(today)})"
        )
    with session_scope(service.engine_for(settings)) as s:
        row = store.lock_run(s, plan.id, tgt.report.id, tgt.period, now)
        _check_unsigned(row, tgt)
        row.sent_via, row.sent_number, row.sent_on, row.signed_by, row.updated_at = (
            EOFFICE,
            number,
            sent_on,
            by.strip(),
            now,
        )
        repo.audit(
            s,
            now,
            by.strip(),
            "report.sent-eoffice",
            plan.id,
            tgt.report.id,
            tgt.period,
            detail=f"gửi qua e-office, số {number}, ngày {_day(sent_on)}",
        )
    _eoffice_done(settings, plan, tgt, now)
    return True


def _eoffice_done(settings: Settings, plan: Plan, tgt: Target, now: dt.datetime) -> None:
    """The e-office record becomes the evidence (once: keyed by the final's sha), then the report is delivered."""
    run = run_state(settings, plan, tgt.report.id, tgt.period)
    assert run is not None and run.sent_on is not None
    names = ", ".join(rc.name for rc in tgt.report.recipients)
    title = (
        f"Đã gửi báo cáo {tgt.period} qua hệ thống quản lý văn bản (e-office), số {run.sent_number}, "
        f"ngày {_day(run.sent_on)}, tới {names}"
    )
    name = file_name(plan, tgt.report.id, tgt.period, "docx", False)
    _record_delivery(
        settings, plan, tgt.report, tgt.period, tgt.report.id, title, run.sent_on, run.final_sha256, name, now
    )
    _serve_others(settings, plan, tgt.report, tgt.period, run.sent_on, run.final_sha256, name, now)
    with session_scope(service.engine_for(settings)) as s:
        row = store.lock_run(s, plan.id, tgt.report.id, tgt.period, now)
        if row.state != ReportState.delivered:
            row.state, row.delivered_at, row.updated_at = advance(row.state, ReportState.delivered), now, now


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")[:40] or "noi-nhan"


def settle(settings: Settings, plan: Plan, now: dt.datetime) -> list[tuple[str, str]]:
    """Approved reports whose every delivery row was sent become evidence of the report duty, once."""
    engine = service.engine_for(settings)
    done: list[tuple[str, str, dt.datetime, str | None, str | None]] = []
    with session_scope(engine) as s:
        for run in store.plan_runs(s, plan.id, DELIVERING):
            rows = store.delivery_rows(s, plan.id, run.report_id, run.period)
            if rows and all(r.status == ob.SENT for r in rows):
                sent = max(r.sent_at for r in rows if r.sent_at is not None)
                # The signed copy, when there is one, is what went out: the evidence is that file.
                sha = run.signed_sha256 or run.final_sha256
                done.append((run.report_id, run.period, sent, sha, run.signed_file_name if run.signed_sha256 else None))
    recorded = []
    for report_id, period, sent, sha, signed_name in done:
        report = plan.report(report_id)
        names = ", ".join(rc.name for rc in report.recipients)
        how = " (bản đã ký)" if signed_name else ""
        name = signed_name or file_name(plan, report_id, period, "docx", False)
        day = to_local(sent, plan.timezone).date()
        title = f"Đã gửi báo cáo {period}{how} tới {names}"
        _record_delivery(settings, plan, report, period, report_id, title, day, sha, name, now)
        with session_scope(engine) as s:
            run = store.lock_run(s, plan.id, report_id, period, now)
            run.state, run.delivered_at, run.updated_at = advance(run.state, ReportState.delivered), sent, now
        recorded.append((report_id, period))
        recorded += _serve_others(settings, plan, report, period, day, sha, name, now)
    return recorded


def _record_delivery(
    settings: Settings,
    plan: Plan,
    report: Report,
    period: str,
    duty: str,
    title: str,
    day: dt.date,
    sha: str | None,
    name: str,
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
            occurred_on=day,
            origin="report",
            file_sha256=sha,
            file_name=name,
            unit=report.compiler,
        ),
        now,
    )


def _serve_others(
    settings: Settings,
    plan: Plan,
    report: Report,
    period: str,
    day: dt.date,
    sha: str | None,
    name: str,
    now: dt.datetime,
) -> list[tuple[str, str]]:
    """The one document also delivers the reports it serves (same days, same due date), as the spec says."""
    out = []
    for other_id in report.serves:
        other = plan.report(other_id)
        for o in plan_occurrences(plan):
            if o.duty != other_id or served_by(plan, other_id, o.period) != (report.id, period):
                continue
            title = f"Đã gửi báo cáo {period} ({report.title}), dùng chung cho {other.title} {o.period}"
            _record_delivery(settings, plan, report, period, other_id, title, day, sha, name, now)
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
                "signing": _signing_json(tgt.report, run),
                "delivery": {
                    "delivered_at": service.iso(run.delivered_at) if run and run.delivered_at else None,
                    "via": run.sent_via if run else None,
                    "eoffice": (
                        {"number": run.sent_number, "date": run.sent_on.isoformat() if run.sent_on else None}
                        if run and run.sent_via == EOFFICE
                        else None
                    ),
                    "signed_sha256": run.signed_sha256 if run else None,
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


def _signing_json(report: Report, run: ReportRunRow | None) -> dict[str, Any]:
    return {
        "required": signing_required(report),
        "final_sha256": run.final_sha256 if run else None,
        "pdf_sha256": run.sign_pdf_sha256 if run else None,
        "signed_sha256": run.signed_sha256 if run else None,
        "signed_file": run.signed_file_name if run else None,
        "signed_by": run.signed_by if run else None,
        "signed_at": service.iso(run.signed_at) if run and run.signed_at else None,
    }


def delivery_markdown(settings: Settings, plan: Plan, tgt: Target) -> str:
    """The report's artifact after approval: the final as approved, then how it went out (the evidence)."""
    run = run_state(settings, plan, tgt.report.id, tgt.period)
    if run is None or run.state not in DECIDED or run.decided_at is None:
        return ""
    lines = ["", "## Ký và gửi", ""]
    if run.sent_via == EOFFICE:
        lines.append(
            f"- Đã gửi qua hệ thống quản lý văn bản (e-office): số **{run.sent_number}**, ngày {_day(run.sent_on)}"
            f" (ghi nhận bởi {run.signed_by or '-'}). Không gửi thư cho nơi nhận."
        )
    elif run.signed_sha256:
        lines.append(
            f"- Bản đã ký: `{run.signed_file_name}` (sha256 `{run.signed_sha256[:16]}…`), đính kèm bởi "
            f"{run.signed_by or '-'}; gửi tới mọi nơi nhận qua thư điện tử."
        )
    elif run.state == ReportState.signing:
        lines.append(
            "- Chờ ký: bản Word và PDF đã gửi đơn vị tổng hợp. Đính kèm bản đã ký "
            f"(`cchc report sign {plan.id} --report {tgt.report.id} --period {tgt.period} --file ... --by ...`) "
            "hoặc ghi số, ngày đã gửi qua e-office."
        )
    else:
        lines.append("- Gửi bản Word tới mọi nơi nhận qua thư điện tử (không có bước ký).")
    if run.sign_pdf_sha256:
        lines.append(f"- Bản PDF trình ký: sha256 `{run.sign_pdf_sha256[:16]}…`")
    if run.state == ReportState.delivered:
        lines.append(f"- Tình trạng: {state_label(run.state)}.")
    return render_markdown(_final_model(settings, plan, tgt, run)) + "\n".join(lines) + "\n"


def awaiting_signature(settings: Settings, plan: Plan) -> list[dict[str, str]]:
    """The plan's approved reports waiting for the signed copy (the coordinator's portal page lists them)."""
    with session_scope(service.engine_for(settings)) as s:
        runs = store.plan_runs(s, plan.id, ReportState.signing)
        out = []
        for r in sorted(runs, key=lambda r: (r.period, r.report_id)):
            try:
                title = plan.report(r.report_id).title
            except KeyError:  # a report the spec no longer has
                continue
            out.append(
                {"plan": plan.id, "report": r.report_id, "period": r.period, "title": title, "number": r.number or ""}
            )
        return out
