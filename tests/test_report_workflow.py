"""Report use cases on a real store (SQLite file and PostgreSQL) with a real SMTP server, no Prefect."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docx
import pendulum
import pytest
from sqlalchemy import select

from cchc.app import report_workflow as workflow
from cchc.app import service
from cchc.app.mail_pass import run_tick
from cchc.cli.main import app as cli
from cchc.settings import Settings, get_settings
from cchc.store import outbox as ob
from cchc.store import repo
from cchc.store.db import session_scope
from cchc.store.models import EvidenceRow, OutboxRow
from tests.conftest import PLAN_DIR
from tests.mailserver import MailServer, running
from tests.test_cli import runner

TZ = "Asia/Ho_Chi_Minh"
PLAN = "phu-thai-2025h2"
DRAFT_DAY = pendulum.datetime(2025, 8, 27, 8, tz=TZ)


def no_signing_plans(tmp_path: Path) -> Path:
    """The real plan with `signing: none` on its reports: approval delivers the DOCX at once, as before signing."""
    plans = tmp_path / "plans-no-signing"
    plans.mkdir()
    text = (PLAN_DIR / f"{PLAN}.yaml").read_text(encoding="utf-8")
    text, n = re.subn(r"^(    )signer:", r"\1signing: none\n\1signer:", text, flags=re.M)
    assert n >= 1
    (plans / f"{PLAN}.yaml").write_text(text, encoding="utf-8")
    return plans


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(
    request: pytest.FixtureRequest, cchc_env: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Settings]:
    monkeypatch.setenv("CCHC_PLAN_DIR", str(no_signing_plans(tmp_path)))
    yield from _with_server(request, monkeypatch)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def signing_store(
    request: pytest.FixtureRequest, cchc_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """The real plan as it is: its reports are signed before they go out (the default)."""
    yield from _with_server(request, monkeypatch)


def _with_server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
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


# --- the signed report (signing: required, the default) -------------------------------------------------------

APPROVED_AT = DRAFT_DAY.add(days=2)  # Fri 29/08/2025


def _approved(settings: Settings, number: str) -> tuple[object, workflow.Target]:
    plan = service.resolve_plan(PLAN, settings)
    tgt = workflow.target(plan, "bao-cao-quy", "2025-Q3", DRAFT_DAY)
    _post(settings, dt.date(2025, 7, 10), 1)
    workflow.draft(settings, plan, tgt, DRAFT_DAY, DRAFT_DAY)
    assert workflow.decide(settings, plan, tgt, workflow.Decision.approve, APPROVED_AT, number=number) == "approved"
    return plan, tgt


def _pdf_pages(data: bytes, tmp: Path) -> tuple[int, str]:
    path = tmp / "x.pdf"
    path.write_bytes(data)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True, timeout=30).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M)[1])  # type: ignore[index]
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True, timeout=30)
    return pages, text.stdout


def _row(settings: Settings, plan: object) -> object:
    return workflow.run_state(settings, plan, "bao-cao-quy", "2025-Q3")  # type: ignore[arg-type]


def test_approval_sends_the_final_docx_and_a_real_pdf_to_the_coordinator_and_nothing_to_the_recipients(
    signing_store: Settings, tmp_path: Path
) -> None:
    plan, tgt = _approved(signing_store, "21/BC-UBND")
    d = workflow.deliver(signing_store, plan, tgt, APPROVED_AT)  # type: ignore[arg-type]
    assert d.state == workflow.SIGNING and d.pdf_sha256 and len(d.queued) == 1
    assert workflow.deliver(signing_store, plan, tgt, APPROVED_AT).queued == []  # type: ignore[arg-type]
    run_tick(signing_store, plan, APPROVED_AT, APPROVED_AT, ["bao-cao-quy"])  # type: ignore[arg-type]
    (mail,) = _server(signing_store).handler.by_subject("Trình ký báo cáo số 21/BC-UBND")
    assert mail.rcpt == ["vhxh@phu-thai.example"]
    assert "cchc report sign phu-thai-2025h2 --report bao-cao-quy --period 2025-Q3" in mail.text()
    assert "--via e-office" in mail.text()
    parts = {p.get_filename(): p for p in mail.msg.iter_attachments()}
    assert sorted(parts) == ["bao-cao-quy-2025-Q3-phu-thai-2025h2.docx", "bao-cao-quy-2025-Q3-phu-thai-2025h2.pdf"]
    pdf = bytes(parts["bao-cao-quy-2025-Q3-phu-thai-2025h2.pdf"].get_content())
    assert pdf.startswith(b"%PDF") and hashlib.sha256(pdf).hexdigest() == d.pdf_sha256
    pages, text = _pdf_pages(pdf, tmp_path)
    assert pages >= 1 and "21/BC-UBND" in text and "DỰ THẢO" not in text
    final = docx.Document(io.BytesIO(parts["bao-cao-quy-2025-Q3-phu-thai-2025h2.docx"].get_content()))
    assert "Số: 21/BC-UBND" in final.tables[0].rows[0].cells[0].text
    assert not _server(signing_store).handler.by_subject("Báo cáo số 21/BC-UBND")  # nothing out before signing
    row = _row(signing_store, plan)
    assert row.state == "signing" and row.final_sha256 and row.sign_pdf_sha256 == d.pdf_sha256  # type: ignore[attr-defined]


def test_the_signed_copy_goes_to_every_recipient_once_and_is_the_evidence(
    signing_store: Settings, tmp_path: Path
) -> None:
    plan, tgt = _approved(signing_store, "22/BC-UBND")
    d = workflow.deliver(signing_store, plan, tgt, APPROVED_AT)  # type: ignore[arg-type]
    scan = tmp_path / "ban-ky.pdf"
    scan.write_bytes(service.stored_path(signing_store, d.pdf_sha256).read_bytes() + b"\n%signed\n")  # type: ignore[arg-type]
    sha = hashlib.sha256(scan.read_bytes()).hexdigest()
    at = APPROVED_AT.add(hours=2)
    first = workflow.sign(signing_store, plan, tgt, scan.read_bytes(), scan.name, "Nguyễn Thị Lan", at)  # type: ignore[arg-type]
    again = workflow.sign(signing_store, plan, tgt, scan.read_bytes(), scan.name, "Nguyễn Thị Lan", at.add(minutes=1))  # type: ignore[arg-type]
    assert len(first.queued) == 2 and again.queued == []  # recorded twice, counted once
    result = run_tick(signing_store, plan, at, at, ["bao-cao-quy"])  # type: ignore[arg-type]
    assert result.reports == [f"{PLAN}:bao-cao-quy:2025-Q3"]
    delivered = _server(signing_store).handler.by_subject("Báo cáo số 22/BC-UBND")
    assert sorted(r.rcpt[0] for r in delivered) == ["so-noi-vu@phu-thai.example", "ubnd@phu-thai.example"]
    for r in delivered:
        (part,) = list(r.msg.iter_attachments())  # the signed copy, not the DOCX
        assert part.get_filename() == "bao-cao-quy-2025-Q3-phu-thai-2025h2-da-ky.pdf"
        assert hashlib.sha256(part.get_content()).hexdigest() == sha
        assert "bản đã ký" in r.text()
    row = _row(signing_store, plan)
    assert (row.state, row.signed_sha256, row.sent_via, row.signed_by) == ("delivered", sha, "email", "Nguyễn Thị Lan")  # type: ignore[attr-defined]
    judged = {
        (j.occurrence.duty, j.occurrence.period): j.status.value for j in service.judge_plan(signing_store, plan, at)
    }  # type: ignore[arg-type]
    assert judged[("bao-cao-quy", "2025-Q3")] == "met"
    with session_scope(service.engine_for(signing_store)) as s:
        evidence = s.scalars(select(EvidenceRow).where(EvidenceRow.duty_id == "bao-cao-quy")).all()
        assert [(e.kind, e.file_sha256, e.file_name) for e in evidence] == [
            ("report_delivery", sha, "bao-cao-quy-2025-Q3-phu-thai-2025h2-da-ky.pdf")
        ]
    listing = {(r["report"], r["period"]): r for r in workflow.listing(signing_store, plan, at)}  # type: ignore[arg-type]
    entry = listing[("bao-cao-quy", "2025-Q3")]
    assert entry["signing"]["signed_sha256"] == sha and entry["delivery"]["via"] == "email"
    assert entry["approval"]["state_vi"] == "đã gửi"
    # A repeated run, a repeated signing: nothing goes out again.
    later = at.add(hours=1)
    assert workflow.sign(signing_store, plan, tgt, scan.read_bytes(), scan.name, "Nguyễn Thị Lan", later).queued == []  # type: ignore[arg-type]
    assert workflow.deliver(signing_store, plan, tgt, later).queued == []  # type: ignore[arg-type]
    assert run_tick(signing_store, plan, later, later, ["bao-cao-quy"]).reports == []  # type: ignore[arg-type]
    assert len(_server(signing_store).handler.by_subject("Báo cáo số 22/BC-UBND")) == 2
    other = tmp_path / "khac.pdf"
    other.write_bytes(b"%PDF-1.4\n% another scan\n")
    with pytest.raises(service.UserError, match="đã có bản ký khác"):
        workflow.sign(signing_store, plan, tgt, other.read_bytes(), other.name, "Lan", later)  # type: ignore[arg-type]
    with pytest.raises(service.UserError, match="đã có bản ký khác"):
        workflow.sent_eoffice(signing_store, plan, tgt, "1/BC", "01/09/2025", "Lan", later)  # type: ignore[arg-type]


def test_sent_through_e_office_is_the_evidence_and_no_recipient_gets_mail(signing_store: Settings) -> None:
    plan, tgt = _approved(signing_store, "23/BC-UBND")
    workflow.deliver(signing_store, plan, tgt, APPROVED_AT)  # type: ignore[arg-type]
    at = pendulum.datetime(2025, 9, 2, 9, tz=TZ)
    assert workflow.sent_eoffice(signing_store, plan, tgt, " 123/BC-UBND ", "01/09/2025", "Nguyễn Thị Lan", at)  # type: ignore[arg-type]
    assert not workflow.sent_eoffice(signing_store, plan, tgt, "123/BC-UBND", "1/9/2025", "Lan", at.add(hours=1))  # type: ignore[arg-type]
    result = run_tick(signing_store, plan, at, at, ["bao-cao-quy"])  # type: ignore[arg-type]
    assert result.reports == []  # delivered already, by the record itself
    assert not _server(signing_store).handler.by_subject("Báo cáo số 23/BC-UBND")
    row = _row(signing_store, plan)
    assert (row.state, row.sent_via, row.sent_number, row.sent_on) == (  # type: ignore[attr-defined]
        "delivered",
        "e-office",
        "123/BC-UBND",
        dt.date(2025, 9, 1),
    )
    judged = {(j.occurrence.duty, j.occurrence.period): j for j in service.judge_plan(signing_store, plan, at)}  # type: ignore[arg-type]
    assert judged[("bao-cao-quy", "2025-Q3")].status.value == "met"
    entry = next(r for r in workflow.listing(signing_store, plan, at) if r["period"] == "2025-Q3")  # type: ignore[arg-type]
    assert entry["delivery"]["eoffice"] == {"number": "123/BC-UBND", "date": "2025-09-01"}
    with pytest.raises(service.UserError, match="đã ghi gửi qua e-office"):
        workflow.sign(signing_store, plan, tgt, b"%PDF-1.4\n", "ky.pdf", "Lan", at)  # type: ignore[arg-type]
    with session_scope(service.engine_for(signing_store)) as s:
        trail = [a.action for a in repo.audit_trail(s, PLAN) if a.action.startswith("report.")]
    assert trail.count("report.sent-eoffice") == 1


def test_bad_signing_input_is_refused_in_vietnamese_and_changes_nothing(
    signing_store: Settings, tmp_path: Path
) -> None:
    plan = service.resolve_plan(PLAN, signing_store)
    tgt = workflow.target(plan, "bao-cao-quy", "2025-Q3", DRAFT_DAY)
    _post(signing_store, dt.date(2025, 7, 10), 1)
    workflow.draft(signing_store, plan, tgt, DRAFT_DAY, DRAFT_DAY)
    with pytest.raises(service.UserError, match="chưa được duyệt"):
        workflow.sign(signing_store, plan, tgt, b"%PDF-1.4\n", "ky.pdf", "Lan", DRAFT_DAY)
    with pytest.raises(service.UserError, match="chưa được duyệt"):
        workflow.sent_eoffice(signing_store, plan, tgt, "1/BC", "28/08/2025", "Lan", DRAFT_DAY.add(days=1))
    workflow.decide(signing_store, plan, tgt, workflow.Decision.approve, APPROVED_AT, number="24/BC-UBND")
    with pytest.raises(service.UserError, match="chưa lập xong"):
        workflow.sign(signing_store, plan, tgt, b"%PDF-1.4\n", "ky.pdf", "Lan", APPROVED_AT)
    workflow.deliver(signing_store, plan, tgt, APPROVED_AT)
    before = _row(signing_store, plan)
    at = APPROVED_AT.add(days=1)
    cases = [
        (
            lambda: workflow.sign(signing_store, plan, tgt, b"PK\x03\x04 a docx", "bao-cao.docx", "Lan", at),
            "không phải PDF",
        ),
        (lambda: workflow.sign(signing_store, plan, tgt, b"%PDF-1.4\n", "ky.pdf", " ", at), "--by"),
        (lambda: workflow.sent_eoffice(signing_store, plan, tgt, "1/BC", "15/13/2025", "Lan", at), "không có thật"),
        (lambda: workflow.sent_eoffice(signing_store, plan, tgt, "1/BC", "2025-09-01", "Lan", at), "ngày/tháng/năm"),
        (lambda: workflow.sent_eoffice(signing_store, plan, tgt, "  ", "29/08/2025", "Lan", at), "--number"),
        (lambda: workflow.sent_eoffice(signing_store, plan, tgt, "1/BC", "28/08/2025", "Lan", at), "từ ngày duyệt"),
        (lambda: workflow.sent_eoffice(signing_store, plan, tgt, "1/BC", "01/10/2025", "Lan", at), "đến hôm nay"),
    ]
    for call, message in cases:
        with pytest.raises(service.UserError, match=message):
            call()
    after = _row(signing_store, plan)
    assert (after.state, after.signed_sha256, after.sent_via, after.updated_at) == (  # type: ignore[attr-defined]
        before.state,
        None,
        None,
        before.updated_at,  # type: ignore[attr-defined]
    )
    # The command line: a missing file, and the same checks, in Vietnamese; nothing recorded.
    missing = runner.invoke(
        cli,
        ["report", "sign", PLAN, "--period", "2025-Q3", "--file", str(tmp_path / "khong-co.pdf"), "--by", "Lan"],
    )
    assert missing.exit_code == 2 and "không tìm thấy tệp bản đã ký" in missing.output
    bad_day = runner.invoke(
        cli,
        [
            "report",
            "sent",
            PLAN,
            "--period",
            "2025-Q3",
            "--via",
            "e-office",
            "--number",
            "1/BC",
            "--date",
            "15/13/2025",
            "--by",
            "Lan",
        ],
    )
    assert bad_day.exit_code == 2 and "không có thật" in bad_day.output
    assert _row(signing_store, plan).state == "signing"  # type: ignore[attr-defined]
