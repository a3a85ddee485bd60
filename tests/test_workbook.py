"""The plan workbook round trip (#17): a coordinator puts her plan in with a spreadsheet, not YAML.

Export → import gives back the very plan (all five real ones, and a made-up one that sets every field the
real ones leave at their defaults); re-exporting gives the same cells; every kind of bad workbook is refused
with an error at its sheet and cell, in Vietnamese, and nothing is written.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from openpyxl import Workbook, load_workbook
from typer.testing import CliRunner

from cchc.cli.main import app
from cchc.core.loader import load_plan, parse_plan
from cchc.core.spec import Plan
from cchc.core.spec_dump import dump_spec, spec_data
from cchc.io.workbook import (
    DUTIES,
    HEADER_SHEET,
    WorkbookError,
    export_bytes,
    export_workbook,
    import_workbook,
)
from cchc.settings import Settings, get_settings
from tests.conftest import PLAN_DIR, PLAN_IDS

runner = CliRunner()


def _cells(data: bytes) -> dict[str, list[list[Any]]]:
    wb = load_workbook(io.BytesIO(data))
    return {ws.title: [[c.value for c in row] for row in ws.iter_rows()] for ws in wb.worksheets}


def _field_by_field(a: Any, b: Any, path: str = "") -> list[str]:
    """Every path where two dumped plans differ (empty: equal over the whole model, defaults included)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}.{k}: only on one side" for k in a.keys() ^ b.keys()]
        for k in a.keys() & b.keys():
            out += _field_by_field(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _field_by_field(x, y, f"{path}[{i}]")]
    return [] if a == b and type(a) is type(b) else [f"{path}: {a!r} != {b!r}"]


def _book(plan: Plan) -> Workbook:
    return load_workbook(io.BytesIO(export_bytes(plan)))


