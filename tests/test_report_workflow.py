"""Report use cases on a real store (SQLite file and PostgreSQL) with a real SMTP server, no Prefect."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator

import docx
import pendulum
import pytest

from cchc.app import report_workflow as workflow
from cchc.app import service
from cchc.app.mail_pass import run_tick
from cchc.settings import Settings, get_settings
from cchc.store import outbox as ob
from cchc.store import repo
from cchc.store.db import session_scope
from cchc.store.models import OutboxRow
from tests.mailserver import MailServer, running

TZ = "Asia/Ho_Chi_Minh"
PLAN = "phu-thai-2025h2"
DRAFT_DAY = pendulum.datetime(2025, 8, 27, 8, tz=TZ)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, cchc_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
        monkeypatch.setenv("CCHC_DATABASE_URL", url)
    for server in running():
        monkeypatch.setenv("CCHC_SMTP_URL", server.url)
        get_settings.cache_clear()
        settings = get_settings()
        settings.__dict__["_server"] = server
        yield settings


def _server(settings: Settings) -> MailServer:
    server: MailServer = settings.__dict__["_server"]
    return server


def _post(settings: Settings, day: dt.date, n: int) -> None:
    plan = service.resolve_plan(PLAN, settings)
    service.record_evidence(
        settings,
        plan,
        service.EvidenceInput(
            "cong-ttdt-tin-bai", "post", f"Tin {n}", day, url=f"https://phuthai.example/{n}", unit="ttvhttt"
        ),
        DRAFT_DAY,
    )


def test_a_draft_is_made_again_only_when_its_records_change(store: Settings) -> None:
    plan = service.resolve_plan(PLAN, store)
    # The Q3 report is due Wed 10/09 (the 10th, an assumed date): its draft day is 5 working days before, 03/09.
    draft_day = pendulum.datetime(2025, 9, 3, 8, tz=TZ)
    tgt = workflow.target(plan, "bao-cao-quy", None, draft_day)
    assert tgt.period == "2025-Q3" and tgt.draft_day == dt.date(2025, 9, 3)
    _post(store, dt.date(2025, 7, 10), 1)
    first = workflow.draft(store, plan, tgt, draft_day, draft_day)
    assert (first.new, first.version, len(first.queued)) == (True, 1, 1)
    same = workflow.draft(store, plan, tgt, draft_day.add(days=1), draft_day.add(days=1))
    assert (same.new, same.version, same.queued) == (False, 1, [])
    _post(store, dt.date(2025, 8, 12), 2)
    second = workflow.draft(store, plan, tgt, draft_day.add(days=1), draft_day.add(days=1))
    assert (second.new, second.version) == (True, 2)
    forced = workflow.draft(store, plan, tgt, draft_day.add(days=1), draft_day.add(days=1), force=True)
    assert (forced.new, forced.version) == (True, 3)


def test_sent_back_then_approved_then_delivered_once_and_recorded_as_the_reports_evidence(store: Settings) -> None:
    plan = service.resolve_plan(PLAN, store)
    tgt = workflow.target(plan, "bao-cao-quy", "2025-Q3", DRAFT_DAY)
    with pytest.raises(service.UserError, match="no draft yet"):
        workflow.decide(store, plan, tgt, workflow.Decision.approve, DRAFT_DAY, number="12")
    _post(store, dt.date(2025, 7, 10), 1)
    workflow.draft(store, plan, tgt, DRAFT_DAY, DRAFT_DAY)
    state = workflow.decide(store, plan, tgt, workflow.Decision.send_back, DRAFT_DAY, note="Bổ sung số liệu tháng 8")
    assert state == workflow.SENT_BACK
    assert workflow.deliver(store, plan, tgt, DRAFT_DAY).queued == []  # nothing goes out unapproved
    with pytest.raises(service.UserError, match="document number"):
        workflow.decide(store, plan, tgt, workflow.Decision.approve, DRAFT_DAY, number=" ")

    _post(store, dt.date(2025, 8, 12), 2)
    redraft = workflow.draft(store, plan, tgt, DRAFT_DAY.add(days=1), DRAFT_DAY.add(days=1))
    assert (redraft.new, redraft.version, redraft.state) == (True, 2, workflow.DRAFTED)
    decided = DRAFT_DAY.add(days=2)
    assert workflow.decide(store, plan, tgt, workflow.Decision.approve, decided, number="15") == workflow.APPROVED
    # A second decision (another form, a repeated run) does not undo the first.
    assert workflow.decide(store, plan, tgt, workflow.Decision.send_back, decided) == workflow.APPROVED

    first = workflow.deliver(store, plan, tgt, decided)
    again = workflow.deliver(store, plan, tgt, decided)  # a crash and a rerun: the same rows, not new ones
    assert len(first.queued) == 2 and again.queued == []
    result = run_tick(store, plan, decided, decided, ["bao-cao-quy"])
    assert result.reports == [f"{PLAN}:bao-cao-quy:2025-Q3"]
    delivered = _server(store).handler.by_subject("Báo cáo số 15/BC-UBND")
    assert sorted(r.rcpt[0] for r in delivered) == ["so-noi-vu@phu-thai.example", "ubnd@phu-thai.example"]
    (docx_part,) = [p for p in delivered[0].msg.iter_attachments() if p.get_filename().endswith(".docx")]
    final = docx.Document(io.BytesIO(docx_part.get_content()))
    assert final.tables[0].rows[0].cells[1].paragraphs[2].text == "Phú Thái, ngày 29 tháng 8 năm 2025"
    assert "Số: 15/BC-UBND" in final.tables[0].rows[0].cells[0].text

    judged = {
        (j.occurrence.duty, j.occurrence.period): j.status.value for j in service.judge_plan(store, plan, decided)
    }
    assert judged[("bao-cao-quy", "2025-Q3")] == "met"
    row = workflow.run_state(store, plan, "bao-cao-quy", "2025-Q3")
    assert row is not None and row.state == workflow.DELIVERED and row.number == "15"
    with session_scope(service.engine_for(store)) as s:
        trail = [(a.action, a.period, a.reason) for a in repo.audit_trail(s, PLAN) if a.action.startswith("report.")]
    assert trail == [("report.approve", "2025-Q3", None), ("report.send_back", "2025-Q3", "Bổ sung số liệu tháng 8")]
    assert run_tick(store, plan, decided.add(hours=1), decided.add(hours=1), ["bao-cao-quy"]).reports == []
    assert len(_server(store).handler.by_subject("Báo cáo số 15/BC-UBND")) == 2


def test_a_late_delivery_through_a_server_that_was_down_is_recorded_by_the_mail_pass(
    store: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = service.resolve_plan(PLAN, store)
    tgt = workflow.target(plan, "bao-cao-quy", "2025-Q3", DRAFT_DAY)
    workflow.draft(store, plan, tgt, DRAFT_DAY, DRAFT_DAY)
    workflow.decide(store, plan, tgt, workflow.Decision.approve, DRAFT_DAY, number="16/BC-UBND")
    workflow.deliver(store, plan, tgt, DRAFT_DAY)
    down = MailServer()  # never started: connection refused
    monkeypatch.setenv("CCHC_SMTP_URL", down.url)
    get_settings.cache_clear()
    result = run_tick(get_settings(), plan, DRAFT_DAY, DRAFT_DAY)
    assert result.reports == [] and result.retrying
    assert workflow.run_state(store, plan, "bao-cao-quy", "2025-Q3").state == workflow.APPROVED  # type: ignore[union-attr]
    monkeypatch.setenv("CCHC_SMTP_URL", _server(store).url)
    get_settings.cache_clear()
    later = DRAFT_DAY.add(days=3)
    assert run_tick(get_settings(), plan, later, later).reports == [f"{PLAN}:bao-cao-quy:2025-Q3"]
    assert len(_server(store).handler.by_subject("Báo cáo số 16/BC-UBND")) == 2


def test_a_recipient_without_an_address_is_reported_and_the_others_still_get_it(
    store: Settings, tmp_path: object
) -> None:
    plan = service.resolve_plan(PLAN, store)
    bare = plan.model_copy(
        update={"units": tuple(u.model_copy(update={"emails": ()}) if u.id == "ubnd" else u for u in plan.units)}
    )
    tgt = workflow.target(bare, "bao-cao-quy", "2025-Q3", DRAFT_DAY)
    workflow.draft(store, bare, tgt, DRAFT_DAY, DRAFT_DAY)
    workflow.decide(store, bare, tgt, workflow.Decision.approve, DRAFT_DAY, number="17")
    d = workflow.deliver(store, bare, tgt, DRAFT_DAY)
    assert len([k for k in d.queued if ":report:delivery:" in k]) == 1
    assert d.problems == ["recipient 'Ủy ban nhân dân xã' of report bao-cao-quy has no email address"]
    notices = workflow_notices(store)
    assert [n.recipient for n in notices] == ["vhxh@phu-thai.example"]
    assert "Ủy ban nhân dân xã" in notices[0].body_text


def workflow_notices(settings: Settings) -> list[OutboxRow]:
    with session_scope(service.engine_for(settings)) as s:
        return [r for r in ob.rows(s, PLAN) if r.step == "notice"]


def test_the_final_carries_the_records_of_the_approved_draft_not_ones_recorded_since(store: Settings) -> None:
    plan = service.resolve_plan(PLAN, store)
    tgt = workflow.target(plan, "bao-cao-quy", "2025-Q3", DRAFT_DAY)
    _post(store, dt.date(2025, 7, 10), 1)
    workflow.draft(store, plan, tgt, DRAFT_DAY, DRAFT_DAY)
    later = DRAFT_DAY.add(hours=3)
    service.record_evidence(
        store,
        plan,
        service.EvidenceInput("cong-ttdt-tin-bai", "post", "Tin ghi sau khi duyệt dự thảo", dt.date(2025, 8, 20),
                              url="https://phuthai.example/sau", unit="ttvhttt"),
        later,
    )  # fmt: skip
    workflow.decide(store, plan, tgt, workflow.Decision.approve, later, number="18")
    final = workflow.deliver(store, plan, tgt, later)
    assert "Tin 1" in final.markdown and "Tin ghi sau khi duyệt dự thảo" not in final.markdown


def test_a_delivery_whose_file_vanished_fails_once_and_the_coordinator_is_told(store: Settings) -> None:
    plan = service.resolve_plan(PLAN, store)
    tgt = workflow.target(plan, "bao-cao-quy", "2025-Q3", DRAFT_DAY)
    workflow.draft(store, plan, tgt, DRAFT_DAY, DRAFT_DAY)
    workflow.decide(store, plan, tgt, workflow.Decision.approve, DRAFT_DAY, number="19")
    d = workflow.deliver(store, plan, tgt, DRAFT_DAY)
    assert d.final_sha256
    service.stored_path(store, d.final_sha256).unlink()
    result = run_tick(store, plan, DRAFT_DAY, DRAFT_DAY, ["bao-cao-quy"])
    assert len(result.failed) == 2 and all("missing from the file store" in f.detail for f in result.failed)
    assert result.config_error is None and result.reports == []
    with session_scope(service.engine_for(store)) as s:
        told = [r for r in ob.rows(s, PLAN) if r.step == "notice" and "thư không gửi được" in r.subject]
    assert len(told) == 2 and not _server(store).handler.by_subject("Báo cáo số 19")


def test_a_decision_on_a_replaced_draft_is_refused_and_a_later_rejection_does_not_change_the_final(
    store: Settings,
) -> None:
    plan = service.resolve_plan(PLAN, store)
    tgt = workflow.target(plan, "bao-cao-quy", "2025-Q3", DRAFT_DAY)
    _post(store, dt.date(2025, 7, 10), 1)
    assert workflow.run_state(store, plan, "bao-cao-quy", "2025-Q3") is None
    assert workflow.draft(store, plan, tgt, DRAFT_DAY, DRAFT_DAY).version == 1
    _post(store, dt.date(2025, 8, 12), 2)
    assert workflow.draft(store, plan, tgt, DRAFT_DAY.add(hours=1), DRAFT_DAY.add(hours=1)).version == 2
    with pytest.raises(workflow.StaleDraft, match="bản 2"):
        workflow.decide(store, plan, tgt, workflow.Decision.approve, DRAFT_DAY.add(hours=2), number="20", version=1)
    assert workflow.run_state(store, plan, "bao-cao-quy", "2025-Q3").state == workflow.DRAFTED  # type: ignore[union-attr]
    later = DRAFT_DAY.add(hours=3)
    assert workflow.decide(store, plan, tgt, workflow.Decision.approve, later, number="20", version=2) == "approved"
    # The coordinator rejects item 1 after the approval: the approved document still stands as read.
    service.reject_evidence(store, plan, 1, "trùng", "điều phối viên", later.add(minutes=5))
    final = workflow.deliver(store, plan, tgt, later.add(minutes=10))
    assert "Tin 1" in final.markdown and "Tin 2" in final.markdown
