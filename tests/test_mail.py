"""Reminders and escalation end to end, against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pendulum
import pytest

from cchc.app import service
from cchc.app.mail_pass import TickResult, flush, run_tick
from cchc.core.loader import load_plan, parse_plan
from cchc.core.spec import Plan
from cchc.settings import Settings, get_settings
from cchc.store import outbox as ob
from cchc.store.db import session_scope
from cchc.store.models import OutboxRow
from tests.conftest import FIXTURES, PLAN_DIR
from tests.mailserver import MailServer, running

TZ = "Asia/Ho_Chi_Minh"
NOW = pendulum.datetime(2026, 11, 25, 9, tz="UTC")  # the wall clock of these runs; judging uses `at`


def at(y: int, m: int, d: int, h: int = 8, mi: int = 30) -> pendulum.DateTime:
    return pendulum.datetime(y, m, d, h, mi, tz=TZ)


def plan(plan_id: str) -> Plan:
    return load_plan(PLAN_DIR / f"{plan_id}.yaml")


@pytest.fixture
def server() -> Iterator[MailServer]:
    yield from running()


@pytest.fixture
def mail_env(cchc_env: Settings, server: MailServer, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CCHC_SMTP_URL", server.url)
    monkeypatch.setenv("CCHC_MAIL_FROM", "Hệ thống CCHC <cchc@ubnd.example>")
    monkeypatch.setenv("CCHC_SMTP_TIMEOUT", "5")
    get_settings.cache_clear()
    return get_settings()


def rows(settings: Settings, **kw: str) -> list[OutboxRow]:
    with session_scope(service.engine_for(settings)) as s:
        return ob.rows(s, **kw)  # type: ignore[arg-type]


def by_step(result: TickResult, step: str) -> list[str]:
    return [line.key for line in result.sent if f":{step}:" in line.key]


# --- exactly once --------------------------------------------------------------------------------


def test_a_reminder_is_sent_once_across_repeated_and_concurrent_ticks(mail_env: Settings, server: MailServer) -> None:
    p = plan("phu-thai-2025h2")
    # The Q3 report is due Wed 10/09/2025: reminder-1 on 03/09, reminder-2 on 09/09.
    first = run_tick(mail_env, p, at(2025, 9, 3), NOW, ["bao-cao-quy"])
    assert by_step(first, "reminder-1") == ["phu-thai-2025h2:bao-cao-quy:2025-Q3:reminder-1:vhxh"]
    again = run_tick(mail_env, p, at(2025, 9, 3), NOW, ["bao-cao-quy"])
    assert again.sent == [] and again.queued == []

    # Three runs of the same moment at once (an overlapping schedule, a retry, a manual run).
    results: list[TickResult] = []
    errors: list[BaseException] = []

    def tick() -> None:
        try:
            results.append(run_tick(mail_env, p, at(2025, 9, 9), NOW, ["bao-cao-quy"]))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=tick) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert sum(len(by_step(r, "reminder-2")) for r in results) == 1

    received = server.handler.received
    assert len(received) == 2
    assert len({r.message_id for r in received}) == 2
    assert [r.rcpt for r in received] == [["vhxh@phu-thai.example"], ["vhxh@phu-thai.example"]]
    assert received[0].subject == (
        "[CCHC xã Phú Thái] Nhắc hạn: Báo cáo kết quả công tác tuyên truyền cải cách hành chính quý "
        "(quý III/2025) — hạn 10/09/2025"
    )
    sent = rows(mail_env, status=ob.SENT)
    assert {r.message_id for r in sent} == {r.message_id for r in received}
    assert all(r.server_reply and "queued" in r.server_reply for r in sent)


def test_a_temporary_failure_is_retried_with_backoff_then_delivered(mail_env: Settings, server: MailServer) -> None:
    server.handler.data_replies = ["451 4.3.0 Hệ thống bận, thử lại sau"]
    p = plan("phu-thai-2025h2")
    result = run_tick(mail_env, p, at(2025, 9, 3), NOW, ["bao-cao-quy"])  # reminder-1 of the Q3 report
    assert result.sent == [] and len(result.retrying) == 1 and "451" in result.retrying[0].detail
    (row,) = rows(mail_env)
    assert row.status == ob.QUEUED and row.attempts == 1 and row.next_attempt_at > NOW

    # The backoff holds it on the next tick; a flush (or the backoff's end) sends it.
    assert run_tick(mail_env, p, at(2025, 9, 3, 9), NOW, ["bao-cao-quy"]).sent == []
    later = NOW.add(minutes=2)
    assert run_tick(mail_env, p, at(2025, 9, 3, 10), later, ["bao-cao-quy"]).sent[0].key == row.key
    (row,) = rows(mail_env)
    assert row.status == ob.SENT and row.attempts == 2 and row.last_error is not None
    assert len(server.received) == 1 and server.received[0].message_id == row.message_id


def test_a_permanent_failure_is_recorded_and_reported_to_the_coordinator_once(
    mail_env: Settings, server: MailServer
) -> None:
    server.handler.refuse["ttvhttt@phu-thai.example"] = "550 5.1.1 Không có hộp thư này"
    p = plan("phu-thai-2025h2")
    # 21 Aug 2025: monthly quotas of the Trung tâm Văn hóa are short after the 20th.
    result = run_tick(mail_env, p, at(2025, 8, 21), NOW, ["cong-ttdt-tin-bai"])
    (failed,) = result.failed
    assert "550" in failed.detail
    (row,) = rows(mail_env, status=ob.FAILED)
    assert row.key == "phu-thai-2025h2:cong-ttdt-tin-bai:2025-08:progress:ttvhttt" and "550 5.1.1" in (
        row.last_error or ""
    )
    notices = server.handler.by_subject("Thông báo")
    assert len(notices) == 1 and notices[0].rcpt == ["vhxh@phu-thai.example"]
    assert "ttvhttt@phu-thai.example" in notices[0].text() and "550" in notices[0].text()

    run_tick(mail_env, p, at(2025, 8, 21, 10), NOW.add(hours=1), ["cong-ttdt-tin-bai"])
    flush(mail_env, NOW.add(hours=2))
    assert len(server.handler.by_subject("Thông báo")) == 1
    assert [r.status for r in rows(mail_env, status=ob.FAILED)] == [ob.FAILED]


def test_server_down_during_a_tick_then_every_queued_message_is_delivered_once_on_flush(
    cchc_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = MailServer()  # a port nobody listens on yet
    monkeypatch.setenv("CCHC_SMTP_URL", down.url)
    get_settings.cache_clear()
    settings = get_settings()
    p = plan("phu-thai-2025h2")
    result = run_tick(settings, p, at(2025, 9, 8), NOW)
    assert result.sent == [] and result.retrying
    queued = rows(settings, status=ob.QUEUED)
    assert len(queued) == len(result.retrying) >= 3
    assert all("connect" in (r.last_error or "") for r in queued)

    down.start()
    try:
        flushed = flush(settings, NOW.add(minutes=1))
        assert len(flushed.sent) == len(queued)
        assert flush(settings, NOW.add(minutes=2)).sent == []
        assert run_tick(settings, p, at(2025, 9, 8, 9), NOW.add(minutes=3)).sent == []
        got = sorted(r.message_id for r in down.received)
        assert got == sorted(r.message_id for r in queued)  # same Message-IDs, each once
    finally:
        down.stop()


def test_starting_six_months_late_sends_no_stale_reminders(mail_env: Settings, server: MailServer) -> None:
    p = plan("chi-minh-2026")  # the whole of 2026; the system first runs on Monday 20 July
    moment = at(2026, 7, 20)
    result = run_tick(mail_env, p, moment, NOW)
    skipped = rows(mail_env, status=ob.SKIPPED)
    assert len(skipped) > 30  # January to June: reminders, notices, escalations, all recorded
    assert all((r.last_error or "").startswith("bỏ qua: thời điểm gửi") for r in skipped)
    sent = rows(mail_env, status=ob.SENT)
    assert [r.step for r in sent] == ["digest"], "this week's digest is current, so it goes out"
    lateness = dt.timedelta(days=2)
    for r in sent:
        assert moment - r.due_at <= lateness, (r.key, r.due_at)
    assert len(server.received) == len(result.sent) == len(sent)
    # Nothing skipped is ever sent later.
    run_tick(mail_env, p, at(2026, 7, 21), NOW.add(days=1))
    assert {r.key for r in rows(mail_env, status=ob.SKIPPED)} >= {r.key for r in skipped}
    assert not {r.key for r in skipped} & {r.key for r in rows(mail_env, status=ob.SENT)}


def _two_address_plan(tmp_path: Path) -> Plan:
    text = (FIXTURES / "demo.yaml").read_text(encoding="utf-8")
    text = text.replace("emails: [vhxh@phu-thong.example]", "emails: [vhxh@phu-thong.example, cu@phu-thong.example]")
    return parse_plan(text, str(tmp_path / "demo.yaml"))


def test_one_bad_address_in_a_recipient_list(mail_env: Settings, server: MailServer, tmp_path: Path) -> None:
    server.handler.refuse["cu@phu-thong.example"] = "550 5.1.1 Hộp thư đã bị xóa"
    demo = _two_address_plan(tmp_path)
    result = run_tick(mail_env, demo, at(2025, 8, 27), NOW, ["bao-cao-quy"])
    (sent,) = [line for line in result.sent if line.key.startswith("demo:bao-cao-quy:2025-Q3:reminder-1:")]
    assert "cu@phu-thong.example" in sent.detail
    (reminder,) = server.handler.by_subject("Nhắc hạn")
    assert reminder.rcpt == ["vhxh@phu-thong.example"]
    (row,) = rows(mail_env, status=ob.SENT, keys=[sent.key])  # type: ignore[arg-type]
    assert "cu@phu-thong.example" in (row.last_error or "")
    notice = server.handler.by_subject("Thông báo")
    assert len(notice) == 1 and "cu@phu-thong.example" in notice[0].text()


def test_a_unit_without_email_is_a_configuration_error_the_coordinator_hears_of(
    mail_env: Settings, server: MailServer, tmp_path: Path
) -> None:
    demo = parse_plan((FIXTURES / "demo.yaml").read_text(encoding="utf-8"), str(tmp_path / "demo.yaml"))
    # The Q3 report is never delivered: overdue on 8 Sep, escalation to the leader (no address) on 15 Sep.
    run_tick(mail_env, demo, at(2025, 9, 8), NOW, ["bao-cao-quy"])
    result = run_tick(mail_env, demo, at(2025, 9, 15), NOW, ["bao-cao-quy"])
    assert any("lanh-dao" in p for p in result.problems)
    (failed,) = rows(mail_env, status=ob.FAILED)
    assert failed.key.endswith(":escalation:lanh-dao") and "chưa có địa chỉ thư điện tử" in (failed.last_error or "")
    subjects = [r.subject for r in server.received]
    assert any("Quá hạn" in s for s in subjects), "the lead unit still gets its notice"
    (notice,) = server.handler.by_subject("chưa có địa chỉ thư")
    assert "emails" in notice.text() and notice.rcpt == ["vhxh@phu-thong.example"]
    run_tick(mail_env, demo, at(2025, 9, 16), NOW, ["bao-cao-quy"])
    assert len(server.handler.by_subject("chưa có địa chỉ thư")) == 1


# --- replays of real plans ---------------------------------------------------------------------


def _replay(
    settings: Settings, p: Plan, duty: str, start: dt.date, end: dt.date
) -> dict[str, list[tuple[str, dt.date]]]:
    """Tick every morning like the schedule; which steps of which period went out on which day."""
    seen: dict[str, list[tuple[str, dt.date]]] = {}
    day = start
    while day <= end:
        result = run_tick(settings, p, at(day.year, day.month, day.day), NOW, [duty])
        for line in result.sent:
            _plan, _duty, period, step, _unit = line.key.split(":")
            seen.setdefault(period, []).append((step, day))
        day += dt.timedelta(days=1)
    return seen


def test_replay_phu_thong_october_2025_with_two_posts(mail_env: Settings, server: MailServer) -> None:
    p = plan("phu-thong-2025")
    duty = "ttdvth-tin-bai-website"
    for n, day in ((1, 6), (2, 14)):
        service.record_evidence(
            mail_env,
            p,
            service.EvidenceInput(
                duty=duty,
                kind="post",
                title=f"Tin cải cách hành chính số {n}",
                occurred_on=dt.date(2025, 10, day),
                url=f"https://phuthong.example/tin/{n}",
            ),
            NOW,
        )
    seen = _replay(mail_env, p, duty, dt.date(2025, 10, 1), dt.date(2025, 11, 20))
    assert seen["2025-10"] == [("progress", dt.date(2025, 10, 21)), ("overdue", dt.date(2025, 11, 3))]
    progress = next(r for r in server.received if "Nhắc tiến độ" in r.subject and "tháng 10/2025" in r.subject)
    assert "2/3" in progress.text()
    overdue = next(r for r in server.received if "Quá hạn" in r.subject and "tháng 10/2025" in r.subject)
    assert overdue.rcpt == ["ttdvth@phu-thong.example", "vhxh@phu-thong.example"]  # coordinator in copy
    assert overdue.msg["Cc"] == "vhxh@phu-thong.example"


def test_replay_phu_thai_q3_2025_report_with_nothing_delivered(mail_env: Settings, server: MailServer) -> None:
    p = plan("phu-thai-2025h2")
    # The units' Q3 report: "trước ngày 06 của tháng cuối quý" is the plan's own date (05/09), so its ladder runs
    # to the leader (the compiled report's date is an assumption, which never escalates).
    seen = _replay(mail_env, p, "bao-cao-don-vi", dt.date(2025, 8, 15), dt.date(2025, 9, 30))
    # 1-2 Sep 2025 are the National Day holiday; weekends do not count.
    assert seen["2025-Q3"] == [
        ("reminder-1", dt.date(2025, 8, 27)),
        ("reminder-2", dt.date(2025, 9, 4)),
        ("overdue", dt.date(2025, 9, 8)),
        ("escalation", dt.date(2025, 9, 15)),
    ]
    escalation = next(r for r in server.received if "Báo cáo lãnh đạo" in r.subject)
    assert escalation.rcpt == ["lanh-dao@phu-thai.example", "vhxh@phu-thai.example"]
    assert "quá hạn 6 ngày làm việc" in escalation.text()


def test_a_met_occurrence_stops_its_ladder_at_once(mail_env: Settings, server: MailServer) -> None:
    p = plan("phu-thai-2025h2")
    run_tick(mail_env, p, at(2025, 9, 3), NOW, ["bao-cao-quy"])  # reminder-1 of the report due 10/09
    service.record_evidence(
        mail_env,
        p,
        service.EvidenceInput(
            duty="bao-cao-quy", kind="report_delivery", title="Báo cáo quý III đã gửi", occurred_on=dt.date(2025, 9, 4)
        ),
        at(2025, 9, 4),
    )
    seen = _replay(mail_env, p, "bao-cao-quy", dt.date(2025, 9, 4), dt.date(2025, 9, 25))
    assert "2025-Q3" not in seen
    assert len(server.received) == 1


def test_a_queued_reminder_is_not_sent_once_the_work_is_done(
    cchc_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = MailServer()
    monkeypatch.setenv("CCHC_SMTP_URL", down.url)
    get_settings.cache_clear()
    settings = get_settings()
    p = plan("phu-thai-2025h2")
    run_tick(settings, p, at(2025, 9, 3), NOW, ["bao-cao-quy"])  # reminder-1 of the report due 10/09
    assert [r.status for r in rows(settings)] == [ob.QUEUED]
    service.waive_occurrence(settings, p, "bao-cao-quy", "2025-Q3", "Gộp vào báo cáo 9 tháng", "vhxh", NOW)
    down.start()
    try:
        result = run_tick(settings, p, at(2025, 9, 3, 10), NOW.add(hours=1), ["bao-cao-quy"])
        assert result.sent == [] and down.received == []
        (row,) = rows(settings)
        assert row.status == ob.SKIPPED and "không còn đến hạn" in (row.last_error or "")
    finally:
        down.stop()


def test_a_run_that_died_mid_send_is_taken_over_with_the_same_message_id(
    mail_env: Settings, server: MailServer
) -> None:
    p = plan("phu-thai-2025h2")
    down = TickResult(plan=p.id, at=None)
    # Queue the reminder, then claim it the way a run does just before it crashes.
    engine = service.engine_for(mail_env)
    judged = service.judge_plan(mail_env, p, at(2025, 9, 3), NOW)  # reminder-1 of the report due 10/09
    from cchc.app.mail_pass import plan_pass

    down.merge(plan_pass(mail_env, engine, p, judged, at(2025, 9, 3), NOW, ["bao-cao-quy"]))
    (claimed,) = ob.claim(engine, NOW)
    assert run_tick(mail_env, p, at(2025, 9, 3, 9), NOW.add(minutes=5), ["bao-cao-quy"]).sent == []  # lease held
    result = run_tick(mail_env, p, at(2025, 9, 3, 10), NOW.add(minutes=11), ["bao-cao-quy"])
    assert [line.key for line in result.sent] == [claimed.key]
    (received,) = server.received
    assert received.message_id == claimed.message_id


def test_a_server_that_never_answers_times_out_and_the_message_waits(
    cchc_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections (the kernel does) but never sends a greeting
    try:
        monkeypatch.setenv("CCHC_SMTP_URL", f"smtp+insecure://127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setenv("CCHC_SMTP_TIMEOUT", "1")
        get_settings.cache_clear()
        settings = get_settings()
        started = pendulum.now()
        # reminder-1 of the Q3 report due 10/09
        result = run_tick(settings, plan("phu-thai-2025h2"), at(2025, 9, 3), NOW, ["bao-cao-quy"])
        assert (pendulum.now() - started).total_seconds() < 15
        assert result.sent == [] and len(result.retrying) == 1
        (row,) = rows(settings)
        assert row.status == ob.QUEUED and "timed out" in (row.last_error or "").lower()
    finally:
        silent.close()
