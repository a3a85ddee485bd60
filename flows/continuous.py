"""A continuous ("thường xuyên") duty: at least one piece of evidence each reporting period."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow

from flows.common import run_duty


# No stored result (a small summary nobody reads back): spares each run a request for the result storage.
@flow(name="cchc-continuous", flow_run_name="{plan_id}:{duty_id}", log_prints=True, persist_result=False)
async def continuous_duty(
    plan_id: str, duty_id: str, at: dt.datetime | None = None, reason: str = "lịch"
) -> dict[str, Any]:
    """Nhiệm vụ thường xuyên: thu thập minh chứng, đánh giá, nhắc việc, cập nhật bảng theo dõi.

    Args:
        plan_id: Mã kế hoạch (tên tệp trong plan_specs/), ví dụ phu-thai-2025h2.
        duty_id: Mã nhiệm vụ trong kế hoạch.
        at: Đánh giá tại thời điểm này; để trống thì dùng giờ đã lên lịch của lần chạy.
        reason: Lý do chạy (lịch, minh chứng mới, chạy lại).
    """
    return run_duty(plan_id, duty_id, at, reason)
