"""`cchc doctor` on broken systems: each fault is one failing line with what to do, never a traceback.

The healthy system and paused deployments are checked against the real `cchc up` in test_acceptance.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cchc.settings import Settings, get_settings
from notifications.catcher import free_port
from tests.conftest import ROOT
from tests.running import CCHC
from tests.test_cli import run


def doctor(env: dict[str, str]) -> tuple[int, dict[str, dict[str, Any]], str]:
    p = subprocess.run([CCHC, "doctor", "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in p.stderr, p.stderr
    report = json.loads(p.stdout)
    return p.returncode, {c["name"]: c for c in report["checks"]}, p.stderr


def test_with_the_prefect_server_down_and_no_database_the_doctor_fails_with_what_to_do(tmp_path: Path) -> None:
    env = {**os.environ, "CCHC_HOME": str(tmp_path / "var"), "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api"}
    env.pop("CCHC_DATABASE_URL", None)
    code, checks, _ = doctor(env)
    assert code == 1
    assert checks["prefect_api"]["status"] == "failing"
    assert "không trả lời" in checks["prefect_api"]["message"] and "cchc up" in checks["prefect_api"]["action"]
    for dependent in ("scheduler", "executor", "runs"):
        assert checks[dependent]["status"] == "warning" and "prefect_api" in checks[dependent]["action"]
    assert checks["migrations"]["status"] == "failing" and "Chưa có cơ sở dữ liệu" in checks["migrations"]["message"]
    assert checks["specs"]["status"] == "ok"
    assert not (tmp_path / "var" / "cchc.db").exists(), "the doctor looks; it does not create the store"

    text = subprocess.run([CCHC, "doctor"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert text.returncode == 1 and "Traceback" not in text.stdout + text.stderr
    lines = [line for line in text.stdout.splitlines() if line.startswith("[")]
    assert len(lines) == len(checks), "one line per check"
    assert any(line.startswith("[lỗi") and "prefect_api" in line for line in lines)


def test_a_wrong_database_url_is_a_failing_check_not_a_crash(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CCHC_HOME": str(tmp_path / "var"),
        "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api",
        "CCHC_DATABASE_URL": f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/cchc",
    }
    code, checks, _ = doctor(env)
    assert code == 1
    assert checks["migrations"]["status"] == "failing"
    assert "Không mở được cơ sở dữ liệu" in checks["migrations"]["message"]
    assert "CCHC_DATABASE_URL" in checks["migrations"]["action"]
    assert checks["outbox"]["status"] == "failing"


def test_smtp_unreachable_with_mail_queued_fails_the_mail_and_outbox_checks(
    cchc_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCHC_SMTP_URL", f"smtp+insecure://127.0.0.1:{free_port()}")  # nothing listens there
    get_settings.cache_clear()
    code, out = run("tick", "phu-thai-2025h2", "--at", "2025-08-27T09:00")
    assert code == 0, out
    code, checks, _ = doctor({**os.environ, "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api"})
    assert code == 1
    assert checks["mail"]["status"] == "failing"
    assert "Không kết nối được máy chủ thư" in checks["mail"]["message"]
    outbox = checks["outbox"]
    assert outbox["status"] == "failing" and outbox["details"]["queued"] >= 2
    assert outbox["details"]["oldest_queued"].startswith("2025-08")
    assert "cchc mail flush" in outbox["action"]
    assert checks["migrations"]["status"] == "ok"


def test_links_for_real_mail_must_be_public_https_and_the_key_private(cchc_env: Settings) -> None:
    key = cchc_env.home / "secret.key"
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text("k" * 40)
    key.chmod(0o644)
    env = {
        **os.environ,
        "CCHC_SMTP_URL": "smtp://cchc:pw@mail.invalid:587",  # a real server (not a loopback catcher)
        "CCHC_PORTAL_URL": f"http://127.0.0.1:{free_port()}",
        "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api",
    }
    code, checks, _ = doctor(env)
    assert code == 1
    portal = checks["portal"]
    assert portal["status"] == "failing"
    assert "HTTPS" in portal["message"] and "nội bộ" in portal["message"] and "không trả lời" in portal["message"]
    assert "chỉ chứng minh" in portal["message"], "the check says what it cannot prove"
    assert checks["secret_key"]["status"] == "failing" and checks["secret_key"]["action"] == f"chmod 600 {key}"
    key.chmod(0o600)
    _, checks, _ = doctor(env)
    assert checks["secret_key"]["status"] == "ok"
    assert checks["disk"]["status"] in ("ok", "warning") and checks["disk"]["details"]["free_bytes"] > 0


def test_a_bad_smtp_url_is_named_without_quoting_the_password(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CCHC_HOME": str(tmp_path / "var"),
        "CCHC_SMTP_URL": "smtp://cchc:S3cr/et@mail.example.vn:587",
        "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api",
    }
    p = subprocess.run([CCHC, "doctor", "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    checks = {c["name"]: c for c in json.loads(p.stdout)["checks"]}
    assert checks["mail"]["status"] == "failing" and "percent-encoded" in checks["mail"]["message"]
    assert "S3cr" not in p.stdout + p.stderr
