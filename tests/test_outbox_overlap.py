"""The pass records a message while the next one's envelope is on the wire, and a kill still leaves at most one
message delivered and not recorded: the next message's DATA waits for that record.

The pass runs as `cchc mail flush` in its own process; the real SMTP server kills it at a chosen command of a
chosen message (the MAIL FROM of the next envelope lands while the message before it is being recorded; a DATA
is a message in flight). After the lease, a second pass sends what is left, with the same Message-IDs.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from cchc.app import service
from cchc.app.mail_pass import adeliver, flush
from cchc.settings import Settings, get_settings
from cchc.store import outbox as ob
from cchc.store.db import session_scope
from cchc.store.models import OutboxRow
from notifications import compose
from notifications.smtp import SmtpTransport, parse_smtp_url
from tests.conftest import ROOT
from tests.mailserver import MailServer, Scripted, running
from tests.running import CCHC

PLAN = "phu-thai-2025h2"


class Killer(Scripted):
    """Kills the client (SIGKILL) when the ``nth`` MAIL FROM or DATA arrives, before answering it."""

    def __init__(self, command: str, nth: int) -> None:
        super().__init__()
        self.command, self.nth = command, nth
        self.seen: Counter[str] = Counter()
        self.victim: int | None = None
        self.killed = False

    def _count(self, command: str) -> None:
        self.seen[command] += 1
        if self.victim is not None and command == self.command and self.seen[command] == self.nth:
            os.kill(self.victim, signal.SIGKILL)
            self.killed = True

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self._count("MAIL")
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self._count("DATA")  # the server keeps the message: the client never hears "250" for it
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def server() -> Iterator[MailServer]:
    yield from running()


def _use(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    return get_settings()


def _queue(settings: Settings, n: int) -> None:
    now = dt.datetime.now(dt.UTC)
    messages = [
        ob.NewMessage(
            key=f"{PLAN}:overlap-test:{i}",
            plan_id=PLAN,
            step="notice",
            recipient=f"don-vi-{i}@phu-thai.example",
            cc=("vhxh@phu-thai.example",),
            subject=f"Thư thử {i}",
            body_text="Nội dung",
            body_html="<p>Nội dung</p>",
            message_id=compose.new_message_id("phu-thai.example"),
            due_at=now,
        )
        for i in range(n)
    ]
    with session_scope(service.engine_for(settings)) as s:
        assert len(ob.enqueue(s, messages, now)) == n


def _rows(settings: Settings) -> list[OutboxRow]:
    with session_scope(service.engine_for(settings)) as s:
        return list(s.scalars(select(OutboxRow).order_by(OutboxRow.id)))


@pytest.mark.parametrize(
    ("command", "nth"),
    [("MAIL", 2), ("MAIL", 4), ("DATA", 3)],
    ids=["next-envelope-while-recording-the-first", "next-envelope-while-recording-the-third", "data-in-flight"],
)
def test_a_kill_during_the_overlap_leaves_at_most_one_message_in_doubt(
    cchc_env: Settings, monkeypatch: pytest.MonkeyPatch, command: str, nth: int
) -> None:
    killer = Killer(command, nth)
    server = MailServer()
    server.handler = killer
    server.start()
    try:
        _kill_and_resend(monkeypatch, server, killer, command, nth)
    finally:
        server.stop()


def _kill_and_resend(
    monkeypatch: pytest.MonkeyPatch, server: MailServer, killer: Killer, command: str, nth: int
) -> None:
    settings = _use(monkeypatch, CCHC_SMTP_URL=server.url, CCHC_OUTBOX_LEASE_SECONDS="2")
    _queue(settings, 6)
    proc = subprocess.Popen(
        [CCHC, "mail", "flush"], cwd=ROOT, env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    killer.victim = proc.pid
    try:
        proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killer.killed and proc.returncode == -signal.SIGKILL
    time.sleep(0.2)  # a DATA the server was handling when the client died is kept
    delivered = {r.message_id for r in server.received}
    rows = _rows(settings)
    held = [r for r in rows if r.status == ob.SENDING]
    in_doubt = [r for r in held if r.message_id in delivered]
    assert len(in_doubt) <= 1, "at most one message delivered and not recorded"
    assert all(r.message_id in delivered for r in rows if r.status == ob.SENT), "recorded only once delivered"
    assert len(held) <= 2, "the pass held the message it was sending and at most the next one, claimed"
    if command == "MAIL":
        # The envelope of message nth was on its way, so nth - 1 messages were delivered, none after them.
        assert len(delivered) == nth - 1
    # After the lease (2 s, from claims made before the kill) a new pass takes the held rows over.
    time.sleep(2.3)
    killer.victim = None
    result = flush(settings, dt.datetime.now(dt.UTC))
    assert result.problems == []
    assert Counter(r.status for r in _rows(settings)) == Counter({ob.SENT: 6})
    ids = Counter(r.message_id for r in server.received)
    assert len(ids) == 6, "every message arrived"
    assert sum(n - 1 for n in ids.values()) <= 1, "at most one duplicate, with the same Message-ID"
    assert sum(n - 1 for n in ids.values()) == len(in_doubt)


@pytest.mark.parametrize("overlap", [True, False], ids=["overlap", "no-overlap"])
@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_another_pass_taking_the_peeked_row_costs_only_a_reset_envelope(
    cchc_env: Settings,
    server: MailServer,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    overlap: bool,
    store: str,
) -> None:
    """Two passes drain one queue together: a row one pass looked up (and announced) is often won by the other;
    that pass takes its envelope back (RSET) and sends another row. Every message goes out once. On PostgreSQL
    the pass records sent messages and claims rows in autocommit, one statement each."""
    import asyncio

    env = {"CCHC_SMTP_URL": server.url}
    if store == "postgresql":
        env["CCHC_DATABASE_URL"] = request.getfixturevalue("pg_url")
    settings = _use(monkeypatch, **env)
    _queue(settings, 60)
    engine = service.engine_for(settings)
    assert engine.dialect.name == store
    config = parse_smtp_url(server.url)
    transports = [SmtpTransport(config), SmtpTransport(config)]

    async def both() -> list[int]:
        passes = [
            adeliver(settings, engine, dt.datetime.now(dt.UTC), lambda _p: None, None, transport, overlap=overlap)
            for transport in transports
        ]
        return [len(r.sent) for r in await asyncio.gather(*passes)]

    counts = asyncio.run(both())
    assert sum(counts) == 60
    ids = Counter(r.message_id for r in server.received)
    assert len(ids) == 60 and max(ids.values()) == 1
    assert Counter(r.status for r in _rows(settings)) == Counter({ob.SENT: 60})
    # Both passes sent, each often losing the row it had looked up to the other: with the overlap its
    # envelope was already out and is taken back; without it nothing went out early.
    assert min(counts) > 0
    resets = sum(t.resets for t in transports)
    assert resets > 0 if overlap else resets == 0
