"""Duty flows under Prefect's test harness: scheduled moment, records, artifacts, idempotency."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import pendulum
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort
from prefect.flow_engine import run_flow_async
from prefect.states import Scheduled
from sqlalchemy import select

from cchc.settings import Settings
from cchc.store.db import get_engine, session_scope
from cchc.store.models import OccurrenceRow
from flows.quota import quota_duty

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.anyio]
TZ = "Asia/Ho_Chi_Minh"


def _statuses(settings: Settings) -> dict[tuple[str, str], tuple[str | None, Any]]:
    with session_scope(get_engine(settings.db_url)) as s:
        return {(r.duty_id, r.period): (r.status, r.status_at) for r in s.scalars(select(OccurrenceRow))}


def _add_posts(settings: Settings, days: list[int], month: int = 10) -> None:
    from cchc.app import service

    plan = service.resolve_plan("demo", settings)
    for d in days:
        service.record_evidence(
            settings,
            plan,
            service.EvidenceInput(
                "posts", "post", f"Bài {d}", dt.date(2025, month, d), url=f"https://x.example/{month}/{d}"
            ),
            pendulum.datetime(2025, 12, 31, tz="UTC"),
        )


async def _run_scheduled(at: pendulum.DateTime) -> dict[str, Any]:
    """Create a flow run scheduled at ``at`` and execute it, as a worker would."""
    async with get_client() as client:
        run = await client.create_flow_run(
            quota_duty, parameters={"plan_id": "demo", "duty_id": "posts"}, state=Scheduled(scheduled_time=at)
        )
    result = await run_flow_async(quota_duty, flow_run=run, parameters={"plan_id": "demo", "duty_id": "posts"})
    assert isinstance(result, dict)
    return result


async def test_a_quota_run_judges_the_moment_it_was_scheduled_for(demo_env: Settings) -> None:
    _add_posts(demo_env, [3, 13])
    scheduled = pendulum.datetime(2025, 10, 28, 7, tz=TZ)  # long ago: a replayed run
    result = await _run_scheduled(scheduled)
    assert result["at"] == scheduled.isoformat()
    assert result["statuses"]["2025-10"] == "due_soon"
    assert result["statuses"]["2025-09"] == "missed"
    assert result["statuses"]["2025-11"] == "upcoming"
    st = _statuses(demo_env)
    assert st[("posts", "2025-10")][0] == "due_soon"
    assert st[("posts", "2025-08")][0] == "missed"
    assert st[("posts", "2025-11")][0] is None  # not started: not recorded
    async with get_client() as client:
        arts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["plan-demo-status"])),
            sort=ArtifactSort.CREATED_DESC,  # the newest version: other tests of the session share these keys
        )
        assert arts, "the plan's status table is published"
        data = arts[0].data
        rows = json.loads(data) if isinstance(data, str) else data
        posts = next(r for r in rows if r["Mã"] == "posts")
        assert posts["Kỳ"] == "2025-10" and posts["Kết quả"] == "2/3" and posts["Trạng thái"] == "sắp đến hạn"
        assert posts["Đơn vị chủ trì"] == "Phòng Văn hóa - Xã hội" and posts["Hạn"] == "31/10/2025"
        md = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["plan-demo-overdue"])),
            sort=ArtifactSort.CREATED_DESC,  # the newest version: other tests of the session share these keys
        )
        assert md and "Phòng Văn hóa - Xã hội" in str(md[0].data)
        progress = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["quota-demo-posts-2025-10"])),
            sort=ArtifactSort.CREATED_DESC,  # the newest version: other tests of the session share these keys
        )
        assert progress and abs(float(progress[0].data) - 66.67) < 0.1  # type: ignore[arg-type]


async def test_the_same_run_twice_or_two_at_once_leave_the_same_records(demo_env: Settings) -> None:
    _add_posts(demo_env, [1, 2, 3])
    at = pendulum.datetime(2025, 10, 10, 7, tz=TZ)
    first = await quota_duty(plan_id="demo", duty_id="posts", at=at)
    after_one = _statuses(demo_env)
    second = await quota_duty(plan_id="demo", duty_id="posts", at=at)
    assert _statuses(demo_env) == after_one
    assert first["changes"] and second["changes"] == []  # nothing changes twice
    # Two overlapping runs at a later moment: each change is recorded (and announced) once.
    later = pendulum.datetime(2025, 11, 3, 7, tz=TZ)
    a, b = await asyncio.gather(
        quota_duty(plan_id="demo", duty_id="posts", at=later), quota_duty(plan_id="demo", duty_id="posts", at=later)
    )
    changes = a["changes"] + b["changes"]
    assert sorted(p for p, _, _ in changes) == sorted({p for p, _, _ in changes})
    assert ("2025-11", None, "open") in [tuple(c) for c in changes]


async def test_status_changes_are_announced_as_events(demo_env: Settings) -> None:
    import httpx
    from prefect.settings import PREFECT_API_URL

    at = pendulum.datetime(2025, 9, 2, 7, tz=TZ)  # August closed with no posts: missed
    result = await quota_duty(plan_id="demo", duty_id="posts", at=at)
    assert ("2025-08", None, "missed") in [tuple(c) for c in result["changes"]]
    announced = [c for c in result["changes"] if c[2] in ("met", "met_late", "overdue", "missed")]
    assert announced and result["events"] == len(announced), "one event per change a coordinator acts on"
    api = PREFECT_API_URL.value()

    def missed_events() -> list[dict[str, Any]]:
        body = {
            "filter": {
                "event": {"name": ["cchc.occurrence.missed"]},
                "resource": {"id": ["cchc.occurrence.demo.posts.2025-08"]},
            }
        }
        r = httpx.post(f"{api}/events/filter", json=body, timeout=10)
        r.raise_for_status()
        return list(r.json()["events"])

    deadline = asyncio.get_running_loop().time() + 20
    events: list[dict[str, Any]] = []
    while not events and asyncio.get_running_loop().time() < deadline:
        events = missed_events()
        await asyncio.sleep(0.5)
    assert events, "cchc.occurrence.missed reached the Prefect API"
    payload = events[0]["payload"]
    assert payload["status"] == "missed" and payload["period"] == "2025-08" and payload["required"] == 3
    related = {r["prefect.resource.id"] for r in events[0]["related"]}
    assert {"cchc.duty.demo.posts", "cchc.plan.demo"} <= related


async def test_duty_flows_and_the_mail_flow_send_the_same_reminders_once(
    demo_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cchc.settings import get_settings
    from flows.mail import plan_mail
    from tests.mailserver import MailServer

    server = MailServer().start()
    try:
        monkeypatch.setenv("CCHC_SMTP_URL", server.url)
        get_settings.cache_clear()
        _add_posts(get_settings(), [3, 13])
        at = pendulum.datetime(2025, 10, 21, 9, tz=TZ)  # 2 of 3 posts after the 20th
        result = await quota_duty(plan_id="demo", duty_id="posts", at=at)
        assert result["mail"]["sent"] == 1
        again = await quota_duty(plan_id="demo", duty_id="posts", at=at)
        assert again["mail"]["sent"] == 0
        monday = pendulum.datetime(2025, 10, 20, 8, 5, tz=TZ)
        digest = await plan_mail(plan_id="demo", at=monday)
        # The week's digest, and (once) the missing address of the leader found on the way.
        assert digest["mail"]["sent"] == 2, [r.subject for r in server.received]
        async with get_client() as client:
            arts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["plan-demo-mail"])),
                sort=ArtifactSort.CREATED_DESC,  # the harness is shared: earlier tests wrote this key too
            )
        assert arts, "the coordinator sees the plan's mail in the UI"
        data = arts[0].data
        table = json.loads(data) if isinstance(data, str) else data
        assert {row["Trạng thái"] for row in table} >= {"đã gửi"}
        subjects = sorted(r.subject for r in server.received)
        assert subjects == [
            "[CCHC xã Phủ Thông] Nhắc tiến độ: Đăng tin (tháng 10/2025) — hạn 31/10/2025",
            "[CCHC xã Phủ Thông] Thông báo: Chủ tịch UBND xã chưa có địa chỉ thư",
            "[CCHC xã Phủ Thông] Tình hình tuần 43/2025",
        ]
    finally:
        server.stop()
