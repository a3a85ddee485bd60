"""The watchdog tells the coordinators and the operator once when a check starts failing, once when it recovers."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cchc.settings import Settings
from notifications.catcher import free_port
from tests.conftest import ROOT
from tests.mailserver import MailServer, running
from tests.running import CCHC


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


def test_a_recipient_whose_server_refuses_hears_on_the_next_pass_and_no_one_twice(
    demo_env: Settings, mail: MailServer
) -> None:
    env = {
        **os.environ,
        "CCHC_SMTP_URL": mail.url,
        "CCHC_OPERATOR_EMAIL": "van-hanh@tinh.example",
        "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api",
        "CCHC_PORTAL_URL": f"http://127.0.0.1:{free_port()}",
    }
    mail.handler.refuse = {"van-hanh@tinh.example": "451 4.7.1 greylisted, try later"}
    code, first = _watch(env)
    assert code == 1 and first["pending"], "the operator has not heard yet"
    assert [r.rcpt for r in mail.received] == [["vhxh@phu-thong.example"]]
    mail.handler.refuse = {}
    code, second = _watch(env)
    assert code == 0 and not second["pending"]
    assert [r.rcpt for r in mail.received] == [["vhxh@phu-thong.example"], ["van-hanh@tinh.example"]]
    code, third = _watch(env)
    assert third["told"] == [] and len(mail.received) == 2, "each heard it once"


def test_cchc_up_with_a_broken_spec_tells_someone_before_it_gives_up(
    demo_env: Settings, mail: MailServer, tmp_path: Path
) -> None:
    plans = tmp_path / "broken-plans"
    plans.mkdir()
    (plans / "demo.yaml").write_text(
        (demo_env.plan_dir / "demo.yaml").read_text(encoding="utf-8").replace("cadence: month", "cadence: monthly"),
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "CCHC_PLAN_DIR": str(plans),
        "CCHC_SMTP_URL": mail.url,
        "CCHC_OPERATOR_EMAIL": "van-hanh@tinh.example",
        "PREFECT_SERVER_API_PORT": str(free_port()),
        "CCHC_PORTAL_URL": f"http://127.0.0.1:{free_port()}",
    }
    env.pop("PREFECT_API_URL", None)
    up = subprocess.run([CCHC, "up"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert up.returncode == 2 and "monthly" in up.stderr
    (alarm,) = mail.received
    assert alarm.rcpt == ["van-hanh@tinh.example"]  # the coordinators' addresses are in the spec that broke
    assert "LỖI (specs)" in alarm.text() and "monthly" in alarm.text()
    again = subprocess.run([CCHC, "up"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and len(mail.received) == 1, "a restart loop does not repeat the alarm"
