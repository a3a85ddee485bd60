"""Build the province summary report's Word template (cchc/app/report_templates/bao-cao-tinh.docx), NĐ 30/2020.

The same page, fonts and header / signature blocks as the commune report's template (scripts/make_report_template.py;
both take them from scripts/_docx_template.py); the body holds the roll-up: totals, a table by duty kind, a table by
commune, the heatmap, shortfalls, next steps. A clerk may restyle it in Word or LibreOffice as long as the tags stay. Run again
to reset it: `python scripts/make_province_template.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _docx_template import _cell_text, _widths, bullets, header, page, para, signature, tag
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH

TARGET = Path(__file__).resolve().parent.parent / "cchc" / "app" / "report_templates" / "bao-cao-tinh.docx"


def _table(
    doc: Any, headers: tuple[str, ...], cells: tuple[str, ...], widths: tuple[float, ...], loop: str, name_col: int
) -> Any:
    t = doc.add_table(rows=4, cols=len(headers))
    t.style = doc.styles["Table Grid"]
    t.alignment = WD_TABLE_ALIGNMENT.CENTER
    _widths(t, widths)
    for i, h in enumerate(headers):
        _cell_text(t.rows[0].cells[i], h, size=10, bold=True, center=True)
    _cell_text(t.rows[1].cells[0], "{%tr for r in " + loop + " %}")
    for i, c in enumerate(cells):
        _cell_text(t.rows[2].cells[i], "{{ r." + c + " }}", size=11, center=i != name_col)
    _cell_text(t.rows[3].cells[0], "{%tr endfor %}")
    return t


def build() -> Any:
    doc = page()
    header(doc, issuer_bold=False)

    para(doc, "", after=0)
    para(doc, "{{ title }}", 14, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, after=0)
    para(doc, "{{ summary }}", 14, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, after=12)
    just = WD_ALIGN_PARAGRAPH.JUSTIFY
    para(doc, "{{ basis }}", align=just, indent=True)
    para(doc, "{{ due_note }}", 13, italic=True, align=just, indent=True)

    para(doc, "I. KẾT QUẢ THỰC HIỆN", bold=True, align=just, indent=True)
    para(doc, "{{ overview }}", align=just, indent=True)
    para(doc, "1. Kết quả theo loại nhiệm vụ", bold=True, align=just, indent=True)
    para(doc, "Bảng 1. Kết quả theo loại nhiệm vụ (lượt nhiệm vụ)", 12, italic=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    _table(
        doc,
        ("Loại nhiệm vụ", "Đến hạn", "Đạt", "Tỉ lệ đạt", "Quá hạn", "Không đạt", "Miễn"),
        ("label", "due", "done", "share", "overdue", "missed", "waived"),
        (50, 20, 18, 22, 20, 20, 15),
        "kinds",
        0,
    )
    para(doc, "", after=0)
    para(doc, "2. Kết quả theo xã, phường, đặc khu", bold=True, align=just, indent=True)
    para(
        doc,
        "Bảng 2. Kết quả theo xã (xã có tỉ lệ đạt thấp nhất ở trên)",
        12,
        italic=True,
        align=WD_ALIGN_PARAGRAPH.CENTER,
    )
    t = _table(
        doc,
        (
            "STT",
            "Xã, phường",
            "Đến hạn",
            "Đạt",
            "Tỉ lệ",
            "Quá hạn",
            "Không đạt",
            "BC đúng hạn",
            "BC muộn",
            "BC chưa gửi",
        ),
        ("number", "name", "due", "done", "share", "overdue", "missed", "on_time", "late", "not_yet"),
        (11, 34, 14, 12, 14, 15, 16, 17, 15, 17),
        "communes",
        1,
    )
    total = t.add_row()
    for i, c in enumerate(("", "Tổng cộng", "due", "done", "share", "overdue", "missed", "on_time", "late", "not_yet")):
        _cell_text(total.cells[i], c if i < 2 else "{{ total." + c + " }}", size=11, bold=True, center=i != 1)
    para(doc, "", after=0)
    tag(doc, "{%p for h in heatmaps %}")  # the heatmap, cut into parts that fit a page
    para(doc, "{{ h }}", align=WD_ALIGN_PARAGRAPH.CENTER, after=0)
    tag(doc, "{%p endfor %}")
    tag(doc, "{%p if heatmaps %}")
    para(doc, "{{ heatmap_caption }}", 12, italic=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    tag(doc, "{%p endif %}")

    para(doc, "II. TỒN TẠI, HẠN CHẾ", bold=True, align=just, indent=True)
    bullets(
        doc,
        "item in shortfalls",
        "- {{ item }}.",
        "Trong kỳ không có xã nào có nhiệm vụ quá hạn, không đạt hoặc báo cáo chưa gửi.",
    )
    para(doc, "III. PHƯƠNG HƯỚNG, NHIỆM VỤ THỜI GIAN TỚI", bold=True, align=just, indent=True)
    bullets(doc, "item in next_items", "- {{ item }}.")
    para(doc, "{{ closing }}", align=just, indent=True, after=12)

    signature(doc)
    return doc


def main() -> int:
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    build().save(str(TARGET))
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
