"""`cchc tick`, `cchc outbox`, `cchc mail flush|serve`: the contract people and scripts rely on."""

from __future__ import annotations

import email
import email.policy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cchc.settings import Settings, get_settings
from notifications.catcher import free_port
from tests.conftest import ROOT
from tests.mailserver import running
from tests.test_cli import run, run_json

CCHC = Path(sys.executable).with_name("cchc")


def test_tick_twice_at_the_same_moment_sends_nothing_the_second_time(cchc_env: Settings) -> None:
    first = run_json("tick", "phu-thai-2025h2", "--at", "2025-08-27T09:00:00+07:00", "--json")
    assert {line["key"] for line in first["sent"]} == {
        # The units' report is due 05/09 (reminder-1 on 27/08); the compiled report, due 10/09, waits until 03/09.
        "phu-thai-2025h2:bao-cao-don-vi:2025-Q3:reminder-1:cac-don-vi",
        # August's progress steps fell on 21/08; the month is still open, so they still go out.
        "phu-thai-2025h2:phat-thanh-chuyen-de:2025-08:progress:ttvhttt",
        "phu-thai-2025h2:cong-ttdt-tin-bai:2025-08:progress:ttvhttt",
        "phu-thai-2025h2:kiem-soat-tthc:2025-08:progress:van-phong",
    }
    assert first["skipped"], "July's notices are older than two days when the system first runs"
    second = run_json("tick", "phu-thai-2025h2", "--at", "2025-08-27T09:00:00+07:00", "--json")
    assert second["sent"] == [] and second["queued"] == [] and second["skipped"] == []


def test_without_smtp_messages_become_eml_files_and_the_cli_says_where(cchc_env: Settings) -> None:
    # 03/09: reminder-1 of the Q3 report due 10/09.
    code, out = run("tick", "phu-thai-2025h2", "--at", "2025-09-03T09:00", "--duty", "bao-cao-quy")
    assert code == 0, out
    folder = cchc_env.mail_dir.resolve()
    assert f"thư được ghi thành tệp .eml trong {folder}" in out
    (eml,) = folder.glob("*.eml")
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert msg["Subject"].startswith("[CCHC xã Phú Thái] Nhắc hạn: Báo cáo kết quả công tác tuyên truyền cải cách")
    assert msg["To"] == "Phòng Văn hoá - Xã hội xã <vhxh@phu-thai.example>"
    assert {p.get_content_type() for p in msg.iter_parts()} == {"text/plain", "text/html"}


def test_outbox_json_lists_every_row_with_its_contract_fields(cchc_env: Settings) -> None:
    run("tick", "phu-thai-2025h2", "--at", "2025-09-03T09:00")  # reminder-1 of the Q3 report due 10/09
    rows = run_json("outbox", "phu-thai-2025h2", "--json")
    assert rows
    for r in rows:
        assert {"key", "to", "subject", "status", "step", "occurrence"} <= set(r)
    sent = run_json("outbox", "--status", "sent", "--json")
    assert {r["key"] for r in sent} == {r["key"] for r in rows if r["status"] == "sent"}
    reminder = next(r for r in sent if r["step"] == "reminder-1" and r["duty"] == "bao-cao-quy")
    assert reminder["occurrence"] == "phu-thai-2025h2:bao-cao-quy:2025-Q3"
    assert reminder["to"] == "vhxh@phu-thai.example" and reminder["message_id"].startswith("<")
    code, out = run("outbox", "--status", "sending-soon", "--json")
    assert code == 2 and "not one of queued, sending, sent, failed, skipped" in out


def test_flush_delivers_what_a_tick_could_not(cchc_env: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("CCHC_SMTP_URL", f"smtp+insecure://127.0.0.1:{port}")
    get_settings.cache_clear()
    first = run_json("tick", "phu-thai-2025h2", "--at", "2025-09-03T09:00", "--json")
    # Two reminders (the units' report due 05/09, the compiled report due 10/09) and the notices of August's
    # three monthly quotas (01-02/09 are holidays, so 03/09 is their first working day after the month).
    assert first["sent"] == [] and len(first["retrying"]) == 5
    for server in running(port):
        flushed = run_json("mail", "flush", "--json")
        assert len(flushed["sent"]) == 5 and len(server.received) == 5
        assert run_json("mail", "flush", "--json")["sent"] == []


def test_bad_smtp_settings_are_refused_before_anything_is_queued(
    cchc_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCHC_SMTP_URL", "smtp+insecure://mail.example.vn:25")
    get_settings.cache_clear()
    code, out = run("tick", "phu-thai-2025h2", "--at", "2025-08-27T09:00")
    assert code == 2 and "only for a catcher on 127.0.0.1" in out
    assert run_json("outbox", "--json") == []


def test_mail_serve_catches_messages_into_the_inbox_folder(cchc_env: Settings, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "CCHC_HOME": str(cchc_env.home), "CCHC_PLAN_DIR": str(cchc_env.plan_dir)}
    env.pop("CCHC_SMTP_URL", None)
    serve = subprocess.Popen(
        [str(CCHC), "mail", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert serve.stdout is not None
        assert "SMTP catcher on 127.0.0.1" in serve.stdout.readline()
        tick = subprocess.run(
            [str(CCHC), "tick", "phu-thai-2025h2", "--at", "2025-09-03T09:00", "--duty", "bao-cao-quy"],
            cwd=ROOT,
            env={**env, "CCHC_SMTP_URL": f"smtp+insecure://127.0.0.1:{port}"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert tick.returncode == 0, tick.stderr
        deadline = time.monotonic() + 10
        inbox = cchc_env.inbox_dir
        while not list(inbox.glob("*.eml")) and time.monotonic() < deadline:
            time.sleep(0.1)
        (eml,) = inbox.glob("*.eml")
        msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        assert "Nhắc hạn" in msg["Subject"] and msg["X-Envelope-To"] == "vhxh@phu-thai.example"
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(timeout=15)


def test_mail_serve_refuses_a_public_address(cchc_env: Settings) -> None:
    code, out = run("mail", "serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert code == 2 and "loopback only" in out
