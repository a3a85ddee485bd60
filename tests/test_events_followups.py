"""What the CLI and the coordinator's page decide reaches the running flows at once.

1. Every change to what counts (evidence recorded or rejected, an occurrence waived, an assumption decided) goes
   through its use case in cchc.app.service, which tells the evidence listener: each entry point (the `cchc`
   command in-process, the portal through its ASGI app) posts the item's event once and publishes the plan's
   status table with the change, before it answers.
2. A report decision on the coordinator's page resumes the report run paused for that draft: it delivers at once,
   exactly once (real aiosmtpd), and a second decision is refused and sends nothing.

Real components: Prefect's test server (the session harness) reached over its REST API as a running system is,
the real SQLite store, the real plans, FastAPI's TestClient, aiosmtpd on loopback.
"""

from __future__ import annotations

import ast
import asyncio
import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pendulum
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cchc.app import report_workflow as workflow
from cchc.app import service
from cchc.cli.main import app as cli
from cchc.core.deployments import EVIDENCE_EVENT
from cchc.core.evaluate import Status
from cchc.core.labels import STATUS_VI
from cchc.core.views import md_text
from cchc.io import events
from cchc.portal.app import create_app
from cchc.settings import Settings, get_settings
from tests.conftest import PLAN_DIR, ROOT
from tests.mailserver import MailServer, running
from tests.running import wait_for
from tests.test_coordinator_portal import PHU_THAI, add_coordinator
from tests.test_report_workflow import no_signing_plans

TZ = "Asia/Ho_Chi_Minh"
PHU_THAI_PLAN = "phu-thai-2025h2"
POST = "cong-ttdt-tin-bai"
runner = CliRunner()


def _api(monkeypatch: pytest.MonkeyPatch) -> str:
    """The harness's API, given to cchc as a running system's PREFECT_API_URL."""
    from prefect.settings import PREFECT_API_URL

    api = str(PREFECT_API_URL.value()).rstrip("/")
    monkeypatch.setenv("PREFECT_API_URL", api)
    get_settings.cache_clear()
    return api


def _status(api: str, plan_id: str) -> dict[str, Any]:
    """The plan's newest status artifact."""
    body = {"artifacts": {"key": {"any_": [events.status_key(plan_id)]}}, "sort": "CREATED_DESC", "limit": 1}
    found = httpx.post(f"{api}/artifacts/filter", json=body, timeout=10).json()
    assert found, f"no status artifact for {plan_id}"
    return dict(found[0])


def _row(artifact: dict[str, Any], item: str) -> dict[str, str]:
    return next(r for r in json.loads(artifact["data"]) if r["Mã"] == item)


def _events(api: str, plan_id: str, since: dt.datetime) -> list[dict[str, Any]]:
    body = {
        "filter": {
            "event": {"name": [EVIDENCE_EVENT]},
            "related": {"id": [f"cchc.plan.{plan_id}"]},
            "occurred": {"since": since.isoformat()},
        },
        "limit": 50,
    }
    return list(httpx.post(f"{api}/events/filter", json=body, timeout=10).json()["events"])


def _await_event(api: str, plan_id: str, since: dt.datetime, item: str, reason: str) -> dict[str, Any]:
    def seen() -> dict[str, Any] | None:
        return next(
            (
                e
                for e in _events(api, plan_id, since)
                if e["resource"]["prefect.resource.id"] == f"cchc.duty.{plan_id}.{item}"
                and e["payload"].get("reason", "").startswith(reason)
            ),
            None,
        )

    return dict(wait_for(f"the event '{reason}' of {item}", seen, 30, every=0.25))


