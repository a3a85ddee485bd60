"""A plan counts from the day it takes effect: no period before it is judged missed, escalated or reported."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pendulum
import pytest

from cchc.core.assemble import assemble
from cchc.core.calendar import plan_occurrences
from cchc.core.escalation import intents
from cchc.core.evaluate import Status, Tally, judge
from cchc.core.loader import load_plan, parse_plan
from cchc.core.spec import Plan
from cchc.settings import Settings
from tests.conftest import FIXTURES, PLAN_DIR, PLAN_IDS
from tests.test_cli import run, run_json

TZ = "Asia/Ho_Chi_Minh"
LAI_KHE = load_plan(PLAN_DIR / "lai-khe-2025h2.yaml")


def _statuses(plan: Plan, at: pendulum.DateTime) -> dict[tuple[str, str], Status]:
    return {(o.duty, o.period): judge(o, Tally(), at) for o in plan_occurrences(plan)}


def test_lai_khe_counts_from_its_issue_date_not_from_july() -> None:
    assert LAI_KHE.issued_on == dt.date(2025, 8, 14) and LAI_KHE.effective_on == LAI_KHE.issued_on
    seen = _statuses(LAI_KHE, pendulum.datetime(2025, 9, 20, 9, tz=TZ))
    assert seen[("van-phong-cong-ttdt", "2025-07")] is Status.before_effect
    # August: 12 of its 21 working days lie after 14/08, more than half, so it is judged.
    assert seen[("van-phong-cong-ttdt", "2025-08")] is Status.missed


@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_no_plan_has_a_failure_before_it_took_effect(plan_id: str) -> None:
    plan = load_plan(PLAN_DIR / f"{plan_id}.yaml")
    end = plan.period.end
    seen = _statuses(plan, pendulum.datetime(end.year, end.month, end.day, 23, tz=TZ).add(days=40))
    for o in plan_occurrences(plan):
        if o.last_day < plan.effective_on:
            assert seen[(o.duty, o.period)] is Status.before_effect, (o.duty, o.period)
    judged = [(o, seen[(o.duty, o.period)], 0) for o in plan_occurrences(plan)]
    for moment in (pendulum.datetime(plan.effective_on.year, plan.effective_on.month, 1, 9, tz=TZ).add(months=1),):
        for i in intents(plan, judged, moment):
            o = next(x for x in plan_occurrences(plan) if (x.duty, x.period) == (i.duty, i.period))
            assert o.in_force, i


def test_the_quarterly_report_of_lai_khe_lists_no_shortfall_from_july() -> None:
    m = assemble(LAI_KHE, "bao-cao-quy", "2025-Q3", pendulum.datetime(2025, 9, 3, 9, tz=TZ), [])
    text = " ".join(i for s in m.shortfalls for i in s.items)
    assert "tháng 07/2025" not in text
    (row,) = [r for r in m.rows if r.duty == "van-phong-cong-ttdt"]
    assert {p.period: p.status for p in row.periods}["2025-07"] is Status.before_effect
    assert "không đạt" not in row.result


def _demo(extra: str, tmp_path: Path) -> Plan:
    text = (FIXTURES / "demo.yaml").read_text(encoding="utf-8")
    text = text.replace("issuer:", extra + "\nissuer:", 1)
    return parse_plan(text, str(tmp_path / "demo.yaml"))


@pytest.mark.parametrize(
    ("effective", "share", "september_judged"),
    [
        ("2025-09-15", 0.5, True),  # 12 of 22 working days left
        ("2025-09-18", 0.5, False),  # 9 of 22
        ("2025-09-18", 0.4, True),  # the plan's own threshold
        ("2025-09-01", 0.5, True),
    ],
)
def test_a_period_entered_part_way_is_judged_only_if_enough_of_it_is_left(
    tmp_path: Path, effective: str, share: float, september_judged: bool
) -> None:
    plan = _demo(f"effective_from: {effective}\npartial_period_share: {share}", tmp_path)
    assert plan.effective_on == dt.date.fromisoformat(effective)
    sep = next(o for o in plan_occurrences(plan) if o.duty == "posts" and o.period == "2025-09")
    assert sep.in_force is september_judged
    aug = next(o for o in plan_occurrences(plan) if o.duty == "posts" and o.period == "2025-08")
    assert not aug.in_force
    status = judge(sep, Tally(), pendulum.datetime(2025, 10, 20, 9, tz=TZ))
    assert status is (Status.missed if september_judged else Status.before_effect)
    # Work that was done anyway still counts as done.
    assert judge(aug, Tally(on_time=5), pendulum.datetime(2025, 10, 20, 9, tz=TZ)) is Status.met


def test_an_effective_date_outside_the_plan_is_refused_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"demo.yaml:\d+.*effective_from 2026-03-01 lies outside"):
        _demo("effective_from: 2026-03-01", tmp_path)


def test_evidence_before_the_effective_date_is_recorded_and_flagged(cchc_env: Settings) -> None:
    args = ["evidence", "add", "lai-khe-2025h2", "van-phong-cong-ttdt", "--kind", "post", "--title", "Tin CCHC"]
    early = run_json(*args, "--date", "2025-07-20", "--url", "https://laikhe.example/7", "--json")
    assert early["before_effect"] is True and early["id"]
    code, out = run(*args, "--date", "2025-07-21", "--url", "https://laikhe.example/8")
    assert code == 0 and "trước ngày kế hoạch có hiệu lực (14/08/2025)" in out
    late = run_json(*args, "--date", "2025-08-20", "--url", "https://laikhe.example/9", "--json")
    assert late["before_effect"] is False
    rows = run_json("status", "lai-khe-2025h2", "--at", "2025-09-20T09:00", "--json")
    july = next(r for r in rows if r["duty"] == "van-phong-cong-ttdt" and r["period"] == "2025-07")
    assert july["status"] == "met"  # recorded and counted, though July is before the plan
