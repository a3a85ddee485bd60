"""`cchc province report`: the department's summary report in the NĐ 30/2020 layout, DOCX and HTML, from the same
roll-up records as `cchc province status`."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pendulum
from docx import Document
from typer.testing import CliRunner

from cchc.app.pdf import docx_to_pdf
from cchc.cli.main import app
from cchc.core.heatmap import Cell
from cchc.core.province import Counts, Line, Rollup, find_province, pct, province_grid, split_grid
from cchc.settings import Settings

runner = CliRunner()


def _docx_text(path: Path) -> str:
    doc = Document(str(path))
    parts = [p.text for p in doc.paragraphs]
    for t in doc.tables:
        for row in t.rows:
            parts.append(" | ".join(c.text for c in row.cells))
    return "\n".join(parts)


def test_province_report_carries_the_roll_up_in_the_nd30_layout(cchc_env: Settings, tmp_path: Path) -> None:
    # A Q3 report of Lai Khê delivered on time counts as on time for the province.
    r = runner.invoke(
        app,
        ["evidence", "add", "lai-khe-2025h2", "bao-cao-quy", "--kind", "report_delivery", "--title", "BC quý IV",
         "--date", "2025-12-01"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    status = runner.invoke(app, ["province", "status", "31", "--at", "2025-12-14T23:59:59+07:00", "--json"])
    assert status.exit_code == 0, status.output
    totals = json.loads(status.output)["totals"]
    out = tmp_path / "bc"
    r = runner.invoke(app, ["province", "report", "hai phong", "--period", "2025-Q4", "--out", str(out)])
    assert r.exit_code == 0, r.output
    docx = out / "bao-cao-tong-hop-hai-phong-2025-Q4.docx"
    html = (out / "bao-cao-tong-hop-hai-phong-2025-Q4.html").read_text(encoding="utf-8")
    text = _docx_text(docx)
    # NĐ 30: issuing body and motto, number, place and date, title, sections, recipients, signer.
    for needle in (
        "ỦY BAN NHÂN DÂN THÀNH PHỐ HẢI PHÒNG",
        "SỞ NỘI VỤ",
        "Số:       /BC-SNV",
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "Hải Phòng, ngày",
        "BÁO CÁO",
        "quý IV năm 2025",
        "I. KẾT QUẢ THỰC HIỆN",
        "II. TỒN TẠI, HẠN CHẾ",
        "III. PHƯƠNG HƯỚNG, NHIỆM VỤ THỜI GIAN TỚI",
        "Nơi nhận:",
        "- Bộ Nội vụ (để báo cáo);",
        "KT. GIÁM ĐỐC",
        "PHÓ GIÁM ĐỐC",
        "Hạn gửi báo cáo này: hết ngày 19/12/2025 (giả định, chưa được xác nhận",
    ):
        assert needle in text, needle
        assert needle in html, needle
    d, rp = totals["duties"], totals["reports"]
    assert rp["on_time"] == 1
    total_row = next(ln for ln in text.splitlines() if ln.startswith(" | Tổng cộng"))
    figures = [d["due"], d["done"], pct(d["share_met"]), d["overdue"], d["missed"], rp["on_time"], rp["late"]]
    assert total_row.split(" | ")[2:] == [str(v) for v in [*figures, rp["not_yet"]]]
    assert f"{rp['on_time']} báo cáo gửi đúng hạn" in text
    for commune in ("Phú Thái", "Lai Khê", "Ninh Giang", "Chí Minh"):
        assert commune in text and commune in html
    assert len(Document(str(docx)).inline_shapes) == 1  # the heatmap: 4 communes, one part
    assert 'src="data:image/svg+xml;base64,' in html
    pdf = docx_to_pdf(docx.read_bytes(), "bao-cao-tinh")
    assert pdf.startswith(b"%PDF")
    pdf_path = tmp_path / "bc.pdf"
    pdf_path.write_bytes(pdf)
    pdf_text = subprocess.run(["pdftotext", str(pdf_path), "-"], capture_output=True, text=True, check=True).stdout
    assert "BÁO CÁO" in pdf_text and "Phú Thái" in pdf_text


def test_province_report_refuses_a_wrong_period_and_a_province_without_spec(cchc_env: Settings, tmp_path: Path) -> None:
    r = runner.invoke(app, ["province", "report", "31", "--period", "2025-10", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "lập hằng quý (vd. 2025-Q4)" in r.output
    r = runner.invoke(app, ["province", "report", "Thái Nguyên", "--period", "2025-Q4", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "chưa có tệp _province.yaml của Thái Nguyên (mã 19)" in r.output
    assert not (tmp_path / "x").exists()  # nothing written


def test_the_province_heatmap_at_114_communes_is_cut_into_page_sized_parts() -> None:
    hp = find_province("31")
    codes = hp.commune_codes()
    assert len(codes) == 114
    lines = tuple(
        Line(code, f"Xã {n}", kind, kind, Counts(met=n % 4, missed=n % 3, upcoming=1))
        for n, code in enumerate(codes)
        for kind in ("quota", "continuous", "compiled_report")
    )
    at = pendulum.datetime(2025, 12, 14, 23, tz="Asia/Ho_Chi_Minh")
    grid = province_grid(Rollup(hp.code, hp.name, at, "Asia/Ho_Chi_Minh", "kind", lines, plans=114))
    assert len(grid.rows) == 114 and grid.columns == ("Số lượng", "Thường xuyên", "BC của xã")
    assert {s.cell for s in grid.spans} >= {Cell.missed, Cell.met}
    parts = split_grid(grid, 25)
    assert [len(p.rows) for p in parts] == [25, 25, 25, 25, 14]
    assert sum(len(p.spans) for p in parts) == len(grid.spans) == 114 * 3
    assert all(0 <= s.row < len(p.rows) for p in parts for s in p.spans)
    assert parts[0].title.endswith("(1/5)")
    assert dt.date(2025, 12, 14).strftime("%d/%m/%Y") in grid.caption
