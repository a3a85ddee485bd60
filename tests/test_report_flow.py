"""The report flow under Prefect's test harness: draft, pause for approval, delivery, the duty turning met."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import docx
import pendulum
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.flow_runs import aresume_flow_run

from cchc.app import report_workflow as workflow
from cchc.app import service
from cchc.settings import Settings, get_settings
from flows.report import report_duty, unit_report_duty
from tests.mailserver import MailServer, Received, running
from tests.test_report_workflow import no_signing_plans

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.anyio, pytest.mark.timeout_slow]
TZ = "Asia/Ho_Chi_Minh"
PLAN = "phu-thai-2025h2"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture
def no_signing(cchc_env: Settings, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan's reports with `signing: none`: approval delivers the DOCX at once."""
    monkeypatch.setenv("CCHC_PLAN_DIR", str(no_signing_plans(tmp_path)))
    get_settings.cache_clear()


@pytest.fixture
def smtp(cchc_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[MailServer]:
    for server in running():
        monkeypatch.setenv("CCHC_SMTP_URL", server.url)
        get_settings.cache_clear()
        yield server


def _evidence(settings: Settings) -> None:
    """Posts for July and August, one radio programme; nothing else (so the report has shortfalls)."""
    plan = service.resolve_plan(PLAN, settings)
    now = pendulum.datetime(2025, 8, 27, 7, tz=TZ)
    items = [
        service.EvidenceInput(
            "cong-ttdt-tin-bai",
            "post",
            f"Tin CCHC {d:%d/%m}",
            d,
            url=f"https://phuthai.example/tin/{d:%m%d}",
            unit="ttvhttt",
        )
        for d in (dt.date(2025, 7, 10), dt.date(2025, 7, 24), dt.date(2025, 8, 12))
    ]
    items.append(
        service.EvidenceInput(
            "phat-thanh-chuyen-de", "broadcast", "Chuyên đề phát thanh tháng 7", dt.date(2025, 7, 28), unit="ttvhttt"
        )
    )
    for item in items:
        service.record_evidence(settings, plan, item, now)


def _docx(msg: Received) -> tuple[str, bytes]:
    parts = [p for p in msg.msg.iter_attachments() if p.get_content_type() == DOCX]
    assert len(parts) == 1, [p.get_content_type() for p in msg.msg.iter_attachments()]
    return str(parts[0].get_filename()), bytes(parts[0].get_content())  # type: ignore[attr-defined]


async def _paused_run_id(timeout: float = 60.0) -> Any:
    """The id of the report run waiting for approval (bounded wait)."""
    async with get_client() as client:
        for _ in range(int(timeout / 0.25)):
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
                )
            )
            if runs:
                return runs[0].id
            await asyncio.sleep(0.25)
    raise AssertionError("the report run never paused for approval")


