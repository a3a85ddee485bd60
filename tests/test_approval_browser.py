"""Approving a report in the real Prefect UI (Chromium, `prefect server start`): the Resume dialog shows the
draft's summary and a link to it, approving without a document number is refused with a message that says
what to do (the run stays paused), approving with one sends the final and its PDF for signing, and recording
in the second form that it went out through e-office delivers the report.

The report run is the real flow, in its own process against the test's server, waiting for approval the way a
served run does. Screenshots go to docs/img/ for the coordinators' guide.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PLAN_DIR, ROOT
from tests.running import wait_for
from tests.test_portal import browser  # noqa: F401 (the module-scoped chromium fixture)
from tests.test_ui_hostile_markdown import PrefectServer, prefect_server  # noqa: F401

pytestmark = pytest.mark.timeout_slow
PLAN = "phu-thai-2025h2"
DOCS = ROOT / "docs" / "img"

PRODUCE = """
import asyncio, datetime as dt, json, pendulum
from cchc.app import service
from cchc.settings import get_settings
from flows.report import report_duty

TZ = "Asia/Ho_Chi_Minh"
settings = get_settings()
plan = service.resolve_plan("phu-thai-2025h2", settings)
recorded = pendulum.datetime(2025, 8, 27, 7, tz=TZ)
for day in (dt.date(2025, 7, 10), dt.date(2025, 7, 24)):
    service.record_evidence(
        settings, plan,
        service.EvidenceInput("cong-ttdt-tin-bai", "post", f"Tin CCHC {day:%d/%m}", day,
                              url=f"https://phuthai.example/tin/{day:%m%d}", unit="ttvhttt"),
        recorded,
    )
at = pendulum.datetime(2025, 9, 3, 8, tz=TZ)  # the draft day of Q3
out = asyncio.run(report_duty(plan_id="phu-thai-2025h2", report_id="bao-cao-quy", at=at, now=at,
                              approval_wait_seconds=600, approval_poll_seconds=1))
