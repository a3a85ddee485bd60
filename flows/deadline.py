"""A deadline duty: the deliverable's evidence exists by the due date (late work is still counted, as met_late)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from prefect import flow
from pydantic import Field

from flows.common import run_duty


@flow(name="cchc-deadline", flow_run_name="{plan_id}:{duty_id}", log_prints=True)
async def deadline_duty(
    plan_id: Annotated[str, Field(description="Mã kế hoạch (tên tệp trong plan_specs/).")],
    duty_id: Annotated[str, Field(description="Mã nhiệm vụ trong kế hoạch.")],
    at: Annotated[
        dt.datetime | None, Field(description="Đánh giá tại thời điểm này (mặc định: giờ đã lên lịch).")
    ] = None,
    reason: Annotated[str, Field(description="Lý do chạy (lịch, minh chứng mới, chạy lại).")] = "lịch",
) -> dict[str, Any]:
    """Nhiệm vụ có hạn: thu thập minh chứng, đánh giá, nhắc việc, cập nhật bảng theo dõi."""
    return run_duty(plan_id, duty_id, at, reason)
