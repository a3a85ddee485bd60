"""The plan's home page "Tuần này" in the real Prefect UI: a real `prefect server start`, the plan's deployments
registered on it, a real duty run and two real home runs in a subprocess that talks to it, and Debian's chromium
driven by Playwright. The heatmap (a data-URI SVG in the Markdown) loads as an image, the links lead to the
deployment's page, and a second run with nothing changed writes no new version. The screenshot goes into docs/.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.conftest import FIXTURES, ROOT
from tests.test_portal import browser  # noqa: F401 (the module-scoped chromium fixture)
from tests.test_ui_hostile_markdown import PrefectServer, prefect_server  # noqa: F401 (the module-scoped server)

pytestmark = pytest.mark.timeout_slow
PLAN = "demo"
KEY = "plan-demo-tuan-nay"
AT = "2025-10-28T09:00:00+07:00"  # a Tuesday: October's posts are due this week, August's were missed
SCREENSHOT = ROOT / "docs" / "img" / "tuan-nay.png"


def produce() -> None:
    """Runs against the test's server (PREFECT_API_URL): the plan's deployments, evidence, a failing feed
    source, one quota run (the status artifacts the page links to), then the home flow twice at one moment."""
    import asyncio
    import datetime as dt
    import json

    import pendulum

    from cchc.app import service
    from cchc.core.deployments import plan_deployments
    from cchc.settings import get_settings
    from cchc.store import sources
    from cchc.store.db import session_scope
    from flows.home import plan_home
    from flows.quota import quota_duty
    from flows.serve import ato_runner

    settings = get_settings()
    plan = service.resolve_plan(PLAN, settings)
    at = pendulum.parse(AT)
    assert isinstance(at, dt.datetime)

    async def register() -> None:
        for spec in plan_deployments(plan):
            await (await ato_runner(spec)).apply()

    asyncio.run(register())
    for day in (6, 15):
        item = service.EvidenceInput(
            "posts", "post", f"Tin ngày {day}", dt.date(2025, 10, day), url=f"https://x.example/{day}"
        )
        service.record_evidence(settings, plan, item, at)
    with session_scope(service.engine_for(settings)) as s:
        sources.record_failure(s, PLAN, "posts", "https://phuthong.example/rss", "HTTP 503", at - dt.timedelta(hours=3))
    asyncio.run(quota_duty(plan_id=PLAN, duty_id="posts", at=at))
    first = asyncio.run(plan_home(plan_id=PLAN, at=at))
    second = asyncio.run(plan_home(plan_id=PLAN, at=at))
    print(json.dumps({"first": first, "second": second}))


def _versions(server: PrefectServer) -> list[dict[str, Any]]:
    r = httpx.post(
        f"{server.url}/api/artifacts/filter",
        json={"artifacts": {"key": {"any_": [KEY]}}, "sort": "CREATED_DESC"},
        timeout=10,
    )
    r.raise_for_status()
    return list(r.json())


@pytest.fixture(scope="module")
def published(prefect_server: PrefectServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:  # noqa: F811
    import json

    tmp = tmp_path_factory.mktemp("home")
    plans = tmp / "plans"
    plans.mkdir()
    (plans / f"{PLAN}.yaml").write_text((FIXTURES / "demo.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    env = prefect_server.env | {"CCHC_HOME": str(tmp / "var"), "CCHC_PLAN_DIR": str(plans), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", "from tests.test_home_artifact_browser import produce; produce()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_home_page_shows_the_week_links_the_deployments_and_loads_the_heatmap(
    prefect_server: PrefectServer,  # noqa: F811
    published: dict[str, Any],
    browser: Any,  # noqa: F811
) -> None:
    assert published["first"]["written"] is True
    assert published["second"]["written"] is False, "nothing changed: no new version"
    versions = _versions(prefect_server)
    assert len(versions) == 1
    artifact = versions[0]
    markdown = str(artifact["data"])
    assert "data:image/svg+xml;base64," in markdown and len(markdown) < 120_000

    # The UI shows Prefect's own times in the browser's zone (3.9.1 has no zone setting): a browser set to
    # Asia/Ho_Chi_Minh shows them in Vietnamese time, as the README tells coordinators to do.
    context = browser.new_context(viewport={"width": 1440, "height": 1500}, timezone_id="Asia/Ho_Chi_Minh")
    page = context.new_page()
    try:
        page.goto(f"{prefect_server.url}/artifacts/artifact/{artifact['id']}", wait_until="domcontentloaded")
        page.wait_for_selector(".artifact-data-markdown h1", timeout=30_000)
        body = " ".join(str(page.inner_text(".artifact-data-markdown")).split())
        assert "Xã Phủ Thông — Tuần này (27/10/2025–02/11/2025)" in body
        assert "Cập nhật lúc 09:00 ngày 28/10/2025 (giờ Việt Nam, UTC+7)" in body
        assert "hạn 31/10/2025 — Đăng tin, tháng 10/2025: 2/3, sắp đến hạn" in body
        assert "https://phuthong.example/rss — lỗi từ" in body and "HTTP 503" in body

        img = page.locator(".artifact-data-markdown img").first
        img.scroll_into_view_if_needed()
        page.wait_for_function(
            "() => { const i = document.querySelector('.artifact-data-markdown img');"
            " return i && i.complete && i.naturalWidth > 0; }",
            timeout=15_000,
        )
        size = page.evaluate(
            "() => { const i = document.querySelector('.artifact-data-markdown img');"
            " return [i.naturalWidth, i.naturalHeight, i.getAttribute('src').slice(0, 26)]; }"
        )
        assert size[0] > 300 and size[1] > 150 and size[2] == "data:image/svg+xml;base64,"

        created = dt.datetime.fromisoformat(str(artifact["created"]).replace("Z", "+00:00"))
        local = created.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
        shown = f"{local:%Y/%m/%d %I:%M:%S %p}"
        assert shown in str(page.evaluate("document.body.innerText")), f"artifact created at {shown} (UTC+7)"

        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.locator(".artifact-data-markdown h1").first.scroll_into_view_if_needed()
        page.evaluate("() => document.querySelector('.artifact-data-markdown h1').scrollIntoView()")
        page.screenshot(path=str(SCREENSHOT))
        assert Path(SCREENSHOT).stat().st_size > 10_000

        href = page.locator(".artifact-data-markdown a", has_text="Đăng tin").first.get_attribute("href")
        assert href and href.startswith("/deployments/deployment/"), href
        page.goto(f"{prefect_server.url}{href}", wait_until="domcontentloaded")
        page.wait_for_function("() => document.body.innerText.includes('Đăng tin')", timeout=30_000)
    finally:
        context.close()
