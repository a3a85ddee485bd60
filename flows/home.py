"""The plan's home page in the Prefect UI, "Tuần này": due this week, overdue, reports waiting for approval,
failing sources and failed runs, with the heatmap of the whole plan.

A flow of its own, not a step of every duty run: drawing the heatmap needs matplotlib (seconds to import),
and duty runs must stay light. It runs on working days and when a status of the plan changes; the picture is
drawn again only when its grid changed, and the artifact is written again only when its text changed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
from prefect import flow

from cchc.app import home as home_app
from cchc.core import home
from cchc.core.views import commune_heading
from cchc.settings import get_settings
from flows.common import run_moment
from tasks import duty as t
from tasks.home import prefect_view, publish_home


@flow(name="cchc-home", flow_run_name="{plan_id}:tuần-này", log_prints=True)
async def plan_home(plan_id: str, at: dt.datetime | None = None) -> dict[str, Any]:
    """Trang "Tuần này" của kế hoạch: việc đến hạn trong tuần, quá hạn, báo cáo chờ duyệt, nguồn lỗi, lần chạy lỗi
    và bản đồ nhiệt toàn kế hoạch.

    Args:
        plan_id: Mã kế hoạch (tên tệp trong plan_specs/), ví dụ phu-thai-2025h2.
        at: Tính tại thời điểm này; để trống thì dùng giờ đã lên lịch của lần chạy.
    """
    settings = get_settings()
    plan = t.load_plan(plan_id)
    moment = run_moment(at, plan.timezone)
    now = pendulum.now("UTC")
    view = home_app.read_store(settings, plan, moment, now)
    links, failed = prefect_view(plan.id, now)
    picture = home_app.heatmap_uri(settings, plan, view.judged, moment)
    state = home.HomeState(
        judged=view.judged,
        waiting=view.waiting,
        sources=view.sources,
        runs=failed,
        deployments=links,
        artifacts={
            "Tình trạng các nhiệm vụ": t.artifact_key("plan", plan.id, "status"),
            "Việc quá hạn": t.artifact_key("plan", plan.id, "overdue"),
        },
        heatmap=picture,
    )
    markdown = home.home_markdown(plan, moment, state)
    key = home.home_key(plan.id)
    written = publish_home(key, markdown, f"{commune_heading(plan)}: Tuần này — việc cần làm và toàn cảnh kế hoạch")
    return {"plan": plan_id, "at": moment.isoformat(), "key": key, "written": written, "chars": len(markdown)}
