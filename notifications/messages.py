"""Outbox rows for the plan's messages: ladder steps, coordinator notices, the weekly digest.

Builders only: they render from the templates (compose) and return rows; the mail pass
(cchc.app.mail_pass) and the report workflow queue them, and delivery sends them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from cchc.core import escalation, links, views
from cchc.core.calendar import Occurrence
from cchc.core.escalation import Intent
from cchc.core.runs import Gap
from cchc.core.spec import Plan, Unit, UnitRole
from cchc.settings import Settings
from cchc.store import outbox as ob
from cchc.store import repo
from cchc.store import runs as run_store
from notifications import compose


def sender_domain(settings: Settings) -> str:
    addr = parseaddr(settings.mail_from)[1]
    return addr.rsplit("@", 1)[1] if "@" in addr else "localhost"


def unit_emails(plan: Plan, unit_ids: Sequence[str]) -> list[str]:
    out: list[str] = []
    for u in unit_ids:
        try:
            out.extend(e for e in plan.unit(u).emails if e not in out)
        except KeyError:
            continue
    return out


def ladder_key(intent: Intent, unit_id: str) -> str:
    return f"{intent.occurrence_key}:{intent.step}:{unit_id}"


def no_email_notices(settings: Settings, plan: Plan, unit_ids: Sequence[str], due: dt.datetime) -> list[ob.NewMessage]:
    out = []
    for unit_id in unit_ids:
        name = views.unit_name(plan, unit_id)
        text = (
            f"Đơn vị {name} (mã '{unit_id}') chưa có địa chỉ thư điện tử trong kế hoạch {plan.id}, "
            "nên không nhận được thư nhắc việc. Đề nghị bổ sung địa chỉ vào mục 'emails' của đơn vị "
            f"trong tệp plan_specs/{plan.id}.yaml."
        )
        out.extend(
            coordinator_notice(
                settings, plan, f"{plan.id}:notice:no-email:{unit_id}", f"{name} chưa có địa chỉ thư", text, due
            )
        )
    return out


def to_unit(
    settings: Settings, unit: Unit, key: str, step: str, r: compose.Rendered, plan: Plan, due: dt.datetime, **extra: Any
) -> ob.NewMessage:
    """A row addressed to every address of one unit."""
    return ob.NewMessage(
        key=key,
        plan_id=plan.id,
        step=step,
        unit_id=unit.id,
        recipient=", ".join(unit.emails),
        subject=r.subject,
        body_text=r.text,
        body_html=r.html,
        message_id=compose.new_message_id(sender_domain(settings)),
        due_at=due,
        **extra,
    )


def coordinator_notice(
    settings: Settings, plan: Plan, key: str, title: str, text: str, due: dt.datetime
) -> list[ob.NewMessage]:
    """A message to the coordinator; no message at all if the coordinator has no address either."""
    return [
        to_unit(
            settings,
            u,
            f"{key}:{u.id}",
            "notice",
            compose.render_notice(plan, u.name, title, text),
            plan,
            due,
        )
        for u in plan.units_with_role(UnitRole.coordinator)
        if u.emails
    ]


def ladder_messages(
    settings: Settings,
    plan: Plan,
    due: Sequence[Intent],
    occ_of: dict[tuple[str, str], Occurrence],
    at: dt.datetime,
    known: set[str],
) -> tuple[list[ob.NewMessage], list[str]]:
    """Rows for intents not yet in the outbox, and the units that have no address."""
    domain = sender_domain(settings)
    out: list[ob.NewMessage] = []
    missing: list[str] = []
    for intent in due:
        occ = occ_of[(intent.duty, intent.period)]
        cc = unit_emails(plan, intent.cc)
        missing.extend(u for u in intent.cc if not unit_emails(plan, [u]) and u not in missing)
        for i, unit_id in enumerate(intent.to):
            key = ladder_key(intent, unit_id)
            if key in known:
                continue
            addresses = unit_emails(plan, [unit_id])
            r = compose.render_intent(plan, intent, occ, unit_id, at, answer_link(settings, plan, intent, occ, unit_id))
            status, error = (
                (ob.SKIPPED, "bỏ qua: thời điểm gửi đã qua khi hệ thống chạy tới")
                if intent.stale
                else (ob.QUEUED, None)
            )
            if not addresses:
                if not intent.stale:
                    status, error = (
                        ob.FAILED,
                        f"đơn vị '{unit_id}' chưa có địa chỉ thư điện tử trong kế hoạch {plan.id}",
                    )
                if unit_id not in missing:
                    missing.append(unit_id)
            out.append(
                ob.NewMessage(
                    key=key,
                    plan_id=plan.id,
                    duty_id=intent.duty,
                    period=intent.period,
                    step=intent.step,
                    unit_id=unit_id,
                    recipient=", ".join(addresses),
                    cc=cc if i == 0 else (),  # copies once per step, not once per addressee
                    subject=r.subject,
                    body_text=r.text,
                    body_html=r.html,
                    message_id=compose.new_message_id(domain),
                    due_at=intent.moment,
                    status=status,
                    last_error=error,
                )
            )
    return out, missing


ANSWERED_BY_LINK = ("reminder", "progress", "overdue")


def answer_link(settings: Settings, plan: Plan, intent: Intent, occ: Occurrence, unit_id: str) -> str | None:
    """The unit's own signed link to send evidence for this occurrence (reports are delivered by their flow)."""
    if intent.action not in ANSWERED_BY_LINK or not any(d.id == intent.duty for d in plan.duties):
        return None
    claims = links.Claims(plan.id, intent.duty, intent.period, unit_id, links.expiry(occ.due))
    return f"{settings.portal_url.rstrip('/')}/n/{links.sign(settings.link_secret(), claims)}"


