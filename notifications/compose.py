"""Rendering messages from the Vietnamese templates. Returns data; sending is smtp.py's job."""

from __future__ import annotations

import datetime as dt
import email.policy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, make_msgid
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from cchc.core import assumptions
from cchc.core.assemble import ReportModel
from cchc.core.calendar import Occurrence
from cchc.core.escalation import Intent
from cchc.core.evaluate import Status
from cchc.core.report_state import ReportState
from cchc.core.report_state import label as state_label
from cchc.core.spec import Plan, UnitRole
from cchc.core.views import STATUS_VI, duty_title, fmt_day, unit_name
from cchc.core.views import period_label as period_label
from cchc.core.workdays import working_days_between

TEMPLATES = Path(__file__).parent / "templates"
# Python 3.11 folds long non-ASCII headers into encoded words split at a space, and RFC 2047
# readers drop that space ("cảicách"). Long lines avoid folding; 998 is RFC 5322's limit.
PLAIN_POLICY = email.policy.SMTP.clone(max_line_length=998)
# How many distinct header values (From, To, Cc, Subject, Date) stay parsed and folded between messages.
HEADER_CACHE_SIZE = 512


class HeaderCachePolicy(EmailPolicy):
    """PLAIN_POLICY, except that a header object made by ``cached_header`` folds once per policy: a mail pass
    repeats the same From, Cc, Subject and Date across many messages, and parsing + folding them was half the
    cost of a message. Every other header (Message-ID, MIME parts) takes the email package's own path."""

    def fold_binary(self, name: str, value: Any) -> bytes:
        folds: dict[EmailPolicy, bytes] | None = getattr(value, "_cchc_folds", None)
        if folds is None:
            return super().fold_binary(name, value)
        out = folds.get(self)
        if out is None:
            out = super().fold_binary(name, value)
            if len(folds) < 4:  # bounded even if someone flattens with many clones of this policy
                folds[self] = out
        return out


POLICY = HeaderCachePolicy(linesep="\r\n", max_line_length=998)
AddressPairs = tuple[tuple[str, str], ...]


@lru_cache(maxsize=HEADER_CACHE_SIZE)
def cached_header(policy: EmailPolicy, name: str, value: str | AddressPairs) -> Any:
    """The header object for exactly (policy, name, value): a string goes through the policy's own checks
    (CR/LF refused, exceptions are never cached); address pairs (display name, addr_spec) become Address objects
    the way to_email always built them. Header objects are immutable, so messages can share one."""
    if isinstance(value, str):
        return policy.header_store_parse(name, value)[1]
    return policy.header_factory(name, tuple(Address(display_name=d, addr_spec=a) for d, a in value))


