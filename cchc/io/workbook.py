"""A plan as a workbook (.xlsx) and back: the coordinator edits her plan in the spreadsheet she already uses.

The first sheet mirrors the plan's appendix ("Danh mục nhiệm vụ"): one row per duty, the plan's own columns
first (STT, Nhiệm vụ, Cơ quan chủ trì, Cơ quan phối hợp, Thời gian thực hiện, Sản phẩm), then the columns the
system needs. Every other part of the spec has a sheet of its own, so export → import is lossless over the
whole model, and a blank cell means "not set" (the model's default), which keeps the written YAML short.

Import reads every cell, collects every problem (sheet!cell, the column, what to do) and builds the spec
through the same pydantic model as the YAML loader: a workbook is either a whole valid plan or a list of
errors, never half of one.
"""

from __future__ import annotations

import datetime as dt
import difflib
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import Cell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from pydantic import ValidationError

from cchc.core.labels import ACTION_VI, CADENCE_VI, CHANNEL_VI, EVIDENCE_KIND_VI
from cchc.core.loader import _explain
from cchc.core.spec import DEFAULT_LADDER, Plan
from cchc.core.spec_dump import spec_data

TEMPLATE = "cchc-plan-workbook"
TEMPLATE_VERSION = 1
MAX_BYTES = 10 * 1024 * 1024  # a real plan's workbook is ~35 KB
MAX_UNPACKED = 50 * 1024 * 1024  # ~160 KB for a real plan; openpyxl holds a sheet in memory
MAX_ROWS = 2000  # a commune has 10–60 duties

Loc = tuple[str | int, ...]
Kind = Literal["text", "int", "float", "date", "time", "ids", "labels", "lines", "choice", "month"]

# ------------------------------------------------------------------------------------------------ words

KIND_VI = {
    "quota": "chỉ tiêu số lượng",
    "deadline": "có thời hạn",
    "continuous": "thường xuyên",
    "report": "báo cáo",
}
ROLE_VI = {
    "coordinator": "cơ quan thường trực",
    "lead": "đơn vị thực hiện",
    "leader": "lãnh đạo",
    "external": "nơi nhận bên ngoài",
}
REPORT_CADENCE_VI = {k: CADENCE_VI[k] for k in ("quarter", "half", "year")}
SIGNING_VI = {"required": "có", "none": "không"}  # Report.signing: signed (or e-office) before it goes out
LADDER_ACTION_VI = {
    "reminder": ACTION_VI["reminder"].lower(),
    "progress": ACTION_VI["progress"].lower(),
    "overdue": ACTION_VI["overdue"].lower(),
    "escalation": ACTION_VI["escalation"].lower(),
    "none": "không nhắc việc",  # a row that says the ladder is empty on purpose
}
AUDIENCE_VI = {
    "lead": "đơn vị chủ trì",
    "coordinator": "cơ quan thường trực",
    "leader": "lãnh đạo",
    "support": "đơn vị phối hợp",
}
SOURCE_TYPE_VI = {"feed": "nguồn tin RSS/Atom", "page": "trang danh sách"}
WORKING_VI = {"true": "làm việc bù", "false": "nghỉ thêm"}
ASPECT_VI = {"cadence": "chu kỳ", "count": "số lượng", "due": "hạn"}
MONTH_VI = {"last": "tháng cuối", "next": "tháng sau"}
CHANNEL_WORDS = {c.value: w for c, w in CHANNEL_VI.items()}
NONE_WORD = "không"  # a field whose default is a value, set to nothing on purpose (e.g. no data cut-off day)

# ----------------------------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class WorkbookIssue:
    """One problem of a workbook, where a person finds it: the sheet, the cell, the column, what to do."""

    sheet: str
    cell: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.sheet}!{self.cell}" if self.sheet and self.cell else self.sheet or "Tệp"
        return f"{where}: {self.message}"


class WorkbookError(Exception):
    """Every problem found in a workbook; nothing was built from it."""

    def __init__(self, issues: Sequence[WorkbookIssue]):
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


# ---------------------------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Column:
    header: str
    key: str  # dotted path inside one item of the spec ("requirement.min_count"); "" for a column not read
    kind: Kind = "text"
    width: int = 14
    required: bool = False
    choices: Mapping[str, str] | None = None  # code → the Vietnamese word shown
    dropdown: str | None = None  # a list formula for the cell's drop-down
    strict: bool = True  # the drop-down refuses other values (False where a cell may hold several)
    none_word: bool = False  # NONE_WORD stands for an explicit null
    wrap: bool = False
    help: str = ""

    @property
    def noun(self) -> str:
        return self.header[0].lower() + self.header[1:]


def _lists_ref(col: str, n: int) -> str:
    return f"'_cchc'!${col}$2:${col}${n + 1}"


UNIT_IDS = "'Đơn vị'!$A$2:$A$500"
REPORT_IDS = "'Báo cáo'!$A$2:$A$200"
DUTY_IDS = "'Nhiệm vụ'!$J$2:$J$2000"

# The lists the drop-downs offer, in the hidden sheet '_cchc' (column → words).
DROPDOWN_LISTS: dict[str, Mapping[str, str]] = {
    "D": KIND_VI,
    "E": CADENCE_VI,
    "F": ROLE_VI,
    "G": REPORT_CADENCE_VI,
    "H": LADDER_ACTION_VI,
    "I": SOURCE_TYPE_VI,
    "J": EVIDENCE_KIND_VI,
    "K": WORKING_VI,
    "L": ASPECT_VI,
    "M": MONTH_VI,
}


def _dd(col: str) -> str:
    return _lists_ref(col, len(DROPDOWN_LISTS[col]))


BASIS_COLUMNS = (
    Column(
        "Căn cứ: mục kế hoạch",
        "basis.plan",
        width=18,
        wrap=True,
        help="Mục của kế hoạch quy định chu kỳ, số lượng, hạn.",
    ),
    Column("Căn cứ: trích dẫn", "basis.quote", width=28, wrap=True, help="Trích ngắn lời văn của kế hoạch."),
    Column("Giả định", "basis.assumed", width=40, wrap=True, help="Khi kế hoạch không quy định: vì sao đặt như vậy."),
    Column("Chế độ báo cáo (giả định)", "basis.regime", width=24, wrap=True),
    Column("Xác nhận giả định", "basis.confirmed", width=20, wrap=True, help="Ai, ngày nào, vì sao xác nhận."),
)

