"""A report run whose pause times out ends Completed with a message saying what it waits for, not Failed.

Prefect's test harness (its server does not run the pause_expirations service, so the tests do what that
service does: put the expired run in Failed with its message), real SQLite store, real SMTP on loopback."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import pendulum
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.flow_runs import aresume_flow_run
from prefect.states import Failed

from cchc.app import report_workflow as workflow
from cchc.app import service
from cchc.settings import Settings, get_settings
from flows.report import report_duty
from tests.mailserver import MailServer
from tests.test_report_flow import _evidence, no_signing, smtp  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.anyio, pytest.mark.timeout_slow]
TZ = "Asia/Ho_Chi_Minh"
PLAN = "phu-thai-2025h2"
REPORT = "bao-cao-quy"
DRAFT_DAY = pendulum.datetime(2025, 9, 3, 8, tz=TZ)
# What Prefect's pause_expirations service writes on an expired pause (prefect/server/services/pause_expirations.py).
EXPIRED = "The flow was paused and never resumed."


async def _report_runs() -> list[FlowRun]:
    async with get_client() as client:
        return await client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["cchc-report"])))


async def _new_pause(before: set[UUID], key: str) -> FlowRun:
    """The run started by this test once it paused under a key starting with ``key`` (bounded wait)."""
    for _ in range(240):
        for run in await _report_runs():
            state = run.state
            if run.id not in before and state is not None and state.type == StateType.PAUSED:
                assert str(state.state_details.pause_key).startswith(key), state.state_details.pause_key
                return run
        await asyncio.sleep(0.25)
    raise AssertionError(f"the report run never paused for {key}")


async def _final(run_id: UUID) -> FlowRun:
    async with get_client() as client:
        return await client.read_flow_run(run_id)


def _run(at: pendulum.DateTime, wait: int) -> asyncio.Task[Any]:
    return asyncio.create_task(
        report_duty(plan_id=PLAN, report_id=REPORT, at=at, now=at, approval_wait_seconds=wait, approval_poll_seconds=1)
    )


async def test_no_decision_in_time_ends_completed_waiting_and_the_next_run_pauses_again_and_delivers_once(
    cchc_env: Settings,
    no_signing: None,  # noqa: F811
    smtp: MailServer,  # noqa: F811
) -> None:
    settings = get_settings()
    _evidence(settings)
    before = {r.id for r in await _report_runs()}
    run = _run(DRAFT_DAY, 2)
    paused = await _new_pause(before, "duyet-2025-q3-v1-")
    result = await asyncio.wait_for(run, timeout=60)

    assert result["state"] == "waiting"
    ended = await _final(paused.id)
    assert ended.state is not None and ended.state.type == StateType.COMPLETED, ended.state
    assert ended.state.name == "Completed"  # automations and the doctor go by the state's name and type
    assert ended.state.message is not None and ended.state.message.startswith(
        "Chờ duyệt: báo cáo bao-cao-quy kỳ 2025-Q3"
    )
    assert not smtp.handler.by_subject("Báo cáo số")  # nothing went to the recipients
    assert len(smtp.handler.by_subject("Dự thảo báo cáo (bản 1)")) == 1

    # The next morning's run pauses again for the same draft; a decision in time is delivered once.
    later = DRAFT_DAY.add(days=1)
    before = {r.id for r in await _report_runs()}
    run = _run(later, 60)
    again = await _new_pause(before, "duyet-2025-q3-v1-")
    await aresume_flow_run(
        again.id, run_input={"decision": "Duyệt và gửi", "number": "12/BC-UBND", "signer_name": "", "note": ""}
    )
    result = await asyncio.wait_for(run, timeout=60)
    assert result["state"] == workflow.DELIVERED
    delivered = smtp.handler.by_subject("Báo cáo số 12/BC-UBND")
    assert sorted(r.rcpt[0] for r in delivered) == ["so-noi-vu@phu-thai.example", "ubnd@phu-thai.example"]
    ended = await _final(again.id)
    assert ended.state is not None and ended.state.type == StateType.COMPLETED and not ended.state.message


async def test_a_run_the_server_already_failed_for_its_expired_pause_still_ends_completed(
    cchc_env: Settings,
    no_signing: None,  # noqa: F811
    smtp: MailServer,  # noqa: F811
) -> None:
    """Prefect's pause_expirations service (or a resume sent too late) puts the expired run in Failed while
    the flow still waits out its own timeout: the flow leaves that state alone (Prefect accepts Completed after
    Failed) and the run still ends Completed, waiting; a later run delivers the decision stored meanwhile on
    her page (the portal's path when no run is paused)."""
    settings = get_settings()
    _evidence(settings)
    before = {r.id for r in await _report_runs()}
    run = _run(DRAFT_DAY, 3)
    paused = await _new_pause(before, "duyet-2025-q3-v1-")
    async with get_client() as client:
        await client.set_flow_run_state(paused.id, Failed(message=EXPIRED), force=True)
    result = await asyncio.wait_for(run, timeout=60)

    assert result["state"] == "waiting"
    ended = await _final(paused.id)
    assert ended.state is not None and ended.state.type == StateType.COMPLETED, ended.state
    assert ended.state.message is not None and ended.state.message.startswith("Chờ duyệt:")
    assert not smtp.handler.by_subject("Báo cáo số")

    # The coordinator decided on her page after the pause: stored, and the next run delivers it without pausing.
    plan = service.resolve_plan(PLAN, settings)
    tgt = workflow.target(plan, REPORT, "2025-Q3", DRAFT_DAY)
    later = DRAFT_DAY.add(days=1)
    workflow.decide(settings, plan, tgt, workflow.Decision.approve, later, number="13/BC-UBND")
    result = await asyncio.wait_for(_run(later, 60), timeout=60)
    assert result["state"] == workflow.DELIVERED
    assert len(smtp.handler.by_subject("Báo cáo số 13/BC-UBND")) == 2


async def test_no_signed_copy_in_time_ends_completed_waiting_for_it_and_the_next_run_asks_again(
    cchc_env: Settings,
    smtp: MailServer,  # noqa: F811
) -> None:
    settings = get_settings()
    plan = service.resolve_plan(PLAN, settings)
    tgt = workflow.target(plan, REPORT, "2025-Q3", DRAFT_DAY)
    workflow.draft(settings, plan, tgt, DRAFT_DAY, DRAFT_DAY)
    workflow.decide(settings, plan, tgt, workflow.Decision.approve, DRAFT_DAY, number="41/BC-UBND")
    assert workflow.deliver(settings, plan, tgt, DRAFT_DAY).state == workflow.SIGNING

    later = DRAFT_DAY.add(days=1)
    before = {r.id for r in await _report_runs()}
    run = _run(later, 2)
    paused = await _new_pause(before, "ky-2025-q3-")
    result = await asyncio.wait_for(run, timeout=60)

    assert result["state"] == workflow.SIGNING
    ended = await _final(paused.id)
    assert ended.state is not None and ended.state.type == StateType.COMPLETED, ended.state
    assert ended.state.message is not None and ended.state.message.startswith("Chờ bản đã ký: báo cáo bao-cao-quy")
    assert not smtp.handler.by_subject("Báo cáo số")  # the recipients get nothing before the signed copy

    # The next run pauses for the signed copy again; recorded as sent through e-office in time, it ends met.
    before = {r.id for r in await _report_runs()}
    run = _run(later.add(days=1), 60)
    again = await _new_pause(before, "ky-2025-q3-")
    await aresume_flow_run(
        again.id,
        run_input={
            "via": "Gửi qua hệ thống quản lý văn bản (e-office)",
            "number": "41/BC-UBND",
            "date": "05/09/2025",
            "by": "",
        },
    )
    result = await asyncio.wait_for(run, timeout=60)
    assert result["state"] == workflow.DELIVERED and result["eoffice"]["number"] == "41/BC-UBND"
    assert not smtp.handler.by_subject("Báo cáo số")  # e-office: no mail to the recipients
    ended = await _final(again.id)
    assert ended.state is not None and ended.state.type == StateType.COMPLETED and not ended.state.message
