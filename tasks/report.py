"""Tasks of the report flow. Each calls one use case of cchc.app.report_workflow."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.events import emit_event

from cchc.app import report_workflow as workflow
from cchc.app.report_render import render_markdown
from cchc.core.assemble import approval_brief
from cchc.core.report_state import ReportState, Wait
from cchc.core.spec import Plan
from cchc.settings import get_settings
from tasks.duty import artifact_key


@task(name="tình trạng báo cáo")
def report_state(plan: Plan, tgt: workflow.Target) -> ReportState | None:
    run = workflow.run_state(get_settings(), plan, tgt.report.id, tgt.period)
    return ReportState(run.state) if run else None


@task(name="lập dự thảo báo cáo", retries=1, retry_delay_seconds=10)
def draft_report(plan: Plan, tgt: workflow.Target, at: dt.datetime, now: dt.datetime, force: bool) -> dict[str, Any]:
    d = workflow.draft(get_settings(), plan, tgt, at, now, force)
    if d.new:
        create_markdown_artifact(
            key=artifact_key("report", plan.id, tgt.report.id, tgt.period),
            markdown=render_markdown(d.model),
            description=f"Dự thảo báo cáo {tgt.period} (bản {d.version}) — {d.model.summary}",
        )
        get_run_logger().info(
            "dự thảo bản %s của %s %s đã lập và gửi cơ quan thường trực", d.version, tgt.report.id, tgt.period
        )
    return {"state": d.state, "version": d.version, "new": d.new}


@task(name="tóm tắt dự thảo để duyệt")
def brief(plan: Plan, tgt: workflow.Target, at: dt.datetime, version: int | None, asked_again: bool) -> str:
    """The Resume dialog's text: the draft in a few lines and a link to its artifact in the UI."""
    from prefect.settings import PREFECT_UI_URL

    if version is None:  # drafted by an earlier run
        run = workflow.run_state(get_settings(), plan, tgt.report.id, tgt.period)
        version = run.version if run else 0
    model = workflow.build(get_settings(), plan, tgt.report.id, tgt.period, at)
    ui = PREFECT_UI_URL.value()
    key = artifact_key("report", plan.id, tgt.report.id, tgt.period)
    link = f"{ui.rstrip('/')}/artifacts/key/{key}" if ui else None
    return approval_brief(model, version, link, asked_again)


@task(name="báo lãnh đạo khi chưa duyệt")
def warn_leader(plan: Plan, tgt: workflow.Target, at: dt.datetime, now: dt.datetime) -> int:
    return len(workflow.approval_late(get_settings(), plan, tgt, at, now))


@task(name="ghi quyết định duyệt")
def decide(
    plan: Plan,
    tgt: workflow.Target,
    decision: str,
    number: str,
    signer: str,
    note: str,
    by: str,
    now: dt.datetime,
    version: int | None = None,
) -> ReportState | Wait:
    """The state decided, or Wait.stale when the decision was on a draft a newer one replaced (nothing recorded)."""
    try:
        state = workflow.decide(
            get_settings(), plan, tgt, workflow.Decision(decision), now, number, signer, note, by, version
        )
    except workflow.StaleDraft as e:
        get_run_logger().error("%s", e)
        return Wait.stale
    _event(
        plan,
        tgt,
        "cchc.report.approved" if state == ReportState.approved else "cchc.report.sent-back",
        {
            "number": number,
            "signer": signer,
            "note": note,
        },
    )
    return state


@task(name="gửi báo cáo", retries=1, retry_delay_seconds=10)
def deliver(plan: Plan, tgt: workflow.Target, now: dt.datetime) -> dict[str, Any]:
    """Approved: the DOCX to every recipient (no signing), or the DOCX and PDF to the coordinator for signing;
    signed: the signed copy to every recipient."""
    d = workflow.deliver(get_settings(), plan, tgt, now)
    logger = get_run_logger()
    for problem in d.problems:
        logger.warning(problem)
    if d.queued and d.state == ReportState.signing:
        logger.info(
            "báo cáo %s %s đã duyệt: bản Word và PDF đã gửi đơn vị tổng hợp để trình ký", tgt.report.id, tgt.period
        )
    if d.markdown:
        publish(plan, tgt, "chờ ký" if d.state == ReportState.signing else "đã duyệt")
    return {"queued": len(d.queued), "problems": d.problems, "state": d.state, "pdf": d.pdf_sha256}


