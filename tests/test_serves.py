"""One document serves two reports that coincide in days and due date: one ladder, one draft, both settled."""

from __future__ import annotations

from collections.abc import Iterator

import pendulum
import pytest

from cchc.app import report_workflow as workflow
from cchc.app import service
from cchc.app.mail_pass import run_tick
from cchc.core.calendar import plan_occurrences, served_by
from cchc.core.escalation import intents
from cchc.core.evaluate import Status
from cchc.core.loader import parse_plan
from cchc.core.spec import Plan
from cchc.settings import Settings, get_settings
from tests.conftest import FIXTURES
from tests.mailserver import running
from tests.test_cli import run_json

TZ = "Asia/Ho_Chi_Minh"
REPORTS = """  - id: bao-cao-6-thang
    title: Báo cáo 6 tháng cuối năm
    cadence: half
    source: IV
    compiler: vhxh
    signer: {authority: KT. CHỦ TỊCH, title: PHÓ CHỦ TỊCH, name: Nguyễn Văn A}
    recipients: [{name: Sở Nội vụ, unit: so-noi-vu, emails: [snv@phu-thong.example]}]
  - id: bao-cao-nam
    title: Báo cáo năm
    cadence: year
    source: IV
    compiler: vhxh
    signer: {authority: KT. CHỦ TỊCH, title: PHÓ CHỦ TỊCH, name: Nguyễn Văn A}
    recipients: [{name: Sở Nội vụ, unit: so-noi-vu, emails: [snv@phu-thong.example]}]
    serves: [bao-cao-6-thang]
    signing: none
"""


def _text() -> str:
    return (FIXTURES / "demo.yaml").read_text(encoding="utf-8").replace("reports:\n", "reports:\n" + REPORTS, 1)


def _plan() -> Plan:
    return parse_plan(_text(), "demo.yaml")


@pytest.fixture
def served_env(demo_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    (demo_env.plan_dir / "demo.yaml").write_text(_text(), encoding="utf-8")
    for server in running():
        monkeypatch.setenv("CCHC_SMTP_URL", server.url)
        get_settings.cache_clear()
        yield get_settings()


def test_the_served_report_has_no_ladder_of_its_own() -> None:
    plan = _plan()
    assert served_by(plan, "bao-cao-6-thang", "2025-H2") == ("bao-cao-nam", "2025")
    assert served_by(plan, "bao-cao-nam", "2025") is None
    occ = {(o.duty, o.period): o for o in plan_occurrences(plan)}
    late = pendulum.datetime(2025, 12, 9, 9, tz=TZ)
    judged = [
        (occ[("bao-cao-6-thang", "2025-H2")], Status.overdue, 0),
        (occ[("bao-cao-nam", "2025")], Status.overdue, 0),
    ]
    assert {i.duty for i in intents(plan, judged, late)} == {"bao-cao-nam"}


def test_a_report_may_serve_only_another_report_of_the_plan() -> None:
    with pytest.raises(Exception, match=r"serves: 'bao-cao-x' is not another report"):
        parse_plan(_text().replace("serves: [bao-cao-6-thang]", "serves: [bao-cao-x]"), "demo.yaml")


def test_delivering_the_one_document_settles_both(served_env: Settings) -> None:
    plan = service.resolve_plan("demo", served_env)
    day = pendulum.datetime(2025, 11, 28, 8, tz=TZ)
    tgt = workflow.target(plan, "bao-cao-nam", "2025", day)
    workflow.draft(served_env, plan, tgt, day, day)
    assert workflow.decide(served_env, plan, tgt, workflow.Decision.approve, day, number="30/BC-UBND") == (
        workflow.APPROVED
    )
    workflow.deliver(served_env, plan, tgt, day)
    result = run_tick(served_env, plan, day, day, ["bao-cao-nam"])
    assert sorted(result.reports) == ["demo:bao-cao-6-thang:2025-H2", "demo:bao-cao-nam:2025"]
    rows = run_json("status", "demo", "--at", "2025-12-03T09:00:00+07:00", "--json")
    status = {(r["duty"], r["period"]): r["status"] for r in rows}
    assert status[("bao-cao-nam", "2025")] == "met" and status[("bao-cao-6-thang", "2025-H2")] == "met"


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.anyio
async def test_the_served_reports_flow_makes_no_draft_of_its_own(served_env: Settings) -> None:
    from flows.report import report_duty

    at = pendulum.datetime(2025, 11, 28, 8, tz=TZ)  # the draft day of both
    result = await report_duty(plan_id="demo", report_id="bao-cao-6-thang", at=at, now=at, approval_wait_seconds=1)
    assert result["served_by"] == "bao-cao-nam:2025" and "draft" not in result
    assert run_json("reports", "demo", "--json")  # still listed
    plan = service.resolve_plan("demo", served_env)
    assert workflow.run_state(served_env, plan, "bao-cao-6-thang", "2025-H2") is None  # no draft was made
