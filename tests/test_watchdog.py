"""The watchdog tells the coordinators and the operator once when a check starts failing, once when it recovers."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cchc.doctor import Check
from cchc.settings import Settings
from cchc.watchdog import Change, settle, transitions
from notifications.catcher import free_port
from tests.conftest import ROOT
from tests.mailserver import MailServer, running
from tests.running import CCHC

T0 = dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)


def _checks(**status: str) -> list[Check]:
    return [Check(name, s, f"{name} {s}", "làm gì đó") for name, s in status.items()]  # type: ignore[arg-type]


def test_a_failure_is_told_once_and_its_recovery_once() -> None:
    state, told = transitions({}, _checks(api="failing", disk="ok"), T0)
    assert [(c.check, c.kind) for c in told] == [("api", "failing")]
    state = settle(state, told)
    state, again = transitions(state, _checks(api="failing", disk="ok"), T0 + dt.timedelta(hours=1))
    assert again == [], "still failing, already told"
    state, back = transitions(state, _checks(api="ok", disk="ok"), T0 + dt.timedelta(hours=2))
    assert [(c.check, c.kind, c.since) for c in back] == [("api", "recovered", T0.isoformat())]
    state = settle(state, back)
    state, quiet = transitions(state, _checks(api="ok", disk="warning"), T0 + dt.timedelta(hours=3))
    assert quiet == [], "a warning is not an alarm, and the recovery was told"


def test_what_the_mail_server_did_not_take_is_told_on_the_next_pass() -> None:
    state, first = transitions({}, _checks(api="failing"), T0)
    assert len(first) == 1
    state = settle(state, [])  # the server was down: nothing told
    state, again = transitions(state, _checks(api="failing"), T0 + dt.timedelta(hours=1))
    assert [(c.check, c.since) for c in again] == [("api", T0.isoformat())], "the same episode, still to tell"


def test_a_failure_that_was_never_told_recovers_silently_and_a_new_episode_is_new() -> None:
    state, _ = transitions({}, _checks(api="failing"), T0)
    state, back = transitions(state, _checks(api="ok"), T0 + dt.timedelta(hours=1))
    assert back == []
    later = T0 + dt.timedelta(days=1)
    state, told = transitions(state, _checks(api="failing"), later)
    assert told == [Change("api", "failing", later.isoformat(), "api failing", "làm gì đó")]


@pytest.fixture
def mail() -> Iterator[MailServer]:
    yield from running()


def _watch(env: dict[str, str]) -> tuple[int, dict[str, object]]:
    p = subprocess.run(
        [CCHC, "watchdog", "--once", "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert "Traceback" not in p.stderr, p.stderr
    return p.returncode, json.loads(p.stdout)


def test_the_watchdog_mails_the_operator_and_coordinator_once_per_change(
    demo_env: Settings, mail: MailServer, tmp_path: Path
) -> None:
    down = free_port()
    env = {
        **os.environ,
        "CCHC_SMTP_URL": f"smtp+insecure://127.0.0.1:{down}",  # the mail server is down at first
        "CCHC_OPERATOR_EMAIL": "van-hanh@tinh.example",
        "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api",
        "CCHC_PORTAL_URL": f"http://127.0.0.1:{free_port()}",
    }
    code, first = _watch(env)
    assert code == 1 and first["told"] == [] and first["pending"], "nothing lost while the server is down"
    assert "van-hanh@tinh.example" in str(first["recipients"]) and "vhxh@phu-thong.example" in str(first["recipients"])

    env["CCHC_SMTP_URL"] = mail.url
    code, second = _watch(env)
    assert code == 0
    assert {c["check"] for c in second["told"]} >= {"prefect_api", "migrations"}  # type: ignore[index, union-attr]
    assert sorted(r.rcpt[0] for r in mail.received) == ["van-hanh@tinh.example", "vhxh@phu-thong.example"]
    alarm = mail.received[0]
    assert alarm.subject.startswith("[CCHC] Hệ thống có lỗi trên máy")
    body = alarm.text()
    assert "LỖI (prefect_api)" in body and "Cách xử lý:" in body and "cchc doctor" in body

    code, third = _watch(env)
    assert code == 0 and third["told"] == [] and len(mail.received) == 2, "told once"

    # The store gets created (any command that writes does it): the migrations check recovers.
    subprocess.run([CCHC, "status", "demo", "--json"], cwd=ROOT, env=env, capture_output=True, check=True, timeout=60)
    code, fourth = _watch(env)
    assert [(c["check"], c["kind"]) for c in fourth["told"]] == [("migrations", "recovered")]  # type: ignore[index, union-attr]
    recovered = mail.received[-1]
    assert recovered.subject.startswith("[CCHC] Hệ thống đã hoạt động lại")
    assert "ĐÃ HOẠT ĐỘNG LẠI (migrations)" in recovered.text()
    assert len(mail.received) == 4
    code, fifth = _watch(env)
    assert fifth["told"] == [] and len(mail.received) == 4