ACTION_LABEL = {
    "reminder": "Nhắc hạn",
    "progress": "Nhắc tiến độ",
    "overdue": "Quá hạn",
    "escalation": "Báo cáo lãnh đạo",
    "digest": "Tình hình tuần",
    "notice": "Thông báo",
    # An overdue notice against a rule the plan does not state: no "quá hạn" until the coordinator confirms it.
    "overdue_assumed": "Chưa có minh chứng",
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@lru_cache(maxsize=1)
def env() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def one_line(text: str) -> str:
    """Header-safe: CR, LF and other control characters from specs or evidence cannot inject headers."""
    return re.sub(r"[\x00-\x1f\x7f\u2028\u2029]+", " ", text).strip()


def coordinator_name(plan: Plan) -> str:
    units = plan.units_with_role(UnitRole.coordinator)
    return units[0].name if units else plan.issuer


def subject_for(plan: Plan, action: str, title: str, period: str, due: dt.date | None) -> str:
    due_part = f" — hạn {fmt_day(due)}" if due else ""
    return one_line(f"[CCHC {plan.commune_label}] {ACTION_LABEL[action]}: {title} ({period_label(period)}){due_part}")


def render(template: str, context: dict[str, Any]) -> tuple[str, str]:
    e = env()
    return e.get_template(f"{template}.txt").render(**context), e.get_template(f"{template}.html").render(**context)


def render_intent(
    plan: Plan, intent: Intent, occ: Occurrence, recipient_unit: str, at: dt.datetime, link: str | None = None
) -> Rendered:
    title = duty_title(plan, intent.duty)
    try:
        source = plan.item(intent.duty).citation
    except KeyError:
        source = ""
    context = {
        "subject": "",
        "recipient": unit_name(plan, recipient_unit),
        "plan_title": plan.title,
        "coordinator": coordinator_name(plan),
        "duty_title": title,
        "period_label": period_label(intent.period),
        "due": fmt_day(occ.last_day),
        "lead": ", ".join(unit_name(plan, u) for u in occ.leads),
        "assumed": assumptions.note(intent.assumed),
        "count": intent.count,
        "required": occ.required,
        "source": source,
        "today": fmt_day(at.date()),
        "missed": intent.status is Status.missed,
        "days_late": working_days_between(
            occ.last_day + dt.timedelta(days=1), at.date() + dt.timedelta(days=1), plan.work_calendar
        ),
        "link": link,
    }
    label = "overdue_assumed" if intent.action == "overdue" and intent.assumed else intent.action
    subject = subject_for(plan, label, title, intent.period, occ.last_day)
    context["subject"] = subject
    text, html = render(intent.action, context)
    return Rendered(subject, text, html)


def render_notice(plan: Plan, recipient: str, title: str, message: str) -> Rendered:
    subject = one_line(f"[CCHC {plan.commune_label}] {ACTION_LABEL['notice']}: {title}")
    context = {
        "subject": subject,
        "recipient": recipient,
        "message": message,
        "plan_title": plan.title,
        "coordinator": coordinator_name(plan),
    }
    text, html = render("notice", context)
    return Rendered(subject, text, html)


def render_digest(
    plan: Plan, recipient: str, rows: list[dict[str, Any]], at: dt.datetime, notes: Sequence[str] = ()
) -> Rendered:
    """The weekly table; ``notes`` are the system's stops found since the previous digest (views.gap_notice)."""
    iso = at.isocalendar()
    week = f"{iso.week}/{iso.year}"
    late = sum(1 for r in rows if r["status"] in (STATUS_VI[Status.overdue], STATUS_VI[Status.missed]))
    subject = one_line(f"[CCHC {plan.commune_label}] {ACTION_LABEL['digest']} {week}")
    context = {
        "subject": subject,
        "recipient": recipient,
        "plan_title": plan.title,
        "coordinator": coordinator_name(plan),
        "rows": rows,
        "week": week,
        "today": fmt_day(at.date()),
        "late": late,
        "notes": list(notes),
    }
    text, html = render("digest", context)
    return Rendered(subject, text, html)


def new_message_id(domain: str) -> str:
    return make_msgid(domain=domain)


def _header_with_folds(name: str, value: str | AddressPairs) -> Any:
    header = cached_header(POLICY, name, value)
    if not hasattr(header, "_cchc_folds"):
        header._cchc_folds = {}
    return header


def to_email(
    *,
    sender: str,
    recipient: Sequence[tuple[str, str]],
    cc: list[str],
    subject: str,
    text: str,
    html: str,
    message_id: str,
    date: dt.datetime,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    cache_headers: bool = True,
) -> EmailMessage:
    """A UTF-8 multipart message to (display name, address) pairs. Address headers are built from the email
    library's address objects, so a unit name with specials ("Văn phòng (HĐND; UBND)", "A, Bcc: x@y") stays
    a display name; other header values pass through one_line, and EmailMessage refuses any CR/LF left.
    ``cache_headers``: reuse the parsed and folded From/To/Cc/Subject/Date of earlier messages (same bytes)."""
    if cache_headers:
        msg = EmailMessage(policy=POLICY)
        msg["From"] = _header_with_folds("From", one_line(sender))
        msg["To"] = _header_with_folds("To", tuple((one_line(name), addr.strip()) for name, addr in recipient))
        if cc:
            msg["Cc"] = _header_with_folds("Cc", tuple(("", c.strip()) for c in cc))
        msg["Subject"] = _header_with_folds("Subject", one_line(subject))
        msg["Message-ID"] = one_line(message_id)
        msg["Date"] = _header_with_folds("Date", format_datetime(date))
    else:  # the email package's own path, header by header: what the cached one must equal byte for byte
        msg = EmailMessage(policy=PLAIN_POLICY)
        msg["From"] = one_line(sender)
        msg["To"] = tuple(Address(display_name=one_line(name), addr_spec=addr.strip()) for name, addr in recipient)
        if cc:
            msg["Cc"] = tuple(Address(addr_spec=c.strip()) for c in cc)
        msg["Subject"] = one_line(subject)
        msg["Message-ID"] = one_line(message_id)
        msg["Date"] = format_datetime(date)
    msg.set_content(text, charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    for name, media_type, data in attachments:
        maintype, _, subtype = media_type.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream", filename=name)
    return msg


def _lower_first(text: str) -> str:
    """'Kết quả ...' inside a sentence: 'kết quả ...'."""
    return f"{text[:1].lower()}{text[1:]}"


def _report_context(plan: Plan, subject: str, recipient: str, **values: Any) -> dict[str, Any]:
    return {
        "subject": subject,
        "recipient": recipient,
        "commune": plan.commune_label,
        "plan_id": plan.id,
        "plan_title": plan.title,
        "coordinator": coordinator_name(plan),
        **values,
    }


def render_report_draft(
    plan: Plan, recipient: str, model: ReportModel, version: int, due: dt.date, approve_by: dt.date
) -> Rendered:
    """To the coordinator: draft ``version`` is attached; approve (or send back) in Prefect by ``approve_by``."""
    subject = one_line(
        f"[CCHC {plan.commune_label}] Dự thảo báo cáo (bản {version}): {model.summary} — "
        f"cần duyệt trước {fmt_day(approve_by)}"
    )
    context = _report_context(
        plan,
        subject,
        recipient,
        summary=_lower_first(model.summary),
        version=version,
        data_from=fmt_day(model.data_from),
        data_to=fmt_day(model.data_to),
        overview=model.overview,
        shortfalls=len(model.shortfalls),
        due=fmt_day(due),
        approve_by=fmt_day(approve_by),
    )
    text, html = render("report_draft", context)
    return Rendered(subject, text, html)


def render_report_delivery(plan: Plan, recipient: str, model: ReportModel) -> Rendered:
    """The cover message of the approved final, sent by the commune to one recipient."""
    number = model.number_line.removeprefix("Số: ")
    subject = one_line(f"Báo cáo số {number} của UBND {plan.commune_label}: {model.summary}")
    context = _report_context(
        plan,
        subject,
        recipient,
        summary=_lower_first(model.summary),
        number=number,
        signed_on=model.place_date.split(", ", 1)[1],  # "ngày 05 tháng 9 năm 2025"
    )
    text, html = render("report_delivery", context)
    return Rendered(subject, text, html)


def render_report_late(
    plan: Plan,
    recipient: str,
    title: str,
    period: str,
    due: dt.date,
    today: dt.date,
    state: ReportState | str | None,
    note: str | None,
    compiler: str,
    assumed: str = "",
) -> Rendered:
    """To the leader, from 1 working day before the due time: the report is still not approved. ``assumed``: the
    due date is the coordinator's, not the plan's (assumptions.note), and the mail says so."""
    subject = one_line(f"[CCHC {plan.commune_label}] {ACTION_LABEL['notice']}: báo cáo {period} chưa được duyệt")
    context = _report_context(
        plan,
        subject,
        recipient,
        title=title,
        period=period,
        due=fmt_day(due),
        today=fmt_day(today),
        state=state_label(state),
        note=note,
        compiler=compiler,
        assumed=assumed,
    )
    text, html = render("report_late", context)
    return Rendered(subject, text, html)


def render_report_no_email(plan: Plan, recipient: str, report_id: str, period: str, missing: Sequence[str]) -> Rendered:
    """To the coordinator: an approved report could not go to recipients the plan has no address for."""
    subject = one_line(f"[CCHC {plan.commune_label}] {ACTION_LABEL['notice']}: báo cáo thiếu địa chỉ nơi nhận")
    context = _report_context(plan, subject, recipient, report_id=report_id, period=period, missing=list(missing))
    text, html = render("report_no_email", context)
    return Rendered(subject, text, html)
