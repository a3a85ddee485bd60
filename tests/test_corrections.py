"""Waivers and corrections from the CLI, and the audit trail: who, what, when, why."""

from __future__ import annotations

import pytest

from cchc.settings import Settings
from tests.conftest import PLAN_IDS
from tests.test_cli import run, run_json

PLAN = "phu-thong-2025"
DUTY = "ttdvth-tin-bai-website"
AT = "2025-10-21T09:00:00+07:00"


def _count(period: str) -> int:
    rows = run_json("status", PLAN, "--at", AT, "--json")
    return next(r["count"] for r in rows if r["duty"] == DUTY and r["period"] == period)


def test_a_rejected_item_stops_counting_stays_recorded_and_is_in_the_audit_trail(cchc_env: Settings) -> None:
    added = run_json(
        "evidence", "add", PLAN, DUTY, "--kind", "post", "--title", "Tin thể thao", "--date", "2025-10-08",
        "--url", "https://phuthong.example/the-thao", "--unit", "ttdvth", "--json",
    )  # fmt: skip
    assert _count("2025-10") == 1
    out = run_json("evidence", "reject", PLAN, str(added["id"]), "--reason", "Bài không về cải cách hành chính",
                   "--by", "Nguyễn Thị Lan (VH-XH)", "--json")  # fmt: skip
    assert out == {"plan": PLAN, "id": added["id"], "duty": DUTY, "rejected": True}
    assert _count("2025-10") == 0
    # Rejecting again changes nothing and adds no second entry.
    run_json("evidence", "reject", PLAN, str(added["id"]), "--reason", "lần nữa", "--json")
    trail = run_json("audit", PLAN, "--json")
    assert [(t["action"], t["actor"], t["evidence_id"]) for t in trail] == [
        ("evidence.reject", "Nguyễn Thị Lan (VH-XH)", added["id"]),
        ("evidence.add", "manual", added["id"]),
    ]
    assert trail[0]["reason"] == "Bài không về cải cách hành chính" and "Tin thể thao" in trail[0]["detail"]


def test_a_waiver_is_audited_and_bad_corrections_are_refused(cchc_env: Settings) -> None:
    code, out = run(
        "waive",
        PLAN,
        DUTY,
        "2025-10",
        "--reason",
        "Trang thông tin điện tử bảo trì cả tháng",
        "--by",
        "Chủ tịch UBND xã",
    )
    assert code == 0, out
    trail = run_json("audit", PLAN, "--json")
    assert [(t["action"], t["actor"], t["period"], t["reason"]) for t in trail] == [
        ("occurrence.waive", "Chủ tịch UBND xã", "2025-10", "Trang thông tin điện tử bảo trì cả tháng")
    ]
    code, out = run("evidence", "reject", PLAN, "999", "--reason", "x")
    assert code == 2 and "no evidence #999" in out
    code, out = run("evidence", "reject", PLAN, "1", "--reason", " ")
    assert code == 2 and "needs a reason" in out


@pytest.mark.parametrize("plan", [p for p in PLAN_IDS if p != PLAN])
def test_the_audit_of_a_plan_holds_its_own_changes_only(cchc_env: Settings, plan: str) -> None:
    assert run_json("audit", plan, "--json") == []
    code, out = run("waive", PLAN, DUTY, "2025-10", "--reason", "Trang thông tin điện tử bảo trì cả tháng")
    assert code == 0, out
    assert run_json("audit", plan, "--json") == [], "another plan's change is not in this plan's trail"
    assert [t["action"] for t in run_json("audit", PLAN, "--json")] == ["occurrence.waive"]


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.anyio
async def test_the_reject_form_in_the_prefect_ui_does_the_same(cchc_env: Settings) -> None:
    from flows.intake import reject_evidence

    added = run_json(
        "evidence", "add", PLAN, DUTY, "--kind", "post", "--title", "Tin trùng", "--date", "2025-10-09",
        "--url", "https://phuthong.example/trung", "--json",
    )  # fmt: skip
    result = await reject_evidence(plan_id=PLAN, evidence_id=added["id"], reason="Tin trùng với bài ngày 08/10")
    assert result == {"rejected": added["id"], "duty": DUTY}
    assert _count("2025-10") == 0
    assert run_json("audit", PLAN, "--json")[0]["actor"] == "điều phối viên"
