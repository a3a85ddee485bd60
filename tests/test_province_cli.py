"""`cchc province status`: the department's table over the province's plans, its JSON and its refusals."""

from __future__ import annotations

from cchc.settings import Settings
from tests.test_cli import run, run_json


def test_province_status_lists_the_communes_worst_first_with_reports(cchc_env: Settings) -> None:
    # Phú Thái: 2025-10-20 its Q3 reports (units' before 6 Sep, the commune's own) are overdue, no evidence at all.
    code, out = run("province", "status", "hai phong", "--at", "2025-10-20")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("Thành phố Hải Phòng (mã 31): 4 kế hoạch")
    assert "Tổng cộng" in out and "Theo loại nhiệm vụ" in out
    names = [ln.split()[0] for ln in lines[4:8]]
    assert set(names) == {"Phú", "Lai", "Ninh", "Chí"}
    data = run_json("province", "status", "31", "--at", "2025-10-20", "--json")
    communes = data["communes"]
    assert [c["name"] for c in communes][-1] == "Chí Minh"  # a 2026 plan: nothing due yet, read last
    assert communes[0]["duties"]["share_met"] == 0.0
    totals = data["totals"]
    assert totals["duties"]["due"] == sum(c["duties"]["due"] for c in communes)
    assert totals["reports"]["not_yet"] == sum(c["reports"]["not_yet"] for c in communes) > 0
    assert {ln["kind"] for ln in data["lines"]} >= {"quota", "compiled_report"}


def test_evidence_recorded_shows_in_the_province_roll_up(cchc_env: Settings) -> None:
    before = run_json("province", "status", "31", "--at", "2025-08-20", "--json", "--by", "duty")
    row = next(ln for ln in before["lines"] if ln["plan"] == "phu-thai-2025h2" and ln["group"] == "cong-ttdt-tin-bai")
    assert row["met"] == 0
    code, out = run(
        "evidence",
        "add",
        "phu-thai-2025h2",
        "cong-ttdt-tin-bai",
        "--kind",
        "post",
        "--url",
        "https://phuthai.haiphong.gov.vn/tin/1",
        "--date",
        "2025-07-15",
        "--title",
        "Chuyên mục CCHC tháng 7",
    )
    assert code == 0, out
    after = run_json("province", "status", "31", "--at", "2025-08-20", "--json", "--by", "duty")
    row = next(ln for ln in after["lines"] if ln["plan"] == "phu-thai-2025h2" and ln["group"] == "cong-ttdt-tin-bai")
    assert row["met"] == 1


def test_province_status_refuses_an_unknown_province_and_an_empty_one(cchc_env: Settings) -> None:
    code, out = run("province", "status", "Atlantis")
    assert code == 2 and "không có tỉnh/thành phố nào khớp 'Atlantis'" in out
    code, out = run("province", "status", "Hà Nội")
    assert code == 2 and "không có kế hoạch nào của Thành phố Hà Nội (mã 1)" in out
    code, out = run("province", "status", "31", "--by", "unit")
    assert code == 2 and "--by 'unit'" in out
