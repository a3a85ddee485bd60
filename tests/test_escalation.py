"""The ladder as a pure policy: which steps are due at a moment, for whom, and which are stale."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pendulum
import pytest

from cchc.core.assumptions import Decision, apply
from cchc.core.calendar import Occurrence, plan_occurrences
from cchc.core.escalation import intents, ladder_for, step_moment
from cchc.core.evaluate import Status
from cchc.core.loader import load_plan, parse_plan
from cchc.core.spec import Plan
from tests.conftest import FIXTURES, PLAN_DIR

TZ = "Asia/Ho_Chi_Minh"
PHU_THAI = load_plan(PLAN_DIR / "phu-thai-2025h2.yaml")
DEMO = parse_plan((FIXTURES / "demo.yaml").read_text(encoding="utf-8"))


def occ(plan: Plan, duty: str, period: str) -> Occurrence:
    return next(o for o in plan_occurrences(plan) if o.duty == duty and o.period == period)


def at(y: int, m: int, d: int, h: int = 9) -> pendulum.DateTime:
    return pendulum.datetime(y, m, d, h, tz=TZ)


def test_default_ladder_moments_follow_the_vietnamese_working_calendar() -> None:
    # The units' report, due "trước ngày 06 của tháng cuối quý" (05/09), a date the plan states.
    q3 = occ(PHU_THAI, "bao-cao-don-vi", "2025-Q3")
    days = {s.step: step_moment(s, q3, TZ) for s in ladder_for(PHU_THAI, "bao-cao-don-vi").ladder}
    assert {k: v.date() if v else None for k, v in days.items()} == {
        "reminder-1": dt.date(2025, 8, 27),  # 1-2 Sep are National Day holidays
        "reminder-2": dt.date(2025, 9, 4),
        "progress": None,  # only quotas
        "overdue": dt.date(2025, 9, 8),
        "escalation": dt.date(2025, 9, 15),
    }
    assert all(v is None or v.hour == 8 for v in days.values())


def test_a_progress_reminder_falls_on_the_first_working_day_after_the_20th() -> None:
    sep = occ(DEMO, "posts", "2025-09")
    progress = next(s for s in ladder_for(DEMO, "posts").ladder if s.action == "progress")
    moment = step_moment(progress, sep, TZ)
    assert moment is not None and moment.date() == dt.date(2025, 9, 22)  # 21 Sep 2025 is a Sunday


@pytest.mark.parametrize("status", [Status.met, Status.met_late, Status.waived, Status.upcoming])
def test_met_or_waived_occurrences_have_no_due_steps(status: Status) -> None:
    q3 = occ(PHU_THAI, "bao-cao-quy", "2025-Q3")
    assert intents(PHU_THAI, [(q3, status, 1)], at(2025, 9, 20)) == []


def test_steps_due_at_a_moment_with_recipients_and_staleness() -> None:
    # The compiled report's due date (the 10th) is an assumption, never escalated until confirmed: the
    # coordinator confirms it, so the whole ladder applies (due 10/09: overdue 11/09, escalation 18/09).
    decision = Decision(
        plan=PHU_THAI.id,
        item="bao-cao-quy",
        aspect="due",
        action="confirm",
        by="Phòng Văn hóa - Xã hội",
        at=dt.datetime(2025, 8, 1, 9, tzinfo=ZoneInfo(TZ)),
        reason="Sở Nội vụ nhận báo cáo quý ngày 10",
    )
    plan = apply(PHU_THAI, [decision])
    q3 = occ(plan, "bao-cao-quy", "2025-Q3")
    due = intents(plan, [(q3, Status.overdue, 0)], at(2025, 9, 18))
    assert [(i.step, i.to, i.cc, i.stale) for i in due] == [
        ("overdue", ("vhxh",), (), True),  # coordinator = lead: no copy to itself
        ("escalation", ("lanh-dao",), ("vhxh",), False),
    ]
    # While open, only the reminders whose moment has passed are due (reminders 03/09 and 09/09).
    due = intents(plan, [(q3, Status.due_soon, 0)], at(2025, 9, 9))
    assert [(i.step, i.stale) for i in due] == [("reminder-1", True), ("reminder-2", False)]


def test_a_missed_quota_gets_its_notice_but_no_escalation() -> None:
    oct_ = occ(DEMO, "posts", "2025-10")
    due = intents(DEMO, [(oct_, Status.missed, 2)], at(2025, 11, 20))
    assert [i.step for i in due] == ["overdue"]


def test_a_duty_can_override_the_plan_ladder() -> None:
    text = (
        (FIXTURES / "demo.yaml")
        .read_text(encoding="utf-8")
        .replace(
            '    only: ["2025-Q3"]\n',
            '    only: ["2025-Q3"]\n    escalation:\n      stale_after_days: 10\n      ladder:\n'
            "        - {step: nhac-som, action: reminder, working_days: 10, to: [lead, coordinator]}\n",
        )
    )
    plan = parse_plan(text)
    contest = occ(plan, "contest", "2025-Q3")
    due = intents(plan, [(contest, Status.open, 0)], at(2025, 9, 20))
    assert [(i.step, i.to, i.stale) for i in due] == [("nhac-som", ("vhxh",), False)]
    assert ladder_for(plan, "posts").ladder != ladder_for(plan, "contest").ladder