DUTY_COLUMNS = (
    Column("STT", "number", width=6, help="Số thứ tự như kế hoạch ghi (giữ nguyên, kể cả khi nhảy số)."),
    Column("Nhiệm vụ", "title", width=48, required=True, wrap=True),
    Column(
        "Cơ quan chủ trì",
        "leads",
        "ids",
        width=18,
        required=True,
        dropdown=UNIT_IDS,
        strict=False,
        wrap=True,
        help="Mã đơn vị (sheet Đơn vị). Nhiều đơn vị cùng chủ trì: cách nhau bằng dấu phẩy, đơn vị đầu là chủ trì chính.",
    ),
    Column("Cơ quan phối hợp", "support", "ids", width=18, wrap=True, help="Mã đơn vị, cách nhau bằng dấu phẩy."),
    Column("Thời gian thực hiện", "timing", width=18, wrap=True),
    Column("Sản phẩm", "products", "lines", width=22, wrap=True, help="Mỗi sản phẩm một dòng trong ô (Alt+Enter)."),
    Column("Nội dung", "content", width=60, wrap=True),
    Column("Phối hợp (như kế hoạch ghi)", "support_text", width=24, wrap=True),
    Column(
        "Vị trí trong kế hoạch", "source", width=18, required=True, wrap=True, help="Vd. 'Phụ lục, STT 1' hoặc 'IV.2'."
    ),
    Column("Mã nhiệm vụ", "id", width=26, required=True, help="Chữ thường không dấu, số, gạch nối; duy nhất."),
    Column("Loại nhiệm vụ", "kind", "choice", width=16, required=True, choices=KIND_VI, dropdown=_dd("D")),
    Column("Chu kỳ", "cadence", "choice", width=14, required=True, choices=CADENCE_VI, dropdown=_dd("E")),
    Column("Chỉ các kỳ", "only", "ids", width=14, help="Vd. 2025-Q3, 2025-Q4; trống là mọi kỳ."),
    Column(
        "Loại minh chứng",
        "requirement.evidence",
        "labels",
        width=24,
        wrap=True,
        choices=EVIDENCE_KIND_VI,
        dropdown=_dd("J"),
        strict=False,
        help="Một hoặc nhiều, cách nhau bằng dấu chấm phẩy; trống với nhiệm vụ báo cáo.",
    ),
    Column("Số lượng tối thiểu", "requirement.min_count", "int", width=10, help="Mỗi kỳ; trống là 1."),
    Column("Từ ngày", "window.start", "date", width=12, help="Chỉ với chu kỳ 'một lần'."),
    Column("Đến hết ngày", "window.due", "date", width=12, help="Chỉ với chu kỳ 'một lần'."),
    Column(
        "Hạn: tháng trong kỳ",
        "due.in_month",
        "month",
        width=12,
        dropdown=_dd("M"),
        strict=False,
        help="Tháng thứ mấy của kỳ (1, 2, …), 'tháng cuối' hoặc 'tháng sau'; trống là tháng cuối.",
    ),
    Column("Hạn: ngày", "due.day", "int", width=9, help="Ngày cuối cùng còn tính (trước ngày 06 là 5)."),
    Column("Kênh", "channels", "labels", width=24, choices=CHANNEL_WORDS, wrap=True),
    Column("Báo cáo tổng hợp", "for_report", width=16, dropdown=REPORT_IDS, help="Mã báo cáo (sheet Báo cáo)."),
    *BASIS_COLUMNS,
    Column(
        "Tên ngắn", "short_title", width=28, help="≤ 40 ký tự, phần phân biệt đứng trước: tên trong danh sách Prefect."
    ),
)

UNIT_COLUMNS = (
    Column("Mã đơn vị", "id", width=16, required=True),
    Column("Tên đơn vị", "name", width=50, required=True, wrap=True),
    Column("Vai trò", "role", "choice", width=20, required=True, choices=ROLE_VI, dropdown=_dd("F")),
    Column("Email", "emails", "ids", width=32, wrap=True, help="Cách nhau bằng dấu phẩy."),
    Column("Người phụ trách", "person", width=20),
    Column("Chức vụ", "title", width=18),
)

REPORT_COLUMNS = (
    Column("Mã báo cáo", "id", width=18, required=True),
    Column("Tên báo cáo", "title", width=44, required=True, wrap=True),
    Column("Chu kỳ", "cadence", "choice", width=14, required=True, choices=REPORT_CADENCE_VI, dropdown=_dd("G")),
    Column("Hạn: tháng trong kỳ", "due.in_month", "month", width=12, dropdown=_dd("M"), strict=False),
    Column("Hạn: ngày", "due.day", "int", width=9),
    Column("Chỉ các kỳ", "only", "ids", width=14),
    Column("Vị trí trong kế hoạch", "source", width=22, required=True, wrap=True),
    Column("Đơn vị tổng hợp", "compiler", width=16, required=True, dropdown=UNIT_IDS),
    Column("Thẩm quyền ký", "signer.authority", width=18, required=True),
    Column("Chức vụ người ký", "signer.title", width=18, required=True),
    Column("Người ký", "signer.name", width=20),
    Column("Lập dự thảo trước hạn (ngày làm việc)", "draft_working_days", "int", width=12, help="Trống là 5."),
    Column(
        "Số liệu tính đến ngày",
        "cutoff_day",
        "int",
        width=10,
        none_word=True,
        help=f"Ngày của tháng cuối kỳ; trống là 14; '{NONE_WORD}' là không chốt số liệu.",
    ),
    Column("Dùng chung văn bản cho", "serves", "ids", width=18, help="Mã các báo cáo trùng kỳ và hạn."),
    *BASIS_COLUMNS,
    Column(
        "Tên ngắn", "short_title", width=28, help="≤ 40 ký tự, phần phân biệt đứng trước: tên trong danh sách Prefect."
    ),
    Column(
        "Ký trước khi gửi",
        "signing",
        "choice",
        width=12,
        choices=SIGNING_VI,
        help="Trống hoặc 'có': duyệt xong gửi bản Word, PDF để trình ký; 'không': gửi ngay khi duyệt.",
    ),
)

RECIPIENT_COLUMNS = (
    Column("Mã báo cáo", "report", width=18, required=True, dropdown=REPORT_IDS),
    Column("Nơi nhận", "name", width=44, required=True, wrap=True),
    Column("Đơn vị", "unit", width=16, dropdown=UNIT_IDS),
    Column("Email", "emails", "ids", width=32),
)

ASPECT_COLUMNS = (
    Column("Mã nhiệm vụ / báo cáo", "item", width=24, required=True),
    Column("Khía cạnh", "aspect", "choice", width=12, required=True, choices=ASPECT_VI, dropdown=_dd("L")),
    Column("Mục kế hoạch", "plan", width=18, wrap=True),
    Column("Trích dẫn", "quote", width=36, wrap=True),
    Column("Giả định", "assumed", width=50, wrap=True),
    Column("Chế độ báo cáo (giả định)", "regime", width=30, wrap=True),
    Column("Xác nhận giả định", "confirmed", width=24, wrap=True),
)

LADDER_COLUMNS = (
    Column("Áp dụng cho", "scope", width=22, help="Trống: cả kế hoạch; mã nhiệm vụ: thang riêng của nhiệm vụ đó."),
    Column("Bước", "step", width=14, help="Tên bước, duy nhất trong thang (vd. reminder-1)."),
    Column("Hành động", "action", "choice", width=18, required=True, choices=LADDER_ACTION_VI, dropdown=_dd("H")),
    Column("Số ngày làm việc", "working_days", "int", width=10, help="Trước hạn (nhắc hạn) hoặc sau hạn."),
    Column("Sau ngày của tháng", "after_day", "int", width=10, help="Với nhắc tiến độ."),
    Column("Gửi đến", "to", "labels", width=22, choices=AUDIENCE_VI),
    Column("Đồng gửi (CC)", "cc", "labels", width=22, choices=AUDIENCE_VI),
    Column(
        "Không gửi bước trễ quá (ngày)",
        "stale_after_days",
        "int",
        width=12,
        help="Giống nhau ở mọi dòng của một thang; trống là 2.",
    ),
)

SOURCE_COLUMNS = (
    Column("Mã nhiệm vụ", "duty", width=22, required=True, dropdown=DUTY_IDS),
    Column("Loại nguồn", "type", "choice", width=18, required=True, choices=SOURCE_TYPE_VI, dropdown=_dd("I")),
    Column("Địa chỉ", "url", width=40, required=True),
    Column("Tên nguồn", "name", width=22),
    Column("Mục (CSS)", "items", width=16),
    Column("Liên kết (CSS)", "link", width=12),
    Column("Tiêu đề (CSS)", "title", width=12),
    Column("Ngày (CSS)", "date", width=12),
    Column("Từ khóa", "keywords", "lines", width=26, wrap=True, help="Mỗi từ khóa một dòng trong ô."),
    Column("Loại minh chứng", "kind", "choice", width=18, choices=EVIDENCE_KIND_VI, dropdown=_dd("J")),
    Column("Đơn vị ghi nhận", "unit", width=16, dropdown=UNIT_IDS),
    Column("Máy chủ được phép", "allow_hosts", "ids", width=20),
)

CALENDAR_COLUMNS = (
    Column("Ngày", "date", "date", width=12, required=True),
    Column("Thay đổi", "working", "choice", width=14, required=True, choices=WORKING_VI, dropdown=_dd("K")),
    Column("Văn bản quyết định", "reason", width=60, required=True, wrap=True),
)

LEGAL_COLUMNS = (
    Column("STT", "", width=6),
    Column("Văn bản", "text", width=110, required=True, wrap=True),
)

