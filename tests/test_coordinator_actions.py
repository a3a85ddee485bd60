"""Coordinators act on their own commune's plans in the portal (issue #16 item 4): record evidence, waive an
occurrence, reject evidence, confirm an assumption, approve or send back a report draft, each through the same
use case as the CLI and the Prefect forms, audited under her identity and address; everything aimed at another
commune's plan (its page, its evidence ids, forged form fields, a foreign form token) is refused with a
Vietnamese 403 page, changes nothing and is audited.

Real components: the portal app through FastAPI's TestClient, the real SQLite store (one test on PostgreSQL),
the real plans, the `cchc` command in-process.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pendulum
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cchc.app import report_workflow as workflow
from cchc.app import service
from cchc.app.service import engine_for
from cchc.core import assumptions, coordinator_links
from cchc.portal.app import create_app
from cchc.portal.coordinator import form_token
from cchc.settings import Settings, get_settings
from cchc.store import repo
from cchc.store.db import session_scope
from cchc.store.models import AuditRow, EvidenceRow, WaiverRow
from tests.conftest import PLAN_DIR
from tests.test_coordinator_portal import PHU_THAI, PHU_THONG, add_coordinator, run
from tests.test_portal import _png

TZ = "Asia/Ho_Chi_Minh"
MINE, THEIRS = "phu-thai-2025h2", "phu-thong-2025"
DRAFTED = pendulum.datetime(2025, 9, 3, 9, tz=TZ)
NOW = pendulum.datetime(2025, 9, 4, 9, tz=TZ)
POST = "cong-ttdt-tin-bai"  # Phú Thái: monthly posts on the commune portal


@pytest.fixture
def env(cchc_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A plan folder with one plan of Phú Thái (Hải Phòng) and one of Phủ Thông (Thái Nguyên)."""
    plans = tmp_path / "plans"
    plans.mkdir()
    for plan_id in (MINE, THEIRS):
        (plans / f"{plan_id}.yaml").write_text((PLAN_DIR / f"{plan_id}.yaml").read_text("utf-8"), "utf-8")
    monkeypatch.setenv("CCHC_PLAN_DIR", str(plans))
    monkeypatch.setenv("CCHC_PORTAL_URL", "http://127.0.0.1:8765")
    get_settings.cache_clear()
    yield get_settings()


def client_for(settings: Settings) -> TestClient:
    return TestClient(create_app(settings, clock=lambda: NOW))


def csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert m, page
    return m.group(1)


def audit_rows(settings: Settings, action: str | None = None) -> list[AuditRow]:
    with session_scope(engine_for(settings)) as s:
        q = select(AuditRow).order_by(AuditRow.id)
        if action:
            q = q.where(AuditRow.action == action)
        rows = list(s.scalars(q))
        for r in rows:
            s.expunge(r)
        return rows


def evidence(settings: Settings, plan_id: str) -> list[EvidenceRow]:
    with session_scope(engine_for(settings)) as s:
        rows = list(s.scalars(select(EvidenceRow).where(EvidenceRow.plan_id == plan_id).order_by(EvidenceRow.id)))
        for r in rows:
            s.expunge(r)
        return rows


def snapshot(settings: Settings) -> list[tuple[Any, ...]]:
    """Every piece of evidence of both plans as it stands: id, plan, duty, whether and why rejected."""
    return [
        (r.id, r.plan_id, r.duty_id, r.rejected_at, r.rejected_reason)
        for plan_id in (MINE, THEIRS)
        for r in evidence(settings, plan_id)
    ]


def record_theirs(settings: Settings) -> int:
    """A piece of evidence of Phủ Thông's plan, recorded by its own people (the CLI's use case)."""
    plan = service.resolve_plan(THEIRS, settings)
    duty = plan.duties[0]
    item = service.EvidenceInput(
        duty=duty.id,
        kind=service.accepted_kinds(plan, duty.id)[0],
        title="Bài của xã khác",
        occurred_on=dt.date(2025, 9, 1),
        url="https://phu-thong.example/bai-1",
        origin="cli",
    )
    return service.record_evidence(settings, plan, item, NOW).id


