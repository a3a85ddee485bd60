"""Coordinator forms in the Prefect UI: record evidence, waive an occurrence, reject evidence, decide an assumption.

The parameters are typed and described in Vietnamese so the UI renders a usable form.
Both call the same core as the CLI and emit the evidence event, so the duty re-runs.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import pendulum
from prefect import flow, get_run_logger
from pydantic import Field

from cchc.app import service
from cchc.core import assumptions
from cchc.core.spec import DueRule, EvidenceKind
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


@flow(name="cchc-xac-nhan-gia-dinh", flow_run_name="giả định {plan_id}:{item_id}:{aspect}")
async def decide_assumption(
    plan_id: str,
    aspect: Literal["due", "count", "cadence", "effective"],
    reason: Annotated[str, Field(min_length=1)],
    by: Annotated[str, Field(min_length=1)],
    item_id: str = "",
    action: Literal["confirm", "change"] = "confirm",
    due_day: Annotated[int | None, Field(ge=1, le=31)] = None,
    due_in_month: str = "last",
    min_count: Annotated[int | None, Field(ge=1, le=1000)] = None,
    effective_from: dt.date | None = None,
) -> dict[str, Any]:
    """Xác nhận hoặc điều chỉnh một giả định của kế hoạch (mốc mà kế hoạch không quy định).

    Giả định chưa xác nhận vẫn nhắc đơn vị chủ trì (ghi rõ là mốc do bộ phận điều phối đặt) nhưng không báo
    lãnh đạo và không bị báo cáo là "không đạt". Đã xác nhận thì được áp dụng như quy định của kế hoạch.

    Args:
        plan_id: Mã kế hoạch.
        aspect: Mặt của quy định: due (hạn), count (số lượng), cadence (chu kỳ), effective (ngày hiệu lực của kế hoạch).
        reason: Căn cứ (văn bản, quyết định) hoặc lý do (bắt buộc).
        by: Người quyết định (họ tên, chức vụ).
        item_id: Mã nhiệm vụ hoặc báo cáo; để trống với ngày hiệu lực.
        action: confirm (giữ nguyên và xác nhận) hoặc change (điều chỉnh rồi xác nhận).
        due_day: Khi điều chỉnh hạn: ngày trong tháng (1-31).
        due_in_month: Khi điều chỉnh hạn: tháng nào của kỳ: last (tháng cuối), next (tháng sau kỳ) hoặc 1..12.
        min_count: Khi điều chỉnh số lượng: số minh chứng tối thiểu mỗi kỳ.
        effective_from: Khi điều chỉnh ngày hiệu lực: ngày kế hoạch có hiệu lực.
    """
    settings = get_settings()
    plan = service.resolve_plan(plan_id, settings)
    due = None
    if due_day is not None:
        month: int | str = int(due_in_month) if due_in_month.isdigit() else due_in_month
        due = DueRule.model_validate({"in_month": month, "day": due_day})
    decided = service.decide_assumption(
        settings,
        plan,
        item_id,
        aspect,
        action,
        reason,
        by,
        pendulum.now("UTC"),
        due=due,
        min_count=min_count,
        effective_from=effective_from,
    )
    (a,) = [x for x in assumptions.listing(decided) if x.item == item_id and x.aspect == aspect]
    get_run_logger().info("%s %s: %s — %s", item_id or plan_id, aspect, a.rule, a.confirmed)
    if item_id:
        emit_evidence_recorded(plan.id, item_id, None, "assumption", reason=f"giả định {aspect}")
    return a.as_json()
