"""Which messages a run queues depends on the moment it judges, never on which run saw a step first.

The same days of a plan, ticked in order, in reverse and all at once, leave the same outbox; a system
that first runs late sends what can still be acted on and nothing older.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pendulum
import pytest

from cchc.app import service
from cchc.app.mail_pass import run_tick
from cchc.core.loader import load_plan
from cchc.core.spec import Plan
from cchc.settings import Settings, get_settings
from cchc.store import outbox as ob
from cchc.store.db import dispose_all, session_scope
from tests.conftest import PLAN_DIR
from tests.mailserver import MailServer, running

TZ = "Asia/Ho_Chi_Minh"
NOW = pendulum.datetime(2026, 11, 25, 9, tz="UTC")


@pytest.fixture
def server() -> Iterator[MailServer]:
    yield from running()


def _home(tmp_path: Path, name: str, server: MailServer, monkeypatch: pytest.MonkeyPatch) -> Settings:
    dispose_all()
    monkeypatch.setenv("CCHC_HOME", str(tmp_path / name))
    monkeypatch.setenv("CCHC_PLAN_DIR", str(PLAN_DIR))
    monkeypatch.delenv("CCHC_DATABASE_URL", raising=False)
    monkeypatch.setenv("CCHC_SMTP_URL", server.url)
    monkeypatch.setenv("CCHC_MAIL_FROM", "Hệ thống CCHC <cchc@ubnd.example>")
    get_settings.cache_clear()
    return get_settings()


def _post(settings: Settings, p: Plan, duty: str, n: int, day: dt.date) -> None:
    service.record_evidence(
        settings,
        p,
        service.EvidenceInput(
            duty=duty,
            kind="post",
            title=f"Tin cải cách hành chính số {n}",
            occurred_on=day,
            url=f"https://phuthong.example/tin/{n}",
        ),
        NOW,
    )


def _outbox(settings: Settings) -> dict[str, str]:
    with session_scope(service.engine_for(settings)) as s:
        return {r.key: r.status for r in ob.rows(s)}


def _days(start: dt.date, n: int) -> list[pendulum.DateTime]:
    return [
        pendulum.datetime(d.year, d.month, d.day, 8, 30, tz=TZ) for d in (start + dt.timedelta(i) for i in range(n))
    ]


def _tick_all(settings: Settings, p: Plan, moments: list[pendulum.DateTime], mode: str) -> None:
    if mode == "ordered":
        for m in moments:
            run_tick(settings, p, m, NOW)
    elif mode == "reverse":
        for m in reversed(moments):
            run_tick(settings, p, m, NOW)
    else:
        errors: list[BaseException] = []

        def tick(m: pendulum.DateTime) -> None:
            try:
                run_tick(settings, p, m, NOW)
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=tick, args=(m,)) for m in moments]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors and not any(t.is_alive() for t in threads)


def test_the_same_eight_days_in_order_in_reverse_and_at_once_give_the_same_outbox(
    tmp_path: Path, server: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = load_plan(PLAN_DIR / "phu-thai-2025h2.yaml")
    moments = _days(dt.date(2025, 9, 1), 8)  # August's notices after the holidays, the Q3 report's reminders
    outboxes: dict[str, dict[str, str]] = {}
    received: dict[str, int] = {}
    for mode in ("ordered", "reverse", "concurrent"):
        settings = _home(tmp_path, mode, server, monkeypatch)
        before = len(server.received)
        _tick_all(settings, p, moments, mode)
        outboxes[mode] = _outbox(settings)
        received[mode] = len(server.received) - before
    dispose_all()
    ordered = outboxes["ordered"]
    sent = sorted(k for k, v in ordered.items() if v == ob.SENT)
    assert len(sent) >= 8, sent
    for mode in ("reverse", "concurrent"):
        assert outboxes[mode] == ordered, {
            k: (ordered.get(k), outboxes[mode].get(k))
            for k in ordered.keys() | outboxes[mode].keys()
            if ordered.get(k) != outboxes[mode].get(k)
        }
    assert received["ordered"] == received["reverse"] == received["concurrent"] == len(sent)


def test_a_first_pass_after_the_progress_step_still_sends_it_once(
    tmp_path: Path, server: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Phủ Thông, October 2025: the system first runs on Friday 24/10 with 2 of 3 posts; the progress
    step fell on 21/10, three days earlier, yet the month is open and the unit can still post."""
    settings = _home(tmp_path, "late", server, monkeypatch)
    p = load_plan(PLAN_DIR / "phu-thong-2025.yaml")
    duty = "ttdvth-tin-bai-website"
    _post(settings, p, duty, 1, dt.date(2025, 10, 6))
    _post(settings, p, duty, 2, dt.date(2025, 10, 14))
    for m in _days(dt.date(2025, 10, 24), 6):  # the first pass, then re-ticks to the month's end
        run_tick(settings, p, m, NOW, [duty])
    october = [r for r in server.received if "tháng 10/2025" in r.subject]
    assert [r.subject.split(":")[0] for r in october] == ["[CCHC xã Phủ Thông] Nhắc tiến độ"]
    assert "2/3" in october[0].text()
    rows = _outbox(settings)
    assert rows[f"{p.id}:{duty}:2025-10:progress:ttdvth"] == ob.SENT


@pytest.mark.parametrize("months_late", [6, 12])
def test_a_start_months_late_sends_nothing_old(
    tmp_path: Path, server: MailServer, monkeypatch: pytest.MonkeyPatch, months_late: int
) -> None:
    """Chí Minh's plan covers 2026; the system first runs on a Monday 6 or 12 months in (12: the plan has
    just ended; nothing of it is current any more, not even a digest)."""
    settings = _home(tmp_path, f"late{months_late}", server, monkeypatch)
    p = load_plan(PLAN_DIR / "chi-minh-2026.yaml")
    first = pendulum.datetime(2026, 1, 5, 8, 30, tz=TZ).add(months=months_late)
    first = first.add(days=(7 - first.weekday()) % 7)  # a Monday: the digest's day
    run_tick(settings, p, first, NOW)
    with session_scope(service.engine_for(settings)) as s:
        rows = ob.rows(s)
    old = [r.key for r in rows if r.status == ob.SKIPPED]
    sent = [r for r in rows if r.status == ob.SENT]
    assert len(old) > 30 and (sent or months_late == 12)
    for r in sent:
        pre_due = r.step.startswith(("reminder", "progress"))
        assert pre_due or first - pendulum.instance(r.due_at) <= dt.timedelta(days=2), (r.key, r.due_at)
    assert [r.step for r in sent if r.step == "digest"] == (["digest"] if months_late == 6 else [])
    assert len(server.received) == len(sent)
    # Re-ticks on the next days never send what was skipped.
    for m in _days(first.date() + dt.timedelta(days=1), 3):
        run_tick(settings, p, m, NOW)
    after = _outbox(settings)
    assert all(after[k] == ob.SKIPPED for k in old)
