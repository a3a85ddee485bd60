"""Every plan's mail pass in one run: the province profile's one mail deployment instead of one per plan.

At 114 plans the per-plan passes (hourly in working hours) were 39% of a working week's runs, each a process start
(bench/bench_deployments.py); here each plan's pass is the same as flows/mail.py's, one after another, and a
plan whose pass fails does not keep the others' mail back.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
from prefect import flow, get_run_logger

from cchc.app import service
from cchc.core.deployments import mail_days
from cchc.settings import get_settings
from flows.common import run_moment
from tasks import duty as t


# No stored result, as the duty flows (nobody reads the summary back): one request to the server fewer per run.
@flow(name="cchc-mail-all", flow_run_name="thư:mọi-kế-hoạch", log_prints=True, persist_result=False)
async def all_mail(at: dt.datetime | None = None) -> dict[str, Any]:
    """Thư của mọi kế hoạch: gửi hàng đợi, tổng hợp tuần cho cơ quan thường trực, nhắc việc đến hạn.

    Args:
        at: Chạy như tại thời điểm này; để trống thì dùng giờ đã lên lịch của lần chạy.
    """
    now = pendulum.now("UTC")
    done: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for plan in service.all_plans(get_settings()):
        moment = run_moment(at, plan.timezone)
        first, last = mail_days(plan)
        if not first <= moment.date() <= last:
            continue  # what the plan's own mail deployment's schedule leaves out
        try:
            gap = t.note_run(plan, now)
            done[plan.id] = {"mail": t.notify(plan, None, moment, now), "gap": gap}
        except Exception as e:  # one plan's failure must not hold back every other plan's mail
            failed[plan.id] = f"{type(e).__name__}: {e}"
            get_run_logger().error("thư của kế hoạch %s không xử lý được: %s", plan.id, failed[plan.id])
    if failed:
        raise RuntimeError(
            f"{len(failed)} kế hoạch chưa gửi được thư ({', '.join(sorted(failed))}); "
            f"{len(done)} kế hoạch khác đã xong. Xem nhật ký lần chạy và `cchc doctor`."
        )
    return {"plans": done}
