"""Phủ Thông, October 2025, replayed day by day: the website's feed alone meets the quota, no reminder goes out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pendulum
import pytest
from prefect.client.orchestration import get_client
from prefect.flow_engine import run_flow_async
from prefect.states import Scheduled

from cchc.app import collect as collectors
from cchc.app import service
from cchc.app.mail_pass import run_tick
from cchc.settings import Settings, get_settings
from cchc.store import outbox as ob
from cchc.store.db import session_scope
from flows.quota import quota_duty
from tests.mailserver import MailServer, running
from tests.test_collectors import DUTY, RSS, feed, use_sources
from tests.webserver import Route, Web, serving

TZ = "Asia/Ho_Chi_Minh"


@pytest.fixture
def web() -> Iterator[Web]:
    yield from serving()


@pytest.fixture
def smtp(cchc_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[MailServer]:
    for server in running():
        monkeypatch.setenv("CCHC_SMTP_URL", server.url)
        yield server


def test_phu_thong_october_the_feed_meets_the_quota_and_no_reminder_is_sent(
    cchc_env: Settings, smtp: MailServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, web: Web
) -> None:
    web.routes["/rss/cchc.rss"] = Route(body=RSS, content_type="application/rss+xml; charset=utf-8")
    settings = use_sources(tmp_path, monkeypatch, [feed(web)])
    plan = service.resolve_plan("phu-thong-2025", settings)
    day = pendulum.datetime(2025, 10, 1, 8, tz=TZ)
    collected = []
    while day <= pendulum.datetime(2025, 11, 5, 8, tz=TZ):  # bounded: 36 mornings
        collected.append(collectors.collect(settings, plan, DUTY, day, day).new)
        run_tick(get_settings(), plan, day, day, [DUTY])
        day = day.add(days=1)
    assert sum(collected) == 3  # 03/10, 10/10, 17/10; the unrelated 08/10 post never counts
    judged = {j.occurrence.period: j for j in service.judge_plan(settings, plan, day) if j.occurrence.duty == DUTY}
    assert judged["2025-10"].status.value == "met" and judged["2025-10"].count == 3
    with session_scope(service.engine_for(settings)) as s:
        october = [r for r in ob.rows(s, plan.id) if r.duty_id == DUTY and r.period == "2025-10"]
    assert october == []
    assert not [m for m in smtp.received if "tháng 10/2025" in m.subject]


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.anyio
async def test_the_quota_flow_collects_from_the_feed_before_judging(
    cchc_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, web: Web
) -> None:
    web.routes["/rss/cchc.rss"] = Route(body=RSS)
    use_sources(tmp_path, monkeypatch, [feed(web)])
    at = pendulum.datetime(2025, 10, 31, 8, tz=TZ)
    params = {"plan_id": "phu-thong-2025", "duty_id": DUTY}
    async with get_client() as client:
        run = await client.create_flow_run(quota_duty, parameters=params, state=Scheduled(scheduled_time=at))
    result = await run_flow_async(quota_duty, flow_run=run, parameters=params)
    assert isinstance(result, dict)
    assert result["collected"] == 3 and result["statuses"]["2025-10"] == "met"