async def test_report_is_drafted_approved_in_the_ui_delivered_with_the_docx_and_turns_met(
    cchc_env: Settings, no_signing: None, smtp: MailServer
) -> None:
    settings = get_settings()
    _evidence(settings)
    at = pendulum.datetime(2025, 9, 3, 8, tz=TZ)  # the draft day: 5 working days before 10/09
    run = asyncio.create_task(
        report_duty(
            plan_id=PLAN, report_id="bao-cao-quy", at=at, now=at, approval_wait_seconds=120, approval_poll_seconds=1
        )
    )
    flow_run_id = await _paused_run_id()

    drafts = smtp.handler.by_subject("Dự thảo báo cáo (bản 1)")
    assert [r.rcpt for r in drafts] == [["vhxh@phu-thai.example"]]
    name, data = _docx(drafts[0])
    assert name.startswith("du-thao-bao-cao-quy-2025-Q3")
    draft_doc = docx.Document(io.BytesIO(data))
    assert "DỰ THẢO" in [p.text for p in draft_doc.paragraphs]

    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["report-phu-thai-2025h2-bao-cao-quy-2025-q3"]))
        )
    assert artifacts and "Kết quả công tác tuyên truyền cải cách hành chính quý III năm 2025" in str(artifacts[0].data)

    # Approved without a document number: the server refuses the answer against the form's schema, so the
    # UI shows the refusal; nothing is decided and the run stays paused.
    with pytest.raises(RuntimeError, match="Validation failed for field 'number'"):
        await aresume_flow_run(
            flow_run_id, run_input={"decision": "Duyệt và gửi", "number": " ", "signer_name": "", "note": ""}
        )
    assert await _paused_run_id() == flow_run_id
    assert (
        workflow.run_state(settings, service.resolve_plan(PLAN, settings), "bao-cao-quy", "2025-Q3").state == "drafted"
    )  # type: ignore[union-attr]
    await aresume_flow_run(
        flow_run_id, run_input={"decision": "Duyệt và gửi", "number": "12/BC-UBND", "signer_name": "", "note": ""}
    )
    result = await asyncio.wait_for(run, timeout=120)
    assert result["state"] == workflow.DELIVERED
    assert result["statuses"]["2025-Q3"] == "met"

    delivered = smtp.handler.by_subject("Báo cáo số 12/BC-UBND")
    assert sorted(r.rcpt[0] for r in delivered) == ["so-noi-vu@phu-thai.example", "ubnd@phu-thai.example"]
    name, data = _docx(delivered[0])
    assert name == "bao-cao-quy-2025-Q3-phu-thai-2025h2.docx"
    final = docx.Document(io.BytesIO(data))
    header = final.tables[0].rows[0].cells[0].text
    assert "Số: 12/BC-UBND" in header
    assert "DỰ THẢO" not in [p.text for p in final.paragraphs]
    assert "Phạm Tiến Nhuận" in final.tables[-1].rows[0].cells[1].text

    plan = service.resolve_plan(PLAN, settings)
    listing = {(r["report"], r["period"]): r for r in workflow.listing(settings, plan, at.add(days=1))}
    q3 = listing[("bao-cao-quy", "2025-Q3")]
    assert q3["status"] == "met" and q3["approval"]["number"] == "12/BC-UBND"
    assert q3["approval"]["state"] == "delivered" and len(q3["delivery"]["messages"]) == 2

    # A repeated run (a duplicate schedule, a retry) sends nothing again and does not pause.
    before = len(smtp.received)
    again = await report_duty(plan_id=PLAN, report_id="bao-cao-quy", at=at.add(days=1), now=at.add(days=1))
    assert again["state"] == workflow.DELIVERED
    assert len(smtp.received) == before


async def test_without_approval_the_leader_is_told_one_working_day_before_the_due_time(
    cchc_env: Settings, smtp: MailServer
) -> None:
    settings = get_settings()
    _evidence(settings)
    at = pendulum.datetime(2025, 9, 9, 8, tz=TZ)  # due at the end of 10/09; 1 working day before
    result = await report_duty(
        plan_id=PLAN, report_id="bao-cao-quy", at=at, now=at, approval_wait_seconds=2, approval_poll_seconds=1
    )
    assert result["state"] == "waiting"
    assert result["leader_told"] == 1
    told = smtp.handler.by_subject("chưa được duyệt")
    assert [r.rcpt for r in told] == [["lanh-dao@phu-thai.example"]]
    assert "10/09/2025" in told[0].text()
    # The date is the coordinator's assumption, not the plan's: the leader is told so.
    assert "(hạn do bộ phận điều phối đặt, kế hoạch không quy định)" in told[0].text()
    assert not smtp.handler.by_subject("Báo cáo số")

    # The next morning's run does not tell the leader twice, and still nothing is delivered.
    again = await report_duty(
        plan_id=PLAN,
        report_id="bao-cao-quy",
        at=at.add(days=1),
        now=at.add(days=1),
        approval_wait_seconds=1,
        approval_poll_seconds=1,
    )
    assert again["state"] == "waiting" and again["leader_told"] == 0
    assert len(smtp.handler.by_subject("chưa được duyệt")) == 1


