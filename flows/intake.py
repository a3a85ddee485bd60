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

from cchc.app import service
from cchc.core.spec import EvidenceKind
from cchc.settings import get_settings
from flows.events import emit_evidence_recorded


@flow(name="cchc-ghi-nhan-minh-chung", flow_run_name="minh chứng {plan_id}:{duty_id}")
async def record_evidence(
    plan_id: str,
    duty_id: str,
    kind: EvidenceKind,
    title: Annotated[str, Field(min_length=1)],
    date: dt.date,
    url: str | None = None,
    unit: str | None = None,
) -> dict[str, Any]:
    """Ghi nhận minh chứng cho một nhiệm vụ; minh chứng trùng (cùng đường dẫn) không tính hai lần.

    Args:
        plan_id: Mã kế hoạch, ví dụ phu-thai-2025h2.
        duty_id: Mã nhiệm vụ (xem mô tả deployment của nhiệm vụ).
        kind: Loại minh chứng: post (bài đăng), broadcast (phát thanh), document (văn bản), photo (ảnh), event (sự kiện), survey (khảo sát), report_delivery (gửi báo cáo).
        title: Tiêu đề minh chứng, ví dụ tên bài viết.
        date: Ngày diễn ra / ngày đăng (không sau hôm nay).
        url: Đường dẫn http/https (nếu có).
        unit: Mã đơn vị gửi (nếu có).
    """
    settings = get_settings()
    plan = service.resolve_plan(plan_id, settings)
    rec = service.record_evidence(
        settings,
        plan,
        service.EvidenceInput(
            duty=duty_id, kind=kind.value, title=title, occurred_on=date, url=url, unit=unit, origin="form"
        ),
        pendulum.now("UTC"),
    )
    if not rec.duplicate:
        emit_evidence_recorded(plan.id, duty_id, rec.id, kind.value)
    get_run_logger().info("minh chứng %s%s", rec.id, " (trùng, không tính lại)" if rec.duplicate else "")
    return {"id": rec.id, "duplicate": rec.duplicate}


@flow(name="cchc-mien-nhiem-vu", flow_run_name="miễn {plan_id}:{duty_id}:{period}")
async def waive_occurrence(
    plan_id: str,
    duty_id: str,
    period: str,
    reason: Annotated[str, Field(min_length=1)],
    by: str = "điều phối viên",
) -> dict[str, Any]:
    """Miễn một kỳ của nhiệm vụ: kỳ đó được tính là 'miễn' và dừng nhắc việc.

    Args:
        plan_id: Mã kế hoạch.
        duty_id: Mã nhiệm vụ.
        period: Kỳ cần miễn, ví dụ 2025-10, 2025-Q3, 2025-H2, 2025.
        reason: Lý do miễn (bắt buộc).
        by: Người quyết định miễn.
    """
    settings = get_settings()
    plan = service.resolve_plan(plan_id, settings)
    created = service.waive_occurrence(settings, plan, duty_id, period, reason, by, pendulum.now("UTC"))
    emit_evidence_recorded(plan.id, duty_id, None, "waiver", reason="miễn kỳ " + period)
    return {"waived": created, "period": period}


@flow(name="cchc-loai-minh-chung", flow_run_name="loại minh chứng {plan_id}#{evidence_id}")
async def reject_evidence(
    plan_id: str,
    evidence_id: int,
    reason: Annotated[str, Field(min_length=1)],
    by: str = "điều phối viên",
) -> dict[str, Any]:
    """Loại một minh chứng: không tính nữa nhưng vẫn lưu trong hồ sơ, kèm người quyết định và lý do.

    Args:
        plan_id: Mã kế hoạch.
        evidence_id: Số của minh chứng (xem `cchc audit` hoặc bảng theo dõi).
        reason: Lý do loại (bắt buộc), ví dụ "bài không về cải cách hành chính".
        by: Người quyết định loại.
    """
    settings = get_settings()
    plan = service.resolve_plan(plan_id, settings)
    duty_id = service.reject_evidence(settings, plan, evidence_id, reason, by, pendulum.now("UTC"))
    emit_evidence_recorded(plan.id, duty_id, evidence_id, "rejected", reason=f"loại minh chứng #{evidence_id}")
    return {"rejected": evidence_id, "duty": duty_id}