print("RESULT " + json.dumps(out, default=str, ensure_ascii=False))
"""


def _paused(server: PrefectServer) -> list[dict[str, Any]]:
    r = httpx.post(
        f"{server.url}/api/flow_runs/filter",
        json={"flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}}},
        timeout=10,
    )
    r.raise_for_status()
    return list(r.json())


def _state(server: PrefectServer, run_id: str) -> str:
    r = httpx.get(f"{server.url}/api/flow_runs/{run_id}", timeout=10)
    r.raise_for_status()
    return str(r.json()["state"]["type"])


@pytest.fixture(scope="module")
def waiting(prefect_server: PrefectServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:  # noqa: F811
    """A real report run, drafted and paused for approval; yields its id, process and home."""
    home = tmp_path_factory.mktemp("approval") / "var"
    env = prefect_server.env | {"CCHC_HOME": str(home), "CCHC_PLAN_DIR": str(PLAN_DIR), "PYTHONPATH": str(ROOT)}
    log = (home.parent / "run.log").open("w+")
    proc = subprocess.Popen([sys.executable, "-c", PRODUCE], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        runs = wait_for(
            "the report run to pause for approval",
            lambda: proc.poll() is not None or _paused(prefect_server),
            180,
            0.5,
        )
        assert proc.poll() is None, Path(log.name).read_text(errors="replace")[-4000:]
        yield {"id": runs[0]["id"], "proc": proc, "home": home, "log": Path(log.name)}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def _open_resume(page: Any, server: PrefectServer, run_id: str) -> None:
    page.goto(f"{server.url}/runs/flow-run/{run_id}", wait_until="domcontentloaded", timeout=30_000)
    page.get_by_role("button", name="Resume").first.click(timeout=30_000)
    page.locator(".p-modal__body").get_by_text("Quyết định", exact=True).wait_for(timeout=30_000)


def _choose_approve(page: Any) -> None:
    page.locator(".p-modal .p-select-button__control").first.click()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.locator(".p-modal .p-select-button__value").first.get_by_text("Duyệt và gửi").wait_for(timeout=10_000)


def test_approving_in_the_ui_refuses_a_missing_number_then_delivers(
    browser: Any,  # noqa: F811
    prefect_server: PrefectServer,  # noqa: F811
    waiting: dict[str, Any],
) -> None:
    server, run_id = prefect_server, waiting["id"]
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        _open_resume(page, server, run_id)
        body = " ".join(page.locator(".p-modal__body article").first.inner_text().split())
        # The dialog tells what is being approved: the period, the counts, what is late, and where the draft is.
        assert "Dự thảo kết quả công tác tuyên truyền cải cách hành chính quý III năm 2025 (bản 1)" in body
        assert "2 minh chứng" in body and "Tồn tại, hạn chế:" in body
        link = page.locator(".p-modal__body article a", has_text="mở dự thảo")
        assert link.get_attribute("href") == f"{server.url}/artifacts/key/report-{PLAN}-bao-cao-quy-2025-q3"

        # Approve with no number: the form is refused, in words that say what to do, and the run still waits.
        _choose_approve(page)
        page.get_by_role("button", name="Submit").click()
        toast = page.get_by_text("Cần nhập số văn bản khi duyệt", exact=False)
        toast.first.wait_for(timeout=20_000)
        DOCS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS / "duyet-bao-cao-thieu-so.png"))
        assert _state(server, run_id) == "PAUSED"
        assert page.locator(".p-modal__body").is_visible()  # the dialog stays open with what she typed

        # With the number: the run resumes, approves, sends the final and its PDF for signing and waits again.
        page.locator(".p-modal textarea").first.fill("12/BC-UBND")
        page.screenshot(path=str(DOCS / "duyet-bao-cao.png"))
        page.get_by_role("button", name="Submit").click()
        proc = waiting["proc"]
        wait_for("the approved run to pause for signing", lambda: proc.poll() is not None or _paused(server), 180, 0.5)
        assert proc.poll() is None, waiting["log"].read_text(errors="replace")[-4000:]

        # Signed and sent through e-office: its number and day recorded in the second form deliver the report.
        page.goto(f"{server.url}/runs/flow-run/{run_id}", wait_until="domcontentloaded", timeout=30_000)
        page.get_by_role("button", name="Resume").first.click(timeout=30_000)
        page.locator(".p-modal__body").get_by_text("Cách gửi", exact=True).wait_for(timeout=30_000)
        assert "bản Word và PDF đã gửi đơn vị tổng hợp" in page.locator(".p-modal__body").inner_text()
        page.locator(".p-modal .p-select-button__control").first.click()
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
        page.locator(".p-modal .p-select-button__value").first.get_by_text("e-office", exact=False).wait_for(
            timeout=10_000
        )
        boxes = page.locator(".p-modal textarea")
        boxes.nth(0).fill("123/BC-UBND")
        boxes.nth(1).fill("03/09/2025")
        boxes.nth(2).fill("Nguyễn Thị Lan")
        page.screenshot(path=str(DOCS / "ky-va-gui-e-office.png"))
        page.get_by_role("button", name="Submit").click()
        wait_for("the signed run to finish", lambda: proc.poll() is not None, 180, 0.5)
        out = waiting["log"].read_text(errors="replace")
        assert proc.returncode == 0, out[-4000:]
        assert '"state": "delivered"' in out and "123/BC-UBND" in out, out[-4000:]
        assert _state(server, run_id) == "COMPLETED"

        # The final and its PDF went to the coordinator (the .eml outbox of a home without SMTP); the
        # recipients got the report through e-office, so no mail went to them.
        sent = list((waiting["home"] / "mail").rglob("*.eml"))
        to_sign = [
            p for p in sent if _subject(p).startswith("[CCHC") and "Trình ký báo cáo số 12/BC-UBND" in _subject(p)
        ]
        assert len(to_sign) == 1, [_subject(p) for p in sent]
        assert not [p for p in sent if _subject(p).startswith("Báo cáo số 12/BC-UBND")]
        page.goto(f"{server.url}/runs/flow-run/{run_id}", wait_until="domcontentloaded")
        page.get_by_text("Completed").first.wait_for(timeout=30_000)
        with contextlib.suppress(Exception):
            page.wait_for_load_state("networkidle", timeout=5_000)
        page.screenshot(path=str(DOCS / "duyet-bao-cao-da-gui.png"))
    finally:
        page.close()


def _subject(path: Path) -> str:
    import email
    from email.header import decode_header, make_header

    msg = email.message_from_bytes(path.read_bytes())
    return str(make_header(decode_header(msg.get("Subject", ""))))
