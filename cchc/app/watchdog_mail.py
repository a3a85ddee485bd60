"""The watchdog's message: rendered from the Vietnamese templates, sent straight through the transport.

Not through the outbox: the alarm must still go out when the store or the runs are what broke. The
watchdog's state file gives the once-only guarantee instead (see cchc/watchdog.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cchc.core.health import Change, Check
from cchc.settings import Settings
from notifications import compose
from notifications.delivery import make_transport, run_sync
from notifications.messages import sender_domain

TZ = dt.timezone(dt.timedelta(hours=7))


def _when(iso: str) -> str:
    return dt.datetime.fromisoformat(iso).astimezone(TZ).strftime("%H:%M ngày %d/%m/%Y")


def render(recipient: str, changes: Sequence[Change], host: str, now: dt.datetime) -> compose.Rendered:
    failing = [{**c.__dict__, "since": _when(c.since)} for c in changes if c.kind == "failing"]
    recovered = [{**c.__dict__, "since": _when(c.since)} for c in changes if c.kind == "recovered"]
    if failing:
        names = ", ".join(c["check"] for c in failing)
        subject = f"[CCHC] Hệ thống có lỗi trên máy {host}: {names}"
    else:
        subject = f"[CCHC] Hệ thống đã hoạt động lại trên máy {host}"
    subject = compose.one_line(subject)
    context = {
        "subject": subject,
        "recipient": recipient,
        "host": host,
        "when": _when(now.isoformat()),
        "failing": failing,
        "recovered": recovered,
        "plan_title": "kế hoạch tuyên truyền CCHC",
        "coordinator": "người vận hành hệ thống",
    }
    text, html = compose.render("watchdog", context)
    return compose.Rendered(subject, text, html)


def send_changes(
    settings: Settings,
    to: Sequence[tuple[str, str]],
    changes: Sequence[Change],
    checks: Sequence[Check],
    now: dt.datetime,
    host: str,
) -> tuple[list[Change], str | None]:
    """Send one message to each recipient; the changes count as told once any recipient's server took it."""
    del checks  # the message carries each change's own text
    try:
        transport = make_transport(settings)
    except Exception as e:  # a bad CCHC_SMTP_URL: the doctor's mail check says what to do
        return [], f"{type(e).__name__}: {e}"

    async def go() -> tuple[int, list[str]]:
        accepted, problems = 0, []
        try:
            await transport.open()
        except Exception as e:  # the server is down: nothing is marked told, the next pass tries again
            return 0, [f"{transport.where}: {type(e).__name__}: {e}"]
        try:
            for name, addr in to:
                r = render(name, changes, host, now)
                msg = compose.to_email(
                    sender=settings.mail_from,
                    recipient=compose.display_address(name, addr),
                    cc=[],
                    subject=r.subject,
                    text=r.text,
                    html=r.html,
                    message_id=compose.new_message_id(sender_domain(settings)),
                    date=now,
                )
                outcome = await transport.send(msg, settings.mail_from_address, [addr])
                if outcome.kind == "sent":
                    accepted += 1
                else:
                    problems.append(f"{addr}: {outcome.reply}")
        finally:
            await transport.close()
        return accepted, problems

    accepted, problems = run_sync(go())
    return (list(changes) if accepted else []), ("; ".join(problems) or None)
