"""What the report templates' builders share: fonts, paragraphs, tables, the NĐ 30/2020 page, header and signature.

Used by scripts/make_report_template.py (the commune's report) and scripts/make_province_template.py (the
province's summary report), so both documents keep one page, one header and one signature block.
"""

from __future__ import annotations

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


def page() -> Any:
    """A new document: A4 portrait, the NĐ 30/2020 margins, Times New Roman 14 as the normal style."""
    doc = Document()
    normal = doc.styles["Normal"]
    _font(normal, 14)
    normal.paragraph_format.line_spacing = 1.15

    s = doc.sections[0]
    s.orientation = WD_ORIENT.PORTRAIT
    s.page_width, s.page_height = Mm(210), Mm(297)
    s.top_margin, s.bottom_margin = Mm(20), Mm(20)
    s.left_margin, s.right_margin = Mm(30), Mm(15)
    return doc


def header(doc: Any, issuer_bold: bool) -> None:
    """Issuing body, its unit and the document number (left); national motto and place, date (right).

    The commune report sets the issuer (the superior body) in bold, the province's summary in regular weight.
    """
    head = doc.add_table(rows=1, cols=2)
    _no_borders(head)
    head.alignment = WD_TABLE_ALIGNMENT.CENTER
    _widths(head, (62, 103))
    left, right = head.rows[0].cells
    p = _first(left)
    _font(p.add_run("{{ issuer }}"), 13, bold=issuer_bold)
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    para(left, "{{ body }}", 13, bold=True, underline=True, align=WD_ALIGN_PARAGRAPH.CENTER, after=6)
    para(left, "{{ number_line }}", 13, align=WD_ALIGN_PARAGRAPH.CENTER, after=0)
    p = _first(right)
    _font(p.add_run("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"), 13, bold=True)
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    para(right, "Độc lập - Tự do - Hạnh phúc", 14, bold=True, underline=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    para(right, "{{ place_date }}", 14, italic=True, align=WD_ALIGN_PARAGRAPH.CENTER, after=0)


def signature(doc: Any) -> None:
    """Recipients (left), authority and signer (right); signed by hand."""
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


def bullets(doc: Any, loop: str, line: str, empty: str | None = None) -> None:
    """One justified line per element of a docxtpl loop (`loop` like "n in next_items"); `empty` in its place when
    the list is empty."""
    just = WD_ALIGN_PARAGRAPH.JUSTIFY
    tag(doc, "{%p for " + loop + " %}")
    para(doc, line, align=just, indent=True, after=0)
    tag(doc, "{%p endfor %}")
    if empty is not None:
        tag(doc, "{%p if not " + loop.rsplit(" in ", 1)[1] + " %}")
        para(doc, empty, align=just, indent=True)
        tag(doc, "{%p endif %}")