def test_she_records_a_link_and_a_file_on_her_plan_and_both_count_under_her_name(env: Settings) -> None:
    cid, link = add_coordinator("Nguyễn Thị Lan", "lan@phu-thai.example", PHU_THAI)
    client = client_for(env)
    home = client.get(link)
    assert f'href="/c/{link.split("/c/")[1]}/p/{MINE}"' in home.text and f"/p/{THEIRS}" not in home.text
    page = client.get(f"{link}/p/{MINE}")
    assert (
        page.status_code == 200
        and "Ghi nhận minh chứng" in page.text
        and "Tuyên truyền trên Cổng thông tin điện tử xã" in page.text
    )
    token = csrf(page.text)

    form = {"csrf": token, "duty": POST, "kind": "post", "date": "2025-09-02", "title": "Tin CCHC tháng 9"}
    ok = client.post(f"{link}/p/{MINE}/evidence", data={**form, "url": "https://phuthai.example/tin-9"})
    assert ok.status_code == 200 and "Đã ghi nhận minh chứng #" in ok.text, ok.text
    again = client.post(f"{link}/p/{MINE}/evidence", data={**form, "url": "https://phuthai.example/tin-9/"})
    assert again.status_code == 200 and "đã có từ trước" in again.text
    photo = client.post(
        f"{link}/p/{MINE}/evidence",
        data={**form, "kind": "photo", "duty": "cuoc-thi-truc-tuyen", "title": "Ảnh cuộc thi"},
        files={"file": ("anh.png", _png(), "image/png")},
    )
    # The contest counts what its spec names; a kind it does not count is refused in Vietnamese, not stored.
    counted = service.accepted_kinds(service.resolve_plan(MINE, env), "cuoc-thi-truc-tuyen")
    if "photo" in counted:
        assert photo.status_code == 200, photo.text
    else:
        assert photo.status_code == 400 and "Nhiệm vụ này chỉ tính" in photo.text
        photo = client.post(
            f"{link}/p/{MINE}/evidence",
            data={**form, "kind": counted[0], "duty": "cuoc-thi-truc-tuyen", "title": "Ảnh cuộc thi"},
            files={"file": ("anh.png", _png(), "image/png")},
        )
        assert photo.status_code == 200 and "Đã ghi nhận minh chứng #" in photo.text, photo.text
    future = client.post(f"{link}/p/{MINE}/evidence", data={**form, "date": "2025-09-30", "url": "https://a.example/x"})
    assert future.status_code == 400 and "ở tương lai" in future.text

    rows = evidence(env, MINE)
    assert [(r.duty_id, r.origin) for r in rows] == [(POST, "portal"), ("cuoc-thi-truc-tuyen", "portal")]
    assert rows[1].file_sha256 and rows[1].file_name and rows[1].file_name.endswith(".png")
    added = audit_rows(env, "evidence.add")
    assert len(added) == 2
    for a in added:  # who (id, e-mail, name) and from where
        assert a.actor == f"coordinator:{cid}:lan@phu-thai.example (Nguyễn Thị Lan) từ testclient"
        assert a.plan_id == MINE
    # The count she sees is the store's judgement, as the units' page and the status artifact show it.
    assert "1/1" in client.get(f"{link}/p/{MINE}").text


def test_she_waives_an_occurrence_rejects_evidence_and_confirms_an_assumption_each_with_a_reason(
    env: Settings,
) -> None:
    cid, link = add_coordinator("Nguyễn Thị Lan", "lan@phu-thai.example", PHU_THAI)
    client = client_for(env)
    token = csrf(client.get(f"{link}/p/{MINE}").text)
    who = f"coordinator:{cid}:lan@phu-thai.example (Nguyễn Thị Lan) từ testclient"

    no_reason = client.post(f"{link}/p/{MINE}/waive", data={"csrf": token, "occurrence": f"{POST}|2025-08"})
    assert no_reason.status_code == 400 and "Cần ghi lý do miễn" in no_reason.text
    waived = client.post(
        f"{link}/p/{MINE}/waive",
        data={"csrf": token, "occurrence": f"{POST}|2025-08", "reason": "Cổng TTĐT bảo trì cả tháng 8"},
    )
    assert waived.status_code == 200 and "Đã miễn" in waived.text
    with session_scope(engine_for(env)) as s:
        (w,) = s.scalars(select(WaiverRow))
        assert (w.plan_id, w.duty_id, w.period, w.by) == (MINE, POST, "2025-08", who)

    client.post(
        f"{link}/p/{MINE}/evidence",
        data={"csrf": token, "duty": POST, "kind": "post", "date": "2025-09-02", "title": "Tin không về CCHC"}
        | {"url": "https://phuthai.example/lac-de"},
    )
    (ev,) = evidence(env, MINE)
    rejected = client.post(
        f"{link}/p/{MINE}/reject", data={"csrf": token, "evidence_id": str(ev.id), "reason": "Bài không về CCHC"}
    )
    assert rejected.status_code == 200 and f"Đã loại minh chứng #{ev.id}" in rejected.text
    (ev,) = evidence(env, MINE)
    assert ev.rejected_at is not None and ev.rejected_reason == "Bài không về CCHC"
    assert "Đã loại: Bài không về CCHC" in rejected.text

    plan = service.resolve_plan(MINE, env)
    page = client.get(f"{link}/p/{MINE}").text
    key = re.search(r'name="assumption" value="([^"]+)"', page)
    assert key, "her plan has unconfirmed assumptions on the page"
    confirmed = client.post(
        f"{link}/p/{MINE}/assumption",
        data={"csrf": token, "assumption": key.group(1), "reason": "Công văn 12/SNV ngày 01/9/2025"},
    )
    assert confirmed.status_code == 200 and "Đã xác nhận giả định" in confirmed.text
    item, aspect = key.group(1).split("|")
    after = {(a.item, a.aspect): a for a in assumptions.listing(service.resolve_plan(MINE, env))}
    assert after[(item, aspect)].confirmed is not None and plan.id == MINE

    actions = [(a.action, a.actor) for a in audit_rows(env) if a.actor.startswith("coordinator:")]
    assert ("occurrence.waive", who) in actions
    assert ("evidence.reject", who) in actions
    assert ("assumption.confirm", who) in actions


