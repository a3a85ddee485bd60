"""The plan's mail pass: the Monday digest, queued and retried mail, every ladder step due."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
from prefect import flow

from flows.common import run_moment
from tasks import duty as t


# No stored result, as the duty flows (nobody reads the summary back): one request to the server fewer per run.
@flow(name="cchc-mail", flow_run_name="{plan_id}:thư", log_prints=True, persist_result=False)
async def plan_mail(plan_id: str, at: dt.datetime | None = None) -> dict[str, Any]:
    """Thư của kế hoạch: gửi hàng đợi, tổng hợp tuần cho cơ quan thường trực, nhắc việc đến hạn.

    Args:
        plan_id: Mã kế hoạch (tên tệp trong plan_specs/), ví dụ phu-thai-2025h2.
        at: Chạy như tại thời điểm này; để trống thì dùng giờ đã lên lịch của lần chạy.
    """
    plan = t.load_plan(plan_id)
    moment = run_moment(at, plan.timezone)
    now = pendulum.now("UTC")
    gap = t.note_run(plan, now)  # before the digest, so a stop found now is in it
    mail = t.notify(plan, None, moment, now)
    return {"plan": plan_id, "at": moment.isoformat(), "mail": mail, "gap": gap}