def publish(plan: Plan, tgt: workflow.Target, what: str) -> None:
    """The report's artifact: the final as approved, and how it was signed and sent (the delivery evidence)."""
    markdown = workflow.delivery_markdown(get_settings(), plan, tgt)
    if markdown:
        create_markdown_artifact(
            key=artifact_key("report", plan.id, tgt.report.id, tgt.period),
            markdown=markdown,
            description=f"Báo cáo {tgt.period} {what}",
        )


@task(name="tóm tắt bước ký")
def signing_brief(plan: Plan, tgt: workflow.Target, problem: str | None) -> str:
    """The second Resume dialog's text: what was sent for signing and the two ways to finish."""
    run = workflow.run_state(get_settings(), plan, tgt.report.id, tgt.period)
    number = run.number if run else "-"
    lines = [
        f"Báo cáo {tgt.period} số {number} đã duyệt; bản Word và PDF đã gửi đơn vị tổng hợp để trình ký.",
        "Sau khi ký: chọn «Gửi qua hệ thống quản lý văn bản (e-office)» và nhập số, ngày gửi (ngày/tháng/năm); "
        "hệ thống ghi nhận đã gửi, không gửi thư cho nơi nhận.",
        "Hoặc đính kèm bản đã ký (PDF, ảnh quét) bằng lệnh "
        f"`cchc report sign {plan.id} --report {tgt.report.id} --period {tgt.period} --file ban-da-ky.pdf "
        '--by "Họ và tên"` hoặc tải lên ở mục «Báo cáo chờ bản đã ký» trên trang đăng nhập của người điều phối: hệ thống gửi bản đã ký tới mọi nơi nhận. '
        "Biểu mẫu này không nhận tệp.",
    ]
    if problem:
        lines.insert(0, f"Lần trước chưa ghi được: {problem}")
    return "\n\n".join(lines)


@task(name="ghi gửi qua e-office")
def record_eoffice(plan: Plan, tgt: workflow.Target, number: str, day: str, by: str, now: dt.datetime) -> str | None:
    """None when recorded (the report is delivered), else the Vietnamese reason, for the form to ask again."""
    from cchc.app import service

    try:
        new = workflow.sent_eoffice(get_settings(), plan, tgt, number, day, by, now)
    except service.UserError as e:
        return str(e)
    if new:
        _event(plan, tgt, "cchc.report.sent-eoffice", {"number": number.strip(), "date": day.strip()})
        get_run_logger().info(
            "đã ghi báo cáo %s %s gửi qua e-office, số %s, ngày %s", tgt.report.id, tgt.period, number, day
        )
    publish(plan, tgt, "đã gửi qua e-office")
    return None


@task(name="phát sự kiện báo cáo đã gửi")
def announce_delivered(plan: Plan, tgt: workflow.Target, delivered: list[str]) -> bool:
    if f"{plan.id}:{tgt.report.id}:{tgt.period}" not in delivered:
        return False
    _event(plan, tgt, "cchc.report.delivered", {})
    publish(plan, tgt, "đã gửi")
    return True


def _event(plan: Plan, tgt: workflow.Target, name: str, payload: dict[str, Any]) -> None:
    emit_event(
        event=name,
        resource={
            "prefect.resource.id": f"cchc.occurrence.{plan.id}.{tgt.report.id}.{tgt.period}",
            "prefect.resource.name": f"{tgt.report.title} — {tgt.period}",
        },
        related=[
            {"prefect.resource.id": f"cchc.duty.{plan.id}.{tgt.report.id}", "prefect.resource.role": "duty"},
            {"prefect.resource.id": f"cchc.plan.{plan.id}", "prefect.resource.role": "plan"},
        ],
        payload={"plan": plan.id, "report": tgt.report.id, "period": tgt.period, **payload},
    )