def test_she_approves_a_report_draft_with_its_number_once_and_a_stale_or_late_decision_changes_nothing(
    env: Settings,
) -> None:
    cid, link = add_coordinator("Nguyễn Thị Lan", "lan@phu-thai.example", PHU_THAI)
    plan = service.resolve_plan(MINE, env)
    tgt = workflow.target(plan, "bao-cao-quy", "2025-Q3", DRAFTED)
    workflow.draft(env, plan, tgt, DRAFTED, DRAFTED)
    client = client_for(env)
    page = client.get(f"{link}/p/{MINE}").text
    assert 'id="reports"' in page and "dự thảo bản 1" in page
    token = csrf(page)
    draft = client.get(f"{link}/p/{MINE}/draft/bao-cao-quy/2025-Q3.docx")
    assert draft.status_code == 200 and draft.content.startswith(b"PK")

    form = {"csrf": token, "report": "bao-cao-quy|2025-Q3", "version": "1", "decision": "approve"}
    unnumbered = client.post(f"{link}/p/{MINE}/report", data=form)
    assert unnumbered.status_code == 400 and "Cần nhập số văn bản" in unnumbered.text
    stale = client.post(f"{link}/p/{MINE}/report", data={**form, "version": "2", "number": "41/BC-UBND"})
    assert stale.status_code == 409 and "bản dự thảo 2" in stale.text
    assert workflow.run_state(env, plan, "bao-cao-quy", "2025-Q3").state == "drafted"  # type: ignore[union-attr]

    ok = client.post(f"{link}/p/{MINE}/report", data={**form, "number": "41/BC-UBND", "signer": "Phạm Tiến Nhuận"})
    assert ok.status_code == 200 and "Đã duyệt" in ok.text and "41/BC-UBND" in ok.text, ok.text
    assert 'id="reports"' not in ok.text
    run_row = workflow.run_state(env, plan, "bao-cao-quy", "2025-Q3")
    who = f"coordinator:{cid}:lan@phu-thai.example (Nguyễn Thị Lan) từ testclient"
    assert run_row is not None and (run_row.state, run_row.number, run_row.decided_by) == (
        "approved",
        "41/BC-UBND",
        who,
    )
    # The same page posted again, or the Prefect form answered later: the first decision stands.
    late = client.post(f"{link}/p/{MINE}/report", data={**form, "decision": "send_back", "note": "sửa"})
    assert late.status_code == 409 and "đã được quyết định trước đó" in late.text
    ui = workflow.decide(env, plan, tgt, workflow.Decision.send_back, NOW, note="trả lại", by="prefect:x")
    assert ui == workflow.APPROVED
    # What the report's run delivers from is that one stored decision (its delivery is keyed per recipient,
    # tests/test_report_workflow.py): one approval, whoever answered second.
    (decided,) = audit_rows(env, "report.approve")
    assert decided.actor == who and "số 41/BC-UBND" in (decided.detail or "")


