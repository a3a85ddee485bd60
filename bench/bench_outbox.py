"""Benchmark: a few thousand messages through the outbox to a local aiosmtpd, against a bare aiosmtplib loop.

The outbox path is the real one: rows enqueued with their idempotency keys, claimed in
batches, built into messages, sent over one reused connection, each row settled in its own
short transaction. The baseline sends the same messages over one connection and records
nothing. Both go to the same aiosmtpd on loopback, in this run.

    python bench/bench_outbox.py [--messages 3000] [--url SQLALCHEMY_URL]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiosmtplib
import pendulum
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cchc.app.mail_pass import adeliver  # noqa: E402
from cchc.settings import Settings  # noqa: E402
from cchc.store import outbox as ob  # noqa: E402
from cchc.store.db import get_engine, session_scope  # noqa: E402
from notifications import compose  # noqa: E402
from notifications.catcher import free_port  # noqa: E402
from notifications.smtp import SmtpTransport, parse_smtp_url  # noqa: E402

SUBJECT = "[CCHC xã Phú Thái] Nhắc hạn: Báo cáo kết quả công tác tuyên truyền cải cách hành chính quý (quý III/2025) — hạn 05/09/2025"
TEXT = "Kính gửi Phòng Văn hoá - Xã hội xã,\n\nNhiệm vụ dưới đây sắp đến hạn.\n" * 8
HTML = "<p>Kính gửi Phòng Văn hoá - Xã hội xã,</p><p>Nhiệm vụ dưới đây sắp đến hạn.</p>" * 8


class Counter:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.count += 1
        return "250 OK"


def messages(n: int, now: pendulum.DateTime) -> list[ob.NewMessage]:
    return [
        ob.NewMessage(
            key=f"bench:duty-{i % 40}:2025-Q3:reminder-1:unit-{i}",
            plan_id="bench",
            duty_id=f"duty-{i % 40}",
            period="2025-Q3",
            step="reminder-1",
            unit_id=f"unit-{i}",
            recipient=f"unit-{i}@phu-thai.example",
            cc=("vhxh@phu-thai.example",),
            subject=SUBJECT,
            body_text=TEXT,
            body_html=HTML,
            message_id=compose.new_message_id("ubnd.example"),
            due_at=now,
        )
        for i in range(n)
    ]


async def bare_loop(port: int, rows: list[ob.NewMessage], settings: Settings, now: pendulum.DateTime) -> float:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=30)
    start = time.perf_counter()
    await client.connect()
    for m in rows:
        msg = compose.to_email(
            sender=settings.mail_from,
            recipient=[("", m.recipient)],
            cc=list(m.cc),
            subject=m.subject,
            text=m.body_text,
            html=m.body_html,
            message_id=m.message_id,
            date=now,
        )
        await client.sendmail(settings.mail_from_address, [m.recipient, *m.cc], msg.as_bytes())
    await client.quit()
    return time.perf_counter() - start


async def through_outbox(
    port: int, rows: list[ob.NewMessage], settings: Settings, url: str, now: pendulum.DateTime
) -> tuple[float, float]:
    engine = get_engine(url)
    start = time.perf_counter()
    with session_scope(engine) as s:
        ob.enqueue(s, rows, now)
    queued = time.perf_counter()
    transport = SmtpTransport(parse_smtp_url(f"smtp+insecure://127.0.0.1:{port}"))
    result = await adeliver(settings, engine, now, lambda _plan_id: None, transport=transport)
    done = time.perf_counter()
    assert len(result.sent) == len(rows), (len(result.sent), result.problems)
    return queued - start, done - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--url", help="SQLAlchemy URL of an empty store (default: a scratch SQLite file)")
    args = ap.parse_args()
    now = pendulum.now("UTC")
    handler = Counter()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(home=Path(tmp))
            url = args.url or f"sqlite:///{Path(tmp) / 'bench.db'}"
            n = args.messages
            bare = asyncio.run(bare_loop(port, messages(n, now), settings, now))
            enqueue, total = asyncio.run(through_outbox(port, messages(n, now), settings, url, now))
            # Also the cost a repeated pass pays to learn that everything was already sent.
            engine = get_engine(url)
            start = time.perf_counter()
            with session_scope(engine) as s:
                again = ob.enqueue(s, messages(n, now), now)
            repeat = time.perf_counter() - start
            assert again == []  # same keys: nothing is queued twice
    finally:
        controller.stop()
    assert handler.count >= 2 * n
    print(f"messages:                 {n}")
    print(f"bare aiosmtplib loop:     {bare:.2f} s  ({n / bare:,.0f} msg/s)")
    print(f"through the outbox:       {total:.2f} s  ({n / total:,.0f} msg/s; enqueue {enqueue:.2f} s)")
    print(f"ratio outbox/bare time:   {total / bare:.2f}x")
    print(f"re-enqueue same keys:     {repeat:.2f} s  (all {n} refused as already queued)")


if __name__ == "__main__":
    main()
