"""The signed copy uploaded on the coordinator's portal page (FastAPI's TestClient, real SQLite store, real
SMTP on loopback): her commune's reports waiting for signature are listed, a PDF goes to every recipient once,
anything else is refused in Vietnamese and changes nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pendulum
import pytest
from fastapi.testclient import TestClient

from cchc.app import report_workflow as workflow
from cchc.app import service
from cchc.app.mail_pass import run_tick
from cchc.portal.app import create_app
from cchc.settings import Settings, get_settings
from tests.conftest import PLAN_DIR
from tests.mailserver import MailServer, running
from tests.test_coordinator_portal import PHU_THAI, PHU_THONG, add_coordinator

TZ = "Asia/Ho_Chi_Minh"
PLAN = "phu-thai-2025h2"
APPROVED = pendulum.datetime(2025, 9, 3, 9, tz=TZ)
NOW = pendulum.datetime(2025, 9, 4, 9, tz=TZ)


@pytest.fixture
def portal_env(cchc_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / f"{PLAN}.yaml").write_text((PLAN_DIR / f"{PLAN}.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("CCHC_PLAN_DIR", str(plans))
    monkeypatch.setenv("CCHC_PORTAL_URL", "http://127.0.0.1:8765")
    for server in running():
        monkeypatch.setenv("CCHC_SMTP_URL", server.url)
        get_settings.cache_clear()
        settings = get_settings()
        settings.__dict__["_server"] = server
        yield settings


def _to_signing(settings: Settings) -> workflow.Target:
    plan = service.resolve_plan(PLAN, settings)
    tgt = workflow.target(plan, "bao-cao-quy", "2025-Q3", APPROVED)
    workflow.draft(settings, plan, tgt, APPROVED, APPROVED)
    workflow.decide(settings, plan, tgt, workflow.Decision.approve, APPROVED, number="41/BC-UBND")
    assert workflow.deliver(settings, plan, tgt, APPROVED).state == workflow.SIGNING
    return tgt


def test_the_signed_copy_uploaded_on_her_page_goes_to_every_recipient_once(portal_env: Settings) -> None:
    server: MailServer = portal_env.__dict__["_server"]
    _, link = add_coordinator("Nguyễn Thị Lan", "lan@phu-thai.example", PHU_THAI)
    _, stranger = add_coordinator("Trần Văn Bình", "binh@phu-thong.example", PHU_THONG)
    client = TestClient(create_app(portal_env, clock=lambda: NOW))
    assert 'id="to-sign"' not in client.get(link).text  # nothing approved yet
    _to_signing(portal_env)
    page = client.get(link).text
    assert 'id="to-sign"' in page and "kỳ 2025-Q3, số 41/BC-UBND" in page
    assert 'id="to-sign"' not in client.get(stranger).text  # another commune's coordinator sees nothing

    action = f"{link}/sign/{PLAN}/bao-cao-quy/2025-Q3"
    before = workflow.run_state(portal_env, service.resolve_plan(PLAN, portal_env), "bao-cao-quy", "2025-Q3")
    refused = client.post(action, files={"file": ("bao-cao.docx", b"PK\x03\x04 not a scan", "application/zip")})
    assert refused.status_code == 400 and "không phải PDF hay ảnh quét" in refused.text
    assert (
        client.post(f"{stranger}/sign/{PLAN}/bao-cao-quy/2025-Q3", files={"file": ("k.pdf", b"%PDF-1.4\n")}).status_code
        == 404
    )
    after = workflow.run_state(portal_env, service.resolve_plan(PLAN, portal_env), "bao-cao-quy", "2025-Q3")
    assert before is not None and after is not None
    assert (after.state, after.signed_sha256, after.updated_at) == ("signing", None, before.updated_at)

    scan = b"%PDF-1.4\n% ban da ky, dong dau\n%%EOF\n"
    ok = client.post(action, files={"file": ("scan.pdf", scan, "application/pdf")})
    assert ok.status_code == 200 and "Đã nhận bản đã ký" in ok.text and "2 thư" in ok.text
    again = client.post(action, files={"file": ("scan.pdf", scan, "application/pdf")})
    assert again.status_code == 200 and "0 thư" in again.text  # the same copy twice counts once
    assert 'id="to-sign"' not in again.text

    plan = service.resolve_plan(PLAN, portal_env)
    assert run_tick(portal_env, plan, NOW, NOW, ["bao-cao-quy"]).reports == [f"{PLAN}:bao-cao-quy:2025-Q3"]
    delivered = server.handler.by_subject("Báo cáo số 41/BC-UBND")
    assert sorted(r.rcpt[0] for r in delivered) == ["so-noi-vu@phu-thai.example", "ubnd@phu-thai.example"]
    for r in delivered:
        (part,) = list(r.msg.iter_attachments())
        assert hashlib.sha256(part.get_content()).hexdigest() == hashlib.sha256(scan).hexdigest()
    row = workflow.run_state(portal_env, plan, "bao-cao-quy", "2025-Q3")
    assert row is not None and (row.state, row.signed_by) == ("delivered", "Nguyễn Thị Lan")
    assert row.delivered_at is not None and row.delivered_at.date() >= dt.date(2025, 9, 4)
