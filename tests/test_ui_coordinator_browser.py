"""A coordinator's day in the real Prefect UI (Chromium) on the real `cchc up`: she finds a duty by its
Vietnamese title in the deployments list, and records evidence through the plan's form, choosing from
drop-downs, and sees what was recorded and the new count. Screenshots go to docs/img/ for the guide.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cchc.core.deployments import all_deployments
from cchc.core.loader import load_plan
from tests.conftest import ROOT
from tests.running import System, wait_for
from tests.test_acceptance import write_live_plan
from tests.test_portal import browser  # noqa: F401 (the module-scoped chromium fixture)

pytestmark = pytest.mark.timeout_slow
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DOCS = ROOT / "docs" / "img"
DUTY_TITLE = "Đăng tin bài CCHC trên trang thông tin điện tử của xã"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp("coordinator")
    # Live now; its daily run an hour away, so nothing but what the test does runs meanwhile.
    # Its run an hour ahead, so no scheduled run fires during the test, but never past today's end in the plan's
    # zone: the live plan's month is the run's, and the evidence recorded below is dated today (after 23:00 in
    # Viet Nam, an hour ahead was tomorrow, the 1st of the next month: "ngày này không thuộc kỳ nào").
    now = dt.datetime.now(dt.UTC)
    end_of_today = dt.datetime.combine(now.astimezone(TZ).date(), dt.time(23, 59, 59), TZ)
    plan = load_plan(write_live_plan(tmp / "plans", min(now + dt.timedelta(hours=1), end_of_today)))
    wanted = len(all_deployments([plan]))
    system = System(home=(tmp / "var").resolve(), plan_dir=tmp / "plans")
    system.start()
    try:
        wait_for("every deployment to be registered", lambda: system.count_deployments() == wanted, 150)
        yield system
    finally:
        system.stop()


def _page(browser: Any) -> Any:  # noqa: F811
    page = browser.new_page(viewport={"width": 1440, "height": 1000}, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh")
    page.set_default_timeout(30_000)
    return page


def test_she_finds_a_duty_by_its_vietnamese_title_in_the_deployments_list(
    browser: Any,  # noqa: F811
    system: System,
) -> None:
    page = _page(browser)
    try:
        page.goto(f"{system.api.removesuffix('/api')}/deployments", wait_until="domcontentloaded")
        page.get_by_placeholder("Search deployments").fill("Đăng tin bài")
        row = page.locator("tbody tr", has_text="Đăng tin bài")
        wait_for("the search to narrow the list to the duty", lambda: page.locator("tbody tr").count() == 1, 30, 0.3)
        name = " ".join(row.first.inner_text().split())
        assert name.startswith("Đăng tin bài CCHC"), name  # what tells duties apart comes first in the name
        DOCS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS / "tim-nhiem-vu.png"))
    finally:
        page.close()


def _choose(page: Any, field: str, option: str) -> None:
    """Pick ``option`` in the drop-down under the label ``field`` (the UI opens its list on a key press)."""
    prop = page.locator(".schema-form-property", has=page.get_by_text(field, exact=True)).first
    prop.locator(".p-select-button__control").click()
    page.keyboard.press("ArrowDown")
    page.get_by_role("option", name=option, exact=True).click()
    prop.locator(".p-select-button__value").get_by_text(option).wait_for()


def _fill(page: Any, field: str, text: str) -> None:
    prop = page.locator(".schema-form-property", has=page.get_by_text(field, exact=True)).first
    prop.locator("textarea, input").first.fill(text)


def test_she_records_evidence_through_drop_downs_and_sees_the_new_count(
    browser: Any,  # noqa: F811
    system: System,
) -> None:
    ui = system.api.removesuffix("/api")
    form = next(d for d in system.deployments() if d["name"].startswith("Ghi nhận minh chứng ·"))
    today = dt.datetime.now(TZ).date()
    page = _page(browser)
    try:
        page.goto(f"{ui}/deployments/deployment/{form['id']}/run", wait_until="domcontentloaded")
        page.get_by_text("Nhiệm vụ", exact=True).wait_for()
        _choose(page, "Nhiệm vụ", DUTY_TITLE)
        _choose(page, "Loại minh chứng", "Bài đăng")
        _fill(page, "Tiêu đề", "Tin CCHC: một cửa điện tử")
        _fill(page, "Ngày", f"{today:%d/%m/%Y}")
        _fill(page, "Đường dẫn (Optional)", "https://phu-thong.example/tin/mot-cua")
        page.screenshot(path=str(DOCS / "ghi-nhan-minh-chung.png"), full_page=True)
        page.get_by_role("button", name="Submit").click()

        def finished() -> dict[str, Any] | None:
            runs = system.post("/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [form["id"]]}}})
            done = [r for r in runs if r["state_type"] in ("COMPLETED", "FAILED", "CRASHED")]
            return done[0] if done else None

        run = wait_for("the form's run to finish", finished, 90, 0.5)
        message = run["state"]["message"] or ""
        assert run["state_type"] == "COMPLETED", message
        assert message.startswith(
            f"Đã ghi nhận minh chứng #1: «Tin CCHC: một cửa điện tử» (bài đăng, ngày {today:%d/%m/%Y})"
        )
        assert f"Nay {today:%Y-%m}: 1/3" in message

        # The run's page says it in words (its log and final state), and its artifact keeps it.
        page.goto(f"{ui}/runs/flow-run/{run['id']}", wait_until="domcontentloaded")
        page.get_by_text("Đã ghi nhận minh chứng #1", exact=False).first.wait_for()
        with contextlib.suppress(Exception):
            page.wait_for_load_state("networkidle", timeout=5_000)
        page.screenshot(path=str(DOCS / "ghi-nhan-ket-qua.png"))
        kept = system.post("/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run["id"]]}}})
        assert kept and "- Số minh chứng: 1" in str(kept[0]["data"])

        # The evidence event re-runs the duty: the plan's status table shows the new count.
        def count_shown() -> bool:
            latest = system.post(
                "/artifacts/filter",
                {"artifacts": {"key": {"any_": ["plan-live-status"]}}, "sort": "CREATED_DESC", "limit": 1},
            )
            data = latest[0]["data"] if latest else "[]"
            rows = json.loads(data) if isinstance(data, str) else data
            return any(r["Mã"] == "tin-bai" and r["Kết quả"] == "1/3" for r in rows)

        wait_for("the new count in the plan's status table", count_shown, 90, 1)
    finally:
        page.close()


def test_she_opens_the_plans_home_page_and_its_heatmap_loads(
    browser: Any,  # noqa: F811
    system: System,
) -> None:
    """'Tuần này' refreshed by hand (Run → Quick run on its deployment), then opened from Artifacts."""
    ui = system.api.removesuffix("/api")
    home = next(d for d in system.deployments() if d["name"].startswith("Tuần này ·"))
    run = system.post(f"/deployments/{home['id']}/create_flow_run", {})

    def done() -> dict[str, Any] | None:
        r = system.post("/flow_runs/filter", {"flow_runs": {"id": {"any_": [run["id"]]}}})[0]
        return r if r["state_type"] in ("COMPLETED", "FAILED", "CRASHED") else None

    finished = wait_for("the home page's run", done, 120, 0.5)
    assert finished["state_type"] == "COMPLETED", finished["state"]
    (artifact,) = system.post("/artifacts/filter", {"artifacts": {"key": {"any_": ["plan-live-tuan-nay"]}}, "limit": 1})
    page = _page(browser)
    try:
        page.goto(f"{ui}/artifacts/artifact/{artifact['id']}", wait_until="domcontentloaded")
        page.wait_for_selector(".artifact-data-markdown h1")
        assert "Tuần này" in page.inner_text(".artifact-data-markdown h1")
        page.locator(".artifact-data-markdown img").first.scroll_into_view_if_needed()
        page.wait_for_function(
            "() => { const i = document.querySelector('.artifact-data-markdown img');"
            " return i && i.complete && i.naturalWidth > 300 && i.naturalHeight > 100; }"
        )
    finally:
        page.close()


def test_screenshots_are_where_the_guide_points() -> None:
    """The guide (docs/huong-dan-dieu-phoi.md) shows the pictures the browser tests take, and each is there."""
    guide = (ROOT / "docs" / "huong-dan-dieu-phoi.md").read_text(encoding="utf-8")
    shown = set(re.findall(r"\]\(img/([^)]+)\)", guide))
    taken = {
        "tim-nhiem-vu.png", "ghi-nhan-minh-chung.png", "ghi-nhan-ket-qua.png",  # this module
        "duyet-bao-cao.png", "duyet-bao-cao-thieu-so.png", "duyet-bao-cao-da-gui.png", "ky-va-gui-e-office.png",  # test_approval_browser
        "tuan-nay.png",  # test_home_artifact_browser
    }  # fmt: skip
    assert taken <= shown, taken - shown
    for name in shown:
        assert (DOCS / name).stat().st_size > 10_000, name
