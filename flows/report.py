"""A periodic report: judged and reminded like any duty, then drafted, approved in the UI, delivered.

The run judges the moment it was scheduled for. From the draft day it assembles the draft from
the records, mails it to the coordinator and pauses for approval (a form in the Prefect UI).
Approved: the final goes to every recipient through the outbox (exactly once) with the DOCX
attached, and the delivery becomes the report duty's evidence. When the report is signed before it
goes out (the spec's ``signing: required``, the default), the final DOCX and its PDF go to the
coordinator instead and the run pauses again ("Đã ký và gửi"): she records that it went out through
e-office (number, date: that is the evidence, no mail to the recipients), or attaches the signed
copy with `cchc report sign` (a form cannot carry a file), which then goes to every recipient. Every step is idempotent and
the decision is kept in the store, so a crashed or repeated run neither loses nor repeats anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum
from typing import Any, cast

import pendulum
from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import apause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from prefect.states import Completed, Running
from pydantic import ConfigDict, Field, create_model
from pydantic.config import JsonDict

from cchc.app import report_workflow as workflow
from cchc.core.calendar import served_by, to_local
from cchc.core.report_state import DRAFTABLE, ReportState, Wait
from cchc.core.spec import Plan
from flows.common import run_duty, run_moment
from tasks import duty as t
from tasks import report as rt

ASK_AGAIN = 3  # an approval without a document number is asked again, at most this often
GIVE_WAY = dt.timedelta(minutes=10)  # a paused run gives way before the next morning's run pauses again


class Choice(StrEnum):
    approve = "Duyệt và gửi"
    send_back = "Trả lại để sửa"


# Approving needs a document number: the schema says so, and the server checks the run input against it on
# resume, so the UI's form refuses the answer instead of the run pausing again in silence.
NUMBER_PATTERN = r"Cần nhập số văn bản khi duyệt, ví dụ 12/BC-UBND|\S"
NUMBER_WHEN_APPROVED: JsonDict = {
    "if": {"properties": {"decision": {"const": "Duyệt và gửi"}}, "required": ["decision"]},
    # The UI shows the server's refusal with the pattern in it, so the pattern opens with the instruction.
    "then": {"required": ["number"], "properties": {"number": {"type": "string", "pattern": NUMBER_PATTERN}}},
}


class ReportDecision(RunInput):
    """Duyệt báo cáo: duyệt thì hệ thống đánh số, ghi người ký và gửi cho mọi nơi nhận."""

    model_config = ConfigDict(json_schema_extra=NUMBER_WHEN_APPROVED)

    decision: Choice = Field(title="Quyết định", description="Duyệt và gửi, hoặc trả lại để sửa.")
    number: str = Field(
        default="",
        title="Số văn bản (bắt buộc khi duyệt)",
        description="Bắt buộc khi chọn «Duyệt và gửi», ví dụ 12/BC-UBND. Để trống thì không duyệt được.",
    )
    signer_name: str = Field(default="", title="Người ký", description="Để trống: người ký theo kế hoạch.")
    note: str = Field(default="", title="Ghi chú", description="Lý do trả lại, hoặc ghi chú khi duyệt.")


class SentVia(StrEnum):
    eoffice = "Gửi qua hệ thống quản lý văn bản (e-office)"
    attach = "Đính kèm bản đã ký"


EOFFICE_NUMBER_PATTERN = r"Cần nhập số văn bản đã gửi trên e-office, ví dụ 123/BC-UBND|\S"
DAY_PATTERN = r"Cần nhập ngày gửi dạng ngày/tháng/năm, ví dụ 12/09/2025|^\s*\d{1,2}/\d{1,2}/\d{4}\s*$"
NUMBER_AND_DAY_WHEN_EOFFICE: JsonDict = {
    "if": {"properties": {"via": {"const": SentVia.eoffice.value}}, "required": ["via"]},
    "then": {
        "required": ["number", "date"],
        "properties": {
            "number": {"type": "string", "pattern": EOFFICE_NUMBER_PATTERN},
            "date": {"type": "string", "pattern": DAY_PATTERN},
        },
    },
}


class SignedAndSent(RunInput):
    """Đã ký và gửi: ghi số, ngày đã gửi qua e-office; hoặc đính kèm bản đã ký bằng lệnh cchc report sign."""

    model_config = ConfigDict(json_schema_extra=NUMBER_AND_DAY_WHEN_EOFFICE)

    via: SentVia = Field(
        title="Cách gửi",
        description="E-office: nhập số và ngày gửi, hệ thống không gửi thư cho nơi nhận. Đính kèm bản đã ký: "
        "tải lên trên trang của người điều phối, hoặc lệnh cchc report sign (biểu mẫu này không nhận tệp).",
    )
    number: str = Field(
        default="",
        title="Số văn bản trên e-office",
        description="Bắt buộc khi gửi qua e-office, ví dụ 123/BC-UBND.",
    )
    date: str = Field(
        default="",
        title="Ngày gửi (ngày/tháng/năm)",
        description="Bắt buộc khi gửi qua e-office, ví dụ 12/09/2025.",
    )
    by: str = Field(default="", title="Người ghi nhận", description="Họ và tên người ghi; để trống: lần chạy này.")


def _signing_form(description: str) -> type[SignedAndSent]:
    form = create_model("SignedAndSent", __base__=SignedAndSent)
    form._description = description
    return form


def _asking(description: str) -> type[ReportDecision]:
    """The decision form with this run's brief as the Resume dialog's text (field descriptions kept)."""
    form = create_model("ReportDecision", __base__=ReportDecision)
    form._description = description  # what RunInput.with_initial_data sets, without redefining the fields
    return form


def _wait_seconds(tz: str, run_time: dt.time, override: int | None) -> int:
    if override is not None:
        return max(1, override)
    now = pendulum.now(tz)
    until = now.replace(hour=run_time.hour, minute=run_time.minute, second=0, microsecond=0) - GIVE_WAY
    if until <= now:  # started after today's give-way moment: wait until before tomorrow's run
        until = until.add(days=1)
    return max(60, int((until - now).total_seconds()))


@flow(name="cchc-report", flow_run_name="{plan_id}:{report_id}", log_prints=True)
async def report_duty(
    plan_id: str,
    report_id: str,
    at: dt.datetime | None = None,
    reason: str = "lịch",
    period: str | None = None,
    redraft: bool = False,
    approval_wait_seconds: int | None = None,
    approval_poll_seconds: int = 10,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Báo cáo định kỳ: đánh giá, nhắc việc, lập dự thảo, chờ duyệt, gửi báo cáo.

    Args:
        plan_id: Mã kế hoạch (tên tệp trong plan_specs/), ví dụ phu-thai-2025h2.
        report_id: Mã báo cáo trong kế hoạch (mục reports), ví dụ bao-cao-quy.
        at: Đánh giá tại thời điểm này; để trống thì dùng giờ đã lên lịch của lần chạy.
        reason: Lý do chạy (lịch, minh chứng mới, chạy lại).
        period: Kỳ báo cáo (vd. 2025-Q3); để trống thì là kỳ đang đến hạn lập dự thảo.
        redraft: Lập lại dự thảo ngay cả khi số liệu không đổi (sau khi bị trả lại).
        approval_wait_seconds: Chờ duyệt bao lâu; để trống thì chờ đến trước lần chạy sáng hôm sau.
        approval_poll_seconds: Bao lâu kiểm tra một lần xem đã duyệt chưa.
        now: Giờ hệ thống giả lập khi chạy mô phỏng (ghi nhận, gửi thư); để trống là giờ thật.
    """
    logger = get_run_logger()
    plan = t.load_plan(plan_id)
    moment = run_moment(at, plan.timezone)
    clock = _clock(now)
    simulated = now is not None
    now = clock()
    tgt = workflow.target(plan, report_id, period, moment)
    out: dict[str, Any] = {"plan": plan_id, "report": report_id, "period": tgt.period, "at": moment.isoformat()}
    if not simulated:  # a simulated clock says nothing about whether the system runs
        out["gap"] = t.note_run(plan, now)
    # A report has no feed sources: as in run_duty, the task (and its imports) only where there is something to read.
    out["collected"] = t.collect_evidence(plan, report_id, moment) if t.has_sources(plan, report_id) else 0
    evaluation = t.evaluate(plan, report_id, moment, now)
    t.emit_status_events(plan, evaluation.changes)
    serving = served_by(plan, report_id, tgt.period)
    if serving is not None:
        # One document serves both (the spec's `serves:`): no draft of its own; delivering that one settles this.
        out["served_by"] = f"{serving[0]}:{serving[1]}"
        out["mail"] = t.notify(plan, [report_id], moment, now)
        t.publish_artifacts(plan, report_id, evaluation, moment)
        logger.info("báo cáo %s %s dùng chung văn bản với %s %s", report_id, tgt.period, *serving)
        return out
    state = rt.report_state(plan, tgt)
    early = to_local(moment, plan.timezone).date() < tgt.draft_day and period is None and not redraft
    if not early and (state is None or state in DRAFTABLE):
        out["draft"] = rt.draft_report(plan, tgt, moment, now, redraft)
        state = ReportState(out["draft"]["state"])
        out["leader_told"] = rt.warn_leader(plan, tgt, moment, now)
    if state in (ReportState.approved, ReportState.signed):  # a crash may have stopped the delivery
        out["delivery"] = rt.deliver(plan, tgt, now)
        state = out["delivery"]["state"] or state
    out["mail"] = t.notify(plan, [report_id], moment, now)
    t.publish_artifacts(plan, report_id, evaluation, moment)
    out["state"] = state
    wait = _wait_seconds(plan.timezone, plan.run_time, approval_wait_seconds)
    if state == ReportState.signing:
        return await _await_signing(plan, tgt, report_id, moment, clock, out, wait, approval_poll_seconds)
    if state != ReportState.drafted:
        if state == ReportState.sent_back:
            logger.info("báo cáo đã bị trả lại: ghi thêm minh chứng hoặc chạy lại với redraft=true để lập bản mới")
        return await _after_delivery(plan, tgt, report_id, moment, clock(), out)

    version: int | None = out["draft"]["version"] if "draft" in out else None
    decision: ReportDecision | None = None
    asked_again = False
    for attempt in range(1, ASK_AGAIN + 1):
        text = rt.brief(plan, tgt, moment, version, asked_again)
        try:
            answer = await apause_flow_run(
                wait_for_input=_asking(text),
                timeout=wait,
                poll_interval=approval_poll_seconds,
                key=f"duyet-{tgt.period.lower()}-v{version or 0}-{attempt}",
            )
        except FlowPauseTimeout:
            logger.info("chưa có quyết định duyệt báo cáo %s %s; lần chạy sau sẽ chờ tiếp", report_id, tgt.period)
            await _back_to_running("quyết định duyệt")
            break
        if answer.decision is Choice.approve and not answer.number.strip():
            # The form's schema refuses this; an answer sent around it is asked again, and the dialog says why.
            logger.error("duyệt báo cáo cần số văn bản (vd. 12/BC-UBND): mở lại lần chạy và nhập số văn bản")
            asked_again = True
            continue
        decision = answer
        break
    if decision is None:
        out["state"] = Wait.waiting
        return _waiting(
            out, f"Chờ duyệt: báo cáo {report_id} kỳ {tgt.period} chưa có quyết định; lần chạy sau chờ tiếp."
        )
    choice = workflow.Decision.approve if decision.decision is Choice.approve else workflow.Decision.send_back
    now = clock()
    by = f"prefect:{flow_run.id}" if flow_run.id else "prefect"
    decided = rt.decide(plan, tgt, choice.value, decision.number, decision.signer_name, decision.note, by, now, version)
    if decided == Wait.stale:  # decided on a replaced draft: nothing recorded, the current draft still waits
        out["state"] = Wait.waiting
        return _waiting(
            out, f"Chờ duyệt: quyết định cho bản dự thảo cũ không được ghi; bản mới của {report_id} chờ tiếp."
        )
    out["state"] = decided
    if decided == ReportState.approved:
        out["delivery"] = rt.deliver(plan, tgt, now)
        out["mail"] = t.notify(plan, [report_id], moment, now)
        if out["delivery"]["state"] == ReportState.signing:
            out["state"] = ReportState.signing
            return await _await_signing(plan, tgt, report_id, moment, clock, out, wait, approval_poll_seconds)
    return await _after_delivery(plan, tgt, report_id, moment, clock(), out)


