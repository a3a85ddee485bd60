"""An assumed rule reminds the lead (marked as such), is never escalated nor reported as a failure, and the
coordinator confirms or changes it without editing YAML, audited."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

from cchc.core import assumptions
from cchc.core.assemble import ASSESS_ASSUMED, ASSESS_LATE, assemble
from cchc.core.calendar import plan_occurrences
from cchc.core.escalation import intents
from cchc.core.evaluate import Status
from cchc.core.loader import parse_plan
from cchc.core.spec import DueRule, Plan
from cchc.settings import Settings
from tests.conftest import FIXTURES
from tests.test_cli import run, run_json

TZ = "Asia/Ho_Chi_Minh"
ASSUMED = (
    "    basis:\n"
    "      cadence: {plan: IV, quote: báo cáo định kỳ hằng quý}\n"
    "      due: {assumed: Kế hoạch không quy định hạn báo cáo, regime: Chế độ báo cáo định kỳ của tỉnh}\n"
)


def _text() -> str:
    text = (FIXTURES / "demo.yaml").read_text(encoding="utf-8")
    return text.replace("    source: IV\n", "    source: IV\n" + ASSUMED, 1)


def _plan() -> Plan:
    return parse_plan(_text(), "demo.yaml")


@pytest.fixture
def assumed_env(demo_env: Settings) -> Settings:
    (demo_env.plan_dir / "demo.yaml").write_text(_text(), encoding="utf-8")
    return demo_env


def _q3(plan: Plan):  # type: ignore[no-untyped-def]
    return next(o for o in plan_occurrences(plan) if o.duty == "bao-cao-quy" and o.period == "2025-Q3")


def test_an_assumed_due_date_is_listed_with_its_reason_and_regime() -> None:
    plan = _plan()
    assert assumptions.unconfirmed(plan, "bao-cao-quy") == ("due",)
    assert assumptions.unconfirmed(plan, "posts") == ()  # no basis given: the plan's own rule
    listed = [a for a in assumptions.listing(plan) if a.item == "bao-cao-quy"]
    assert [(a.aspect, a.rule, a.reason, a.regime, a.confirmed) for a in listed] == [
        ("due", "ngày 05 của tháng cuối kỳ", "Kế hoạch không quy định hạn báo cáo",
         "Chế độ báo cáo định kỳ của tỉnh", None),
    ]  # fmt: skip


def test_an_unconfirmed_assumption_reminds_the_lead_but_never_escalates() -> None:
    plan = _plan()
    q3 = _q3(plan)
    late = pendulum.datetime(2025, 9, 16, 9, tz=TZ)  # overdue notice on 8/9, escalation on 15/9
    steps = [i.step for i in intents(plan, [(q3, Status.overdue, 0)], late)]
    assert "escalation" not in steps and "overdue" in steps
    due = intents(plan, [(q3, Status.overdue, 0)], late)
    assert all(i.assumed == ("due",) for i in due)
    # Confirmed, it acts like the plan's own rule: the leader hears of it.
    confirmed = assumptions.apply(
        plan, [assumptions.Decision(plan.id, "bao-cao-quy", "due", "confirm", "Chủ tịch", late, "Theo Sở Nội vụ")]
    )
    steps = [i.step for i in intents(confirmed, [(_q3(confirmed), Status.overdue, 0)], late)]
    assert "escalation" in steps


def test_the_report_never_calls_an_assumed_rule_a_failure() -> None:
    text = _text().replace(
        "requirement: {evidence: [post], min_count: 3}",
        "requirement: {evidence: [post], min_count: 3}\n    basis: {assumed: Kế hoạch không ghi số lượng}",
    )
    plan = parse_plan(text, "demo.yaml")
    m = assemble(plan, "bao-cao-quy", "2025-Q4", pendulum.datetime(2025, 12, 3, 9, tz=TZ), [])
    (posts,) = [r for r in m.rows if r.duty == "posts"]
    assert posts.assessment == ASSESS_ASSUMED and posts.assessment != ASSESS_LATE
    items = [i for s in m.shortfalls for i in s.items if "Đăng tin" in i]
    assert items and all("không đạt" not in i and "quá hạn" not in i for i in items)
    assert all("do bộ phận điều phối đặt, kế hoạch không quy định" in i for i in items)


def test_the_reminder_email_says_the_date_was_set_by_the_coordinator(assumed_env: Settings) -> None:
    result = run_json("tick", "demo", "--at", "2025-09-08T09:00:00+07:00", "--duty", "bao-cao-quy", "--json")
    keys = [line["key"] for line in result["sent"]]
    assert keys == ["demo:bao-cao-quy:2025-Q3:overdue:vhxh"]
    (eml,) = sorted(assumed_env.mail_dir.glob("*.eml"))
    text = eml.read_text(encoding="utf-8", errors="replace")
    assert "Chưa có minh chứng" in text and "Quá hạn" not in text
    import email
    import email.policy

    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    body = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "hạn do bộ phận điều phối đặt, kế hoạch không quy định" in body


def test_calendar_and_status_json_show_the_assumption(assumed_env: Settings) -> None:
    cal = run_json("calendar", "demo", "--json")
    q3 = next(r for r in cal if r["duty"] == "bao-cao-quy" and r["period"] == "2025-Q3")
    assert q3["assumed"] == ["due"]
    posts = next(r for r in cal if r["duty"] == "posts")
    assert posts["assumed"] == []


def test_the_coordinator_confirms_and_changes_without_editing_yaml_and_it_is_audited(assumed_env: Settings) -> None:
    code, out = run("assumptions", "demo")
    assert code == 0 and "CHƯA XÁC NHẬN" in out and "bao-cao-quy" in out
    code, out = run(
        "assumption", "change", "demo", "bao-cao-quy", "--aspect", "due", "--due-day", "10",
        "--reason", "Công văn 123/SNV: báo cáo quý gửi trước ngày 10", "--by", "Nguyễn Văn B, điều phối",
    )  # fmt: skip
    assert code == 0, out
    listed = run_json("assumptions", "demo", "--json")
    (due,) = [a for a in listed if a["item"] == "bao-cao-quy"]
    assert due["rule"] == "ngày 10 của tháng cuối kỳ"
    assert "Nguyễn Văn B, điều phối điều chỉnh ngày" in due["confirmed"] and "123/SNV" in due["confirmed"]
    cal = run_json("calendar", "demo", "--json")
    q3 = next(r for r in cal if r["duty"] == "bao-cao-quy" and r["period"] == "2025-Q3")
    assert q3["due_date"] == "2025-09-10" and q3["assumed"] == []
    audit = run_json("audit", "demo", "--json")
    assert any(a["action"] == "assumption.change" and "123/SNV" in (a["reason"] or "") for a in audit)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["confirm", "demo", "posts", "--aspect", "due"], "is not an assumption"),
        (["confirm", "demo", "nope", "--aspect", "due"], "has no duty or report 'nope'"),
        (["confirm", "demo", "bao-cao-quy", "--aspect", "colour"], "is not one of"),
        (["change", "demo", "bao-cao-quy", "--aspect", "cadence"], "edit the spec's YAML"),
        (["change", "demo", "bao-cao-quy", "--aspect", "due"], "needs its new value"),
        (["change", "demo", "--aspect", "effective", "--effective-from", "2027-01-01"], "outside"),
        (["change", "demo", "bao-cao-quy", "--due-day", "40"], "--due-day"),
    ],
)
def test_a_decision_that_cannot_apply_is_refused_and_records_nothing(
    assumed_env: Settings, args: list[str], message: str
) -> None:
    code, out = run("assumption", *args, "--reason", "vì sao", "--by", "điều phối")
    assert code == 2 and message in out, out
    assert not any(a["action"].startswith("assumption.") for a in run_json("audit", "demo", "--json"))


def test_the_effective_date_of_an_undated_plan_is_confirmed(assumed_env: Settings) -> None:
    code, out = run(
        "assumption", "change", "demo", "--aspect", "effective", "--effective-from", "2025-09-15",
        "--reason", "Bản ký số 12/KH-UBND ngày 15/9/2025", "--by", "Văn phòng",
    )  # fmt: skip
    assert code == 0, out
    rows = run_json("status", "demo", "--at", "2025-10-20T09:00", "--json")
    aug = next(r for r in rows if r["duty"] == "posts" and r["period"] == "2025-08")
    assert aug["status"] == "before_effect"
    assert not [
        a for a in run_json("assumptions", "demo", "--json") if not a["confirmed"] and a["aspect"] == "effective"
    ]


def test_a_due_rule_change_is_validated_like_the_spec() -> None:
    plan = _plan()
    d = assumptions.Decision(
        plan.id, "bao-cao-quy", "due", "change", "x", dt.datetime(2025, 9, 1, tzinfo=dt.UTC), "r",
        due=DueRule(in_month="next", day=5),
    )  # fmt: skip
    changed = assumptions.apply(plan, [d])
    assert changed.report("bao-cao-quy").due == DueRule(in_month="next", day=5)
    assert assumptions.unconfirmed(changed, "bao-cao-quy") == ()


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.anyio
async def test_the_prefect_form_decides_an_assumption_the_same_way(assumed_env: Settings) -> None:
    from flows.intake import decide_assumption

    result = await decide_assumption(
        plan_id="demo",
        item_id="bao-cao-quy",
        aspect="due",
        action="change",
        due_day=12,
        reason="Sở Nội vụ: báo cáo quý trước ngày 12 tháng cuối quý",
        by="Trần Thị C, Phòng Văn hóa - Xã hội",
    )
    assert result["rule"] == "ngày 12 của tháng cuối kỳ" and "Trần Thị C" in str(result["confirmed"])
    audit = run_json("audit", "demo", "--json")
    assert audit[0]["action"] == "assumption.change" and audit[0]["actor"] == "Trần Thị C, Phòng Văn hóa - Xã hội"
    cal = run_json("calendar", "demo", "--json")
    q3 = next(r for r in cal if r["duty"] == "bao-cao-quy" and r["period"] == "2025-Q3")
    assert q3["due_date"] == "2025-09-12"


def test_the_doctor_reads_the_decisions_without_creating_the_store(assumed_env: Settings) -> None:
    from cchc.app.doctor import _decided

    plan = _plan()
    store = assumed_env.home / "cchc.db"
    assert not store.exists()
    assert _decided(assumed_env, plan) is plan and not store.exists()  # no store: nothing read, nothing created
    code, out = run(
        "assumption", "change", "demo", "bao-cao-quy", "--aspect", "due", "--due-day", "12",
        "--reason", "Công văn của Sở Nội vụ", "--by", "điều phối",
    )  # fmt: skip
    assert code == 0, out
    decided = _decided(assumed_env, plan)
    assert decided.report("bao-cao-quy").due == DueRule(in_month="last", day=12)
