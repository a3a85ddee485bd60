"""The watchdog's message: rendered from the Vietnamese templates, sent straight through the transport.

Not through the outbox: the alarm must still go out when the store or the runs are what broke. The
watchdog's state file gives the once-only guarantee instead (see cchc/watchdog.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from cchc.core.health import Change
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
    names: Mapping[str, str],
    changes: Sequence[Change],
    now: dt.datetime,
    host: str,
) -> tuple[list[tuple[Change, str]], str | None]:
    """One message to each recipient with the changes they have not heard; returns (change, address) pairs
    the recipient's server took. A recipient that fails is tried again on the next pass, alone."""
    try:
        transport = make_transport(settings)
    except Exception as e:  # a bad CCHC_SMTP_URL: the doctor's mail check says what to do
        return [], f"{type(e).__name__}: {e}"
    addresses = list(dict.fromkeys(a for ch in changes for a in ch.to))

    async def go() -> tuple[list[tuple[Change, str]], list[str]]:
        heard: list[tuple[Change, str]] = []
        problems: list[str] = []
        try:
            await transport.open()
        except Exception as e:  # the server is down: nothing is heard, the next pass tries again
            return [], [f"{transport.where}: {type(e).__name__}: {e}"]
        try:
            for addr in addresses:
                mine = [ch for ch in changes if addr in ch.to]
                try:
                    r = render(names.get(addr, addr), mine, host, now)
                    msg = compose.to_email(
                        sender=settings.mail_from,
                        recipient=[(names.get(addr, ""), addr)],
                        cc=[],
                        subject=r.subject,
                        text=r.text,
                        html=r.html,
                        message_id=compose.new_message_id(sender_domain(settings)),
                        date=now,
                    )
                    outcome = await transport.send(msg, settings.mail_from_address, [addr])
                except Exception as e:  # one bad address must not keep the alarm from the others
                    problems.append(f"{addr}: {type(e).__name__}: {e}")
                    continue
                if outcome.kind == "sent":
                    heard.extend((ch, addr) for ch in mine)
                else:
                    problems.append(f"{addr}: {outcome.reply}")
        finally:
            await transport.close()
        return heard, problems

    heard, problems = run_sync(go())
    return heard, ("; ".join(problems) or None)
