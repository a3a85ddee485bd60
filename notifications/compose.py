"""Rendering messages from the Vietnamese templates. Returns data; sending is smtp.py's job."""

from __future__ import annotations

import datetime as dt
import email.policy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from cchc.core.calendar import Occurrence
from cchc.core.escalation import Intent
from cchc.core.evaluate import Status
from cchc.core.spec import Plan, UnitRole
from cchc.core.views import STATUS_VI, duty_title, fmt_day, unit_name
from cchc.core.views import period_label as period_label
from cchc.core.workdays import working_days_between

TEMPLATES = Path(__file__).parent / "templates"
# Python 3.11 folds long non-ASCII headers into encoded words split at a space, and RFC 2047
# readers drop that space ("cảicách"). Long lines avoid folding; 998 is RFC 5322's limit.
POLICY = email.policy.SMTP.clone(max_line_length=998)
ACTION_LABEL = {
    "reminder": "Nhắc hạn",
    "progress": "Nhắc tiến độ",
    "overdue": "Quá hạn",
    "escalation": "Báo cáo lãnh đạo",
    "digest": "Tình hình tuần",
    "notice": "Thông báo",
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
    source = next((d.source for d in plan.duties if d.id == intent.duty), None) or next(
        (r.source for r in plan.reports if r.id == intent.duty), ""
    )
    context = {
        "subject": "",
        "recipient": unit_name(plan, recipient_unit),
        "plan_title": plan.title,
        "coordinator": coordinator_name(plan),
        "duty_title": title,
        "period_label": period_label(intent.period),
        "due": fmt_day(occ.last_day),
        "lead": unit_name(plan, occ.lead),
        "count": intent.count,
        "required": occ.required,
        "source": source,
        "today": fmt_day(at.date()),
        "missed": intent.status is Status.missed,
        "days_late": working_days_between(occ.last_day + dt.timedelta(days=1), at.date() + dt.timedelta(days=1)),
        "link": link,
    }
    subject = subject_for(plan, intent.action, title, intent.period, occ.last_day)
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


def to_email(
    *,
    sender: str,
    recipient: str,
    cc: list[str],
    subject: str,
    text: str,
    html: str,
    message_id: str,
    date: dt.datetime,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> EmailMessage:
    """A UTF-8 multipart message. Header values pass through one_line; EmailMessage refuses any CR/LF left."""
    msg = EmailMessage(policy=POLICY)
    msg["From"] = one_line(sender)
    msg["To"] = one_line(recipient)
    if cc:
        msg["Cc"] = ", ".join(one_line(c) for c in cc)
    msg["Subject"] = one_line(subject)
    msg["Message-ID"] = one_line(message_id)
    msg["Date"] = format_datetime(date)
    msg.set_content(text, charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    for name, media_type, data in attachments:
        maintype, _, subtype = media_type.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream", filename=name)
    return msg


def display_address(name: str, email: str) -> str:
    return formataddr((one_line(name), email))


def render_report_mail(plan: Plan, recipient: str, subject: str, lines: Sequence[str], sender: str) -> Rendered:
    """A report's cover message (draft to the coordinator, or the delivery to a recipient)."""
    context = {
        "subject": one_line(subject),
        "recipient": recipient,
        "lines": list(lines),
        "sender": sender,
        "plan_title": plan.title,
        "coordinator": coordinator_name(plan),
    }
    text, html = render("report", context)
    return Rendered(one_line(subject), text, html)