async def _await_signing(
    plan: Plan,
    tgt: workflow.Target,
    report_id: str,
    moment: dt.datetime,
    clock: Callable[[], dt.datetime],
    out: dict[str, Any],
    wait: int,
    poll: int,
) -> dict[str, Any]:
    """The second pause: signed and sent through e-office (recorded here), or attached by command."""
    logger = get_run_logger()
    problem: str | None = None
    for attempt in range(1, ASK_AGAIN + 1):
        text = rt.signing_brief(plan, tgt, problem)
        try:
            answer = await apause_flow_run(
                wait_for_input=_signing_form(text),
                timeout=wait,
                poll_interval=poll,
                key=f"ky-{tgt.period.lower()}-{attempt}",
            )
        except FlowPauseTimeout:
            logger.info(
                "báo cáo %s %s chưa ghi bản đã ký hay e-office; lần chạy sau sẽ chờ tiếp", report_id, tgt.period
            )
            await _back_to_running("bản đã ký")
            break
        if answer.via is SentVia.attach:
            state = rt.report_state(plan, tgt)
            if state == ReportState.signed:  # attached by command while this run waited
                out["delivery"] = rt.deliver(plan, tgt, clock())
                out["mail"] = t.notify(plan, [report_id], moment, clock())
                out["state"] = state
                return await _after_delivery(plan, tgt, report_id, moment, clock(), out)
            logger.info(
                "đính kèm bản đã ký bằng lệnh cchc report sign %s --report %s --period %s --file ... --by ..."
                "; hệ thống sẽ gửi bản đã ký tới mọi nơi nhận",
                plan.id,
                report_id,
                tgt.period,
            )
            break
        by = answer.by.strip() or (f"prefect:{flow_run.id}" if flow_run.id else "prefect")
        problem = rt.record_eoffice(plan, tgt, answer.number, answer.date, by, clock())
        if problem is None:
            out["eoffice"] = {"number": answer.number.strip(), "date": answer.date.strip()}
            return await _after_delivery(plan, tgt, report_id, moment, clock(), out, delivered_now=True)
        logger.error("chưa ghi được gửi qua e-office: %s; mở lại lần chạy và nhập lại", problem)
    out["state"] = ReportState.signing
    return _waiting(
        out,
        f"Chờ bản đã ký: báo cáo {report_id} kỳ {tgt.period} chưa ghi số e-office hay bản đã ký; "
        "lần chạy sau chờ tiếp.",
    )


