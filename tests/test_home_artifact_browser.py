"""The plan's home page "Tuần này" in the real Prefect UI: a real `prefect server start`, the plan's deployments
registered on it, a real duty run and two real home runs in a subprocess that talks to it, and Debian's chromium
driven by Playwright. The heatmap (a data-URI SVG in the Markdown) loads as an image, the links lead to the
deployment's page, and a second run with nothing changed writes no new version. The screenshot goes into docs/.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.conftest import FIXTURES, ROOT
from tests.running import free_port, wait_for
from tests.test_portal import browser  # noqa: F401 (the module-scoped chromium fixture)
from tests.test_ui_hostile_markdown import PrefectServer, _health

pytestmark = pytest.mark.timeout_slow
PLAN = "demo"
KEY = "plan-demo-tuan-nay"
AT = "2025-10-28T09:00:00+07:00"  # a Tuesday: October's posts are due this week, August's were missed
SCREENSHOT = ROOT / "docs" / "img" / "tuan-nay.png"


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """`prefect server start` with its UI on a free loopback port and a scratch PREFECT_HOME (as in
    test_ui_hostile_markdown, with more time to start: the machine is shared)."""
    home = tmp_path_factory.mktemp("prefect-home-ui")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CCHC_"))}
    env |= {
        "PREFECT_HOME": str(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_UI_API_URL": f"{url}/api",
        "PREFECT_API_URL": f"{url}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    log = (home / "server.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for("the Prefect server's /api/health", lambda: proc.poll() is not None or _health(url), 180, 0.25)
        assert proc.poll() is None, (home / "server.log").read_text(errors="replace")
        yield PrefectServer(url, env)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()


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
def published(prefect_server: PrefectServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
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
    prefect_server: PrefectServer,
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
