"""A plan amended mid-way keeps the statuses already judged; the change applies from its own date, audited."""

from __future__ import annotations

import datetime as dt
import json

import pendulum
import pytest

from cchc.app import report_workflow as workflow
from cchc.settings import Settings
from tests.test_cli import run, run_json

AT = "2025-11-20T09:00:00+07:00"
NOTE = "Kế hoạch số 45/KH-UBND ngày 15/10/2025 sửa đổi: tăng lên 04 tin bài mỗi tháng"
ADDED = (
    "  - id: radio\n"
    "    source: '4.2'\n"
    "    title: Phát thanh\n"
    "    lead: vhxh\n"
    "    kind: quota\n"
    "    cadence: month\n"
    "    requirement: {evidence: [broadcast], min_count: 1}\n"
)


def _write(env: Settings, amended: str | None, count: int = 3, added: bool = False) -> None:
    path = env.plan_dir / "demo.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("min_count: 3}", f"min_count: {count}}}").replace("min_count: 4}", f"min_count: {count}}}")
    lines = [ln for ln in text.splitlines(keepends=True) if not ln.startswith(("amended_on:", "amendment_note:"))]
    text = "".join(lines)
    if amended:
        text = text.replace(
            "issuer:", f"amended_on: {amended}\namendment_note: {json.dumps(NOTE, ensure_ascii=False)}\nissuer:", 1
        )
    if added and "id: radio" not in text:
        text = text.replace("reports:\n", ADDED + "reports:\n", 1)
    path.write_text(text, encoding="utf-8")


def _posts(n: int, month: int) -> None:
    for i in range(n):
        code, out = run(
            "evidence", "add", "demo", "posts", "--kind", "post", "--title", f"Tin {month}/{i}",
            "--date", f"2025-{month:02d}-{10 + i:02d}", "--url", f"https://phuthong.example/{month}/{i}", "--json",
        )  # fmt: skip
        assert code == 0, out


def _status() -> dict[tuple[str, str], dict[str, object]]:
    return {(r["duty"], r["period"]): r for r in run_json("status", "demo", "--at", AT, "--json")}


@pytest.fixture
def amended(demo_env: Settings) -> Settings:
    for month in (9, 10, 11):
        _posts(3, month)
    before = _status()
    assert [before[("posts", p)]["status"] for p in ("2025-09", "2025-10")] == ["met", "met"]
    _write(demo_env, "2025-10-15", count=4, added=True)
    return demo_env


def test_periods_under_way_keep_their_rule_and_later_ones_follow_the_amendment(amended: Settings) -> None:
    after = _status()
    assert (after[("posts", "2025-09")]["status"], after[("posts", "2025-09")]["required"]) == ("met", 3)
    assert (after[("posts", "2025-10")]["status"], after[("posts", "2025-10")]["required"]) == ("met", 3)
    nov = after[("posts", "2025-11")]
    assert (nov["required"], nov["count"], nov["status"]) == (4, 3, "open")


def test_a_duty_the_amendment_adds_counts_from_its_date(amended: Settings) -> None:
    after = _status()
    assert after[("radio", "2025-09")]["status"] == "before_effect"
    # October: 12 of its 23 working days lie after 15/10, more than half, so it is judged.
    assert after[("radio", "2025-10")]["status"] == "missed"
    assert after[("radio", "2025-11")]["status"] == "open"


def test_the_audit_trail_shows_the_amendment(amended: Settings) -> None:
    run_json("status", "demo", "--at", AT, "--json")
    (row,) = [a for a in run_json("audit", "demo", "--json") if a["action"] == "plan.amend"]
    assert row["reason"] == NOTE
    assert "có hiệu lực từ 2025-10-15" in row["detail"] and "duty added: radio" in row["detail"]
    assert "duty posts: requirement" in row["detail"]


def test_the_report_of_a_period_under_way_uses_the_rule_it_was_judged_under(amended: Settings) -> None:
    run_json("status", "demo", "--at", AT, "--json")
    plan = workflow.service.resolve_plan("demo", amended)
    model = workflow.build(
        amended, plan, "bao-cao-quy", "2025-Q4", pendulum.datetime(2025, 12, 3, 9, tz="Asia/Ho_Chi_Minh")
    )
    (posts,) = [r for r in model.rows if r.duty == "posts"]
    assert "tháng 10/2025: 3/3" in posts.result and "tháng 11/2025 (tính đến 28/11/2025): 3/4" in posts.result


def test_an_edit_without_an_amendment_date_is_a_correction_of_every_period(demo_env: Settings) -> None:
    _posts(3, 9)
    assert _status()[("posts", "2025-09")]["status"] == "met"
    _write(demo_env, None, count=4)
    sep = _status()[("posts", "2025-09")]
    assert (sep["required"], sep["status"]) == (4, "missed")
    (row,) = [a for a in run_json("audit", "demo", "--json") if a["action"] == "plan.correct"]
    assert "duty posts: requirement" in row["detail"]


def test_an_amendment_date_outside_the_plan_is_refused(demo_env: Settings) -> None:
    _write(demo_env, "2024-01-01")
    code, out = run("status", "demo", "--json")
    assert code == 2 and "amended_on 2024-01-01 lies outside the plan's period" in out
    assert dt.date(2024, 1, 1)  # nothing else to check: nothing was loaded
