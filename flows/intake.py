"""Coordinator forms in the Prefect UI: record evidence, waive an occurrence.

The parameters are typed and described in Vietnamese so the UI renders a usable form.
Both call the same core as the CLI and emit the evidence event, so the duty re-runs.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import pendulum
from prefect import flow, get_run_logger
from pydantic import Field

from cchc import service
from cchc.settings import get_settings
from cchc.spec import EvidenceKind
from flows.events import emit_evidence_recorded


@flow(name="cchc-ghi-nhan-minh-chung", flow_run_name="minh chứng {plan_id}:{duty_id}")
async def record_evidence(
    plan_id: Annotated[str, Field(description="Mã kế hoạch, ví dụ phu-thai-2025h2.")],
    duty_id: Annotated[str, Field(description="Mã nhiệm vụ (xem mô tả deployment của nhiệm vụ).")],
    kind: Annotated[EvidenceKind, Field(description="Loại minh chứng: bài đăng, phát thanh, văn bản, ảnh, sự kiện...")],
    title: Annotated[str, Field(description="Tiêu đề minh chứng, ví dụ tên bài viết.", min_length=1)],
    date: Annotated[dt.date, Field(description="Ngày diễn ra / ngày đăng (không sau hôm nay).")],
    url: Annotated[str | None, Field(description="Đường dẫn http/https (nếu có).")] = None,
    unit: Annotated[str | None, Field(description="Mã đơn vị gửi (nếu có).")] = None,
) -> dict[str, Any]:
    """Ghi nhận minh chứng cho một nhiệm vụ; minh chứng trùng (cùng đường dẫn) không tính hai lần."""
    settings = get_settings()
    plan = service.resolve_plan(plan_id, settings)
    rec = service.record_evidence(
        settings,
        plan,
        service.EvidenceInput(
            duty=duty_id, kind=kind.value, title=title, occurred_on=date, url=url, unit=unit, source="form"
        ),
        pendulum.now("UTC"),
    )
    if not rec.duplicate:
        emit_evidence_recorded(plan.id, duty_id, rec.id, kind.value)
    get_run_logger().info("minh chứng %s%s", rec.id, " (trùng, không tính lại)" if rec.duplicate else "")
    return {"id": rec.id, "duplicate": rec.duplicate}


@flow(name="cchc-mien-nhiem-vu", flow_run_name="miễn {plan_id}:{duty_id}:{period}")
async def waive_occurrence(
    plan_id: Annotated[str, Field(description="Mã kế hoạch.")],
    duty_id: Annotated[str, Field(description="Mã nhiệm vụ.")],
    period: Annotated[str, Field(description="Kỳ cần miễn, ví dụ 2025-10, 2025-Q3, 2025-H2, 2025.")],
    reason: Annotated[str, Field(description="Lý do miễn (bắt buộc).", min_length=1)],
    by: Annotated[str, Field(description="Người quyết định miễn.")] = "điều phối viên",
) -> dict[str, Any]:
    """Miễn một kỳ của nhiệm vụ: kỳ đó được tính là 'miễn' và dừng nhắc việc."""
    settings = get_settings()
    plan = service.resolve_plan(plan_id, settings)
    created = service.waive_occurrence(settings, plan, duty_id, period, reason, by, pendulum.now("UTC"))
    emit_evidence_recorded(plan.id, duty_id, None, "waiver", reason="miễn kỳ " + period)
    return {"waived": created, "period": period}