def _cli(*args: str) -> str:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.usefixtures("prefect_harness")
def test_cli_record_reject_waive_and_assumption_each_tell_prefect_and_show_the_new_status_at_once(
    demo_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = _api(monkeypatch)
    since = dt.datetime.now(dt.UTC)  # events are stamped by this process: none of an earlier test counts
    # The demo plan has ended: its table shows each duty's last period (December 2025).
    out = _cli(
        "evidence", "add", "demo", "posts", "--kind", "post", "--title", "Tin CCHC", "--date", "2025-12-10",
        "--url", "https://phuthong.example/tin-1", "--json",
    )  # fmt: skip
    ev = json.loads(out)["id"]
    assert _row(_status(api, "demo"), "posts")["Kết quả"] == "1/3"

    _cli("evidence", "reject", "demo", str(ev), "--reason", "Bài không về CCHC")
    assert _row(_status(api, "demo"), "posts")["Kết quả"] == "0/3"

    _cli("waive", "demo", "posts", "2025-12", "--reason", "Cổng bảo trì cả tháng 12")
    assert _row(_status(api, "demo"), "posts")["Trạng thái"] == md_text(STATUS_VI[Status.waived])

    # The plan-wide effective date has no item's run to trigger: the status table alone is published.
    before = _status(api, "demo")["id"]
    _cli("assumption", "confirm", "demo", "--aspect", "effective", "--reason", "Ngày ký kế hoạch", "--by", "Lan")
    assert _status(api, "demo")["id"] != before

    added = _await_event(api, "demo", since, "posts", f"minh chứng mới #{ev}")
    rejected = _await_event(api, "demo", since, "posts", f"loại minh chứng #{ev}")
    waived = _await_event(api, "demo", since, "posts", "miễn kỳ 2025-12")
    assert added["payload"]["evidence_id"] == ev and rejected["payload"]["evidence_id"] == ev
    assert waived["payload"]["evidence_id"] == 0
    # Once each; a repeated waiver or rejection changes nothing and tells nothing.
    _cli("waive", "demo", "posts", "2025-12", "--reason", "lần nữa")
    _cli("evidence", "reject", "demo", str(ev), "--reason", "lần nữa")
    reasons = [e["payload"]["reason"] for e in _events(api, "demo", since)]
    assert sorted(reasons) == sorted([f"minh chứng mới #{ev}", f"loại minh chứng #{ev}", "miễn kỳ 2025-12"])


@pytest.fixture
def phu_thai(cchc_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / f"{PHU_THAI_PLAN}.yaml").write_text((PLAN_DIR / f"{PHU_THAI_PLAN}.yaml").read_text("utf-8"), "utf-8")
    monkeypatch.setenv("CCHC_PLAN_DIR", str(plans))
    monkeypatch.setenv("CCHC_PORTAL_URL", "http://127.0.0.1:8765")
    get_settings.cache_clear()
    yield get_settings()


def _csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert m, page
    return m.group(1)


@pytest.mark.usefixtures("prefect_harness")
def test_portal_record_reject_waive_and_confirm_each_tell_prefect_once_and_show_the_new_status_at_once(
    phu_thai: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = _api(monkeypatch)
    since = dt.datetime.now(dt.UTC)  # events are stamped by this process: none of an earlier test counts
    _, link = add_coordinator("Nguyễn Thị Lan", "lan@phu-thai.example", PHU_THAI)
    client = TestClient(create_app(get_settings(), clock=lambda: pendulum.datetime(2025, 12, 15, 9, tz=TZ)))
    page = client.get(f"{link}/p/{PHU_THAI_PLAN}").text
    token = _csrf(page)
    base = f"{link}/p/{PHU_THAI_PLAN}"

    form = {"csrf": token, "duty": POST, "kind": "post", "date": "2025-12-10", "title": "Tin CCHC tháng 12"}
    ok = client.post(f"{base}/evidence", data={**form, "url": "https://phuthai.example/tin-12"})
    assert ok.status_code == 200, ok.text
    ev = int(re.search(r"Đã ghi nhận minh chứng #(\d+)", ok.text).group(1))  # type: ignore[union-attr]
    required = _row(_status(api, PHU_THAI_PLAN), POST)["Kết quả"].split("/")[1]
    assert _row(_status(api, PHU_THAI_PLAN), POST)["Kết quả"] == f"1/{required}"

    ok = client.post(f"{base}/reject", data={"csrf": token, "evidence_id": str(ev), "reason": "Không về CCHC"})
    assert ok.status_code == 200 and f"Đã loại minh chứng #{ev}" in ok.text
    assert _row(_status(api, PHU_THAI_PLAN), POST)["Kết quả"] == f"0/{required}"

    ok = client.post(f"{base}/waive", data={"csrf": token, "occurrence": f"{POST}|2025-12", "reason": "Bảo trì"})
    assert ok.status_code == 200 and "Đã miễn" in ok.text
    assert _row(_status(api, PHU_THAI_PLAN), POST)["Trạng thái"] == md_text(STATUS_VI[Status.waived])

    key = re.search(r'name="assumption" value="([^"]+)"', page)
    assert key, "her plan has unconfirmed assumptions on the page"
    item, _aspect = key.group(1).split("|")
    before = _status(api, PHU_THAI_PLAN)["id"]
    ok = client.post(f"{base}/assumption", data={"csrf": token, "assumption": key.group(1), "reason": "CV 12/SNV"})
    assert ok.status_code == 200 and "Đã xác nhận giả định" in ok.text
    assert _status(api, PHU_THAI_PLAN)["id"] != before

    _await_event(api, PHU_THAI_PLAN, since, POST, f"minh chứng mới #{ev}")
    _await_event(api, PHU_THAI_PLAN, since, POST, f"loại minh chứng #{ev}")
    _await_event(api, PHU_THAI_PLAN, since, POST, "miễn kỳ 2025-12")
    _await_event(api, PHU_THAI_PLAN, since, item, "xác nhận giả định")
    # The page no longer posts its own event beside the use case's: one event per change.
    assert len(_events(api, PHU_THAI_PLAN, since)) == 4


# ------------------------------------------------------------------ a report decision resumes the paused run


@pytest.fixture
def smtp(phu_thai: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MailServer]:
    monkeypatch.setenv("CCHC_PLAN_DIR", str(no_signing_plans(tmp_path)))  # approval delivers the DOCX at once
    for server in running():
        monkeypatch.setenv("CCHC_SMTP_URL", server.url)
        get_settings.cache_clear()
        yield server


async def _paused(api: str, plan_id: str, timeout: float = 60.0) -> str:
    body = {"flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}}, "limit": 50}
    async with httpx.AsyncClient() as client:
        for _ in range(int(timeout / 0.25)):
            runs = (await client.post(f"{api}/flow_runs/filter", json=body)).json()
            mine = [r["id"] for r in runs if r["parameters"].get("plan_id") == plan_id]
            if mine:
                return str(mine[0])
            await asyncio.sleep(0.25)
    raise AssertionError("the report run never paused for approval")


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.anyio
@pytest.mark.timeout_slow
async def test_approval_on_the_portal_resumes_the_paused_run_which_delivers_once_and_a_second_is_refused(
    smtp: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.report import report_duty

    api = _api(monkeypatch)
    settings = get_settings()
    at = pendulum.datetime(2025, 9, 3, 8, tz=TZ)  # Phú Thái's quarterly report: the draft day
    run = asyncio.create_task(
        report_duty(
            plan_id=PHU_THAI_PLAN,
            report_id="bao-cao-quy",
            at=at,
            now=at,
            approval_wait_seconds=300,  # far beyond the test: only a resume ends this pause in time
            approval_poll_seconds=1,
        )
    )
    run_id = await _paused(api, PHU_THAI_PLAN)
    assert smtp.handler.by_subject("Dự thảo báo cáo (bản 1)")

    _, link = add_coordinator("Nguyễn Thị Lan", "lan@phu-thai.example", PHU_THAI)
    client = TestClient(create_app(settings, clock=lambda: pendulum.datetime(2025, 9, 4, 9, tz=TZ)))
    base = f"{link}/p/{PHU_THAI_PLAN}"
    token = _csrf(client.get(base).text)
    form = {"csrf": token, "report": "bao-cao-quy|2025-Q3", "version": "1", "decision": "approve"}
    approve = {**form, "number": "41/BC-UBND", "signer": "Phạm Tiến Nhuận"}

    started = asyncio.get_running_loop().time()
    ok = await anyio.to_thread.run_sync(lambda: client.post(f"{base}/report", data=approve))
    assert ok.status_code == 200 and "Đã duyệt" in ok.text, ok.text
    result = await asyncio.wait_for(run, timeout=90)
    took = asyncio.get_running_loop().time() - started
    assert result["state"] == workflow.DELIVERED and result["statuses"]["2025-Q3"] == "met"
    assert took < 60, f"the run took {took:.0f} s after the approval: it was not resumed"
    state = httpx.get(f"{api}/flow_runs/{run_id}", timeout=10).json()["state"]["type"]
    assert state == "COMPLETED"

    delivered = smtp.handler.by_subject("Báo cáo số 41/BC-UBND")
    assert sorted(r.rcpt[0] for r in delivered) == ["so-noi-vu@phu-thai.example", "ubnd@phu-thai.example"]
    plan = service.resolve_plan(PHU_THAI_PLAN, settings)
    stored = workflow.run_state(settings, plan, "bao-cao-quy", "2025-Q3")
    assert stored is not None and stored.decided_by is not None and stored.decided_by.startswith("coordinator:")

    # A second approval (the same page posted again) is refused, records nothing and sends nothing.
    count = len(smtp.received)
    again = await anyio.to_thread.run_sync(lambda: client.post(f"{base}/report", data={**approve, "number": "42/X"}))
    assert again.status_code == 409 and "đã được quyết định trước đó" in again.text
    await asyncio.sleep(2)
    assert len(smtp.received) == count
    stored = workflow.run_state(settings, plan, "bao-cao-quy", "2025-Q3")
    assert stored is not None and stored.number == "41/BC-UBND"


@pytest.fixture
def smtp_signing(phu_thai: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[MailServer]:
    """The real plan: its reports are signed before they go out."""
    for server in running():
        monkeypatch.setenv("CCHC_SMTP_URL", server.url)
        get_settings.cache_clear()
        yield server


async def _paused_for(api: str, key: str, timeout: float = 90.0) -> str:
    body = {"flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}}, "limit": 50}
    async with httpx.AsyncClient() as client:
        for _ in range(int(timeout / 0.25)):
            runs = (await client.post(f"{api}/flow_runs/filter", json=body)).json()
            mine = [r["id"] for r in runs if str(r["state"]["state_details"].get("pause_key", "")).startswith(key)]
            if mine:
                return str(mine[0])
            await asyncio.sleep(0.25)
    raise AssertionError(f"no run paused with key {key}*")


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.anyio
@pytest.mark.timeout_slow
async def test_with_signing_the_portal_approval_and_the_signed_copy_each_resume_the_run_which_sends_it_once(
    smtp_signing: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.report import report_duty

    api = _api(monkeypatch)
    settings = get_settings()
    at = pendulum.datetime(2025, 9, 3, 8, tz=TZ)
    run = asyncio.create_task(
        report_duty(
            plan_id=PHU_THAI_PLAN,
            report_id="bao-cao-quy",
            at=at,
            now=at,
            approval_wait_seconds=300,
            approval_poll_seconds=1,
        )
    )
    await _paused_for(api, "duyet-2025-q3-v1-")
    _, link = add_coordinator("Nguyễn Thị Lan", "lan@phu-thai.example", PHU_THAI)
    # The portal's clock not ahead of the run's simulated one: what she queues is due for the run's mail pass.
    client = TestClient(create_app(settings, clock=lambda: at))
    base = f"{link}/p/{PHU_THAI_PLAN}"
    form = {"csrf": _csrf(client.get(base).text), "report": "bao-cao-quy|2025-Q3", "version": "1"}
    approve = {**form, "decision": "approve", "number": "43/BC-UBND"}
    ok = await anyio.to_thread.run_sync(lambda: client.post(f"{base}/report", data=approve))
    assert ok.status_code == 200, ok.text

    # Resumed: the final and its PDF go to the coordinator for signing, and the run waits for the signed copy.
    await _paused_for(api, "ky-2025-q3-")
    assert not run.done()
    scan = b"%PDF-1.4\n% ban da ky, dong dau\n%%EOF\n"
    signed = await anyio.to_thread.run_sync(
        lambda: client.post(
            f"{link}/sign/{PHU_THAI_PLAN}/bao-cao-quy/2025-Q3", files={"file": ("da-ky.pdf", scan, "application/pdf")}
        )
    )
    assert signed.status_code == 200 and "Đã nhận bản đã ký" in signed.text, signed.text
    result = await asyncio.wait_for(run, timeout=60)  # the pause lasts 300 s: only a resume ends it here
    assert result["state"] == workflow.DELIVERED and result["statuses"]["2025-Q3"] == "met"
    delivered = smtp_signing.handler.by_subject("Báo cáo số 43/BC-UBND")
    assert sorted(r.rcpt[0] for r in delivered) == ["so-noi-vu@phu-thai.example", "ubnd@phu-thai.example"]
    for r in delivered:
        assert [bytes(p.get_content()) for p in r.msg.iter_attachments()] == [scan]  # type: ignore[attr-defined]


def test_the_resume_answers_are_the_report_flows_own_choices() -> None:
    from flows.report import Choice, SentVia

    assert (Choice.approve.value, Choice.send_back.value) == (events.APPROVE_ANSWER, events.SEND_BACK_ANSWER)
    assert SentVia.attach.value == events.ATTACHED_ANSWER


MUTATING = {"record_evidence", "waive_occurrence", "reject_evidence", "decide_assumption"}


def test_every_cli_command_that_changes_what_counts_wires_the_events_first() -> None:
    """The use cases tell the listener; a command that forgot to register it would change the store silently."""
    missing = []
    for path in sorted((ROOT / "cchc" / "cli").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef):
                continue
            called = {
                c.func.attr if isinstance(c.func, ast.Attribute) else getattr(c.func, "id", "")
                for c in ast.walk(fn)
                if isinstance(c, ast.Call)
            }
            if called & MUTATING and "wire_events" not in called:
                missing.append(f"{path.name}:{fn.lineno} {fn.name}")
    assert not missing, f"commands changing what counts without wire_events(): {missing}"
