"""Coordinators put a plan in without a shell (issue #17 item 5, issue #16 item 4): per-person signed sign-in
links to the portal, a workbook upload that shows every error by cell or a summary, a submission the operator
accepts with `cchc plan accept` (the only way into plan_specs/), each coordinator held to her own commune, and
an audit trail naming who did what.

Real components throughout: the portal app (FastAPI's TestClient, and uvicorn on loopback for Chromium), the
real SQLite store, the real workbooks made by export_bytes from the real plans, the `cchc` command in-process.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from cchc.app.service import engine_for
from cchc.core import coordinator_links, links
from cchc.core.loader import load_plan
from cchc.io.workbook import export_bytes, import_workbook
from cchc.portal.app import create_app
from cchc.settings import Settings, get_settings
from cchc.store.db import session_scope
from cchc.store.models import AuditRow, PlanSubmissionRow
from tests.conftest import PLAN_DIR
from tests.running import CHROMIUM, CHROMIUM_FLAGS, free_port, require_chromium, serving
from tests.test_cli import run

PHU_THAI = 10750  # Hải Phòng
PHU_THONG = 1969  # Thái Nguyên
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def home(cchc_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """An empty plan folder (what `plan accept` writes lands here, never in the real plan_specs/)."""
    plans = tmp_path / "plans"
    plans.mkdir()
    monkeypatch.setenv("CCHC_PLAN_DIR", str(plans))
    monkeypatch.setenv("CCHC_PORTAL_URL", "http://127.0.0.1:8765")
    get_settings.cache_clear()
    return get_settings()


def add_coordinator(name: str, email: str, commune: int) -> tuple[int, str]:
    """`cchc coordinator add`: her id and the path of her sign-in link."""
    code, out = run("coordinator", "add", "--name", name, "--email", email, "--commune", str(commune), "--by", "an")
    assert code == 0, out
    m = re.search(r"#(\d+):", out)
    url = re.search(r"http://127\.0\.0\.1:8765(/c/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)", out)
    assert m and url, out
    return int(m.group(1)), url.group(1)


def workbook(plan_id: str) -> bytes:
    return export_bytes(load_plan(PLAN_DIR / f"{plan_id}.yaml"))


def upload(client: TestClient, link: str, data: bytes, name: str = "ke-hoach.xlsx") -> Any:
    return client.post(f"{link}/upload", files={"file": (name, data, XLSX)})


def submissions_rows(settings: Settings) -> list[tuple[int, str, str, int]]:
    with session_scope(engine_for(settings)) as s:
        rows = s.scalars(select(PlanSubmissionRow).order_by(PlanSubmissionRow.id))
        return [(r.id, r.plan_id, r.status, r.coordinator_id) for r in rows]


def audit(settings: Settings) -> list[tuple[str, str, str]]:
    with session_scope(engine_for(settings)) as s:
        return [(r.actor, r.action, r.plan_id) for r in s.scalars(select(AuditRow).order_by(AuditRow.id))]


def draft_id(page: str) -> int:
    m = re.search(r"/submit/(\d+)\"", page)
    assert m, page
    return int(m.group(1))


def test_a_valid_workbook_becomes_a_pending_submission_and_plan_accept_writes_a_spec_that_validates(
    home: Settings,
) -> None:
    cid, link = add_coordinator("Nguyễn Thị Lan", "lan@phu-thai.example", PHU_THAI)
    client = TestClient(create_app(home))
    page = client.get(link)
    assert page.status_code == 200 and "Nguyễn Thị Lan" in page.text and "Xã Phú Thái" in page.text

    shown = upload(client, link, workbook("phu-thai-2025h2"))
    assert shown.status_code == 200, shown.text
    assert 'id="summary-id">phu-thai-2025h2<' in shown.text and "chưa gửi" in shown.text
    sid = draft_id(shown.text)
    # A draft is hers alone: the operator sees nothing pending until she sends it.
    code, out = run("plan", "submissions", "--json")
    assert code == 0 and json.loads(out) == []

    sent = client.post(f"{link}/submit/{sid}")
    assert sent.status_code == 200 and "chờ duyệt" in sent.text and f"Đã gửi hồ sơ #{sid}" in sent.text
    code, out = run("plan", "submissions", "--json")
    (pending,) = json.loads(out)
    assert (pending["id"], pending["plan_id"], pending["status"], pending["coordinator_id"]) == (
        sid,
        "phu-thai-2025h2",
        "pending",
        cid,
    )
    assert client.post(f"{link}/submit/{sid}").status_code == 404  # sent once, not twice

    target = home.plan_dir / "phu-thai-2025h2.yaml"
    assert not target.exists()  # nothing reached the plan folder without the operator
    code, out = run("plan", "accept", str(sid), "--by", "binh")
    assert code == 0, out
    assert load_plan(target) == load_plan(PLAN_DIR / "phu-thai-2025h2.yaml")  # the spec validates, the same plan
    code, out = run("validate", str(target))
    assert code == 0, out
    code, out = run("plan", "accept", str(sid))
    assert code != 0 and "đã duyệt" in out  # decided once
    assert "đã duyệt" in client.get(link).text

    trail = audit(home)
    assert ("operator:an", "coordinator.add", f"commune-{PHU_THAI}") in trail
    me = f"coordinator:{cid}:lan@phu-thai.example (Nguyễn Thị Lan)"
    assert (me, "submission.upload", "phu-thai-2025h2") in trail
    assert (me, "submission.submit", "phu-thai-2025h2") in trail
    assert ("operator:binh", "submission.accept", "phu-thai-2025h2") in trail


def test_a_bad_workbook_shows_every_error_by_sheet_and_cell_and_stores_nothing(home: Settings) -> None:
    _, link = add_coordinator("Nguyễn Thị Lan", "lan@phu-thai.example", PHU_THAI)
    client = TestClient(create_app(home))
    wb = load_workbook(io.BytesIO(workbook("phu-thai-2025h2")))
    ws = wb["Nhiệm vụ"]
    ws.cell(row=2, column=12).value = "hang thang"  # cadence
    ws.cell(row=3, column=3).value = "khong-co-don-vi"  # lead unit not declared
    buf = io.BytesIO()
    wb.save(buf)

    shown = upload(client, link, buf.getvalue())
    assert shown.status_code == 400
    issues = re.findall(r'<li class="issue"><strong>([^<]+)</strong>', shown.text)
    assert "Nhiệm vụ!L2" in issues and "Nhiệm vụ!C3" in issues, shown.text
    assert "chưa lưu gì" in shown.text and "hang thang" in shown.text

    not_xlsx = upload(client, link, b"%PDF-1.4 not a workbook", "ke-hoach.pdf")
    assert not_xlsx.status_code == 400 and "không phải bảng tính Excel" in not_xlsx.text
    assert submissions_rows(home) == []  # nothing stored, pending or otherwise
    assert not any(a == "submission.upload" for _, a, _ in audit(home))


def test_a_coordinator_can_neither_submit_for_another_commune_nor_see_or_send_its_submissions(
    home: Settings,
) -> None:
    a_id, a_link = add_coordinator("Nguyễn Thị Lan", "lan@phu-thai.example", PHU_THAI)
    b_id, b_link = add_coordinator("Hoàng Văn Nam", "nam@phu-thong.example", PHU_THONG)
    client = TestClient(create_app(home))

    # A's workbook of B's commune is refused, kept out of the store, and the attempt is in the audit trail.
    wrong = upload(client, a_link, workbook("phu-thong-2025"))
    assert wrong.status_code == 400 and "chỉ gửi được kế hoạch của xã mình" in wrong.text
    assert submissions_rows(home) == []
    assert (f"coordinator:{a_id}:lan@phu-thai.example (Nguyễn Thị Lan)", "submission.refused", "phu-thong-2025") in (
        audit(home)
    )

    b_page = upload(client, b_link, workbook("phu-thong-2025"))
    assert b_page.status_code == 200
    b_sid = draft_id(b_page.text)
    # A cannot send B's draft, nor see it; B's draft stays as it was.
    tried = client.post(f"{a_link}/submit/{b_sid}")
    assert tried.status_code == 404 and f"không có hồ sơ #{b_sid} của bạn" in tried.text
    assert (
        f"coordinator:{a_id}:lan@phu-thai.example (Nguyễn Thị Lan)",
        "submission.refused",
        f"commune-{PHU_THAI}",
    ) in audit(home)
    assert submissions_rows(home) == [(b_sid, "phu-thong-2025", "draft", b_id)]
    a_home = client.get(a_link).text
    assert f"submission-{b_sid}" not in a_home and "phu-thong-2025" not in a_home
    assert f"submission-{b_sid}" in client.get(b_link).text


def test_revoked_tampered_expired_and_unit_links_are_refused_and_record_nothing(home: Settings) -> None:
    cid, link = add_coordinator("Nguyễn Thị Lan", "lan@phu-thai.example", PHU_THAI)
    client = TestClient(create_app(home))
    token = link.removeprefix("/c/")
    payload, sig = token.split(".")

    tampered = f"/c/{payload}.{sig[:-2]}{'A' if sig[-2] != 'A' else 'B'}{sig[-1]}"
    assert client.get(tampered).status_code == 403
    other = coordinator_links.sign(home.link_secret(), cid + 1, dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    forged_id = f"/c/{other.split('.')[0]}.{sig}"  # another id under her signature
    assert client.get(forged_id).status_code == 403
    unit = links.sign(
        home.link_secret(),
        links.Claims("phu-thai-2025h2", "cong-ttdt-tin-bai", "2025-10", "vhxh", dt.datetime(2099, 1, 1, tzinfo=dt.UTC)),
    )
    assert client.get(f"/c/{unit}").status_code == 403  # a unit's link is not a coordinator's
    expired = coordinator_links.sign(home.link_secret(), cid, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    assert client.get(f"/c/{expired}").status_code == 410
    # Her own link does not open the units' evidence pages either.
    assert client.get(f"/n/{token}").status_code == 403

    code, out = run("coordinator", "revoke", str(cid), "--reason", "chuyển công tác", "--by", "an")
    assert code == 0, out
    gone = client.get(link)
    assert gone.status_code == 403 and "thu hồi" in gone.text
    assert upload(client, link, workbook("phu-thai-2025h2")).status_code == 403
    assert submissions_rows(home) == []
    assert ("operator:an", "coordinator.revoke", f"commune-{PHU_THAI}") in audit(home)
    code, out = run("coordinator", "list", "--json")
    (listed,) = json.loads(out)
    assert listed["id"] == cid and listed["revoked_at"] is not None


def test_plan_reject_and_accept_guard_the_plan_folder(home: Settings) -> None:
    _, link = add_coordinator("Nguyễn Thị Lan", "lan@phu-thai.example", PHU_THAI)
    client = TestClient(create_app(home))

    def send() -> int:
        sid = draft_id(upload(client, link, workbook("phu-thai-2025h2")).text)
        assert client.post(f"{link}/submit/{sid}").status_code == 200
        return sid

    first = send()
    code, out = run("plan", "reject", str(first), "--reason", " ")
    assert code != 0 and "lý do" in out
    code, out = run("plan", "reject", str(first), "--reason", "Thiếu số kế hoạch", "--by", "binh")
    assert code == 0, out
    assert "bị trả lại" in client.get(link).text and "Thiếu số kế hoạch" in client.get(link).text
    code, out = run("plan", "accept", str(first))
    assert code != 0 and not (home.plan_dir / "phu-thai-2025h2.yaml").exists()

    # A spec of the same id already there: refused without --force, replaced with it.
    target = home.plan_dir / "phu-thai-2025h2.yaml"
    target.write_text((PLAN_DIR / "phu-thai-2025h2.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    before = target.read_text(encoding="utf-8")
    second = send()
    code, out = run("plan", "accept", str(second))
    assert code != 0 and "--force" in out and target.read_text(encoding="utf-8") == before
    code, out = run("plan", "accept", str(second), "--force")
    assert code == 0, out
    assert load_plan(target) == load_plan(PLAN_DIR / "phu-thai-2025h2.yaml")

    # Another commune's spec under that id is never overwritten, not even with --force.
    other = (
        (PLAN_DIR / "phu-thong-2025.yaml")
        .read_text(encoding="utf-8")
        .replace("id: phu-thong-2025", "id: phu-thai-2025h2")
    )
    target.write_text(other, encoding="utf-8")
    third = send()
    code, out = run("plan", "accept", str(third), "--force")
    assert code != 0 and "xã khác" in out and target.read_text(encoding="utf-8") == other
    # A workbook that no longer reads as a valid plan (here: rules tightened since it was sent, played by
    # spoiling its stored bytes) is not written: the operator and the coordinator see why, it stays pending.
    with session_scope(engine_for(home)) as s:
        row = s.get(PlanSubmissionRow, third)
        assert row is not None
        row.workbook = b"PK\x03\x04 no longer a workbook"
    target.unlink()
    code, out = run("plan", "accept", str(third))
    assert code != 0 and "không còn hợp lệ" in out and "không phải bảng tính Excel" in out
    assert not target.exists()
    assert "không phải bảng tính Excel" in client.get(link).text
    code, out = run("plan", "submissions", "--all", "--json")
    assert [(s["id"], s["status"]) for s in json.loads(out)] == [
        (first, "rejected"),
        (second, "accepted"),
        (third, "pending"),
    ]
    assert json.loads(out)[2]["errors"]
    trail = audit(home)
    assert ("operator:binh", "submission.reject", "phu-thai-2025h2") in trail


def test_hostile_text_in_a_workbook_shows_as_text_on_her_page(home: Settings) -> None:
    _, link = add_coordinator("Nguyễn Thị Lan", "lan@phu-thai.example", PHU_THAI)
    wb = load_workbook(io.BytesIO(workbook("phu-thai-2025h2")))
    ws = wb["Kế hoạch"]
    (row,) = [r for r in range(1, ws.max_row + 1) if ws.cell(row=r, column=3).value == "title"]
    ws.cell(row=row, column=2).value = "<script>alert(1)</script> Kế hoạch"
    buf = io.BytesIO()
    wb.save(buf)
    shown = upload(TestClient(create_app(home)), link, buf.getvalue(), name='"><img src=x onerror=alert(1)>.xlsx')
    assert shown.status_code == 200, shown.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Kế hoạch" in shown.text and "<script>" not in shown.text
    assert "<img src=x" not in shown.text and "&lt;img src=x onerror=alert(1)&gt;" in shown.text
    assert "script-src 'none'" in shown.headers["content-security-policy"]


def test_without_a_shell_she_downloads_her_plan_or_a_template_made_over_for_her_commune(home: Settings) -> None:
    """The whole loop in the portal: a template from another commune's plan, cloned for hers and her period,
    filled (e-mails here) and sent back as a draft of her own plan."""
    for plan_id in ("phu-thai-2025h2", "phu-thong-2025"):
        (home.plan_dir / f"{plan_id}.yaml").write_bytes((PLAN_DIR / f"{plan_id}.yaml").read_bytes())
    _, link = add_coordinator("Nguyễn Thị Lan", "lan@phu-thai.example", PHU_THAI)
    client = TestClient(create_app(home))
    page = client.get(link).text
    assert f'{link}/plan/phu-thai-2025h2.xlsx"' in page and f'{link}/plan/phu-thong-2025.xlsx"' not in page
    assert '<option value="phu-thong-2025">' in page  # any plan may serve as a template

    mine = client.get(f"{link}/plan/phu-thai-2025h2.xlsx")
    assert mine.status_code == 200 and mine.headers["content-type"] == XLSX
    assert import_workbook(mine.content) == load_plan(PLAN_DIR / "phu-thai-2025h2.yaml")
    assert client.get(f"{link}/plan/phu-thong-2025.xlsx").status_code == 404  # another commune's plan
    assert client.get(f"{link}/plan/..%2Fphu-thai-2025h2.xlsx").status_code == 404

    made = client.get(f"{link}/template", params={"like": "phu-thong-2025", "period": "2026H1"})
    assert made.status_code == 200 and 'filename="phu-thai-2026h1.xlsx"' in made.headers["content-disposition"]
    template = import_workbook(made.content)
    assert (template.id, template.commune.code, template.period.start) == (
        "phu-thai-2026h1",
        PHU_THAI,
        dt.date(2026, 1, 1),
    )
    assert all(u.emails == () for u in template.units)
    bad = client.get(f"{link}/template", params={"like": "phu-thong-2025", "period": "2026H3"})
    assert bad.status_code == 400 and "2026H3" in bad.text

    wb = load_workbook(io.BytesIO(made.content))
    ws = wb["Đơn vị"]
    heads = [c.value for c in ws[1]]
    col = next(i for i, h in enumerate(heads, start=1) if h and "mail" in str(h).lower())
    for r in range(2, ws.max_row + 1):
        if ws.cell(row=r, column=1).value:
            ws.cell(row=r, column=col).value = f"{ws.cell(row=r, column=1).value}@phu-thai.example"
    buf = io.BytesIO()
    wb.save(buf)
    sent = upload(client, link, buf.getvalue())
    assert sent.status_code == 200 and 'id="summary-id">phu-thai-2026h1<' in sent.text, sent.text
    ((_, plan_id, status, _),) = submissions_rows(home)
    assert (plan_id, status) == ("phu-thai-2026h1", "draft")


def test_a_coordinator_given_named_plans_may_send_only_those(home: Settings) -> None:
    code, out = run(
        "coordinator",
        "add",
        "--name",
        "Lan",
        "--email",
        "lan@phu-thai.example",
        "--commune",
        str(PHU_THAI),
        "--plan",
        "phu-thai-2026h1",
    )
    assert code == 0, out
    link = re.search(r"http://127\.0\.0\.1:8765(/c/\S+)", out)
    assert link, out
    client = TestClient(create_app(home))
    refused = upload(client, link.group(1), workbook("phu-thai-2025h2"))
    assert refused.status_code == 400 and "chỉ được giao kế hoạch phu-thai-2026h1" in refused.text
    assert submissions_rows(home) == []


def test_the_sign_in_link_is_mailed_to_her_alone_and_a_new_one_can_be_issued(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.mailserver import running

    for mail in running():
        monkeypatch.setenv("CCHC_SMTP_URL", mail.url)
        get_settings.cache_clear()
        code, out = run(
            "coordinator",
            "add",
            "--name",
            "Nguyễn Thị Lan",
            "--email",
            "lan@phu-thai.example",
            "--commune",
            str(PHU_THAI),
            "--send",
        )
        assert code == 0 and "Đã gửi đường dẫn tới lan@phu-thai.example" in out, out
        (msg,) = mail.received
        assert msg.rcpt == ["lan@phu-thai.example"] and "Xã Phú Thái" in msg.subject
        printed = re.search(r"(http://127\.0\.0\.1:8765/c/\S+)", out)
        assert printed and printed.group(1) in msg.text()
        client = TestClient(create_app(get_settings()))
        assert client.get(printed.group(1).removeprefix("http://127.0.0.1:8765")).status_code == 200

        code, out = run("coordinator", "link", "1", "--send")
        assert code == 0, out
        again = re.search(r"http://127\.0\.0\.1:8765(/c/\S+)", out)
        assert again and len(mail.received) == 2 and client.get(again.group(1)).status_code == 200
        code, out = run("coordinator", "revoke", "1")
        assert code == 0
        code, out = run("coordinator", "link", "1")
        assert code != 0 and "đã bị thu hồi" in out
        assert client.get(again.group(1)).status_code == 403


def test_coordinator_add_refuses_bad_input_and_records_nothing(home: Settings) -> None:
    for args, said in (
        (("--name", "Lan", "--email", "khong-phai-email", "--commune", str(PHU_THAI)), "--email"),
        (("--name", "Lan", "--email", "lan@phu-thai.example", "--commune", "99999"), "--commune"),
        (("--name", " ", "--email", "lan@phu-thai.example", "--commune", str(PHU_THAI)), "--name"),
    ):
        code, out = run("coordinator", "add", *args)
        assert code != 0 and said in out, out
    code, out = run("coordinator", "list", "--json")
    assert code == 0 and json.loads(out) == []


def test_on_postgresql_the_round_trip_and_the_commune_scope_hold_as_well(
    home: Settings, pg_databases: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same store code on PostgreSQL (the province host's database): row locks, bytea, the audit trail."""
    for check in (
        test_a_valid_workbook_becomes_a_pending_submission_and_plan_accept_writes_a_spec_that_validates,
        test_a_coordinator_can_neither_submit_for_another_commune_nor_see_or_send_its_submissions,
    ):
        monkeypatch.setenv("CCHC_DATABASE_URL", pg_databases())
        get_settings.cache_clear()
        settings = get_settings()
        assert settings.database_url is not None and settings.database_url.startswith("postgresql")
        for leftover in settings.plan_dir.iterdir():
            leftover.unlink()
        check(settings)


