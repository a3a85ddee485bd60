"""The mail pass's per-message fast path (issue #18 item 3): the one statement that records a sent message and
claims the next row, run on the driver's cursor (real SQLite file and PostgreSQL); DATA with work done while the
server takes the message in (real aiosmtpd on loopback); a letter for a server keeps only its bytes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from cchc.app import service
from cchc.app.mail_pass import _letter
from cchc.settings import Settings, get_settings
from cchc.store import outbox as ob
from cchc.store.db import session_scope
from cchc.store.models import OutboxRow
from notifications import compose
from notifications.smtp import SmtpTransport, parse_smtp_url
from tests.mailserver import MailServer, running

PLAN = "phu-thai-2025h2"


@pytest.fixture
def server() -> Iterator[MailServer]:
    yield from running()


def _settings(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, store: str) -> Settings:
    if store == "postgresql":
        monkeypatch.setenv("CCHC_DATABASE_URL", request.getfixturevalue("pg_url"))
    get_settings.cache_clear()
    return get_settings()


def _queue(settings: Settings, n: int, now: dt.datetime) -> list[int]:
    messages = [
        ob.NewMessage(
            key=f"{PLAN}:fast-path:{i}",
            plan_id=PLAN,
            step="notice",
            recipient=f"don-vi-{i}@phu-thai.example",
            subject=f"Thư thử {i}: Nhắc hạn báo cáo cải cách hành chính",
            body_text="Nội dung",
            body_html="<p>Nội dung</p>",
            message_id=compose.new_message_id("phu-thai.example"),
            due_at=now,
        )
        for i in range(n)
    ]
    engine = service.engine_for(settings)
    with session_scope(engine) as s:
        assert len(ob.enqueue(s, messages, now)) == n
        return [r.id for r in s.scalars(select(OutboxRow).order_by(OutboxRow.id))]


def _row(settings: Settings, row_id: int) -> OutboxRow:
    with session_scope(service.engine_for(settings)) as s:
        row = s.get(OutboxRow, row_id)
        assert row is not None
        s.expunge(row)
        return row


STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("store", STORES)
def test_one_statement_records_the_sent_message_and_claims_the_next(
    cchc_env: Settings, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, store: str
) -> None:
    settings = _settings(monkeypatch, request, store)
    now = dt.datetime(2025, 9, 1, 1, 30, 15, 123456, tzinfo=dt.UTC)
    first, second, third = _queue(settings, 3, now)
    engine = service.engine_for(settings)
    assert engine.dialect.name == store
    at = now + dt.timedelta(seconds=2)
    with engine.connect() as conn, conn.begin():
        held = ob.take(conn, now, PLAN, token="pass-a")
        assert held is not None and held.id == first

    before = ob.direct_statements()
    with engine.connect() as conn, conn.begin():
        kept, claimed = ob.settle_sent_take_id(conn, first, "250 2.0.0 queued", now, "pass-a", second, at)
    assert ob.direct_statements() == before + 1, "one statement for both"
    assert kept and claimed is not None
    assert claimed.id == second and claimed.attempts == 1 and claimed.created_at == now
    assert claimed.subject == "Thư thử 1: Nhắc hạn báo cáo cải cách hành chính"

    sent, taken, waiting = (_row(settings, i) for i in (first, second, third))
    # Values as SQLAlchemy writes them: the ORM reads them back equal, and the queries on them still match.
    assert (sent.status, sent.server_reply, sent.sent_at) == (ob.SENT, "250 2.0.0 queued", now)
    assert (sent.claimed_by, sent.claimed_at, sent.attempts) == (None, None, 1)
    assert (taken.status, taken.claimed_by, taken.claimed_at, taken.attempts) == (ob.SENDING, "pass-a", at, 1)
    assert (waiting.status, waiting.attempts, waiting.claimed_by) == (ob.QUEUED, 0, None)
    with engine.connect() as conn, conn.begin():
        assert [h.id for h in ob.peek(conn, at, PLAN, 5)] == [third]
        # The claim's time is compared as a time: a lease counted from it has not run out a minute later.
        assert ob.take(conn, at + dt.timedelta(minutes=1), PLAN, dt.timedelta(minutes=10), "pass-b") is not None
        assert ob.take(conn, at + dt.timedelta(minutes=1), PLAN, dt.timedelta(minutes=10), "pass-b") is None


@pytest.mark.parametrize("store", STORES)
def test_a_pass_that_lost_its_row_records_nothing_and_leaves_the_next_row_untouched(
    cchc_env: Settings, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, store: str
) -> None:
    settings = _settings(monkeypatch, request, store)
    now = dt.datetime.now(dt.UTC)
    first, second = _queue(settings, 2, now)
    engine = service.engine_for(settings)
    with engine.connect() as conn, conn.begin():
        assert ob.take(conn, now, PLAN, token="pass-b") is not None  # another pass holds the first row

    with engine.connect() as conn, conn.begin():
        kept, claimed = ob.settle_sent_take_id(conn, first, "250 ok", now, "pass-a", second, now)
    assert (kept, claimed) == (False, None)
    lost, untouched = _row(settings, first), _row(settings, second)
    assert (lost.status, lost.claimed_by, lost.sent_at) == (ob.SENDING, "pass-b", None)
    assert (untouched.status, untouched.attempts, untouched.claimed_by, untouched.claimed_at) == (
        ob.QUEUED,
        0,
        None,
        None,
    )

    # The next row went to another pass meanwhile: the message is recorded, nothing is claimed.
    with engine.connect() as conn, conn.begin():
        assert ob.take_id(conn, second, now, "pass-c") is not None
        kept, claimed = ob.settle_sent_take_id(conn, first, "250 ok", now, "pass-b", second, now)
    assert (kept, claimed) == (True, None)
    assert _row(settings, first).status == ob.SENT
    assert (_row(settings, second).claimed_by, _row(settings, second).attempts) == ("pass-c", 1)


def test_work_done_during_data_runs_once_the_message_is_on_the_wire(server: MailServer) -> None:
    """``data(..., meanwhile)``: the message is written before ``meanwhile`` runs, its answer read after; the bytes
    arrive as aiosmtplib's own DATA sends them (a line starting with a dot included), and a refusal at DATA is
    still a permanent outcome with the connection usable for the next message."""
    msg = compose.to_email(
        sender="UBND xã Phú Thái <ubnd@phu-thai.example>",
        recipient=[("Văn phòng HĐND và UBND", "vp@phu-thai.example")],
        cc=[],
        subject="Nhắc hạn: báo cáo quý III/2025",
        text="First line\n.a line starting with a dot\n.\nLast line",  # ASCII: sent as is, dots and all
        html="<p>Nội dung</p>",
        message_id="<fast-path-1@phu-thai.example>",
        date=dt.datetime(2025, 9, 1, 8, 0, tzinfo=dt.UTC),
    )
    data = msg.as_bytes()
    assert b"\r\n.a line starting with a dot\r\n.\r\n" in data
    seen_meanwhile: list[int] = []

    def meanwhile() -> None:
        time.sleep(0.3)  # the server (a thread here) takes the message in meanwhile
        seen_meanwhile.append(len(server.received))

    async def send() -> tuple[str, str]:
        transport = SmtpTransport(parse_smtp_url(server.url))
        await transport.open()
        try:
            assert await transport.envelope("ubnd@phu-thai.example", ["vp@phu-thai.example"], len(data)) is None
            first = await transport.data(data, "<fast-path-1@phu-thai.example>", meanwhile)
            server.handler.data_replies.append("554 5.6.0 content refused")  # the next DATA is refused
            assert await transport.envelope("ubnd@phu-thai.example", ["vp@phu-thai.example"], len(data)) is None
            refused = await transport.data(data, "<fast-path-1@phu-thai.example>", lambda: None)
            assert await transport.envelope("ubnd@phu-thai.example", ["vp@phu-thai.example"], len(data)) is None
            again = await transport.data(data, "<fast-path-1@phu-thai.example>", lambda: None)
        finally:
            await transport.close()
        assert first.kind == "sent" and again.kind == "sent"
        return refused.kind, refused.reply

    kind, reply = asyncio.run(send())
    assert seen_meanwhile == [1], "the whole message had reached the server while the pass worked"
    assert kind == "permanent" and reply.startswith("554")
    assert len(server.received) == 2
    body = server.received[0].text().replace("\r\n", "\n")
    assert "First line\n.a line starting with a dot\n.\nLast line" in body
    raw = email.message_from_bytes(data, policy=email.policy.default)
    assert server.received[0].subject == str(raw["Subject"])


def test_a_letter_for_a_server_keeps_only_its_bytes(cchc_env: Settings) -> None:
    now = dt.datetime.now(dt.UTC)
    (row_id,) = _queue(cchc_env, 1, now)
    engine = service.engine_for(cchc_env)
    with engine.connect() as conn, conn.begin():
        held = ob.take(conn, now, PLAN, token="pass-a")
    assert held is not None and held.id == row_id
    wire = _letter(cchc_env, held, None, now, wire=True)
    assert wire.msg is None and wire.recipients == ["don-vi-0@phu-thai.example"]
    parsed = email.message_from_bytes(wire.data, policy=email.policy.default)
    assert str(parsed["Subject"]) == held.subject and str(parsed["Message-ID"]) == held.message_id
    whole = _letter(cchc_env, held, None, now, wire=False)  # a transport that takes the message itself
    assert whole.msg is not None and whole.data == b""
