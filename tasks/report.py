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
    d = workflow.deliver(get_settings(), plan, tgt, now)
    logger = get_run_logger()
    for problem in d.problems:
        logger.warning(problem)
    if d.markdown:
        create_markdown_artifact(
            key=artifact_key("report", plan.id, tgt.report.id, tgt.period),
            markdown=d.markdown,
            description=f"Báo cáo {tgt.period} đã duyệt",
        )
    return {"queued": len(d.queued), "problems": d.problems}


@task(name="phát sự kiện báo cáo đã gửi")
def announce_delivered(plan: Plan, tgt: workflow.Target, delivered: list[str]) -> bool:
    if f"{plan.id}:{tgt.report.id}:{tgt.period}" not in delivered:
        return False
    _event(plan, tgt, "cchc.report.delivered", {})
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