def test_send_back_needs_a_reason_and_is_recorded_under_her_name(env: Settings) -> None:
    cid, link = add_coordinator("Nguyễn Thị Lan", "lan@phu-thai.example", PHU_THAI)
    plan = service.resolve_plan(MINE, env)
    tgt = workflow.target(plan, "bao-cao-quy", "2025-Q3", DRAFTED)
    workflow.draft(env, plan, tgt, DRAFTED, DRAFTED)
    client = client_for(env)
    token = csrf(client.get(f"{link}/p/{MINE}").text)
    form = {"csrf": token, "report": "bao-cao-quy|2025-Q3", "version": "1", "decision": "send_back"}
    assert client.post(f"{link}/p/{MINE}/report", data=form).status_code == 400
    back = client.post(f"{link}/p/{MINE}/report", data={**form, "note": "Thiếu số liệu tháng 9"})
    assert back.status_code == 200 and "Đã trả lại" in back.text
    row = workflow.run_state(env, plan, "bao-cao-quy", "2025-Q3")
    assert row is not None and (row.state, row.note) == ("sent_back", "Thiếu số liệu tháng 9")
    assert row.decided_by is not None and row.decided_by.startswith(f"coordinator:{cid}:")


def refused_page(answer: Any) -> None:
    assert answer.status_code == 403, answer.text
    assert 'id="forbidden"' in answer.text and "Không được phép" in answer.text


def test_her_link_on_another_communes_plan_ids_or_forged_fields_is_refused_audited_and_changes_nothing(
    env: Settings,
) -> None:
    cid, link = add_coordinator("Nguyễn Thị Lan", "lan@phu-thai.example", PHU_THAI)
    _, other = add_coordinator("Trần Văn Bình", "binh@phu-thong.example", PHU_THONG)
    theirs = record_theirs(env)
    client = client_for(env)
    token = csrf(client.get(f"{link}/p/{MINE}").text)
    before = snapshot(env)
    audited_before = len(audit_rows(env, "coordinator.refused"))

    attempts = [
        client.get(f"{link}/p/{THEIRS}"),  # the other commune's page
        client.get(f"{link}/p/..%2F{THEIRS}"),  # not an id at all
        client.post(  # the other plan, with her own (valid) form token
            f"{link}/p/{THEIRS}/evidence",
            data={
                "csrf": token,
                "duty": "x",
                "kind": "post",
                "date": "2025-09-02",
                "title": "t",
                "url": "https://a.b/c",
            },
        ),
        # her plan, another plan's evidence id
        client.post(f"{link}/p/{MINE}/reject", data={"csrf": token, "evidence_id": str(theirs), "reason": "x"}),
        client.post(f"{link}/p/{MINE}/reject", data={"csrf": token, "evidence_id": "1 OR 1=1", "reason": "x"}),
        # her plan, a duty or period the page never offered
        client.post(
            f"{link}/p/{MINE}/evidence",
            data={"csrf": token, "duty": "tuyen-truyen-website", "kind": "post", "date": "2025-09-02", "title": "t"},
        ),
        client.post(f"{link}/p/{MINE}/waive", data={"csrf": token, "occurrence": f"{POST}|2030-01", "reason": "x"}),
        client.post(
            f"{link}/p/{MINE}/report",
            data={"csrf": token, "report": "bao-cao-6-thang|2025-H2", "version": "1", "decision": "approve"},
        ),
        client.post(f"{link}/p/{MINE}/assumption", data={"csrf": token, "assumption": "x|due", "reason": "x"}),
        # a form token that is not her link's (another coordinator's), or none
        client.post(
            f"{link}/p/{MINE}/waive",
            data={"csrf": form_token(env, other.rsplit("/", 1)[1]), "occurrence": f"{POST}|2025-08", "reason": "x"},
        ),
        client.post(f"{link}/p/{MINE}/waive", data={"occurrence": f"{POST}|2025-08", "reason": "x"}),
        # the other commune's coordinator on her plan
        client.post(f"{other}/p/{MINE}/waive", data={"csrf": token, "occurrence": f"{POST}|2025-08", "reason": "x"}),
        client.get(f"{link}/p/{THEIRS}/draft/bao-cao-quy/2025-Q3.docx"),
    ]
    for answer in attempts:
        if answer.status_code == 404:  # the router refuses an encoded slash before any handler: nothing done
            continue
        refused_page(answer)
    assert snapshot(env) == before
    with session_scope(engine_for(env)) as s:
        assert list(s.scalars(select(WaiverRow))) == []
    refusals = audit_rows(env, "coordinator.refused")[audited_before:]
    assert len(refusals) >= 11
    assert {r.plan_id for r in refusals} == {MINE, THEIRS}
    mine = [r for r in refusals if r.actor.startswith(f"coordinator:{cid}:")]
    assert any(f"#{theirs} không thuộc kế hoạch này" in (r.reason or "") for r in mine)
    assert any("mã biểu mẫu không khớp" in (r.reason or "") for r in mine)
    assert all(r.actor.endswith("từ testclient") for r in refusals)