def _save(wb: Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _issues(data: bytes) -> list[str]:
    with pytest.raises(WorkbookError) as e:
        import_workbook(data)
    assert e.value.issues, "a refused workbook names at least one problem"
    return [str(i) for i in e.value.issues]


def _row_of(wb: Workbook, duty_id: str) -> int:
    ws = wb[DUTIES.title]
    return next(r for r in range(2, ws.max_row + 1) if ws.cell(row=r, column=10).value == duty_id)


def _header_row(wb: Workbook, key: str) -> int:
    ws = wb[HEADER_SHEET]
    return next(r for r in range(2, ws.max_row + 1) if ws.cell(row=r, column=3).value == key)


# ------------------------------------------------------------------------------------------ lossless


@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_export_then_import_gives_back_the_same_plan(plan_id: str) -> None:
    plan = load_plan(PLAN_DIR / f"{plan_id}.yaml")
    back = import_workbook(export_bytes(plan))
    # Field by field over the whole loaded model (defaults included), then the model's own equality.
    assert _field_by_field(plan.model_dump(), back.model_dump()) == []
    assert back == plan
    # Provenance, co-leads and numbering, spelled out: the parts a careless mapping loses first.
    for d, e in zip(plan.duties, back.duties, strict=True):
        assert (e.number, e.citation, e.lead, e.co_leads, e.basis) == (
            d.number,
            d.citation,
            d.lead,
            d.co_leads,
            d.basis,
        )


@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_reexport_gives_the_same_workbook(plan_id: str) -> None:
    plan = load_plan(PLAN_DIR / f"{plan_id}.yaml")
    first = export_bytes(plan)
    again = export_bytes(import_workbook(first))
    assert _cells(again) == _cells(first)


def _everything() -> Plan:
    """Phú Thái with every field the real plans leave unset: a ladder of the plan's own, a duty's own ladder
    and an empty one, feed and page sources, a one-off window, a local calendar, per-aspect bases, a report
    with no data cut-off, text that looks like a formula."""
    data = copy.deepcopy(spec_data(load_plan(PLAN_DIR / "phu-thai-2025h2.yaml")))
    data.update(
        number="12/KH-UBND",
        issued_on=dt.date(2025, 7, 20),
        effective_confirmed="Chị Lan, VH-XH, 01/08/2025: đúng ngày ký",
        amended_on=dt.date(2025, 9, 1),
        amendment_note="Kế hoạch số 20/KH-UBND ngày 25/8/2025 sửa đổi",
        partial_period_share=0.6,
        unit_report_working_days=2,
        run_time="07:30",
        calendar=[
            {"date": dt.date(2025, 9, 6), "working": True, "reason": "Quyết định số 1/QĐ-UBND của thành phố"},
            {"date": dt.date(2025, 9, 1), "working": False, "reason": "Quyết định số 2/QĐ-UBND của thành phố"},
        ],
        escalation={
            "ladder": [
                {"step": "nhac-1", "action": "reminder", "working_days": 3},
                {"step": "tien-do", "action": "progress", "after_day": 15, "to": ["lead", "support"]},
                {
                    "step": "bao-lanh-dao",
                    "action": "escalation",
                    "working_days": 2,
                    "to": ["leader"],
                    "cc": ["coordinator"],
                },
            ],
            "stale_after_days": 4,
        },
    )
    duties = data["duties"]
    duties[0]["escalation"] = {"stale_after_days": 1}
    duties[1]["escalation"] = {"ladder": []}
    duties[0]["sources"] = [
        {
            "type": "feed",
            "url": "https://phuthai.haiphong.gov.vn/rss/cchc",
            "name": "Chuyên mục CCHC",
            "keywords": ["cải cách hành chính", "CCHC"],
            "allow_hosts": ["phuthai.haiphong.gov.vn"],
        },
        {
            "type": "page",
            "url": "https://phuthai.haiphong.gov.vn/tin-tuc",
            "items": "ul.news > li",
            "link": "a.title",
            "title": "a.title",
            "date": "span.date",
            "kind": "post",
            "unit": "van-phong",
        },
    ]
    duties[2]["products"] = ["tin, bài trên Đài Truyền thanh xã", "= 100% cán bộ"]
    duties[2]["basis"] = {
        "cadence": {"plan": "Phụ lục, STT 3", "quote": "=Các tháng"},
        "count": {"assumed": "Không ghi số lượng", "confirmed": "Anh Tuấn, 02/09/2025"},
        "due": {"assumed": "Hạn cuối tháng", "regime": "Chế độ báo cáo của thành phố"},
    }
    duties.append(
        {
            "id": "hoi-thi-mot-lan",
            "source": "III.1, gạch đầu dòng 10",
            "title": "Hội thi một lần",
            "lead": "vhxh",
            "co_leads": ["ttvhttt", "mttq"],
            "kind": "deadline",
            "cadence": "once",
            "window": {"start": dt.date(2025, 10, 1), "due": dt.date(2025, 11, 15)},
            "requirement": {"evidence": ["event", "document"], "min_count": 2},
            "channels": ["contest", "press"],
        }
    )
    duties[4]["due"] = {"in_month": "next", "day": 5}
    duties[4]["cadence"] = "quarter"
    reports = data["reports"]
    reports[0].update(cutoff_day=None, draft_working_days=7, only=["2025-Q3", "2025-Q4"])
    reports[0]["due"] = {"in_month": 2, "day": 28}
    reports[0]["recipients"][0]["emails"] = ["ubnd@phu-thai.example", "vp@phu-thai.example"]
    reports[1]["basis"] = {"plan": "Đoạn kết", "quote": "báo cáo năm"}
    return Plan.model_validate(data)


def test_every_field_the_real_plans_leave_unset_survives_the_trip() -> None:
    plan = _everything()
    data = export_bytes(plan)
    back = import_workbook(data)
    assert _field_by_field(plan.model_dump(), back.model_dump()) == []
    assert back == plan
    assert back.duties[1].escalation is not None and back.duties[1].escalation.ladder == ()
    assert back.reports[0].cutoff_day is None
    assert _cells(export_bytes(back)) == _cells(data)
    # Text that starts with '=' stays text in the workbook, not a formula.
    wb = load_workbook(io.BytesIO(data))
    assert all(c.data_type != "f" for ws in wb.worksheets for row in ws.iter_rows() for c in row)


def test_the_duties_sheet_mirrors_the_appendix_with_drop_downs_and_a_frozen_header() -> None:
    plan = load_plan(PLAN_DIR / "ninh-giang-2025h2.yaml")
    wb = export_workbook(plan)
    ws = wb.worksheets[0]
    assert ws.title == "Nhiệm vụ"
    heads = [c.value for c in ws[1]]
    assert heads[:6] == ["STT", "Nhiệm vụ", "Cơ quan chủ trì", "Cơ quan phối hợp", "Thời gian thực hiện", "Sản phẩm"]
    # The plan's own numbering, 1–6 and 8 (there is no 7), in the order of the appendix.
    assert [ws.cell(row=r, column=1).value for r in range(2, 9)] == ["1", "2", "3", "4", "5", "6", "8"]
    assert ws.freeze_panes == "C2"
    row = _row_of(wb, "sap-xep-bo-may")
    assert ws.cell(row=row, column=12).value == "hằng quý"
    assert ws.cell(row=row, column=13).value == "2025-Q3, 2025-Q4"
    lists = {str(dv.sqref).split(":")[0]: dv.formula1 for dv in ws.data_validations.dataValidation}
    assert lists["C2"] == "'Đơn vị'!$A$2:$A$500"  # lead units from the units sheet
    assert lists["L2"].startswith("'_cchc'!") and lists["K2"].startswith("'_cchc'!")  # cadences, kinds
    assert ws.column_dimensions["B"].width > ws.column_dimensions["A"].width
    assert {"Kế hoạch", "Đơn vị", "Báo cáo", "Nơi nhận", "Thang nhắc việc"} <= set(wb.sheetnames)


# ------------------------------------------------------------------------------------------ readable YAML


def test_the_written_yaml_is_stable_short_and_in_the_models_order() -> None:
    plan = load_plan(PLAN_DIR / "phu-thai-2025h2.yaml")
    text = dump_spec(import_workbook(export_bytes(plan)))
    assert parse_plan(text) == plan
    assert dump_spec(parse_plan(text)) == text  # stable: the same text every time
    top = list(yaml.safe_load(text))
    assert top == [k for k in (f.alias or n for n, f in Plan.model_fields.items()) if k in top]
    assert top[:2] == ["id", "title"] and top[-2:] == ["duties", "reports"]
    # No pydantic default the source did not write; Vietnamese as itself, not escaped.
    for absent in ("draft_working_days", "cutoff_day", "escalation", "min_count: 1\n", "run_time"):
        assert absent not in text
    source = yaml.safe_load((PLAN_DIR / "phu-thai-2025h2.yaml").read_text(encoding="utf-8"))
    written = yaml.safe_load(text)
    assert set(written) <= set(source)
    for mine, theirs in zip(written["duties"] + written["reports"], source["duties"] + source["reports"], strict=True):
        assert set(mine) <= set(theirs), mine["id"]
    assert "Ủy ban nhân dân xã Phú Thái" in text and "\\u" not in text
    duty = yaml.safe_load(text)["duties"][0]
    assert list(duty)[:4] == ["id", "number", "source", "title"]


def test_dump_spec_orders_plain_data_too_even_incomplete() -> None:
    """`cchc plan new --like` hands over plain data that may still lack fields: it is ordered all the same."""
    plan = load_plan(PLAN_DIR / "lai-khe-2025h2.yaml")
    data = spec_data(plan)
    shuffled = {k: data[k] for k in reversed(list(data))}
    shuffled["duties"] = [dict(reversed(list(d.items()))) for d in data["duties"]]
    shuffled["units"] = list(plan.units)  # models inside plain data
    assert dump_spec(shuffled) == dump_spec(plan)
    partial = {"units": [{"role": "lead", "name": "Văn phòng", "id": "van-phong"}], "title": "T", "id": "x"}
    assert dump_spec(partial) == "id: x\ntitle: T\n\nunits:\n  - {id: van-phong, name: Văn phòng, role: lead}\n"


# ------------------------------------------------------------------------------------------ the command


@pytest.fixture
def plans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A scratch plan folder holding copies of the five real plans."""
    folder = tmp_path / "plans"
    folder.mkdir()
    for pid in PLAN_IDS:
        (folder / f"{pid}.yaml").write_bytes((PLAN_DIR / f"{pid}.yaml").read_bytes())
    monkeypatch.setenv("CCHC_HOME", str(tmp_path / "var"))
    monkeypatch.setenv("CCHC_PLAN_DIR", str(folder))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_export_import_writes_a_spec_that_validates(plans: Settings, tmp_path: Path) -> None:
    book = tmp_path / "phu-thai.xlsx"
    code, out = _run("plan", "export", "phu-thai-2025h2", "--xlsx", str(book))
    assert code == 0, out
    target = plans.plan_dir / "phu-thai-2025h2.yaml"
    target.unlink()
    code, out = _run("plan", "import", str(book), "--xlsx")
    assert code == 0, out
    assert f"Đã ghi {target}" in out
    assert load_plan(target) == load_plan(PLAN_DIR / "phu-thai-2025h2.yaml")
    code, out = _run("validate", str(target))
    assert code == 0 and ": ok: phu-thai-2025h2" in out, out


def test_import_refuses_to_overwrite_a_spec_unless_forced(plans: Settings, tmp_path: Path) -> None:
    book = tmp_path / "ninh-giang.xlsx"
    assert _run("plan", "export", "ninh-giang-2025h2", "--xlsx", str(book))[0] == 0
    target = plans.plan_dir / "ninh-giang-2025h2.yaml"
    before = target.read_bytes()
    code, out = _run("plan", "import", str(book), "--xlsx")
    assert code == 2
    assert "không ghi đè" in out and "--force" in out
    assert target.read_bytes() == before
    code, out = _run("plan", "import", str(book), "--xlsx", "--force")
    assert code == 0, out
    assert "chú thích (#)" in out  # the hand-written comments are gone, and the command says so …
    assert load_plan(target) == parse_plan(before.decode("utf-8"))  # … as the same plan
    # Export refuses to overwrite a workbook too.
    assert _run("plan", "export", "ninh-giang-2025h2", "--xlsx", str(book))[0] == 2


def test_out_must_be_named_after_the_plan(plans: Settings, tmp_path: Path) -> None:
    book = tmp_path / "lai-khe.xlsx"
    assert _run("plan", "export", "lai-khe-2025h2", "--xlsx", str(book))[0] == 0
    code, out = _run("plan", "import", str(book), "--xlsx", "--out", str(tmp_path / "other.yaml"))
    assert code == 2 and "lai-khe-2025h2.yaml" in out
    assert not (tmp_path / "other.yaml").exists()


# ------------------------------------------------------------------------------------------ bad input


def _refused_by_the_command(data: bytes, tmp_path: Path, name: str = "bad.xlsx") -> str:
    """Import through the command into an empty folder: it fails and writes nothing at all."""
    path = tmp_path / name
    path.write_bytes(data)
    out_dir = tmp_path / "out"
    out_dir.mkdir(exist_ok=True)
    code, out = _run("plan", "import", str(path), "--xlsx", "--out", str(out_dir / "phu-thai-2025h2.yaml"))
    assert code == 2, out
    assert "không ghi tệp nào" in out or "không phải" in out
    assert list(out_dir.iterdir()) == []
    return out


def test_a_workbook_from_another_template_is_refused(plans: Settings, tmp_path: Path) -> None:
    wb = Workbook()
    wb.active.append(["STT", "Nhiệm vụ", "Cơ quan chủ trì"])  # type: ignore[union-attr]
    wb.active.append([1, "Tuyên truyền", "Văn phòng"])  # type: ignore[union-attr]
    (issue,) = _issues(_save(wb))
    assert "không phải bảng tính kế hoạch của cchc" in issue and "cchc plan export" in issue
    assert "không phải bảng tính kế hoạch" in _refused_by_the_command(_save(wb), tmp_path)


def test_a_file_that_is_not_xlsx_is_refused(plans: Settings, tmp_path: Path) -> None:
    for data in (b"id: phu-thai-2025h2\n", b"PK\x03\x04 truncated zip", "STT;Nhiệm vụ\n1;x\n".encode()):
        (issue,) = _issues(data)
        assert "không phải bảng tính Excel .xlsx" in issue
    out = _refused_by_the_command(b"%PDF-1.4 not a workbook", tmp_path)
    assert "không phải bảng tính Excel .xlsx" in out


def test_a_moved_column_is_named_at_its_header_cell(plans: Settings, tmp_path: Path) -> None:
    wb = _book(load_plan(PLAN_DIR / "phu-thai-2025h2.yaml"))
    ws = wb[DUTIES.title]
    for r in range(1, ws.max_row + 1):  # swap 'Nhiệm vụ' (B) and 'Cơ quan chủ trì' (C)
        b, c = ws.cell(row=r, column=2), ws.cell(row=r, column=3)
        b.value, c.value = c.value, b.value
    issues = _issues(_save(wb))
    assert (
        "Nhiệm vụ!B1: cột B phải là 'Nhiệm vụ', thấy 'Cơ quan chủ trì' (cột này đang ở C1); không di chuyển, "
        "xoá hay đổi tên cột: trả cột về chỗ cũ hoặc xuất lại mẫu bằng 'cchc plan export'"
    ) in issues
    assert any(i.startswith("Nhiệm vụ!C1: cột C phải là 'Cơ quan chủ trì'") for i in issues)
    _refused_by_the_command(_save(wb), tmp_path)


def test_a_merged_cell_is_refused(plans: Settings, tmp_path: Path) -> None:
    wb = _book(load_plan(PLAN_DIR / "phu-thai-2025h2.yaml"))
    wb[DUTIES.title].merge_cells("B3:C3")
    issues = _issues(_save(wb))
    assert any(i.startswith("Nhiệm vụ!B3:C3: ô gộp B3:C3; bỏ gộp ô") for i in issues), issues
    _refused_by_the_command(_save(wb), tmp_path)


def test_an_empty_required_cell_is_named(plans: Settings, tmp_path: Path) -> None:
    wb = _book(load_plan(PLAN_DIR / "phu-thai-2025h2.yaml"))
    row = _row_of(wb, "kiem-soat-tthc")
    wb[DUTIES.title].cell(row=row, column=2).value = None
    wb[HEADER_SHEET].cell(row=_header_row(wb, "issuer"), column=2).value = "   "
    issues = _issues(_save(wb))
    assert f"Nhiệm vụ!B{row}: nhiệm vụ không được để trống; điền nhiệm vụ" in issues
    assert (
        f"Kế hoạch!B{_header_row(wb, 'issuer')}: cơ quan ban hành không được để trống; điền cơ quan ban hành" in issues
    )
    _refused_by_the_command(_save(wb), tmp_path)


def test_a_unit_referenced_but_not_declared_is_named(plans: Settings, tmp_path: Path) -> None:
    wb = _book(load_plan(PLAN_DIR / "phu-thai-2025h2.yaml"))
    row = _row_of(wb, "phat-thanh-chuyen-de")
    wb[DUTIES.title].cell(row=row, column=3).value = "ttvhtt"  # a typo of ttvhttt
    issues = _issues(_save(wb))
    assert (
        f"Nhiệm vụ!C{row}: đơn vị 'ttvhtt' chưa khai báo ở sheet 'Đơn vị' (có phải 'ttvhttt'?); thêm một dòng "
        "cho đơn vị này ở sheet Đơn vị, hoặc sửa lại mã"
    ) in issues
    assert len(issues) == 1  # the plan-wide rule does not report it a second time, in English
    _refused_by_the_command(_save(wb), tmp_path)


def test_an_impossible_date_is_named(plans: Settings, tmp_path: Path) -> None:
    wb = _book(load_plan(PLAN_DIR / "phu-thai-2025h2.yaml"))
    row = _header_row(wb, "effective_from")
    wb[HEADER_SHEET].cell(row=row, column=2).value = "15/13/2025"
    issues = _issues(_save(wb))
    assert (
        f"Kế hoạch!B{row}: '15/13/2025' không phải ngày hợp lệ (không có tháng 13); viết dạng ngày/tháng/năm, "
        "vd. 15/03/2025"
    ) in issues
    # A date typed as text in the Vietnamese order is read as such.
    wb[HEADER_SHEET].cell(row=row, column=2).value = "31/07/2025"
    assert import_workbook(_save(wb)) == load_plan(PLAN_DIR / "phu-thai-2025h2.yaml")
    wb[HEADER_SHEET].cell(row=row, column=2).value = "31/02/2025"
    (issue,) = _issues(_save(wb))
    assert "tháng 2/2025 không có ngày 31" in issue
    wb[HEADER_SHEET].cell(row=row, column=2).value = "15/13/2025"
    _refused_by_the_command(_save(wb), tmp_path)


def test_formulas_instead_of_values_are_refused(plans: Settings, tmp_path: Path) -> None:
    wb = _book(load_plan(PLAN_DIR / "phu-thai-2025h2.yaml"))
    row = _row_of(wb, "cong-ttdt-tin-bai")
    wb[DUTIES.title].cell(row=row, column=15).value = "=1+0"  # Số lượng tối thiểu
    wb[HEADER_SHEET].cell(row=_header_row(wb, "title"), column=2).value = '=CONCAT("Kế hoạch ", "x")'
    issues = _issues(_save(wb))
    assert (
        f"Nhiệm vụ!O{row}: ô chứa công thức (=1+0); thay bằng giá trị: sao chép rồi dán đặc biệt chỉ giá trị"
    ) in issues
    assert any(i.startswith(f"Kế hoạch!B{_header_row(wb, 'title')}: ô chứa công thức") for i in issues)
    assert len(issues) == 2
    _refused_by_the_command(_save(wb), tmp_path)


def test_an_unknown_cadence_lists_the_choices_in_vietnamese(plans: Settings) -> None:
    wb = _book(load_plan(PLAN_DIR / "phu-thai-2025h2.yaml"))
    row = _row_of(wb, "cong-ttdt-tin-bai")
    wb[DUTIES.title].cell(row=row, column=12).value = "hang thang"
    (issue,) = _issues(_save(wb))
    assert issue == (
        f"Nhiệm vụ!L{row}: 'hang thang' không phải chu kỳ hợp lệ (có phải 'hằng tháng'?); chọn một trong: "
        "hằng tháng, hằng quý, 6 tháng một lần, hằng năm, một lần"
    )


def test_every_problem_is_reported_at_once_with_a_structured_issue(plans: Settings) -> None:
    wb = _book(load_plan(PLAN_DIR / "phu-thai-2025h2.yaml"))
    ws = wb[DUTIES.title]
    ws.cell(row=2, column=12).value = "hang thang"  # cadence
    ws.cell(row=3, column=11).value = "nhiem vu"  # kind
    ws.cell(row=4, column=10).value = "Mã Có Dấu"  # id pattern
    ws.cell(row=5, column=15).value = "ba"  # min_count
    wb["Đơn vị"].cell(row=2, column=4).value = "khong-phai-email"
    with pytest.raises(WorkbookError) as e:
        import_workbook(_save(wb))
    where = {(i.sheet, i.cell) for i in e.value.issues}
    assert {("Nhiệm vụ", "L2"), ("Nhiệm vụ", "K3"), ("Nhiệm vụ", "J4"), ("Nhiệm vụ", "O5"), ("Đơn vị", "D2")} <= where
    by_cell = {(i.sheet, i.cell): i for i in e.value.issues}
    assert by_cell[("Nhiệm vụ", "O5")].field == "Số lượng tối thiểu"
    assert "'ba' không phải số nguyên" in by_cell[("Nhiệm vụ", "O5")].message
    assert "mã chỉ gồm chữ thường không dấu" in by_cell[("Nhiệm vụ", "J4")].message
    assert "không phải địa chỉ email hợp lệ" in by_cell[("Đơn vị", "D2")].message


def test_header_rules_are_named_at_their_cells_all_at_once(plans: Settings) -> None:
    wb = _book(load_plan(PLAN_DIR / "phu-thai-2025h2.yaml"))
    code, end = _header_row(wb, "commune.code"), _header_row(wb, "period.end")
    wb[HEADER_SHEET].cell(row=code, column=2).value = 99999
    wb[HEADER_SHEET].cell(row=end, column=2).value = "01/01/2025"
    assert _issues(_save(wb)) == [
        f"Kế hoạch!B{code}: mã xã 99999 không có trong danh mục hành chính 2025; tra lại mã xã",
        f"Kế hoạch!B{end}: ngày kết thúc 01/01/2025 trước ngày bắt đầu 01/07/2025; đổi lại",
    ]


def test_a_plan_wide_rule_is_pointed_at_its_row_in_vietnamese(plans: Settings) -> None:
    wb = _book(load_plan(PLAN_DIR / "ninh-giang-2025h2.yaml"))
    ws = wb[DUTIES.title]
    row = _row_of(wb, "sap-xep-bo-may")
    ws.cell(row=row, column=13).value = "2026-Q1"  # outside the plan's period
    (issue,) = _issues(_save(wb))
    assert issue == (f"Nhiệm vụ!M{row}: kỳ '2026-Q1' nằm ngoài thời gian kế hoạch (01/07/2025–31/12/2025); sửa lại kỳ")
    ws.cell(row=row, column=13).value = "2025-Q3, 2025-Q4"
    other = _row_of(wb, "quan-triet-chu-truong")  # a duty with no per-aspect basis rows
    ws.cell(row=other, column=10).value = "sap-xep-bo-may"  # the same id twice
    (issue,) = _issues(_save(wb))
    # Named at the later of the two rows (the first one keeps its id).
    assert issue == f"Nhiệm vụ!J{max(row, other)}: mã 'sap-xep-bo-may' bị dùng hai lần; đổi một mã khác"


_CALC = Path("/usr/lib/libreoffice/program/libsclo.so")


@pytest.mark.skipif(
    (shutil.which("soffice") is None or not _CALC.exists()) and not os.environ.get("CI"),
    reason="needs LibreOffice Calc (scripts/dev installs it; in CI its absence fails)",
)
def test_a_workbook_saved_again_by_libreoffice_still_imports_whole(tmp_path: Path) -> None:
    """The coordinator opens the workbook in LibreOffice, saves it, and sends it back."""
    plan = _everything()
    src = tmp_path / "in" / "plan.xlsx"
    src.parent.mkdir()
    src.write_bytes(export_bytes(plan))
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{tmp_path / 'profile'}",
            "--headless",
            "--convert-to",
            "xlsx:Calc MS Excel 2007 XML",
            "--outdir",
            str(tmp_path / "out"),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    saved = tmp_path / "out" / "plan.xlsx"
    assert saved.read_bytes() != src.read_bytes()  # really rewritten by LibreOffice
    assert import_workbook(saved) == plan


def test_a_zip_bomb_is_refused_before_it_is_unpacked() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", b"<a/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"\0" * (60 * 1024 * 1024))
    assert len(buf.getvalue()) < 1024 * 1024
    (issue,) = _issues(buf.getvalue())
    assert "giải nén ra hơn 50 MB" in issue