async def _back_to_running(awaited: str) -> None:
    """A pause that timed out leaves the run Paused on the server, and from there Prefect turns the run's
    Completed into Failed ("The flow was completed and never resumed"): a red run for a report that only waits.
    Forced back to Running, the run ends Completed, saying what it waits for. A run that is no longer Paused is
    left as it is: cancelled meanwhile, or already Failed by Prefect's pause_expirations service or a resume sent
    too late (Prefect accepts Completed after Failed)."""
    if not flow_run.id:
        return
    async with get_client() as client:
        state = (await client.read_flow_run(flow_run.id)).state
        if state is None or not state.is_paused():
            return
        running: State[Any] = Running(message=f"Hết giờ chờ {awaited}; lần chạy này kết thúc, lần chạy sau chờ tiếp")
        await client.set_flow_run_state(flow_run.id, running, force=True)


def _waiting(out: dict[str, Any], message: str) -> dict[str, Any]:
    """The run ends Completed (named so: automations and the doctor go by the state's name and type) with a
    message saying what the report waits for. Returned from the flow, the state is the run's final state and the
    engine hands its data, ``out``, to the caller: what a caller gets is the dict, hence the cast."""
    get_run_logger().info("%s", message)
    final: State[dict[str, Any]] = Completed(message=message, data=out)
    return cast(dict[str, Any], final)