def test_revoked_expired_and_cross_site_posts_are_refused_and_record_nothing(env: Settings) -> None:
    cid, link = add_coordinator("Nguyễn Thị Lan", "lan@phu-thai.example", PHU_THAI)
    client = client_for(env)
    token = csrf(client.get(f"{link}/p/{MINE}").text)
    form = {"csrf": token, "occurrence": f"{POST}|2025-08", "reason": "bảo trì"}
    cross = client.post(f"{link}/p/{MINE}/waive", data=form, headers={"origin": "https://evil.example"})
    assert cross.status_code == 403

    expired = coordinator_links.sign(env.link_secret(), cid, NOW - dt.timedelta(days=1))
    old = client.post(f"/c/{expired}/p/{MINE}/waive", data=form)
    assert old.status_code == 410 and "hết hạn" in old.text

    code, out = run("coordinator", "revoke", str(cid), "--reason", "chuyển công tác", "--by", "an")
    assert code == 0, out
    gone = client.post(f"{link}/p/{MINE}/waive", data=form)
    assert gone.status_code == 403 and "thu hồi" in gone.text
    assert client.get(f"{link}/p/{MINE}").status_code == 403
    with session_scope(engine_for(env)) as s:
        assert list(s.scalars(select(WaiverRow))) == []


def test_coordinator_audit_lists_her_actions_and_refusals_by_commune(env: Settings) -> None:
    cid, link = add_coordinator("Nguyễn Thị Lan", "lan@phu-thai.example", PHU_THAI)
    bid, other = add_coordinator("Trần Văn Bình", "binh@phu-thong.example", PHU_THONG)
    client = client_for(env)
    token = csrf(client.get(f"{link}/p/{MINE}").text)
    client.post(f"{link}/p/{MINE}/waive", data={"csrf": token, "occurrence": f"{POST}|2025-08", "reason": "bảo trì"})
    client.get(f"{other}/p/{MINE}")  # Bình tries Phú Thái's plan

    code, out = run("coordinator", "audit", "--commune", str(PHU_THAI), "--json")
    assert code == 0, out
    rows = json.loads(out)
    actions = {(r["action"], r["actor"].split(" ")[0]) for r in rows}
    assert ("occurrence.waive", f"coordinator:{cid}:lan@phu-thai.example") in actions
    assert ("coordinator.refused", f"coordinator:{bid}:binh@phu-thong.example") in actions  # tried her plan
    code, out = run("coordinator", "audit", "--commune", str(PHU_THONG), "--json")
    theirs = json.loads(out)
    assert {r["action"] for r in theirs} == {"coordinator.refused"}  # Bình's own attempt, nothing of Lan's
    code, out = run("coordinator", "audit")
    assert code == 0 and "occurrence.waive" in out and "từ testclient" in out
    # The plan's own audit listing shows the same rows under her name.
    code, out = run("audit", MINE, "--json")
    assert code == 0 and any(r["actor"].startswith(f"coordinator:{cid}:") for r in json.loads(out))


@pytest.mark.postgres
def test_on_postgresql_her_scope_and_the_commune_audit_hold(
    env: Settings, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCHC_DATABASE_URL", pg_url)
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.database_url is not None and settings.database_url.startswith("postgresql")
    test_her_link_on_another_communes_plan_ids_or_forged_fields_is_refused_audited_and_changes_nothing(settings)
    test_coordinator_audit_lists_her_actions_and_refusals_by_commune(settings)
    with session_scope(engine_for(settings)) as s:
        assert repo.audit_trail(s, MINE)  # the same rows through the plan's listing


def test_every_portal_route_is_registered_once(env: Settings) -> None:
    """A route added twice answers the same, but each request walks the duplicate and the docs list it twice."""
    from fastapi.routing import APIRoute

    app = create_app(env, clock=lambda: NOW)
    seen = [(r.path, method) for r in app.routes if isinstance(r, APIRoute) for method in r.methods]
    assert len(seen) == len(set(seen)), sorted({x for x in seen if seen.count(x) > 1})