HEADER_FIELDS = (
    Column("Mã kế hoạch", "id", required=True, help="Chữ thường không dấu, số, gạch nối; cũng là tên tệp YAML."),
    Column("Tên kế hoạch", "title", required=True),
    Column("Số kế hoạch", "number", help="Vd. 481/KH-UBND; trống với bản dự thảo."),
    Column("Ngày ban hành", "issued_on", "date"),
    Column("Ngày hiệu lực", "effective_from", "date", help="Khi khác ngày ban hành hoặc kế hoạch không ghi ngày."),
    Column("Căn cứ ngày hiệu lực", "effective_note"),
    Column("Xác nhận ngày hiệu lực", "effective_confirmed"),
    Column("Ngày sửa đổi có hiệu lực", "amended_on", "date"),
    Column("Văn bản sửa đổi", "amendment_note"),
    Column("Cơ quan ban hành", "issuer", required=True),
    Column("Tên xã", "commune.name", required=True),
    Column("Tỉnh/thành phố", "commune.province", required=True),
    Column("Mã xã", "commune.code", "int", required=True, help="Theo danh mục hành chính 2025."),
    Column("Từ ngày", "period.start", "date", required=True),
    Column("Đến ngày", "period.end", "date", required=True),
    Column("Múi giờ", "timezone"),
    Column("Giờ chạy hằng ngày", "run_time", "time", help="HH:MM; trống là 08:00."),
    Column("Tỷ lệ kỳ tối thiểu còn lại", "partial_period_share", "float", help="Trống là 0,5."),
    Column("Báo cáo đơn vị trước hạn tổng hợp (ngày làm việc)", "unit_report_working_days", "int", help="Trống là 3."),
)
HEADER_KEYS = {c.key: c for c in HEADER_FIELDS}


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[Column, ...]
    freeze: str = "A2"


DUTIES = Table("Nhiệm vụ", DUTY_COLUMNS, freeze="C2")
UNITS = Table("Đơn vị", UNIT_COLUMNS)
REPORTS = Table("Báo cáo", REPORT_COLUMNS, freeze="C2")
RECIPIENTS = Table("Nơi nhận", RECIPIENT_COLUMNS)
ASPECTS = Table("Căn cứ theo khía cạnh", ASPECT_COLUMNS)
LADDER = Table("Thang nhắc việc", LADDER_COLUMNS)
SOURCES = Table("Nguồn minh chứng", SOURCE_COLUMNS)
CALENDAR = Table("Lịch làm việc", CALENDAR_COLUMNS)
LEGAL = Table("Căn cứ pháp lý", LEGAL_COLUMNS)
HEADER_SHEET = "Kế hoạch"
HEADER_HEADERS = ("Mục", "Giá trị", "Khóa")
TABLES = (DUTIES, UNITS, REPORTS, RECIPIENTS, ASPECTS, LADDER, SOURCES, CALENDAR, LEGAL)
HELP_SHEET = "Hướng dẫn"
META_SHEET = "_cchc"

HELP_TEXT = (
    "Bảng tính kế hoạch tuyên truyền cải cách hành chính (cchc).",
    "",
    "Sheet 'Nhiệm vụ' là danh mục nhiệm vụ của kế hoạch: mỗi dòng một nhiệm vụ. Các cột đầu như phụ lục của "
    "kế hoạch; các cột sau là thông tin hệ thống cần để nhắc việc và đánh giá.",
    "Sheet 'Kế hoạch': số, ngày, xã, kỳ kế hoạch. 'Đơn vị': mã, tên, vai trò, email. 'Báo cáo' và 'Nơi nhận': "
    "báo cáo định kỳ của xã. 'Căn cứ theo khía cạnh': căn cứ riêng của chu kỳ, số lượng hoặc hạn. "
    "'Thang nhắc việc', 'Nguồn minh chứng', 'Lịch làm việc', 'Căn cứ pháp lý': phần còn lại của kế hoạch.",
    "",
    "Quy tắc: không di chuyển, xoá hay đổi tên cột; không gộp ô; chỉ nhập giá trị, không dùng công thức; "
    "ngày viết dạng ngày/tháng/năm (vd. 15/03/2025); ô để trống là dùng mặc định.",
    "Đơn vị được nêu ở các sheet khác bằng mã đơn vị (cột A của sheet 'Đơn vị').",
    "",
    "Nạp lại: cchc plan import TỆP.xlsx --xlsx. Nếu có lỗi, hệ thống liệt kê mọi ô cần sửa và không ghi gì.",
)

# ----------------------------------------------------------------------------------------------- export

_HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")
_HEAD_FONT = Font(bold=True)
_DATE_FORMAT = "DD/MM/YYYY"


def _flatten(item: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in item.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{key}."))
        else:
            out[key] = v
    return out


def _cell_value(col: Column, value: Any) -> Any:
    if value is None:
        return NONE_WORD if col.none_word else None
    if col.kind in ("ids",):
        return ", ".join(str(v) for v in value) or None
    if col.kind == "labels":
        assert col.choices is not None
        return "; ".join(col.choices[str(v)] for v in value) or None
    if col.kind == "lines":
        return "\n".join(str(v) for v in value) or None
    if col.kind == "choice":
        assert col.choices is not None
        return col.choices[str(value).lower() if isinstance(value, bool) else str(value)]
    if col.kind == "month":
        return MONTH_VI.get(value, value) if isinstance(value, str) else value
    if col.kind == "time" and isinstance(value, dt.time):
        return value.strftime("%H:%M:%S" if value.second else "%H:%M")
    return value


def _put(ws: Worksheet, row: int, column: int, col: Column, value: Any) -> None:
    cell = ws.cell(row=row, column=column)
    cell.value = _cell_value(col, value)
    if isinstance(cell.value, str):
        cell.data_type = "s"  # text that starts with '=' stays text, not a formula
        cell.number_format = "@"
    elif isinstance(cell.value, dt.date):
        cell.number_format = _DATE_FORMAT
    if col.wrap or (isinstance(cell.value, str) and "\n" in cell.value):
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    else:
        cell.alignment = Alignment(vertical="top")


def _head(ws: Worksheet, columns: Sequence[Column], freeze: str) -> None:
    for j, col in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=j, value=col.header)
        cell.font = _HEAD_FONT
        cell.fill = _HEAD_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
        if col.help:
            cell.comment = Comment(col.help, "cchc")
        ws.column_dimensions[get_column_letter(j)].width = col.width
    ws.freeze_panes = freeze
    ws.row_dimensions[1].height = 32


def _validations(ws: Worksheet, columns: Sequence[Column]) -> None:
    for j, col in enumerate(columns, start=1):
        if col.dropdown is None:
            continue
        dv = DataValidation(type="list", formula1=col.dropdown, allow_blank=True)
        dv.showErrorMessage = col.strict
        dv.errorTitle = "Giá trị không có trong danh sách"
        dv.error = f"Chọn {col.noun} trong danh sách."
        letter = get_column_letter(j)
        dv.add(f"{letter}2:{letter}{MAX_ROWS}")
        ws.add_data_validation(dv)


