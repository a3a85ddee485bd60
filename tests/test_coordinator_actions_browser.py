"""In real Chromium (Playwright, /usr/bin/chromium) against the portal served by uvicorn on loopback: a
coordinator opens her commune's plan from her page, records a piece of evidence and approves the report draft
with its number, through the pages as a person would, under the portal's CSP (no script, its own style)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cchc.app import report_workflow as workflow
from cchc.app import service
from cchc.portal.app import create_app
from cchc.settings import Settings, get_settings
from tests.conftest import PLAN_DIR
from tests.running import CHROMIUM, CHROMIUM_FLAGS, free_port, require_chromium, serving
from tests.test_coordinator_actions import DRAFTED, MINE, NOW, THEIRS, audit_rows, evidence
from tests.test_coordinator_portal import PHU_THAI, run


@pytest.fixture
def served(cchc_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Settings, str]]:
    require_chromium()
    port = free_port()
    plans = tmp_path / "plans"
    plans.mkdir()
    for plan_id in (MINE, THEIRS):
        (plans / f"{plan_id}.yaml").write_text((PLAN_DIR / f"{plan_id}.yaml").read_text("utf-8"), "utf-8")
    monkeypatch.setenv("CCHC_PLAN_DIR", str(plans))
    monkeypatch.setenv("CCHC_PORTAL_URL", f"http://127.0.0.1:{port}")
    get_settings.cache_clear()
    settings = get_settings()
    app = create_app(settings, clock=lambda: NOW)  # the plan's second half-year, as in the TestClient tests
    with serving(app, port):
        yield settings, f"http://127.0.0.1:{port}"


@pytest.mark.timeout_slow
def test_in_chromium_she_records_evidence_and_approves_the_report_draft_on_her_plan_page(
    served: tuple[Settings, str],
) -> None:
    from playwright.sync_api import sync_playwright

    settings, _ = served
    code, out = run(
        "coordinator", "add", "--name", "Nguyễn Thị Lan", "--email", "lan@phu-thai.example", "--commune", str(PHU_THAI)
    )
    assert code == 0, out
    url = re.search(r"(http://127\.0\.0\.1:\d+/c/\S+)", out)
    assert url, out
    plan = service.resolve_plan(MINE, settings)
    workflow.draft(settings, plan, workflow.target(plan, "bao-cao-quy", "2025-Q3", DRAFTED), DRAFTED, DRAFTED)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            violations: list[str] = []
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(url.group(1))
            page.click(f"a.work[href$='/p/{MINE}']")
            assert page.locator("#plan-id").inner_text() == MINE
            # Her forms fit the phone's width: the selects are styled like the inputs.
            width = page.evaluate("document.querySelector('#ev-duty').getBoundingClientRect().width")
            assert 300 <= width <= 390

            page.select_option("#ev-duty", "cong-ttdt-tin-bai")
            page.select_option("#ev-kind", "post")
            page.fill("#ev-date", "2025-09-02")
            page.fill("#ev-title", "Tin cải cách hành chính tháng 9")
            page.fill("#ev-url", "https://phuthai.example/tin-cchc-thang-9")
            page.click("#evidence-form button")
            assert "Đã ghi nhận minh chứng #" in page.locator("#ok").inner_text()
            assert "Tin cải cách hành chính tháng 9" in page.locator("#evidence").inner_text()

            form = page.locator("form.report-form").first
            assert "dự thảo bản 1" in form.inner_text()
            form.locator("select[name=decision]").select_option("approve")
            form.locator("input[name=number]").fill("41/BC-UBND")
            form.locator("button").click()
            assert "Đã duyệt" in page.locator("#ok").inner_text()
            assert page.locator("#reports").count() == 0
            assert violations == []
        finally:
            browser.close()

    (ev,) = evidence(settings, MINE)
    assert (ev.duty_id, ev.origin, ev.url) == (
        "cong-ttdt-tin-bai",
        "portal",
        "https://phuthai.example/tin-cchc-thang-9",
    )
    row = workflow.run_state(settings, plan, "bao-cao-quy", "2025-Q3")
    assert row is not None and (row.state, row.number) == ("approved", "41/BC-UBND")
    actors = {a.action: a.actor for a in audit_rows(settings)}
    assert actors["evidence.add"].startswith("coordinator:1:lan@phu-thai.example (Nguyễn Thị Lan) từ 127.0.0.1")
    assert actors["report.approve"] == actors["evidence.add"]