# ------------------------------------------------------------------------------------------------ Chromium


@dataclass
class Served:
    settings: Settings
    base: str


@pytest.fixture
def served(cchc_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    require_chromium()
    port = free_port()
    plans = tmp_path / "plans"
    plans.mkdir()
    monkeypatch.setenv("CCHC_PLAN_DIR", str(plans))
    monkeypatch.setenv("CCHC_PORTAL_URL", f"http://127.0.0.1:{port}")
    get_settings.cache_clear()
    settings = get_settings()
    with serving(create_app(settings), port):
        yield Served(settings, f"http://127.0.0.1:{port}")


@pytest.mark.timeout_slow
def test_in_chromium_a_coordinator_sees_her_errors_by_cell_then_sends_a_plan_the_operator_accepts(
    served: Served, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    code, out = run(
        "coordinator", "add", "--name", "Nguyễn Thị Lan", "--email", "lan@phu-thai.example", "--commune", str(PHU_THAI)
    )
    assert code == 0, out
    url = re.search(r"(http://127\.0\.0\.1:\d+/c/\S+)", out)
    assert url, out
    good = tmp_path / "phu-thai.xlsx"
    good.write_bytes(workbook("phu-thai-2025h2"))
    wb = load_workbook(io.BytesIO(good.read_bytes()))
    wb["Nhiệm vụ"].cell(row=2, column=12).value = "hang thang"
    bad = tmp_path / "sai.xlsx"
    wb.save(bad)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            violations: list[str] = []
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(url.group(1))
            assert page.locator("#who").inner_text() == "Nguyễn Thị Lan"
            # The portal's own style applies under its CSP.
            assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(244, 246, 248)"

            page.set_input_files("#file", str(bad))
            page.click("#upload-form button")
            assert "Nhiệm vụ!L2" in page.locator("#issues").inner_text()
            assert page.locator("#summary").count() == 0
            assert submissions_rows(served.settings) == []

            page.set_input_files("#file", str(good))
            page.click("#upload-form button")
            assert page.locator("#summary-id").inner_text() == "phu-thai-2025h2"
            page.click("#submit-form button")
            assert "Đã gửi hồ sơ" in page.locator("#ok").inner_text()
            assert "chờ duyệt" in page.locator("#submissions").inner_text()
            assert violations == []
        finally:
            browser.close()

    ((sid, plan_id, status, _),) = submissions_rows(served.settings)
    assert (plan_id, status) == ("phu-thai-2025h2", "pending")
    code, out = run("plan", "accept", str(sid))
    assert code == 0, out
    assert load_plan(served.settings.plan_dir / "phu-thai-2025h2.yaml") == load_plan(PLAN_DIR / "phu-thai-2025h2.yaml")