async def test_a_report_sent_back_in_the_ui_is_not_delivered_and_waits_for_a_new_draft(
    cchc_env: Settings, smtp: MailServer
) -> None:
    settings = get_settings()
    _evidence(settings)
    at = pendulum.datetime(2025, 9, 4, 8, tz=TZ)  # the day after the draft day (03/09)
    run = asyncio.create_task(
        report_duty(
            plan_id=PLAN, report_id="bao-cao-quy", at=at, now=at, approval_wait_seconds=120, approval_poll_seconds=1
        )
    )
    flow_run_id = await _paused_run_id()
    await aresume_flow_run(
        flow_run_id,
        run_input={"decision": "Trả lại để sửa", "number": "", "signer_name": "", "note": "Thiếu số liệu phát thanh"},
    )
    result = await asyncio.wait_for(run, timeout=120)
    assert result["state"] == workflow.SENT_BACK
    assert not smtp.handler.by_subject("Báo cáo số")
    plan = service.resolve_plan(PLAN, settings)
    row = workflow.run_state(settings, plan, "bao-cao-quy", "2025-Q3")
    assert row is not None and row.note == "Thiếu số liệu phát thanh"

    # The next morning, nothing changed: no new draft, no pause. On demand: a new draft that waits again.
    later = at.add(days=1)
    same = await report_duty(plan_id=PLAN, report_id="bao-cao-quy", at=later, now=later)
    assert same["state"] == workflow.SENT_BACK and same["draft"]["new"] is False
    redone = await report_duty(
        plan_id=PLAN,
        report_id="bao-cao-quy",
        at=later,
        now=later,
        redraft=True,
        approval_wait_seconds=1,
        approval_poll_seconds=1,
    )
    assert redone["draft"] == {"state": workflow.DRAFTED, "version": 2, "new": True} and redone["state"] == "waiting"
    assert len(smtp.handler.by_subject("Dự thảo báo cáo (bản 2)")) == 1


async def test_a_units_reporting_duty_runs_like_any_duty_in_the_report_flow(cchc_env: Settings) -> None:
    at = pendulum.datetime(2025, 9, 3, 8, tz=TZ)
    result = await unit_report_duty(plan_id=PLAN, duty_id="bao-cao-don-vi", at=at)
    assert result["duty"] == "bao-cao-don-vi" and "2025-Q3" in result["statuses"]


EOFFICE = "Gửi qua hệ thống quản lý văn bản (e-office)"
ATTACH = "Đính kèm bản đã ký"


async def _approve_and_reach_signing(smtp: MailServer, number: str) -> tuple[asyncio.Task[Any], Any]:
    """Draft, approve in the form, and wait for the second pause ("Đã ký và gửi")."""
    at = pendulum.datetime(2025, 9, 3, 8, tz=TZ)
    run = asyncio.create_task(
        report_duty(
            plan_id=PLAN, report_id="bao-cao-quy", at=at, now=at, approval_wait_seconds=120, approval_poll_seconds=1
        )
    )
    flow_run_id = await _paused_run_id()
    await aresume_flow_run(
        flow_run_id, run_input={"decision": "Duyệt và gửi", "number": number, "signer_name": "", "note": ""}
    )
    for _ in range(480):
        if smtp.handler.by_subject(f"Trình ký báo cáo số {number}"):
            break
        await asyncio.sleep(0.25)
    assert await _paused_run_id() == flow_run_id
    return run, flow_run_id