def fit_row_heights(ws: Worksheet, only: set[str] | None = None) -> None:
    """Row heights that show wrapped text whole (spreadsheets do not always grow a row when they open a file).

    An estimate from the text's length and the column's width; ``only`` limits it to these column letters.
    """
    for r in range(2, ws.max_row + 1):
        lines = 1
        for j in range(1, ws.max_column + 1):
            cell = ws.cell(row=r, column=j)
            letter = get_column_letter(j)
            if cell.value is None or (only is not None and letter not in only):
                continue
            width = ws.column_dimensions[letter].width or 10
            per_line = max(int(width * 1.15), 1)
            text = str(cell.value)
            lines = max(lines, sum(max(1, -(-len(part) // per_line)) for part in text.split("\n")))
        ws.row_dimensions[r].height = min(15 * lines, 400)


def _table(wb: Workbook, table: Table, rows: Iterable[Mapping[str, Any]]) -> None:
    ws = wb.create_sheet(table.title)
    _head(ws, table.columns, table.freeze)
    for i, item in enumerate(rows, start=2):
        flat = _flatten(item)
        for j, col in enumerate(table.columns, start=1):
            if col.key and col.key in flat:
                _put(ws, i, j, col, flat[col.key])
    _validations(ws, table.columns)
    fit_row_heights(ws)


def _basis_parts(basis: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[tuple[str, Mapping[str, Any]]]]:
    """A rule basis split into its top-level part (the row's columns) and its per-aspect parts (their sheet)."""
    if not basis:
        return {}, []
    top = {k: v for k, v in basis.items() if k not in ASPECT_VI}
    aspects = [(a, basis[a]) for a in ASPECT_VI if basis.get(a) is not None]
    return top, aspects


def _plain_lists(step: Mapping[str, Any]) -> dict[str, Any]:
    """A ladder step with tuples as lists, as a step read from the sheet has them (to compare the two)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in step.items()}


def _ladder_rows(scope: str, escalation: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    esc = dict(escalation or {})
    steps: list[Mapping[str, Any]] = list(
        esc["ladder"] if "ladder" in esc else [s.model_dump(exclude_unset=True) for s in DEFAULT_LADDER]
    )
    extra = {"scope": scope, "stale_after_days": esc.get("stale_after_days")}
    if not steps:
        return [{**extra, "action": "none"}]
    return [{**extra, **step} for step in steps]


def export_workbook(spec: Plan) -> Workbook:
    """The plan as a workbook: the duties sheet first (the plan's appendix), then the rest of the spec."""
    data = spec_data(spec)
    wb = Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]

    duties: list[dict[str, Any]] = []
    aspect_rows: list[dict[str, Any]] = []
    ladder_rows = _ladder_rows("", data.get("escalation"))
    source_rows: list[dict[str, Any]] = []
    for d in data["duties"]:
        row = {k: v for k, v in d.items() if k not in ("basis", "escalation", "sources", "lead", "co_leads")}
        row["leads"] = [d["lead"], *d.get("co_leads", ())]
        top, aspects = _basis_parts(d.get("basis"))
        if "basis" in d:
            row["basis"] = top
        aspect_rows += [{"item": d["id"], "aspect": a, **b} for a, b in aspects]
        if "escalation" in d:
            ladder_rows += _ladder_rows(d["id"], d["escalation"])
        source_rows += [{"duty": d["id"], **s} for s in d.get("sources", ())]
        duties.append(row)
    reports: list[dict[str, Any]] = []
    recipients: list[dict[str, Any]] = []
    for r in data.get("reports", ()):
        row = {k: v for k, v in r.items() if k not in ("basis", "recipients")}
        top, aspects = _basis_parts(r.get("basis"))
        if "basis" in r:
            row["basis"] = top
        aspect_rows += [{"item": r["id"], "aspect": a, **b} for a, b in aspects]
        recipients += [{"report": r["id"], **rc} for rc in r["recipients"]]
        reports.append(row)

    _table(wb, DUTIES, duties)
    header = wb.create_sheet(HEADER_SHEET, 1)
    _head(header, (Column("Mục", "", width=44), Column("Giá trị", "", width=90), Column("Khóa", "", width=28)), "A2")
    flat = _flatten({k: v for k, v in data.items() if k in ("commune", "period") or "." not in k})
    for i, col in enumerate(HEADER_FIELDS, start=2):
        name = header.cell(row=i, column=1, value=col.header)
        name.font = Font(bold=col.required)
        if col.help:
            name.comment = Comment(col.help, "cchc")
        if col.key in flat:
            _put(header, i, 2, Column(col.header, col.key, col.kind, wrap=True), flat[col.key])
        header.cell(row=i, column=3, value=col.key).font = Font(color="808080")
    _table(wb, UNITS, data["units"])
    _table(wb, REPORTS, reports)
    _table(wb, RECIPIENTS, recipients)
    _table(wb, ASPECTS, aspect_rows)
    _table(wb, LADDER, ladder_rows)
    _table(wb, SOURCES, source_rows)
    _table(wb, CALENDAR, data.get("calendar", ()))
    _table(wb, LEGAL, [{"text": t} for t in data.get("legal_bases", ())])
    legal = wb[LEGAL.title]
    for i in range(2, legal.max_row + 1):
        legal.cell(row=i, column=1, value=i - 1)

    guide = wb.create_sheet(HELP_SHEET)
    guide.column_dimensions["A"].width = 120
    for i, line in enumerate(HELP_TEXT, start=1):
        guide.cell(row=i, column=1, value=line).alignment = Alignment(wrap_text=True)
    guide["A1"].font = Font(bold=True, size=13)

    meta = wb.create_sheet(META_SHEET)
    meta["A1"], meta["B1"] = "template", TEMPLATE
    meta["A2"], meta["B2"] = "version", TEMPLATE_VERSION
    for col_letter, words in DROPDOWN_LISTS.items():
        meta[f"{col_letter}1"] = col_letter
        for i, word in enumerate(words.values(), start=2):
            meta[f"{col_letter}{i}"] = word
    meta.sheet_state = "hidden"
    wb.active = 0
    return wb


def export_bytes(spec: Plan) -> bytes:
    buf = io.BytesIO()
    export_workbook(spec).save(buf)
    return buf.getvalue()


# ----------------------------------------------------------------------------------------------- import


def _norm(word: str) -> str:
    return " ".join(unicodedata.normalize("NFC", word).casefold().split())


_DATE_TEXT = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


class _CellProblem(Exception):
    pass


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _parse_date(raw: Any) -> dt.date:
    if isinstance(raw, dt.datetime):
        if raw.time() != dt.time(0):
            raise _CellProblem(f"'{raw}' có cả giờ; chỉ nhập ngày (ngày/tháng/năm)")
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    text = _text(raw).strip()
    m = _DATE_TEXT.match(text)
    iso = _ISO_DATE.match(text)
    if m:
        day, month, year = int(m[1]), int(m[2]), int(m[3])
    elif iso:
        year, month, day = int(iso[1]), int(iso[2]), int(iso[3])
    else:
        raise _CellProblem(f"'{text}' không phải ngày; viết dạng ngày/tháng/năm, vd. 15/03/2025")
    if not 1 <= month <= 12:
        raise _CellProblem(
            f"'{text}' không phải ngày hợp lệ (không có tháng {month}); viết dạng ngày/tháng/năm, vd. 15/03/2025"
        )
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise _CellProblem(
            f"'{text}' không phải ngày hợp lệ (tháng {month}/{year} không có ngày {day}); "
            "viết dạng ngày/tháng/năm, vd. 15/03/2025"
        ) from None


def _parse_int(raw: Any, col: Column) -> int:
    if isinstance(raw, bool):
        raise _CellProblem(f"'{raw}' không phải số nguyên; nhập một số, vd. 3")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    text = _text(raw).strip()
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    raise _CellProblem(f"'{text}' không phải số nguyên; nhập {col.noun} bằng một số, vd. 3")


def _parse_float(raw: Any) -> float:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    text = _text(raw).strip().replace(",", ".")
    try:
        return float(text)
    except ValueError:
        raise _CellProblem(f"'{text}' không phải số; nhập một số, vd. 0,5") from None


def _choice(word: str, col: Column) -> str:
    assert col.choices is not None
    by_word = {_norm(w): code for code, w in col.choices.items()}
    by_code = {_norm(code): code for code in col.choices}
    key = _norm(word)
    if key in by_word:
        return by_word[key]
    if key in by_code:  # the code itself ('quarter') is accepted too
        return by_code[key]
    words = list(col.choices.values())
    close = difflib.get_close_matches(word.strip(), words, n=1, cutoff=0.5)
    hint = f" (có phải '{close[0]}'?)" if close else ""
    return _raise(f"'{word.strip()}' không phải {col.noun} hợp lệ{hint}; chọn một trong: {', '.join(words)}")


def _raise(message: str) -> str:
    raise _CellProblem(message)


def _split(text: str, separators: str) -> list[str]:
    return [p.strip() for p in re.split(f"[{separators}]", text) if p.strip()]


def _parse(raw: Any, col: Column) -> Any:
    """A cell's value as the spec wants it; raises _CellProblem with the Vietnamese reason."""
    if col.none_word and isinstance(raw, str) and _norm(raw) == NONE_WORD:
        return None
    match col.kind:
        case "text":
            return _text(raw) if not isinstance(raw, dt.date) else raw.strftime("%d/%m/%Y")
        case "int":
            return _parse_int(raw, col)
        case "float":
            return _parse_float(raw)
        case "date":
            return _parse_date(raw)
        case "time":
            if isinstance(raw, dt.time):
                return raw.strftime("%H:%M:%S" if raw.second else "%H:%M")
            text = _text(raw).strip()
            if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?", text):
                raise _CellProblem(f"'{text}' không phải giờ; viết dạng giờ:phút, vd. 08:00")
            return text
        case "ids":
            return _split(_text(raw), ",;\n")
        case "lines":
            return _split(_text(raw), "\n")
        case "labels":
            return [_choice(p, col) for p in _split(_text(raw), ";\n")]
        case "choice":
            return _choice(_text(raw), col)
        case "month":
            if isinstance(raw, str) and _norm(raw) in {_norm(w) for w in MONTH_VI.values()} | set(MONTH_VI):
                return next(c for c, w in MONTH_VI.items() if _norm(raw) in (_norm(w), c))
            month = _parse_int(raw, col)
            if not 1 <= month <= 12:
                raise _CellProblem(f"'{raw}' không phải tháng trong kỳ; nhập 1–12, 'tháng cuối' hoặc 'tháng sau'")
            return month
    raise AssertionError(col.kind)


def _set(target: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for p in parts[:-1]:
        target = target.setdefault(p, {})
    target[parts[-1]] = value


@dataclass
class _Row:
    number: int
    values: dict[str, Any]  # column key → parsed value (only cells that hold something and parsed)
    cells: dict[str, str]  # column key → cell reference ("E7")
    bad: set[str] = field(default_factory=set)  # column keys whose cell was refused


@dataclass
class _Reader:
    issues: list[WorkbookIssue] = field(default_factory=list)
    where: dict[Loc, tuple[str, str, str]] = field(default_factory=dict)  # spec path → (sheet, cell, column)
    bad: set[Loc] = field(default_factory=set)  # spec paths whose cell was already reported

    def problem(self, sheet: str, cell: str, column: str, message: str) -> None:
        self.issues.append(WorkbookIssue(sheet, cell, column, message))

    def cell_problems(self, ws: Worksheet) -> None:
        for rng in ws.merged_cells.ranges:
            self.problem(
                ws.title,
                rng.coord,
                "",
                f"ô gộp {rng.coord}; bỏ gộp ô (Merge → Unmerge) và điền giá trị vào từng ô",
            )

    def rows(self, wb: Workbook, table: Table) -> list[_Row]:
        if table.title not in wb.sheetnames:
            self.problem(table.title, "", "", f"thiếu sheet '{table.title}'; xuất lại mẫu bằng 'cchc plan export'")
            return []
        ws = wb[table.title]
        self.cell_problems(ws)
        if not self._headers(ws, [c.header for c in table.columns]):
            return []
        if ws.max_row > MAX_ROWS:
            self.problem(ws.title, f"A{MAX_ROWS + 1}", "", f"sheet có hơn {MAX_ROWS} dòng; xoá các dòng thừa")
            return []
        out: list[_Row] = []
        for r in range(2, ws.max_row + 1):
            row = self._row(ws, r, table.columns)
            if row is not None:
                out.append(row)
        return out

    def _headers(self, ws: Worksheet, expected: Sequence[str]) -> bool:
        ok = True
        found = [ws.cell(row=1, column=j).value for j in range(1, max(ws.max_column, len(expected)) + 1)]
        for j, want in enumerate(expected, start=1):
            got = found[j - 1]
            if got is None or _norm(str(got)) != _norm(want):
                letter = get_column_letter(j)
                elsewhere = [
                    get_column_letter(k + 1)
                    for k, v in enumerate(found)
                    if v is not None and _norm(str(v)) == _norm(want)
                ]
                moved = f" (cột này đang ở {elsewhere[0]}1)" if elsewhere else ""
                self.problem(
                    ws.title,
                    f"{letter}1",
                    want,
                    f"cột {letter} phải là '{want}', thấy '{got or ''}'{moved}; không di chuyển, xoá hay đổi tên "
                    "cột: trả cột về chỗ cũ hoặc xuất lại mẫu bằng 'cchc plan export'",
                )
                ok = False
        for k in range(len(expected), len(found)):
            if found[k] is not None:
                letter = get_column_letter(k + 1)
                self.problem(ws.title, f"{letter}1", "", f"cột thừa '{found[k]}'; xoá cột {letter}")
                ok = False
        return ok

    def _raw(self, ws: Worksheet, cell: Cell | Any, column: str) -> tuple[bool, Any]:
        """(usable, value) of one cell; a formula is refused (its value is not stored reliably)."""
        if getattr(cell, "data_type", None) == "f" or type(cell.value).__name__ in ("ArrayFormula", "DataTableFormula"):
            self.problem(
                ws.title,
                cell.coordinate,
                column,
                f"ô chứa công thức ({cell.value}); thay bằng giá trị: sao chép rồi dán đặc biệt chỉ giá trị",
            )
            return False, None
        value = cell.value
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return True, None
        return True, value

    def _row(self, ws: Worksheet, r: int, columns: Sequence[Column]) -> _Row | None:
        row = _Row(r, {}, {})
        raws: list[tuple[Column, str, Any]] = []
        for j, col in enumerate(columns, start=1):
            cell = ws.cell(row=r, column=j)
            usable, raw = self._raw(ws, cell, col.header)
            if not usable:
                row.bad.add(col.key)
            raws.append((col, cell.coordinate, raw))
            row.cells[col.key] = cell.coordinate
        extra = [ws.cell(row=r, column=j) for j in range(len(columns) + 1, ws.max_column + 1)]
        if all(raw is None for col, _, raw in raws if col.key) and not row.bad:  # an STT alone is no row
            if any(c.value not in (None, "") for c in extra):
                self.problem(ws.title, extra[0].coordinate, "", "dữ liệu ngoài các cột của mẫu; xoá đi")
            return None
        for col, ref, raw in raws:
            if not col.key or col.key in row.bad:
                continue
            if raw is None:
                if col.required:
                    self.problem(ws.title, ref, col.header, f"{col.noun} không được để trống; điền {col.noun}")
                    row.bad.add(col.key)
                continue
            try:
                row.values[col.key] = _parse(raw, col)
            except _CellProblem as e:
                self.problem(ws.title, ref, col.header, str(e))
                row.bad.add(col.key)
        return row

    def place(self, loc: Loc, sheet: str, row: _Row, key: str, column: str) -> None:
        self.where[loc] = (sheet, row.cells.get(key, f"A{row.number}"), column)
        if key in row.bad:
            self.bad.add(loc)

    def place_row(self, base: Loc, table: Table, row: _Row, into: Callable[[str], Loc] | None = None) -> None:
        """Remember where each column of ``row`` lands in the spec (for pydantic's errors)."""
        first = next((c.key for c in table.columns if c.key), "")
        self.place(base, table.title, row, first, "")
        for col in table.columns:
            if col.key:
                self.place(
                    into(col.key) if into else (*base, *col.key.split(".")), table.title, row, col.key, col.header
                )


def _open(source: bytes | Path | str) -> Workbook:
    if isinstance(source, str | Path):
        path = Path(source)
        try:
            if path.stat().st_size > MAX_BYTES:
                raise WorkbookError([WorkbookIssue("", "", "", f"tệp {path} lớn hơn {MAX_BYTES // 2**20} MB")])
            data = path.read_bytes()
        except FileNotFoundError:
            raise WorkbookError([WorkbookIssue("", "", "", f"không có tệp {path}")]) from None
    else:
        data = source
    if len(data) > MAX_BYTES:
        raise WorkbookError([WorkbookIssue("", "", "", f"tệp lớn hơn {MAX_BYTES // 2**20} MB")])
    not_xlsx = (
        "tệp không phải bảng tính Excel .xlsx đọc được ({why}); lưu lại bằng Excel hoặc LibreOffice dạng .xlsx "
        "rồi nạp lại"
    )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            unpacked = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise WorkbookError([WorkbookIssue("", "", "", not_xlsx.format(why=type(e).__name__))]) from None
    if unpacked > MAX_UNPACKED:  # a few KB that unpack to gigabytes is not a plan
        raise WorkbookError(
            [WorkbookIssue("", "", "", f"tệp giải nén ra hơn {MAX_UNPACKED // 2**20} MB; một kế hoạch chỉ vài trăm KB")]
        )
    try:
        return load_workbook(io.BytesIO(data), data_only=False)
    except Exception as e:  # any parse failure of an uploaded file means the same to its owner: not a workbook
        raise WorkbookError([WorkbookIssue("", "", "", not_xlsx.format(why=type(e).__name__))]) from None


def _header(reader: _Reader, wb: Workbook) -> dict[str, Any]:
    if HEADER_SHEET not in wb.sheetnames:
        reader.problem(HEADER_SHEET, "", "", f"thiếu sheet '{HEADER_SHEET}'; xuất lại mẫu bằng 'cchc plan export'")
        return {}
    ws = wb[HEADER_SHEET]
    reader.cell_problems(ws)
    for j, want in enumerate(HEADER_HEADERS, start=1):
        got = ws.cell(row=1, column=j).value
        if got is None or _norm(str(got)) != _norm(want):
            letter = get_column_letter(j)
            reader.problem(HEADER_SHEET, f"{letter}1", want, f"cột {letter} phải là '{want}', thấy '{got or ''}'")
            return {}
    data: dict[str, Any] = {}
    seen: dict[str, int] = {}
    for r in range(2, min(ws.max_row, MAX_ROWS) + 1):
        key_cell = ws.cell(row=r, column=3)
        ok, key = reader._raw(ws, key_cell, "Khóa")
        if not ok or key is None:
            continue
        col = HEADER_KEYS.get(str(key))
        if col is None:
            close = difflib.get_close_matches(str(key), list(HEADER_KEYS), n=1)
            hint = f" (có phải '{close[0]}'?)" if close else ""
            reader.problem(HEADER_SHEET, key_cell.coordinate, "Khóa", f"khóa '{key}' không có trong mẫu{hint}")
            continue
        if col.key in seen:
            reader.problem(
                HEADER_SHEET, key_cell.coordinate, "Khóa", f"khóa '{key}' lặp lại (đã có ở dòng {seen[col.key]})"
            )
            continue
        seen[col.key] = r
        value_cell = ws.cell(row=r, column=2)
        loc: Loc = tuple(col.key.split("."))
        reader.where[loc] = (HEADER_SHEET, value_cell.coordinate, col.header)
        ok, raw = reader._raw(ws, value_cell, col.header)
        if not ok:
            reader.bad.add(loc)
            continue
        if raw is None:
            if col.required:
                reader.problem(
                    HEADER_SHEET, value_cell.coordinate, col.header, f"{col.noun} không được để trống; điền {col.noun}"
                )
                reader.bad.add(loc)
            continue
        try:
            _set(data, col.key, _parse(raw, col))
        except _CellProblem as e:
            reader.problem(HEADER_SHEET, value_cell.coordinate, col.header, str(e))
            reader.bad.add(loc)
    for col in HEADER_FIELDS:
        if col.required and col.key not in seen:
            reader.problem(
                HEADER_SHEET, "C1", col.header, f"thiếu dòng khóa '{col.key}' ({col.header}); thêm lại dòng này"
            )
            reader.bad.add(tuple(col.key.split(".")))
    for part in ("commune", "period"):
        reader.where.setdefault(
            (part,), reader.where.get((part, "code" if part == "commune" else "end"), (HEADER_SHEET, "B2", ""))
        )
    return data


def _duty_loc(base: Loc, key: str) -> Loc:
    """Where a duties-sheet column lands in the spec (the leads cell holds the lead and the co-leads)."""
    return (*base, "lead") if key == "leads" else (*base, *key.split("."))


def _basis_of(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("basis.")}


def _strip_prefix(values: Mapping[str, Any], skip: Iterable[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    skipped = tuple(skip)
    for k, v in values.items():
        if k.startswith(skipped) or not k:
            continue
        _set(out, k, v)
    return out


def import_workbook(source: bytes | Path | str) -> Plan:
    """Read a workbook exported by `export_workbook` (and edited) back into a validated plan.

    Raises WorkbookError with every problem found, each at its sheet and cell, in Vietnamese.
    """
    wb = _open(source)
    if META_SHEET not in wb.sheetnames or wb[META_SHEET]["B1"].value != TEMPLATE:
        raise WorkbookError(
            [
                WorkbookIssue(
                    "",
                    "",
                    "",
                    "tệp không phải bảng tính kế hoạch của cchc (không có sheet ẩn '_cchc' của mẫu); xuất mẫu "
                    "bằng 'cchc plan export KẾ_HOẠCH --xlsx TỆP.xlsx' rồi điền vào mẫu đó",
                )
            ]
        )
    version = wb[META_SHEET]["B2"].value
    if version != TEMPLATE_VERSION:
        raise WorkbookError(
            [
                WorkbookIssue(
                    META_SHEET,
                    "B2",
                    "",
                    f"mẫu phiên bản {version}, hệ thống đọc phiên bản {TEMPLATE_VERSION}; xuất lại mẫu",
                )
            ]
        )
    reader = _Reader()
    data = _header(reader, wb)
    units = reader.rows(wb, UNITS)
    duties = reader.rows(wb, DUTIES)
    reports = reader.rows(wb, REPORTS)
    recipients = reader.rows(wb, RECIPIENTS)
    aspects = reader.rows(wb, ASPECTS)
    ladder = reader.rows(wb, LADDER)
    sources = reader.rows(wb, SOURCES)
    calendar = reader.rows(wb, CALENDAR)
    legal = reader.rows(wb, LEGAL)

    unit_ids = {str(r.values["id"]) for r in units if "id" in r.values}
    unit_by_name = {
        _norm(str(r.values["name"])): str(r.values["id"]) for r in units if "id" in r.values and "name" in r.values
    }
    duty_ids = [str(r.values["id"]) for r in duties if "id" in r.values]
    report_ids = [str(r.values["id"]) for r in reports if "id" in r.values]

    def unit_ref(sheet: str, row: _Row, key: str, column: str, ids: list[str]) -> list[str]:
        """Unit ids as written (a unit's exact name is read as its id); an undeclared unit is an error."""
        out = []
        for ref in ids:
            if ref in unit_ids:
                out.append(ref)
            elif _norm(ref) in unit_by_name:
                out.append(unit_by_name[_norm(ref)])
            else:
                close = difflib.get_close_matches(ref, sorted(unit_ids), n=1)
                hint = f" (có phải '{close[0]}'?)" if close else ""
                reader.problem(
                    sheet,
                    row.cells[key],
                    column,
                    f"đơn vị '{ref}' chưa khai báo ở sheet '{UNITS.title}'{hint}; thêm một dòng cho đơn vị này "
                    "ở sheet Đơn vị, hoặc sửa lại mã",
                )
                row.bad.add(key)
        return out

    def item_ref(sheet: str, row: _Row, key: str, column: str, known: Sequence[str], what: str, home: str) -> bool:
        ref = str(row.values.get(key, ""))
        if ref in known:
            return True
        close = difflib.get_close_matches(ref, list(known), n=1)
        hint = f" (có phải '{close[0]}'?)" if close else ""
        reader.problem(sheet, row.cells[key], column, f"{what} '{ref}' không có ở sheet '{home}'{hint}; sửa lại mã")
        row.bad.add(key)
        return False

    # Units
    data["units"] = []
    for i, row in enumerate(units):
        reader.place_row(("units", i), UNITS, row)
        data["units"].append(_strip_prefix(row.values, ()))

    # Per-item extras, gathered first so a duty or report row can take them in.
    aspect_of: dict[str, dict[str, Any]] = {}
    aspect_where: dict[str, list[tuple[str, _Row]]] = {}
    known_items = set(duty_ids) | set(report_ids)
    for row in aspects:
        if "item" not in row.values or "aspect" not in row.values:
            continue
        if not item_ref(
            ASPECTS.title,
            row,
            "item",
            "Mã nhiệm vụ / báo cáo",
            sorted(known_items),
            "nhiệm vụ/báo cáo",
            "Nhiệm vụ' hoặc 'Báo cáo",
        ):
            continue
        item, aspect = str(row.values["item"]), str(row.values["aspect"])
        if aspect in aspect_of.get(item, {}):
            reader.problem(
                ASPECTS.title,
                row.cells["aspect"],
                "Khía cạnh",
                f"{item} đã có căn cứ '{ASPECT_VI[aspect]}' ở dòng trên; gộp lại một dòng",
            )
            continue
        aspect_of.setdefault(item, {})[aspect] = {k: v for k, v in row.values.items() if k not in ("item", "aspect")}
        aspect_where.setdefault(item, []).append((aspect, row))

    ladders: dict[str, list[_Row]] = {}
    for row in ladder:
        scope = str(row.values.get("scope") or "")
        if scope and not item_ref(LADDER.title, row, "scope", "Áp dụng cho", duty_ids, "nhiệm vụ", DUTIES.title):
            continue
        ladders.setdefault(scope, []).append(row)

    def escalation(scope: str, base: Loc, keep_default: bool) -> dict[str, Any] | None:
        rows = ladders.get(scope)
        if not rows:
            return None
        stale = {r.values["stale_after_days"] for r in rows if "stale_after_days" in r.values}
        if len(stale) > 1:
            reader.problem(
                LADDER.title,
                rows[0].cells["stale_after_days"],
                "Không gửi bước trễ quá (ngày)",
                "các dòng của một thang phải cùng một số ngày; sửa cho giống nhau",
            )
        steps: list[dict[str, Any]] = []
        empty = any(r.values.get("action") == "none" for r in rows)
        for r in rows:
            if r.values.get("action") == "none":
                continue
            reader.place_row((*base, "ladder", len(steps)), LADDER, r)
            steps.append({k: v for k, v in r.values.items() if k not in ("scope", "stale_after_days")})
        reader.where[base] = (LADDER.title, rows[0].cells.get("step", f"A{rows[0].number}"), "")
        if empty and steps:
            reader.problem(
                LADDER.title,
                rows[0].cells["action"],
                "Hành động",
                f"'{LADDER_ACTION_VI['none']}' chỉ dùng khi thang không có bước nào; xoá dòng này hoặc các bước",
            )
        esc: dict[str, Any] = {}
        default = [_plain_lists(s.model_dump(exclude_unset=True)) for s in DEFAULT_LADDER]
        if empty or steps != default:
            esc["ladder"] = steps
        if stale:
            esc["stale_after_days"] = min(stale)
        if not esc and not keep_default:
            return None
        return esc

    source_of: dict[str, list[_Row]] = {}
    for row in sources:
        if "duty" in row.values and item_ref(
            SOURCES.title, row, "duty", "Mã nhiệm vụ", duty_ids, "nhiệm vụ", DUTIES.title
        ):
            source_of.setdefault(str(row.values["duty"]), []).append(row)

    def rule_basis(item: str, values: Mapping[str, Any], base: Loc) -> dict[str, Any] | None:
        top = _basis_of(values)
        per = aspect_of.get(item, {})
        for aspect, arow in aspect_where.get(item, []):
            for col in ASPECT_COLUMNS[2:]:
                reader.place((*base, aspect, col.key), ASPECTS.title, arow, col.key, col.header)
            reader.place((*base, aspect), ASPECTS.title, arow, "plan", "Mục kế hoạch")
        if not top and not per:
            return None
        return {**top, **per}

    # Duties
    data["duties"] = []
    for i, row in enumerate(duties):
        base: Loc = ("duties", i)
        v = row.values
        reader.place_row(base, DUTIES, row, partial(_duty_loc, base))
        reader.place((*base, "basis"), DUTIES.title, row, "basis.plan", "Căn cứ: mục kế hoạch")
        duty = _strip_prefix(v, ("basis.", "leads"))
        leads = unit_ref(DUTIES.title, row, "leads", "Cơ quan chủ trì", list(v.get("leads", ())))
        if leads:
            duty["lead"] = leads[0]
            if len(leads) > 1:
                duty["co_leads"] = leads[1:]
                reader.place((*base, "co_leads"), DUTIES.title, row, "leads", "Cơ quan chủ trì")
        elif "leads" in v:
            reader.bad.add((*base, "lead"))
        if "support" in v:
            duty["support"] = unit_ref(DUTIES.title, row, "support", "Cơ quan phối hợp", list(v["support"]))
        if "for_report" in v:
            item_ref(DUTIES.title, row, "for_report", "Báo cáo tổng hợp", report_ids, "báo cáo", REPORTS.title)
        item = str(v.get("id", ""))
        basis = rule_basis(item, v, (*base, "basis"))
        if basis is not None:
            duty["basis"] = basis
        esc = escalation(item, (*base, "escalation"), keep_default=True) if item else None
        if esc is not None:
            duty["escalation"] = esc
        srcs = []
        for j, srow in enumerate(source_of.get(item, [])):
            reader.place_row((*base, "sources", j), SOURCES, srow)
            s = _strip_prefix(srow.values, ("duty",))
            if "unit" in s:
                got = unit_ref(SOURCES.title, srow, "unit", "Đơn vị ghi nhận", [s["unit"]])
                s["unit"] = got[0] if got else s["unit"]
            srcs.append(s)
        if srcs:
            duty["sources"] = srcs
        data["duties"].append(duty)

    # Reports and their recipients
    recipients_of: dict[str, list[_Row]] = {}
    for row in recipients:
        if "report" in row.values and item_ref(
            RECIPIENTS.title, row, "report", "Mã báo cáo", report_ids, "báo cáo", REPORTS.title
        ):
            recipients_of.setdefault(str(row.values["report"]), []).append(row)
    data["reports"] = []
    for i, row in enumerate(reports):
        base = ("reports", i)
        v = row.values
        reader.place_row(base, REPORTS, row)
        reader.place((*base, "basis"), REPORTS.title, row, "basis.plan", "Căn cứ: mục kế hoạch")
        reader.place((*base, "recipients"), REPORTS.title, row, "id", "Mã báo cáo")
        report = _strip_prefix(v, ("basis.",))
        if "compiler" in v:
            got = unit_ref(REPORTS.title, row, "compiler", "Đơn vị tổng hợp", [str(v["compiler"])])
            report["compiler"] = got[0] if got else v["compiler"]
        for ref in v.get("serves", ()):
            if ref not in report_ids:
                reader.problem(
                    REPORTS.title,
                    row.cells["serves"],
                    "Dùng chung văn bản cho",
                    f"báo cáo '{ref}' không có ở sheet '{REPORTS.title}'; sửa lại mã",
                )
                row.bad.add("serves")
        item = str(v.get("id", ""))
        basis = rule_basis(item, v, (*base, "basis"))
        if basis is not None:
            report["basis"] = basis
        rcs = []
        for j, rrow in enumerate(recipients_of.get(item, [])):
            reader.place_row((*base, "recipients", j), RECIPIENTS, rrow)
            rc = _strip_prefix(rrow.values, ("report",))
            if "unit" in rc:
                got = unit_ref(RECIPIENTS.title, rrow, "unit", "Đơn vị", [rc["unit"]])
                rc["unit"] = got[0] if got else rc["unit"]
            rcs.append(rc)
        if not rcs and item:
            reader.problem(
                REPORTS.title,
                row.cells["id"],
                "Mã báo cáo",
                f"báo cáo '{item}' chưa có nơi nhận; thêm ít nhất một dòng ở sheet '{RECIPIENTS.title}'",
            )
        report["recipients"] = rcs
        data["reports"].append(report)
    if not data["reports"]:
        del data["reports"]

    esc = escalation("", ("escalation",), keep_default=False)
    if esc is not None:
        data["escalation"] = esc
    if calendar:
        data["calendar"] = []
        for i, row in enumerate(calendar):
            reader.place_row(("calendar", i), CALENDAR, row)
            day = _strip_prefix(row.values, ())
            if "working" in day:
                day["working"] = day["working"] == "true"
            data["calendar"].append(day)
    if legal:
        data["legal_bases"] = []
        for i, row in enumerate(legal):
            reader.place(("legal_bases", i), LEGAL.title, row, "text", "Văn bản")
            data["legal_bases"].append(row.values.get("text"))

    # Rows bad for a whole cell were reported; the rows' other problems come from the model.
    for sheet_rows, prefix in ((units, "units"), (duties, "duties"), (reports, "reports")):
        for i, row in enumerate(sheet_rows):
            for key in row.bad:
                reader.bad.add((prefix, i, *key.split(".")))
    return _validate(reader, data)


_PYDANTIC_VI: dict[str, str] = {
    "missing": "không được để trống; điền {noun}",
    "string_pattern_mismatch": "'{input}' không hợp lệ: mã chỉ gồm chữ thường không dấu, số và gạch nối (vd. 'van-phong')",
    "string_too_short": "không được để trống",
    "string_too_long": "quá dài (tối đa {max_length} ký tự); rút gọn",
    "too_short": "cần ít nhất một giá trị",
    "greater_than_equal": "'{input}' quá nhỏ; nhập số từ {ge} trở lên",
    "less_than_equal": "'{input}' quá lớn; nhập số không quá {le}",
    "int_type": "'{input}' phải là số nguyên",
    "int_parsing": "'{input}' phải là số nguyên",
}

_ROLE_OF = dict(ROLE_VI)
_CADENCE_OF = dict(CADENCE_VI)

# The model's own rules speak English to the YAML's authors; the ones a workbook can break, in Vietnamese.
_RULES_VI: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"id '(?P<x>[^']+)' is used twice"), lambda m: f"mã '{m['x']}' bị dùng hai lần; đổi một mã khác"),
    (
        re.compile(r"cadence 'once' needs a window"),
        lambda m: "chu kỳ 'một lần' cần 'Từ ngày' và 'Đến hết ngày'; điền hai cột đó",
    ),
    (
        re.compile(r"window is only for cadence 'once'"),
        lambda m: "'Từ ngày', 'Đến hết ngày' chỉ dùng với chu kỳ 'một lần'; để trống, chọn kỳ ở cột 'Chỉ các kỳ'",
    ),
    (
        re.compile(r"a (?P<k>\w+) duty needs a requirement"),
        lambda m: f"nhiệm vụ loại '{KIND_VI.get(m['k'], m['k'])}' cần 'Loại minh chứng'; điền cột đó",
    ),
    (
        re.compile(r"only: '(?P<x>[^']+)' is not a (?P<c>\w+) period key"),
        lambda m: (
            f"'{m['x']}' không phải kỳ {_CADENCE_OF.get(m['c'], m['c'])}; viết 2025-10 (tháng), 2025-Q3 (quý), "
            "2025-H2 (6 tháng) hoặc 2025 (năm) theo chu kỳ"
        ),
    ),
    (
        re.compile(r"'(?P<x>[^']+)' lies outside the plan's period (?P<a>[\d-]+)\.\.(?P<b>[\d-]+)"),
        lambda m: f"kỳ '{m['x']}' nằm ngoài thời gian kế hoạch ({_vi_date(m['a'])}–{_vi_date(m['b'])}); sửa lại kỳ",
    ),
    (
        re.compile(r"(?P<a>[\d-]+)\.\.(?P<b>[\d-]+) lies outside the plan's period"),
        lambda m: f"thời gian {_vi_date(m['a'])}–{_vi_date(m['b'])} nằm ngoài thời gian kế hoạch; sửa lại ngày",
    ),
    (
        re.compile(r"no unit has role '(?P<r>\w+)'"),
        lambda m: f"chưa có đơn vị nào vai trò '{_ROLE_OF.get(m['r'], m['r'])}'; thêm hoặc sửa ở sheet Đơn vị",
    ),
    (
        re.compile(r"a basis is either the plan's"),
        lambda m: "căn cứ: điền 'mục kế hoạch' và 'trích dẫn', hoặc điền 'Giả định', không điền cả hai",
    ),
    (
        re.compile(r"basis plan '(?P<x>[^']+)' needs a short quote"),
        lambda m: f"căn cứ '{m['x']}' cần trích dẫn ngắn lời văn của kế hoạch; điền cột trích dẫn",
    ),
    (
        re.compile(r"an assumed basis has no quote"),
        lambda m: "giả định không có trích dẫn (kế hoạch không nói đến); xoá trích dẫn, ghi lý do ở cột Giả định",
    ),
    (
        re.compile(r"(?:end|due) (?P<b>[\d-]+) is before start (?P<a>[\d-]+)"),
        lambda m: f"ngày kết thúc {_vi_date(m['b'])} trước ngày bắt đầu {_vi_date(m['a'])}; đổi lại",
    ),
    (
        re.compile(r"effective_from (?P<a>[\d-]+) is before the plan was issued \((?P<b>[\d-]+)\)"),
        lambda m: f"ngày hiệu lực {_vi_date(m['a'])} trước ngày ban hành {_vi_date(m['b'])}; sửa một trong hai",
    ),
    (
        re.compile(r"commune code (?P<c>\d+) is not in the register"),
        lambda m: f"mã xã {m['c']} không có trong danh mục hành chính 2025; tra lại mã xã",
    ),
    (
        re.compile(r"commune code (?P<c>\d+) is (?P<w>.+), not '(?P<n>[^']+)'"),
        lambda m: f"mã xã {m['c']} là {m['w']}, không phải '{m['n']}'; sửa tên xã hoặc mã xã",
    ),
)


def _vi_date(iso: str) -> str:
    try:
        return dt.date.fromisoformat(iso).strftime("%d/%m/%Y")
    except ValueError:
        return iso


def _message(err: Mapping[str, Any], noun: str) -> tuple[Loc, str]:
    kind = str(err["type"])
    loc: Loc = tuple(err["loc"])
    if kind == "value_error" and "email" in str(err.get("msg", "")).lower():
        return loc, f"'{err.get('input')}' không phải địa chỉ email hợp lệ; sửa lại"
    if kind == "string_pattern_mismatch" and "only" in loc:
        return loc, f"'{err.get('input')}' không phải kỳ; viết 2025-10, 2025-Q3, 2025-H2 hoặc 2025"
    if kind in _PYDANTIC_VI:
        ctx = {k: v for k, v in (err.get("ctx") or {}).items() if k in ("ge", "le", "max_length")}
        values = {"ge": "?", "le": "?", "max_length": "?", **ctx}
        return loc, _PYDANTIC_VI[kind].format(input=err.get("input"), noun=noun or "ô này", **values)
    loc, msg = _explain(err)
    for pattern, say in _RULES_VI:
        m = pattern.search(msg)
        if m:
            return loc, say(m)
    return loc, f"không hợp lệ: {msg}; sửa ô này theo kế hoạch"


_ALREADY_CHECKED = re.compile(r"unknown unit|unknown report|is not another report of this plan")


def _validate(reader: _Reader, data: dict[str, Any]) -> Plan:
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc: Loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            if any(loc[: len(b)] == b for b in reader.bad):
                continue  # its cell was already reported
            if not loc and reader.issues and _ALREADY_CHECKED.search(str(err.get("msg", ""))):
                continue  # an unknown unit or report: the cell checks have named it, at its cell
            if err["type"] == "too_short" and loc and loc[-1] in ("units", "duties"):
                sheet = UNITS.title if loc[-1] == "units" else DUTIES.title
                reader.problem(sheet, "A2", "", f"sheet '{sheet}' chưa có dòng nào; thêm ít nhất một dòng")
                continue
            probe = _probe(reader, loc)
            noun = reader.where.get(probe, ("", "", ""))[2]
            loc2, message = _message({**err, "loc": loc}, noun[:1].lower() + noun[1:] if noun else "")
            probe = _probe(reader, loc2)
            sheet, cell, column = reader.where.get(probe, ("", "", ""))
            reader.problem(sheet, cell, column, message)
        raise WorkbookError(reader.issues) from None
    if reader.issues:
        raise WorkbookError(reader.issues)
    return plan


def _probe(reader: _Reader, loc: Loc) -> Loc:
    probe = loc
    while probe and probe not in reader.where:
        probe = probe[:-1]
    return probe


__all__ = [
    "WorkbookError",
    "WorkbookIssue",
    "export_bytes",
    "export_workbook",
    "fit_row_heights",
    "import_workbook",
]
