"""Coordinator forms in the Prefect UI: record evidence, waive an occurrence, reject evidence, decide an assumption.

The parameters are typed and described in Vietnamese so the UI renders a usable form.
Both call the same core as the CLI and emit the evidence event, so the duty re-runs.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import pendulum
from prefect import flow, get_run_logger
from prefect.artifacts import acreate_markdown_artifact
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed
from pydantic import Field

from cchc.app import service
from cchc.core import assumptions, forms, views
from cchc.core.markdown import md_text
from cchc.core.spec import DueRule, Plan
from cchc.settings import Settings, get_settings
from flows.events import emit_evidence_recorded


async def _answered(title: str, lines: list[str], message: str, data: dict[str, Any]) -> State:
    """The run ends Completed with the result in words: the state's message, a log line and an artifact;
    ``data`` is what a caller of the flow gets back."""
    get_run_logger().info("%s", message)
    await acreate_markdown_artifact(markdown="\n".join([f"### {title}", "", *lines]), description=title)
    return Completed(message=message, data=data)


async def _refused(title: str, problem: str) -> State:
    """The run ends Failed with a Vietnamese message saying what to do; nothing was recorded."""
    message = f"Không ghi nhận: {problem}"
    get_run_logger().error("%s", message)
    await acreate_markdown_artifact(
        markdown=f"### {title}: không ghi nhận\n\n{md_text(problem)}\n\nChạy lại biểu mẫu với thông tin đã sửa.",
        description=f"{title}: không ghi nhận",
    )
    return Failed(message=message)


def _count_line(settings: Settings, plan: Plan, duty_id: str, day: dt.date) -> str:
    """The duty's period holding ``day``, judged now: '2025-10: 2/3, đang thực hiện, hạn 31/10/2025'."""
    now = pendulum.now("UTC")
    judged = [j for j in service.judge_plan(settings, plan, now) if j.occurrence.duty == duty_id]
    inside = [j for j in judged if j.occurrence.start_day <= day <= j.occurrence.last_day]
    return views.period_line(inside[0]) if inside else "ngày này không thuộc kỳ nào của nhiệm vụ"


@flow(name="cchc-ghi-nhan-minh-chung", flow_run_name="minh chứng {plan_id}")
async def record_evidence(
    plan_id: str,
    duty_id: str,
    kind: str,
    title: Annotated[str, Field(min_length=1)],
    date: dt.date | str,
    url: str | None = None,
    unit: str | None = None,
) -> State:
    """Ghi nhận minh chứng cho một nhiệm vụ; minh chứng trùng (cùng đường dẫn) không tính hai lần.

    Args:
        plan_id: Mã kế hoạch, ví dụ phu-thai-2025h2.
        duty_id: Nhiệm vụ: tên như trong danh sách chọn, hoặc mã nhiệm vụ.
        kind: Loại minh chứng: tên như trong danh sách chọn (Bài đăng, Văn bản…) hoặc mã (post, document…).
        title: Tiêu đề minh chứng, ví dụ tên bài viết.
        date: Ngày đăng / ngày diễn ra, dạng ngày/tháng/năm (không sau hôm nay).
        url: Đường dẫn http/https (nếu có).
        unit: Đơn vị gửi: tên hoặc mã (nếu có).
    """
    what = "Ghi nhận minh chứng"
    settings = get_settings()
    plan = service.resolve_plan(plan_id, settings)
    try:
        duty = forms.resolve(forms.duty_choices(plan), duty_id, "Nhiệm vụ")
        code = forms.resolve(forms.kind_choices(plan), kind, "Loại minh chứng")
        accepted = plan.counted_kinds(duty)
        if code not in accepted:
            words = ", ".join(forms.kind_label(k) for k in accepted)
            raise forms.FormError(f"nhiệm vụ này chỉ tính: {words}; chọn lại loại minh chứng.")
        day = forms.parse_day(date)
        who = forms.resolve(forms.unit_choices(plan), unit, "Đơn vị") if unit and unit.strip() else None
        rec = service.record_evidence(
            settings,
            plan,
            service.EvidenceInput(
                duty=duty, kind=code, title=title, occurred_on=day, url=url or None, unit=who, origin="form"
            ),
            pendulum.now("UTC"),
        )
    except (forms.FormError, service.UserError) as e:
        return await _refused(what, str(e))
    if not rec.duplicate:
        emit_evidence_recorded(plan.id, duty, rec.id, code)
    item = views.duty_title(plan, duty)
    counted = _count_line(settings, plan, duty, day)
    head = (
        f"Minh chứng #{rec.id} đã có từ trước (cùng đường dẫn), không tính lại"
        if rec.duplicate
        else f"Đã ghi nhận minh chứng #{rec.id}"
    )
    message = f"{head}: «{title.strip()}» ({forms.kind_label(code).lower()}, ngày {views.fmt_day(day)}) cho «{item}». Nay {counted}."
    lines = [
        f"- Số minh chứng: {rec.id}{' (trùng, không tính lại)' if rec.duplicate else ''}",
        f"- Nhiệm vụ: {md_text(item)}",
        f"- {forms.kind_label(code)}: {md_text(title.strip())}, ngày {views.fmt_day(day)}",
        f"- Kỳ: {md_text(counted)}",
    ]
    return await _answered(
        what, lines, message, {"id": rec.id, "duplicate": rec.duplicate, "duty": duty, "period": counted}
    )