def digest_moment(at: dt.datetime, tz: str) -> tuple[str, dt.datetime]:
    local = at.astimezone(ZoneInfo(tz))
    monday = local.date() - dt.timedelta(days=local.weekday())
    iso = monday.isocalendar()
    return f"{iso.year}-W{iso.week:02d}", dt.datetime(
        monday.year, monday.month, monday.day, escalation.SEND_HOUR, tzinfo=ZoneInfo(tz)
    )


DIGEST_GAPS = dt.timedelta(days=7)  # with no earlier digest: the stops found in the week before it


def digest_messages(
    settings: Settings,
    plan: Plan,
    judged: Sequence[repo.Judged],
    at: dt.datetime,
    known: set[str],
    gaps: Sequence[Gap] = (),
) -> list[ob.NewMessage]:
    """The coordinator's weekly table, once a week from Monday 08:00, while the plan runs; new stops first."""
    week, moment = digest_moment(at, plan.timezone)
    if at < moment or not (
        plan.period.start <= moment.date() + dt.timedelta(days=6) and moment.date() <= plan.period.end
    ):
        return []
    stale = at - moment > dt.timedelta(days=escalation.ladder_for(plan, "").stale_after_days)
    rows = [
        {
            "title": views.duty_title(plan, j.occurrence.duty),
            "lead": views.unit_name(plan, j.occurrence.lead),
            "period": views.period_label(j.occurrence.period),
            "due": views.fmt_day(j.occurrence.last_day),
            "status": views.STATUS_VI[j.status],
            "count": j.count,
            "required": j.occurrence.required,
        }
        for j in views.current(judged, at)
    ]
    out = []
    for u in plan.units_with_role(UnitRole.coordinator):
        key = f"{plan.id}:digest:{week}:{u.id}"
        if key in known or not u.emails:
            continue
        notes = [views.gap_notice(g.stopped_from, g.resumed_at, plan.timezone) for g in gaps]
        r = compose.render_digest(plan, u.name, rows, at, notes)
        out.append(
            to_unit(
                settings,
                u,
                key,
                "digest",
                r,
                plan,
                moment,
                period=week,
                status=ob.SKIPPED if stale else ob.QUEUED,
                last_error="bỏ qua: thời điểm gửi tổng hợp tuần đã qua khi hệ thống chạy tới" if stale else None,
            )
        )
    return out


def digest_gaps(session: Session, plan: Plan, week: str, moment: dt.datetime) -> list[Gap]:
    """Stops found since the previous digest was written (wall clock, like the stops), else in the week before.

    Anchored on the previous digest rather than on the digest moment, so a stop found just before a
    late digest is told in it, and not again the week after.
    """
    previous = ob.last_digest_at(session, plan.id, week)
    if previous is None:
        return run_store.gaps_since(session, plan.id, moment - DIGEST_GAPS)
    return [g for g in run_store.gaps_since(session, plan.id, previous) if g.resumed_at > previous]