def _clock(simulated: dt.datetime | None) -> Callable[[], dt.datetime]:
    """Wall-clock UTC, or a simulated 'now' that advances with real time (replays, tests)."""
    if simulated is None:
        return lambda: pendulum.now("UTC")
    start, base = pendulum.now("UTC"), pendulum.instance(simulated).in_timezone("UTC")
    return lambda: base + (pendulum.now("UTC") - start)


async def _after_delivery(
    plan: Plan,
    tgt: workflow.Target,
    report_id: str,
    moment: dt.datetime,
    now: dt.datetime,
    out: dict[str, Any],
    delivered_now: bool = False,
) -> dict[str, Any]:
    """Once the delivery is recorded, the report's own occurrence turns met: judge and announce it."""
    delivered = out.get("mail", {}).get("reports", [])
    if delivered_now:  # recorded by this run (e-office), not by the mail pass
        delivered = [*delivered, f"{plan.id}:{tgt.report.id}:{tgt.period}"]
    if rt.announce_delivered(plan, tgt, delivered):
        evaluation = t.evaluate(plan, report_id, max(moment, now), now)
        t.emit_status_events(plan, evaluation.changes)
        out["state"] = ReportState.delivered
        out["statuses"] = {j.occurrence.period: j.status.value for j in evaluation.duty_judged}
    return out


@flow(name="cchc-unit-report", flow_run_name="{plan_id}:{duty_id}", log_prints=True)
async def unit_report_duty(
    plan_id: str, duty_id: str, at: dt.datetime | None = None, reason: str = "lịch"
) -> dict[str, Any]:
    """Nhiệm vụ báo cáo của một đơn vị (kind: report): đánh giá và nhắc việc như mọi nhiệm vụ.

    Args:
        plan_id: Mã kế hoạch (tên tệp trong plan_specs/), ví dụ phu-thai-2025h2.
        duty_id: Mã nhiệm vụ báo cáo của đơn vị, ví dụ bao-cao-don-vi.
        at: Đánh giá tại thời điểm này; để trống thì dùng giờ đã lên lịch của lần chạy.
        reason: Lý do chạy (lịch, minh chứng mới, chạy lại).
    """
    return run_duty(plan_id, duty_id, at, reason)
