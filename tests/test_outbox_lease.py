"""The claim lease covers one message: a slow server never causes a duplicate, and a killed pass holds only
the message it had in flight (sent again once, with the same Message-ID, after the lease)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from cchc.app import service
from cchc.app.mail_pass import flush
from cchc.settings import Settings, get_settings
from cchc.store import outbox as ob
from cchc.store.db import session_scope
from cchc.store.models import OutboxRow
from notifications import compose
from tests.conftest import ROOT
from tests.mailserver import MailServer, running
from tests.running import CCHC, wait_for

PLAN = "phu-thai-2025h2"


@pytest.fixture
def server() -> Iterator[MailServer]:
    yield from running()


def _queue(settings: Settings, n: int) -> list[str]:
    now = dt.datetime.now(dt.UTC)
    messages = [
        ob.NewMessage(
            key=f"{PLAN}:lease-test:{i}",
            plan_id=PLAN,
            step="notice",
            recipient=f"don-vi-{i}@phu-thai.example",
            subject=f"Thư thử {i}",
            body_text="Nội dung",
            body_html="<p>Nội dung</p>",
            message_id=compose.new_message_id("phu-thai.example"),
            due_at=now,
        )
        for i in range(n)
    ]
    with session_scope(service.engine_for(settings)) as s:
        return ob.enqueue(s, messages, now)


def _statuses(settings: Settings) -> Counter[str]:
    with session_scope(service.engine_for(settings)) as s:
        return Counter(s.scalars(select(OutboxRow.status)))


def _use(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    return get_settings()


def test_a_slow_server_and_an_overlapping_pass_send_every_message_exactly_once(
    cchc_env: Settings, server: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A lease shorter than the whole pass, longer than one send: a batch claim would hand unsent rows to
    # the second pass while the first still meant to send them.
    settings = _use(monkeypatch, CCHC_SMTP_URL=server.url, CCHC_OUTBOX_LEASE_SECONDS="2")
    keys = _queue(settings, 8)
    server.handler.delay = 0.6
    results = []

    def one_pass() -> None:
        results.append(flush(settings, dt.datetime.now(dt.UTC)))

    first = threading.Thread(target=one_pass)
    first.start()
    time.sleep(2.5)  # past the lease of anything claimed at the first pass's start
    second = threading.Thread(target=one_pass)
    second.start()
    first.join(60)
    second.join(60)
    ids = Counter(r.message_id for r in server.received)
    assert len(server.received) == len(keys) == 8 and max(ids.values()) == 1, "every message once, none twice"
    assert _statuses(settings) == Counter({"sent": 8})
    assert sum(len(r.sent) for r in results) == 8
    assert not any(p.startswith("mất quyền gửi") for r in results for p in r.problems)


def test_a_killed_pass_holds_only_the_message_in_flight(
    cchc_env: Settings, server: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _use(monkeypatch, CCHC_SMTP_URL=server.url, CCHC_OUTBOX_LEASE_SECONDS="8")
    _queue(settings, 6)
    server.handler.delay = 1.0
    env = {**os.environ}
    proc = subprocess.Popen(
        [CCHC, "mail", "flush"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for("the first message to be accepted", lambda: len(server.received) >= 1, 30, every=0.05)
        time.sleep(0.3)  # the second message is in flight: the server holds its DATA
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    time.sleep(1.0)  # the server keeps the message it was given, though the client never heard "250"
    server.handler.delay = 0.0
    rerun = subprocess.run([CCHC, "mail", "flush", "--json"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    status = _statuses(settings)
    assert status == Counter({"sent": 5, "sending": 1}), "the rerun sent every untouched row at once"
    with session_scope(service.engine_for(settings)) as s:
        held = s.scalar(select(OutboxRow.claimed_at).where(OutboxRow.status == ob.SENDING))
    assert held is not None
    # The killed pass's lease on the message in flight runs out (it was claimed when the server held it).
    time.sleep(max(0.0, (held + dt.timedelta(seconds=8.2) - dt.datetime.now(dt.UTC)).total_seconds()))
    subprocess.run([CCHC, "mail", "flush"], cwd=ROOT, env=env, capture_output=True, check=True)
    assert _statuses(settings) == Counter({"sent": 6})
    ids = Counter(r.message_id for r in server.received)
    assert len(ids) == 6, "every message arrived"
    assert sum(n - 1 for n in ids.values()) <= 1, "at most one in-doubt duplicate, with the same Message-ID"