@flow(name="cchc-mien-nhiem-vu", flow_run_name="miễn {plan_id}:{period}")
async def waive_occurrence(
    plan_id: str,
    duty_id: str,
    period: str,
    reason: Annotated[str, Field(min_length=1)],
    by: str = "điều phối viên",
) -> State:
    """Miễn một kỳ của nhiệm vụ: kỳ đó được tính là 'miễn' và dừng nhắc việc.

    Args:
        plan_id: Mã kế hoạch.
        duty_id: Nhiệm vụ: tên như trong danh sách chọn, hoặc mã nhiệm vụ.
        period: Kỳ cần miễn: tên như trong danh sách chọn (tháng 10/2025) hoặc mã (2025-10, 2025-Q3, 2025-H2, 2025).
        reason: Lý do miễn (bắt buộc).
        by: Người quyết định miễn.
    """
    what = "Miễn một kỳ nhiệm vụ"
    settings = get_settings()
    plan = service.resolve_plan(plan_id, settings)
    try:
        duty = forms.resolve(forms.duty_choices(plan), duty_id, "Nhiệm vụ")
        key = forms.resolve(forms.period_choices(plan), period, "Kỳ")
        created = service.waive_occurrence(settings, plan, duty, key, reason, by, pendulum.now("UTC"))
    except (forms.FormError, service.UserError) as e:
        return await _refused(what, str(e))
    emit_evidence_recorded(plan.id, duty, None, "waiver", reason="miễn kỳ " + key)
    item = views.duty_title(plan, duty)
    label = views.period_label(key)
    message = (
        f"Đã miễn {label} của «{item}»: {reason.strip()} ({by})."
        if created
        else f"{label} của «{item}» đã được miễn từ trước; không đổi."
    )
    lines = [
        f"- Nhiệm vụ: {md_text(item)}",
        f"- Kỳ: {label}",
        f"- Lý do: {md_text(reason.strip())}",
        f"- Người quyết định: {md_text(by)}",
    ]
    return await _answered(what, lines, message, {"waived": created, "period": key, "duty": duty})


@flow(name="cchc-loai-minh-chung", flow_run_name="loại minh chứng {plan_id}#{evidence_id}")
async def reject_evidence(
    plan_id: str,
    evidence_id: int,
    reason: Annotated[str, Field(min_length=1)],
    by: str = "điều phối viên",
) -> State:
    """Loại một minh chứng: không tính nữa nhưng vẫn lưu trong hồ sơ, kèm người quyết định và lý do.

    Args:
        plan_id: Mã kế hoạch.
        evidence_id: Số của minh chứng (xem `cchc audit` hoặc bảng theo dõi).
        reason: Lý do loại (bắt buộc), ví dụ "bài không về cải cách hành chính".
        by: Người quyết định loại.
    """
    what = "Loại một minh chứng"
    settings = get_settings()
    plan = service.resolve_plan(plan_id, settings)
    try:
        duty_id = service.reject_evidence(settings, plan, evidence_id, reason, by, pendulum.now("UTC"))
    except service.UserError as e:
        return await _refused(what, str(e))
    emit_evidence_recorded(plan.id, duty_id, evidence_id, "rejected", reason=f"loại minh chứng #{evidence_id}")
    item = views.duty_title(plan, duty_id)
    message = (
        f"Đã loại minh chứng #{evidence_id} của «{item}»: {reason.strip()} ({by}); minh chứng vẫn lưu trong hồ sơ."
    )
    lines = [f"- Minh chứng: #{evidence_id}", f"- Nhiệm vụ: {md_text(item)}", f"- Lý do: {md_text(reason.strip())}"]
    return await _answered(what, lines, message, {"rejected": evidence_id, "duty": duty_id})


