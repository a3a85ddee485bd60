"""Co-leads are each reminded and escalated as leads and met jointly; unit reports fall before the compiled one."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

from cchc.core.assemble import assemble
from cchc.core.calendar import plan_occurrences
from cchc.core.escalation import intents
from cchc.core.evaluate import Status
from cchc.core.loader import parse_plan
from cchc.core.spec import Plan
from cchc.core.workdays import working_days_before
from cchc.settings import Settings
from tests.conftest import FIXTURES
from tests.test_cli import run_json

TZ = "Asia/Ho_Chi_Minh"
TTDV = "  - {id: ttdv, name: Trung tâm Dịch vụ tổng hợp, role: lead, emails: [ttdv@phu-thong.example]}\n"
UNIT_REPORT = (
    "  - id: bao-cao-don-vi\n"
    "    source: IV\n"
    "    title: Báo cáo của đơn vị\n"
    "    lead: ttdv\n"
    "    kind: report\n"
    "    cadence: quarter\n"
    "    for_report: bao-cao-quy\n"
)


def _text(extra: str = "") -> str:
    text = (FIXTURES / "demo.yaml").read_text(encoding="utf-8")
    text = text.replace("units:\n", "units:\n" + TTDV, 1)
    text = text.replace(
        "    lead: vhxh\n    kind: quota\n", "    lead: vhxh\n    co_leads: [ttdv]\n    kind: quota\n", 1
    )
    text = text.replace("reports:\n", UNIT_REPORT + "reports:\n", 1)
    return text.replace("issuer:", extra + "issuer:", 1)


def _plan(extra: str = "") -> Plan:
    return parse_plan(_text(extra), "demo.yaml")


@pytest.fixture
def co_env(demo_env: Settings) -> Settings:
    (demo_env.plan_dir / "demo.yaml").write_text(_text(), encoding="utf-8")
    return demo_env


def test_every_co_lead_is_reminded_and_named_as_a_lead() -> None:
    plan = _plan()
    oct_ = next(o for o in plan_occurrences(plan) if o.duty == "posts" and o.period == "2025-10")
    assert oct_.leads == ("vhxh", "ttdv")
    (progress,) = intents(plan, [(oct_, Status.open, 1)], pendulum.datetime(2025, 10, 21, 9, tz=TZ))
    assert progress.to == ("vhxh", "ttdv")
    late = intents(plan, [(oct_, Status.missed, 1)], pendulum.datetime(2025, 11, 3, 9, tz=TZ))
    assert [i.to for i in late] == [("vhxh", "ttdv")]
    m = assemble(plan, "bao-cao-quy", "2025-Q4", pendulum.datetime(2025, 12, 3, 9, tz=TZ), [])
    (posts,) = [r for r in m.rows if r.duty == "posts"]
    assert posts.lead == "Phòng Văn hóa - Xã hội, Trung tâm Dịch vụ tổng hợp"


def test_an_unknown_co_lead_is_refused_with_its_line() -> None:
    with pytest.raises(Exception, match=r"unknown unit 'ttdv-x'"):
        parse_plan(_text().replace("co_leads: [ttdv]", "co_leads: [ttdv-x]"), "demo.yaml")


def test_a_unit_report_is_due_before_the_compiled_report() -> None:
    plan = _plan()
    occ = {(o.duty, o.period): o for o in plan_occurrences(plan)}
    compiled = occ[("bao-cao-quy", "2025-Q3")].last_day
    unit = occ[("bao-cao-don-vi", "2025-Q3")].last_day
    assert compiled == dt.date(2025, 9, 5)
    assert unit == working_days_before(compiled, 3) == dt.date(2025, 8, 29)  # 1-2/9 are holidays
    later = {(o.duty, o.period): o for o in plan_occurrences(_plan("unit_report_working_days: 1\n"))}
    assert later[("bao-cao-don-vi", "2025-Q3")].last_day == dt.date(2025, 9, 4)


def test_a_unit_report_whose_cadence_differs_from_its_report_is_refused() -> None:
    text = _text().replace("    cadence: quarter\n    for_report", "    cadence: month\n    for_report")
    with pytest.raises(Exception, match=r"for_report: duty bao-cao-don-vi is monthly but report bao-cao-quy"):
        parse_plan(text, "demo.yaml")


def test_co_leads_survive_the_store_and_each_gets_its_own_mail(co_env: Settings) -> None:
    rows = run_json("status", "demo", "--at", "2025-10-21T09:00:00+07:00", "--json")
    oct_ = next(r for r in rows if r["duty"] == "posts" and r["period"] == "2025-10")
    assert oct_["leads"] == ["vhxh", "ttdv"]
    # Evidence from the co-lead counts toward the one count.
    run_json(
        "evidence", "add", "demo", "posts", "--kind", "post", "--title", "Tin của Trung tâm", "--date",
        "2025-10-06", "--url", "https://phuthong.example/ttdv/1", "--unit", "ttdv", "--json",
    )  # fmt: skip
    result = run_json("tick", "demo", "--at", "2025-10-21T09:00:00+07:00", "--duty", "posts", "--json")
    assert sorted(line["key"] for line in result["sent"]) == [
        "demo:posts:2025-10:progress:ttdv",
        "demo:posts:2025-10:progress:vhxh",
    ]
    rows = run_json("status", "demo", "--at", "2025-10-21T09:00:00+07:00", "--json")
    assert next(r for r in rows if r["duty"] == "posts" and r["period"] == "2025-10")["count"] == 1