async def test_a_signed_report_pauses_again_and_the_e_office_record_delivers_it_without_mail(
    cchc_env: Settings, smtp: MailServer
) -> None:
    settings = get_settings()
    _evidence(settings)
    run, flow_run_id = await _approve_and_reach_signing(smtp, "31/BC-UBND")
    (to_sign,) = smtp.handler.by_subject("Trình ký báo cáo số 31/BC-UBND")
    assert to_sign.rcpt == ["vhxh@phu-thai.example"]
    parts = {p.get_content_type(): bytes(p.get_content()) for p in to_sign.msg.iter_attachments()}
    assert parts["application/pdf"].startswith(b"%PDF") and DOCX in parts
    assert not smtp.handler.by_subject("Báo cáo số 31/BC-UBND")
    plan = service.resolve_plan(PLAN, settings)
    assert workflow.run_state(settings, plan, "bao-cao-quy", "2025-Q3").state == "signing"  # type: ignore[union-attr]

    # E-office without a day: the form refuses it (the server checks the input against the schema).
    with pytest.raises(RuntimeError, match="Validation failed for field 'date'"):
        await aresume_flow_run(flow_run_id, run_input={"via": EOFFICE, "number": "123/BC-UBND", "date": "", "by": ""})
    # A day that does not exist: the run says so, records nothing and asks again.
    await aresume_flow_run(
        flow_run_id, run_input={"via": EOFFICE, "number": "123/BC-UBND", "date": "15/13/2025", "by": "Lan"}
    )
    await asyncio.sleep(1.5)
    assert await _paused_run_id() == flow_run_id
    assert workflow.run_state(settings, plan, "bao-cao-quy", "2025-Q3").state == "signing"  # type: ignore[union-attr]
    await aresume_flow_run(
        flow_run_id, run_input={"via": EOFFICE, "number": "123/BC-UBND", "date": "03/09/2025", "by": "Nguyễn Thị Lan"}
    )
    result = await asyncio.wait_for(run, timeout=120)
    assert result["state"] == workflow.DELIVERED and result["statuses"]["2025-Q3"] == "met"
    assert result["eoffice"] == {"number": "123/BC-UBND", "date": "03/09/2025"}
    assert not smtp.handler.by_subject("Báo cáo số 31/BC-UBND")  # the recipients got it through e-office
    q3 = next(
        r for r in workflow.listing(settings, plan, pendulum.datetime(2025, 9, 4, tz=TZ)) if r["period"] == "2025-Q3"
    )
    assert q3["delivery"]["via"] == "e-office" and q3["delivery"]["eoffice"]["number"] == "123/BC-UBND"
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["report-phu-thai-2025h2-bao-cao-quy-2025-q3"]))
        )
    latest = max(artifacts, key=lambda a: a.created)  # type: ignore[arg-type,return-value]
    assert "e-office" in str(latest.data) and "123/BC-UBND" in str(latest.data)

    # A repeated run sends nothing and does not pause.
    before = len(smtp.received)
    later = pendulum.datetime(2025, 9, 4, 8, tz=TZ)
    again = await report_duty(plan_id=PLAN, report_id="bao-cao-quy", at=later, now=later)
    assert again["state"] == workflow.DELIVERED and len(smtp.received) == before


async def test_a_signed_copy_attached_while_the_run_waits_goes_to_every_recipient_once(
    cchc_env: Settings, smtp: MailServer
) -> None:
    settings = get_settings()
    _evidence(settings)
    run, flow_run_id = await _approve_and_reach_signing(smtp, "32/BC-UBND")
    plan = service.resolve_plan(PLAN, settings)
    tgt = workflow.target(plan, "bao-cao-quy", "2025-Q3", pendulum.datetime(2025, 9, 3, 8, tz=TZ))
    scan = b"%PDF-1.4\n% ban da ky, dong dau\n%%EOF\n"
    workflow.sign(settings, plan, tgt, scan, "scan.pdf", "Nguyễn Thị Lan", pendulum.datetime(2025, 9, 3, 8, tz=TZ))
    await aresume_flow_run(flow_run_id, run_input={"via": ATTACH, "number": "", "date": "", "by": ""})
    result = await asyncio.wait_for(run, timeout=120)
    assert result["state"] == workflow.DELIVERED and result["statuses"]["2025-Q3"] == "met"
    delivered = smtp.handler.by_subject("Báo cáo số 32/BC-UBND")
    assert sorted(r.rcpt[0] for r in delivered) == ["so-noi-vu@phu-thai.example", "ubnd@phu-thai.example"]
    for r in delivered:
        assert [bytes(p.get_content()) for p in r.msg.iter_attachments()] == [scan]
    later = pendulum.datetime(2025, 9, 4, 8, tz=TZ)
    again = await report_duty(plan_id=PLAN, report_id="bao-cao-quy", at=later, now=later)
    assert again["state"] == workflow.DELIVERED
    assert len(smtp.handler.by_subject("Báo cáo số 32/BC-UBND")) == 2