@flow(name="cchc-xac-nhan-gia-dinh", flow_run_name="giả định {plan_id}")
async def decide_assumption(
    plan_id: str,
    reason: Annotated[str, Field(min_length=1)],
    by: Annotated[str, Field(min_length=1)],
    assumption: str = "",
    aspect: str = "",
    item_id: str = "",
    action: str = "confirm",
    due_day: Annotated[int | None, Field(ge=1, le=31)] = None,
    due_in_month: str = "last",
    min_count: Annotated[int | None, Field(ge=1, le=1000)] = None,
    effective_from: dt.date | str | None = None,
) -> State:
    """Xác nhận hoặc điều chỉnh một giả định của kế hoạch (mốc mà kế hoạch không quy định).

    Giả định chưa xác nhận vẫn nhắc đơn vị chủ trì (ghi rõ là mốc do bộ phận điều phối đặt) nhưng không báo
    lãnh đạo và không bị báo cáo là "không đạt". Đã xác nhận thì được áp dụng như quy định của kế hoạch.

    Args:
        plan_id: Mã kế hoạch.
        reason: Căn cứ (văn bản, quyết định) hoặc lý do (bắt buộc).
        by: Người quyết định (họ tên, chức vụ).
        assumption: Giả định như trong danh sách chọn ('Báo cáo quý: hạn'); hoặc dùng item_id và aspect.
        aspect: Mặt của quy định: due (hạn), count (số lượng), cadence (chu kỳ), effective (ngày hiệu lực).
        item_id: Mã nhiệm vụ hoặc báo cáo; để trống với ngày hiệu lực.
        action: Giữ nguyên và xác nhận (confirm) hoặc điều chỉnh rồi xác nhận (change).
        due_day: Khi điều chỉnh hạn: ngày trong tháng (1-31).
        due_in_month: Khi điều chỉnh hạn: tháng nào của kỳ (tháng cuối kỳ, tháng sau kỳ, tháng thứ n của kỳ).
        min_count: Khi điều chỉnh số lượng: số minh chứng tối thiểu mỗi kỳ.
        effective_from: Khi điều chỉnh ngày hiệu lực: ngày kế hoạch có hiệu lực (ngày/tháng/năm).
    """
    what = "Xác nhận giả định"
    settings = get_settings()
    plan = service.resolve_plan(plan_id, settings)
    try:
        if assumption.strip():
            item_id, aspect = forms.resolve(forms.assumption_choices(plan), assumption, "Giả định").split("|")
        if aspect not in forms.ASPECT_VI:
            raise forms.FormError("chọn một giả định trong danh sách.")
        act = forms.resolve(forms.ACTIONS, action, "Quyết định")
        due = None
        if due_day is not None:
            month = forms.resolve(forms.DUE_MONTHS, due_in_month, "Tháng của hạn")
            due = DueRule.model_validate({"in_month": int(month) if month.isdigit() else month, "day": due_day})
        effective = forms.parse_day(effective_from) if effective_from else None
        decided = service.decide_assumption(
            settings,
            plan,
            item_id,
            aspect,
            act,
            reason,
            by,
            pendulum.now("UTC"),
            due=due,
            min_count=min_count,
            effective_from=effective,
        )
    except (forms.FormError, service.UserError, ValueError) as e:
        return await _refused(what, str(e))
    (a,) = [x for x in assumptions.listing(decided) if x.item == item_id and x.aspect == aspect]
    if item_id:
        emit_evidence_recorded(plan.id, item_id, None, "assumption", reason=f"giả định {aspect}")
    name = views.duty_title(plan, item_id) if item_id else "kế hoạch"
    word = forms.ASPECT_VI[aspect]
    message = f"{word[:1].upper()}{word[1:]} của «{name}» nay là: {a.rule} ({a.confirmed})."
    lines = [
        f"- Giả định: {md_text(name)}, {forms.ASPECT_VI[aspect]}",
        f"- Quy định áp dụng: {md_text(a.rule)}",
        f"- {md_text(a.confirmed or '')}",
    ]
    return await _answered(what, lines, message, a.as_json())
