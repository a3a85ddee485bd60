"""`cchc plan new --like PLAN --commune CODE [--period]` (issue #17 item 3): a plan of another commune of the
register, made from one that runs: names re-derived, ids regenerated, dates moved, blanks listed by field path.

The command runs in-process on the real specs and writes into a scratch folder; every clone is loaded back
with the same loader `cchc up` uses.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from cchc.core.clone import CloneError, add_months, clone, parse_period, slug
from cchc.core.loader import load_plan
from cchc.core.spec import Plan
from cchc.settings import Settings
from tests.conftest import PLAN_DIR
from tests.test_cli import run

AN_HUNG = 11674  # Xã An Hưng, Thành phố Hải Phòng
PHAN_DINH_PHUNG = 5443  # Phường Phan Đình Phùng, Thái Nguyên
CAT_HAI = 11914  # Đặc khu Cát Hải, Hải Phòng


def source(plan_id: str) -> Plan:
    return load_plan(PLAN_DIR / f"{plan_id}.yaml")


def texts(plan: Plan) -> str:
    """Every human text of a plan, for checking that no trace of the old commune is left."""
    return plan.model_dump_json(exclude={"id", "effective_note"})


def test_a_hai_phong_seed_cloned_to_another_hai_phong_commune_validates_with_its_blanks_listed(
    cchc_env: Settings, tmp_path: Path
) -> None:
    code, out = run("plan", "new", "--like", "phu-thai-2025h2", "--commune", str(AN_HUNG), "--out", str(tmp_path))
    assert code == 0, out
    path = tmp_path / "an-hung-2025h2.yaml"
    new, old = load_plan(path), source("phu-thai-2025h2")
    assert (new.id, new.commune.name, new.commune.code, new.commune.province) == (
        "an-hung-2025h2",
        "An Hưng",
        AN_HUNG,
        "Thành phố Hải Phòng",
    )
    assert new.issuer == "Ủy ban nhân dân xã An Hưng"
    assert new.title == old.title.replace("Phú Thái", "An Hưng")
    assert new.unit("ubnd").name == "Ủy ban nhân dân xã An Hưng"
    assert new.unit("so-noi-vu").name == "Sở Nội vụ thành phố Hải Phòng"  # same city, same department
    assert "Phú Thái" not in texts(new)
    # The plan's structure and rules are the template's; the period is the same half-year.
    assert [(d.id, d.kind, d.cadence, d.requirement, d.due, d.only) for d in new.duties] == [
        (d.id, d.kind, d.cadence, d.requirement, d.due, d.only) for d in old.duties
    ]
    assert [(r.id, r.cadence, r.due) for r in new.reports] == [(r.id, r.cadence, r.due) for r in old.reports]
    assert (new.period.start, new.period.end) == (old.period.start, old.period.end)
    # What only the new commune knows is blank, and listed by field path for the coordinator.
    assert (new.number, new.issued_on, new.effective_from, new.legal_bases) == (None, None, None, ())
    assert new.effective_on == new.period.start and new.effective_assumed
    assert all(u.emails == () for u in new.units) and all(u.person is None for u in new.units)
    assert all(r.signer.name is None for r in new.reports)
    listed = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("- ")]
    for i in range(len(new.units)):
        assert any(ln.startswith(f"- units[{i}].emails: nhập địa chỉ thư điện tử") for ln in listed), out
    for field in ("number", "issued_on", "legal_bases", "units[9].person", "reports[0].signer.name"):
        assert any(ln.startswith(f"- {field}: ") for ln in listed), (field, out)
    # The same list heads the file, marked to be filled in.
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Nhân bản từ kế hoạch phu-thai-2025h2") and "# CẦN ĐIỀN" in text
    assert "#   - units[0].emails:" in text
    code, out = run("validate", str(path))
    assert code == 0 and ": ok: " in out, out


def test_a_hai_phong_seed_cloned_to_a_thai_nguyen_ward_takes_the_new_province_and_division(
    cchc_env: Settings, tmp_path: Path
) -> None:
    code, out = run(
        "plan", "new", "--like", "phu-thai-2025h2", "--commune", str(PHAN_DINH_PHUNG), "--out", str(tmp_path)
    )
    assert code == 0, out
    new = load_plan(tmp_path / "phan-dinh-phung-2025h2.yaml")
    assert (new.commune.name, new.commune.province) == ("Phan Đình Phùng", "Tỉnh Thái Nguyên")
    assert new.issuer == "Ủy ban nhân dân phường Phan Đình Phùng"
    assert new.unit("so-noi-vu").name == "Sở Nội vụ tỉnh Thái Nguyên"
    assert new.unit("kinh-te").name == "Phòng Kinh tế phường"  # 'xã' as a word becomes 'phường'
    assert new.unit("vhxh").name == "Phòng Văn hoá - Xã hội phường"  # 'Xã hội' (society) stays
    assert new.unit("mttq").name.endswith("các tổ chức chính trị - xã hội")
    dumped = texts(new)
    assert "Hải Phòng" not in dumped and "Phú Thái" not in dumped and " xã " not in dumped.replace("xã hội", "")


def test_a_thai_nguyen_plan_cloned_into_hai_phong_names_the_regime_to_check(cchc_env: Settings) -> None:
    cloned = clone(source("ninh-giang-2025h2"), PHAN_DINH_PHUNG, "2026")
    assert cloned.plan is not None and cloned.errors == []
    assert any(t.path == "basis.regime" and "Tỉnh Thái Nguyên" in t.message for t in cloned.todo)


def test_assumptions_the_template_confirmed_are_unconfirmed_in_the_clone(cchc_env: Settings) -> None:
    data: dict[str, Any] = source("phu-thai-2025h2").model_dump(by_alias=True, exclude_unset=True)
    i, duty = next((i, d) for i, d in enumerate(data["duties"]) if d.get("basis", {}).get("assumed"))
    data["duties"] = list(data["duties"])
    data["duties"][i] = {**duty, "basis": {**duty["basis"], "confirmed": "Trần Văn B, 01/08/2025: đúng quy định"}}
    template = Plan.model_validate(data)
    assert template.duties[i].basis is not None and not template.duties[i].basis.unconfirmed

    cloned = clone(template, AN_HUNG)
    assert cloned.plan is not None and cloned.plan.duties[i].basis is not None
    assert cloned.plan.duties[i].basis.unconfirmed  # the old coordinator's word does not bind the new commune
    assert any(t.path == "basis" and "cchc assumption confirm" in t.message for t in cloned.todo)


def test_a_period_shift_moves_only_keys_and_windows_into_the_new_period(cchc_env: Settings) -> None:
    old = source("ninh-giang-2025h2")
    assert {d.only for d in old.duties if d.only} == {("2025-Q3", "2025-Q4"), ("2025-Q4",), ("2025-Q3",)}

    def only_by_duty(plan: Plan) -> dict[str, tuple[str, ...]]:
        return {d.id: d.only for d in plan.duties if d.only}

    before = only_by_duty(old)
    same_half = clone(old, AN_HUNG, "2026H2").plan
    assert same_half is not None and (same_half.id, same_half.period.start) == ("an-hung-2026h2", dt.date(2026, 7, 1))
    assert only_by_duty(same_half) == {k: tuple(q.replace("2025", "2026") for q in v) for k, v in before.items()}
    assert "6 tháng cuối năm 2026" in same_half.title

    first_half = clone(old, AN_HUNG, "2026H1")  # same length: the plan's first quarter stays its first
    assert first_half.plan is not None and "6 tháng đầu năm 2026" in first_half.plan.title
    shift = {"2025-Q3": "2026-Q1", "2025-Q4": "2026-Q2"}
    assert only_by_duty(first_half.plan) == {k: tuple(shift[q] for q in v) for k, v in before.items()}

    year = clone(old, AN_HUNG, "2026")  # longer: anchored on the year's end, a Q4 survey stays in Q4
    assert year.plan is not None and year.plan.id == "an-hung-2026"
    assert only_by_duty(year.plan) == {k: tuple(q.replace("2025", "2026") for q in v) for k, v in before.items()}
    assert [t for t in year.todo if ".only" in t.path] == []

    # A year plan cut to a half-year: what falls outside is pulled in and listed to check.
    chi_minh = source("chi-minh-2026")
    half = clone(chi_minh, AN_HUNG, "2027H2")
    assert half.plan is not None, half.errors
    pulled = [t for t in half.todo if t.path.endswith(".only")]
    assert pulled and all("kỳ 2026-H1" in t.message and "tạm đặt 2027-H2" in t.message for t in pulled)


def test_a_one_off_window_moves_with_the_period_and_is_pulled_in_when_it_falls_out(cchc_env: Settings) -> None:
    data: dict[str, Any] = source("phu-thai-2025h2").model_dump(by_alias=True, exclude_unset=True)
    duty = dict(data["duties"][3])
    duty.pop("only", None)
    duty.update(cadence="once", window={"start": dt.date(2025, 9, 1), "due": dt.date(2025, 12, 31)})
    data["duties"] = (*data["duties"][:3], duty, *data["duties"][4:])
    plan = Plan.model_validate(data)

    moved = clone(plan, AN_HUNG, "2026H2").plan
    assert moved is not None and moved.duties[3].window is not None
    assert (moved.duties[3].window.start, moved.duties[3].window.due) == (dt.date(2026, 9, 1), dt.date(2026, 12, 31))
    year = clone(plan, AN_HUNG, "2027H1")  # same length: Sep–Dec of H2 becomes Mar–Jun of H1
    assert year.plan is not None and year.plan.duties[3].window is not None
    assert (year.plan.duties[3].window.start, year.plan.duties[3].window.due) == (
        dt.date(2027, 3, 1),
        dt.date(2027, 6, 30),
    )


def test_bad_input_is_refused_with_what_to_do_and_nothing_is_written(cchc_env: Settings, tmp_path: Path) -> None:
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    cases = [
        (("--commune", "99999"), "mã xã 99999 không có trong danh mục"),
        (("--commune", str(AN_HUNG), "--period", "2026H3"), "kỳ kế hoạch '2026H3' không hợp lệ; dùng 2026"),
        (("--commune", str(AN_HUNG), "--period", "2026-Q1"), "không hợp lệ"),
        (("--commune", str(AN_HUNG), "--period", "1990"), "ngoài khoảng 2000–2100"),
        (("--commune", "10750"), "đã là của xã Phú Thái cho kỳ này"),
        (("--commune", str(AN_HUNG), "--out", str(tmp_path / "ten-khac.yaml")), "an-hung-2025h2.yaml"),
    ]
    for args, said in cases:
        where = () if "--out" in args else ("--out", str(tmp_path))
        code, out = run("plan", "new", "--like", "phu-thai-2025h2", *args, *where)
        assert code == 2 and said in out, (args, out)
    code, out = run("plan", "new", "--like", "khong-co", "--commune", str(AN_HUNG), "--out", str(tmp_path))
    assert code == 2 and "không có kế hoạch 'khong-co'" in out and "phu-thai-2025h2" in out
    assert list(tmp_path.iterdir()) == []

    # An existing file is kept unless --force.
    code, out = run("plan", "new", "--like", "phu-thai-2025h2", "--commune", str(AN_HUNG), "--out", str(tmp_path))
    assert code == 0, out
    target = tmp_path / "an-hung-2025h2.yaml"
    target.write_text("# sửa tay\n" + target.read_text(encoding="utf-8"), encoding="utf-8")
    kept = target.read_text(encoding="utf-8")
    code, out = run("plan", "new", "--like", "phu-thai-2025h2", "--commune", str(AN_HUNG), "--out", str(tmp_path))
    assert code == 2 and "--force" in out and target.read_text(encoding="utf-8") == kept
    code, out = run(
        "plan", "new", "--like", "phu-thai-2025h2", "--commune", str(AN_HUNG), "--out", str(tmp_path), "--force"
    )
    assert code == 0 and not target.read_text(encoding="utf-8").startswith("# sửa tay")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026", (dt.date(2026, 1, 1), dt.date(2026, 12, 31), "2026")),
        ("2026H1", (dt.date(2026, 1, 1), dt.date(2026, 6, 30), "2026h1")),
        ("2026-h2", (dt.date(2026, 7, 1), dt.date(2026, 12, 31), "2026h2")),
    ],
)
def test_periods_are_read_as_a_year_or_a_half(text: str, expected: tuple[dt.date, dt.date, str]) -> None:
    assert parse_period(text) == expected


def test_the_pure_helpers_keep_month_ends_and_make_ids_from_vietnamese_names() -> None:
    assert add_months(dt.date(2025, 9, 30), 6) == dt.date(2026, 3, 31)  # a month's last day stays last
    assert add_months(dt.date(2025, 8, 31), 6) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2025, 7, 15), 18) == dt.date(2027, 1, 15)
    assert slug("Phủ Thông") == "phu-thong" and slug("Đặc khu Cát Hải") == "dac-khu-cat-hai"
    with pytest.raises(CloneError, match="không hợp lệ"):
        parse_period("H1")
    special = clone(source("phu-thai-2025h2"), CAT_HAI, "2026H1")
    assert special.plan is not None and special.plan.id == "cat-hai-2026h1"
    assert special.plan.issuer == "Ủy ban nhân dân đặc khu Cát Hải"


PLAN_IDS = ("phu-thai-2025h2", "lai-khe-2025h2", "phu-thong-2025", "ninh-giang-2025h2", "chi-minh-2026")


@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_every_real_plan_clones_to_a_valid_plan_for_communes_wards_and_special_zones_and_any_period(
    plan_id: str,
) -> None:
    template = source(plan_id)
    for code in (AN_HUNG, PHAN_DINH_PHUNG, CAT_HAI):
        for period in ("2026", "2026H1", "2027H2"):
            cloned = clone(template, code, period)
            assert cloned.plan is not None, (code, period, cloned.errors)
            assert [d.id for d in cloned.plan.duties] == [d.id for d in template.duties]
            assert all(u.emails == () for u in cloned.plan.units)
            assert template.commune.name not in texts(cloned.plan), (code, period)


def test_a_ward_plan_cloned_to_a_commune_speaks_of_the_commune() -> None:
    ward = clone(source("phu-thai-2025h2"), PHAN_DINH_PHUNG, "2026").plan
    assert ward is not None and ward.unit("kinh-te").name == "Phòng Kinh tế phường"
    back = clone(ward, AN_HUNG, "2026").plan
    assert back is not None
    assert back.unit("kinh-te").name == "Phòng Kinh tế xã" and back.issuer == "Ủy ban nhân dân xã An Hưng"
    assert "phường" not in texts(back)
