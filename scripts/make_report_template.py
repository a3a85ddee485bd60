"""Build the report's Word template (cchc/app/report_templates/bao-cao.docx) in the NĐ 30/2020 layout.

The output is an ordinary .docx with Jinja2 tags (docxtpl): a clerk may open it in Word or
LibreOffice, restyle it and save it back, as long as the {{ }} / {% %} tags stay. Run again to
reset it: `python scripts/make_report_template.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _docx_template import _cell_text, _widths, bullets, header, page, para, signature, tag
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH

TARGET = Path(__file__).resolve().parent.parent / "cchc" / "app" / "report_templates" / "bao-cao.docx"


def build() -> Any:
    doc = page()
    header(doc, issuer_bold=True)

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
    bullets(doc, "label, count in totals", "- {{ label }}: {{ count }}.", "Chưa ghi nhận minh chứng nào trong kỳ.")

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
    bullets(doc, "n in next_items", "- {{ n.text }}.", "Không còn nhiệm vụ nào của kế hoạch đến hạn trong kỳ tới.")
    para(doc, "{{ closing }}", align=just, indent=True, after=12)

    signature(doc)
    return doc


def main() -> int:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else TARGET
    target.parent.mkdir(parents=True, exist_ok=True)
    build().save(str(target))
    print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
