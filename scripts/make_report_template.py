"""Build the report's Word template (cchc/app/report_templates/bao-cao.docx) in the NĐ 30/2020 layout.

The output is an ordinary .docx with Jinja2 tags (docxtpl): a clerk may open it in Word or
LibreOffice, restyle it and save it back, as long as the {{ }} / {% %} tags stay. Run again to
reset it: `python scripts/make_report_template.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.table import _Cell
from docx.text.paragraph import Paragraph

FONT = "Times New Roman"
TARGET = Path(__file__).resolve().parent.parent / "cchc" / "app" / "report_templates" / "bao-cao.docx"


def _font(run_or_style: object, size: float, bold: bool = False, italic: bool = False, underline: bool = False) -> None:
    f = run_or_style.font  # type: ignore[attr-defined]
    f.name = FONT
    f.size = Pt(size)
    f.bold = bold
    f.italic = italic
    f.underline = underline
    rpr = run_or_style.element.get_or_add_rPr()  # type: ignore[attr-defined]
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attr), FONT)


def para(
    container: object,
    text: str = "",
    size: float = 14,
    bold: bool = False,
    italic: bool = False,
    underline: bool = False,
    align: WD_ALIGN_PARAGRAPH | None = None,
    indent: bool = False,
    after: float = 6,
) -> Paragraph:
    p: Paragraph = container.add_paragraph()  # type: ignore[attr-defined]  # Document or table cell
    if text:
        _font(p.add_run(text), size, bold, italic, underline)
    if align is not None:
        p.alignment = align
    pf = p.paragraph_format
    pf.space_before = Pt(0)
    pf.space_after = Pt(after)
    if indent:
        pf.first_line_indent = Mm(12.7)
    return p  # type: ignore[no-any-return]


def tag(container: object, text: str) -> None:
    """A paragraph that holds only a docxtpl block tag ({%p ... %}); it disappears on rendering."""
    para(container, text, size=13, after=0)


def _no_borders(table: object) -> None:
    tbl = table._tbl  # type: ignore[attr-defined]
    pr = tbl.tblPr
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        el = OxmlElement(f"w:{edge}")
        el.set(qn("w:val"), "nil")
        borders.append(el)
    pr.append(borders)


def _widths(table: Any, widths_mm: tuple[float, ...]) -> None:
    """Fixed column widths that Word and LibreOffice both honour (grid, cells and a fixed layout)."""
    table.autofit = False
    layout = OxmlElement("w:tblLayout")
    layout.set(qn("w:type"), "fixed")
    table._tbl.tblPr.append(layout)
    for col, w in zip(table._tbl.tblGrid.findall(qn("w:gridCol")), widths_mm, strict=True):
        col.set(qn("w:w"), str(int(Mm(w).twips)))
    for row in table.rows:
        for cell, w in zip(row.cells, widths_mm, strict=True):
            cell.width = Mm(w)


def _first(cell: _Cell) -> Paragraph:
    """Reuse the empty paragraph a new cell starts with."""
    p: Paragraph = cell.paragraphs[0]
    p.paragraph_format.space_after = Pt(0)
    return p


def _cell_text(cell: _Cell, text: str, size: float = 13, bold: bool = False, center: bool = False) -> None:
    p = _first(cell)
    _font(p.add_run(text), size, bold)
    if center:
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER


def build() -> Any:
    doc = Document()
    normal = doc.styles["Normal"]
    _font(normal, 14)
    normal.paragraph_format.line_spacing = 1.15

    s = doc.sections[0]
    s.orientation = WD_ORIENT.PORTRAIT
    s.page_width, s.page_height = Mm(210), Mm(297)
    s.top_margin, s.bottom_margin = Mm(20), Mm(20)
    s.left_margin, s.right_margin = Mm(30), Mm(15)

    # Header: issuing body (left), national motto (right).
    head = doc.add_table(rows=1, cols=2)
    _no_borders(head)
    head.alignment = WD_TABLE_ALIGNMENT.CENTER
    _widths(head, (62, 103))
    left, right = head.rows[0].cells
    p = _first(left)
    _font(p.add_run("{{ issuer }}"), 13, bold=True)
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    para(left, "{{ body }}", 13, bold=True, underline=True, align=WD_ALIGN_PARAGRAPH.CENTER, after=6)
    para(left, "{{ number_line }}", 13, align=WD_ALIGN_PARAGRAPH.CENTER, after=0)
    p = _first(right)
    _font(p.add_run("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"), 13, bold=True)
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    para(right, "Độc lập - Tự do - Hạnh phúc", 14, bold=True, underline=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    para(right, "{{ place_date }}", 14, italic=True, align=WD_ALIGN_PARAGRAPH.CENTER, after=0)

    tag(doc, "{%p if draft %}")
    para(doc, "DỰ THẢO", 13, bold=True, align=WD_ALIGN_PARAGRAPH.LEFT, after=0)
    tag(doc, "{%p endif %}")
    para(doc, "{{ title }}", 14, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, after=0)
    para(doc, "{{ summary }}", 14, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, after=12)

    just = WD_ALIGN_PARAGRAPH.JUSTIFY
    para(doc, "{{ basis }}", align=just, indent=True)
    para(doc, "I. KẾT QUẢ THỰC HIỆN", bold=True, align=just, indent=True)
    para(doc, "{{ overview }}", align=just, indent=True)
    para(doc, "1. Kết quả thực hiện các nhiệm vụ của kế hoạch", bold=True, align=just, indent=True)

    headers = ("STT", "Nhiệm vụ", "Cơ quan chủ trì", "Kết quả", "Minh chứng", "Đánh giá")
    widths = (12, 36, 26, 32, 40, 19)
    t = doc.add_table(rows=4, cols=6)
    t.style = doc.styles["Table Grid"]
    t.alignment = WD_TABLE_ALIGNMENT.CENTER
    _widths(t, widths)
    for i, h in enumerate(headers):
        _cell_text(t.rows[0].cells[i], h, bold=True, center=True)
    _cell_text(t.rows[1].cells[0], "{%tr for r in rows %}")
    _cell_text(t.rows[2].cells[0], "{{ r.number }}", center=True)
    _cell_text(t.rows[2].cells[1], "{{ r.title }}")
    _cell_text(t.rows[2].cells[2], "{{ r.lead }}")
    _cell_text(t.rows[2].cells[3], "{{ r.result }}")
    ev = t.rows[2].cells[4]
    _cell_text(ev, "{%p for e in r.evidence %}")
    para(ev, "{{ e.text }}", 13, after=2)
    para(ev, "{%p endfor %}", 13, after=0)
    para(ev, "{%p if not r.evidence %}", 13, after=0)
    para(ev, "Chưa có minh chứng", 13, italic=True, after=0)
    para(ev, "{%p endif %}", 13, after=0)
    _cell_text(t.rows[2].cells[5], "{{ r.assessment }}", center=True)
    _cell_text(t.rows[3].cells[0], "{%tr endfor %}")
    para(doc, "", after=0)
    tag(doc, "{%p if heatmap %}")
    para(doc, "{{ heatmap }}", align=WD_ALIGN_PARAGRAPH.CENTER, after=0)
    para(doc, "{{ heatmap_caption }}", 12, italic=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    tag(doc, "{%p endif %}")

    para(doc, "2. Tổng hợp theo hình thức tuyên truyền", bold=True, align=just, indent=True)
    tag(doc, "{%p for label, count in totals %}")
    para(doc, "- {{ label }}: {{ count }}.", align=just, indent=True, after=0)
    tag(doc, "{%p endfor %}")
    tag(doc, "{%p if not totals %}")
    para(doc, "Chưa ghi nhận minh chứng nào trong kỳ.", align=just, indent=True)
    tag(doc, "{%p endif %}")

    para(doc, "II. TỒN TẠI, HẠN CHẾ", bold=True, align=just, indent=True)
    tag(doc, "{%p for s in shortfalls %}")
    para(doc, "{{ s.unit }}:", italic=True, align=just, indent=True, after=0)
    tag(doc, "{%p for item in s.items %}")
    para(doc, "- {{ item }}.", align=just, indent=True, after=0)
    tag(doc, "{%p endfor %}")
    tag(doc, "{%p endfor %}")
    tag(doc, "{%p if not shortfalls %}")
    para(doc, "Trong kỳ không có nhiệm vụ nào quá hạn hoặc không đạt.", align=just, indent=True)
    tag(doc, "{%p endif %}")

    para(doc, "III. PHƯƠNG HƯỚNG, NHIỆM VỤ {{ next_heading }}", bold=True, align=just, indent=True)
    tag(doc, "{%p for n in next_items %}")
    para(doc, "- {{ n.text }}.", align=just, indent=True, after=0)
    tag(doc, "{%p endfor %}")
    tag(doc, "{%p if not next_items %}")
    para(doc, "Không còn nhiệm vụ nào của kế hoạch đến hạn trong kỳ tới.", align=just, indent=True)
    tag(doc, "{%p endif %}")
    para(doc, "{{ closing }}", align=just, indent=True, after=12)

    # Signature block: recipients (left), authority and signer (right); signed by hand.
    foot = doc.add_table(rows=1, cols=2)
    _no_borders(foot)
    _widths(foot, (80, 85))
    left, right = foot.rows[0].cells
    p = _first(left)
    _font(p.add_run("Nơi nhận:"), 12, bold=True, italic=True)
    tag(left, "{%p for r in recipients %}")
    para(left, "{{ r }}", 11, after=0)
    tag(left, "{%p endfor %}")
    p = _first(right)
    _font(p.add_run("{{ signer_authority }}"), 14, bold=True)
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    para(right, "{{ signer_title }}", 14, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, after=72)
    para(right, "{{ signer_name }}", 14, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, after=0)
    return doc


def main() -> int:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else TARGET
    target.parent.mkdir(parents=True, exist_ok=True)
    build().save(str(target))
    print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
