"""The province spec: who compiles the province summary report (Sở Nội vụ), who signs it, who receives it,
how often and by when.

It lives beside the province's plans as ``plan_specs/<province folder>/_province.yaml`` (the plan loader skips
names that start with ``_``). No regulation quoted in the plans fixes the day the department reports to the
province and the Ministry, so the due rule carries a ``basis:`` like a plan's rules: ``assumed`` (why, which
regime) until someone confirms it, and the report says so wherever the date shows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from cchc.core.calendar import _due_day
from cchc.core.communes import _folded
from cchc.core.labels import CADENCE_VI
from cchc.core.loader import MAX_SPEC_BYTES, SpecError, SpecIssue, _explain, _format_loc, _line_index, _LineLoader
from cchc.core.periods import Cadence, PeriodKey
from cchc.core.province import all_provinces
from cchc.core.spec import DueRule, Frozen, Recipient, RuleBasis, Signer

FILE_NAME = "_province.yaml"


class ProvinceId(Frozen):
    code: int = Field(description="Mã tỉnh/thành phố trong danh mục hành chính (vietnam-provinces), vd. 31.")
    name: str = Field(description="Tên như trong danh mục, vd. 'Thành phố Hải Phòng'.")


class SummaryReport(Frozen):
    title: str = Field(description="Tên loại và trích yếu của báo cáo tổng hợp.")
    cadence: Literal["quarter", "half", "year"] = "quarter"
    due: DueRule = Field(description="Hạn gửi báo cáo, tính theo kỳ (như 'due' của báo cáo trong kế hoạch).")
    cutoff_day: int = Field(default=14, ge=1, le=31, description="Số liệu tính đến hết ngày này của tháng cuối kỳ.")
    basis: RuleBasis = Field(description="Căn cứ của chu kỳ và hạn: văn bản quy định, hay giả định (chưa xác nhận).")


class ProvinceSpec(Frozen):
    province: ProvinceId
    parent_body: str = Field(
        description="Cơ quan chủ quản (dòng trên của tên cơ quan), vd. 'UBND THÀNH PHỐ HẢI PHÒNG'."
    )
    department: str = Field(description="Cơ quan ban hành báo cáo (tổng hợp), vd. 'Sở Nội vụ' (đầu văn bản in hoa).")
    symbol: str = Field(
        default="BC-SNV", pattern=r"^BC-[A-ZĐ0-9]+$", description="Ký hiệu văn bản sau số: 'Số: …/BC-SNV'."
    )
    place: str = Field(description="Địa danh ghi trước ngày tháng, vd. 'Hải Phòng'.")
    report: SummaryReport
    signer: Signer
    recipients: tuple[Recipient, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _known_province(self) -> ProvinceSpec:
        known = {p.code: p.name for p in all_provinces()}
        name = known.get(self.province.code)
        if name is None:
            raise ValueError(f"province.code: {self.province.code} is not a province code of the register")
        if _folded(name) != _folded(self.province.name):
            raise ValueError(f"province.name: code {self.province.code} is '{name}', not '{self.province.name}'")
        return self

    @property
    def due_assumed(self) -> bool:
        """The due rule rests on an assumption nobody has confirmed: the report says so beside the date."""
        basis = self.report.basis.of("due")
        return basis is not None and basis.unconfirmed

    def due_day(self, period: str) -> dt.date:
        p = self.period(period)
        return _due_day(self.report.due, p.first, p.last)

    def data_until(self, period: str) -> dt.date:
        """The last day whose records the report counts: the cut-off day of the period's last month."""
        last = self.period(period).last
        return last.replace(day=min(self.report.cutoff_day, last.days_in_month))

    def period(self, key: str) -> PeriodKey:
        """The period key, refused unless it is one of the report's cadence ('2025-Q4' for a quarterly report)."""
        try:
            p = PeriodKey.parse(key)
        except ValueError as e:
            raise ValueError(f"--period '{key}' không phải một kỳ (vd. 2025-Q4, 2025-H2, 2025)") from e
        if p.cadence is not Cadence(self.report.cadence):
            example = {"quarter": "2025-Q4", "half": "2025-H2", "year": "2025"}[self.report.cadence]
            every = CADENCE_VI[self.report.cadence]
            raise ValueError(f"--period '{key}': báo cáo tổng hợp lập {every} (vd. {example}), không theo kỳ này")
        return p


def parse_province_spec(text: str, filename: str = "<string>") -> ProvinceSpec:
    """Parse and validate; raise SpecError naming the file, the line and the field, like a plan spec."""
    if len(text.encode("utf-8")) > MAX_SPEC_BYTES:
        raise SpecError([SpecIssue(filename, 1, "", "a province spec may be at most 1 MB")])
    try:
        root = yaml.compose(text, Loader=_LineLoader)
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a SafeLoader
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise SpecError(
            [SpecIssue(filename, mark.line + 1 if mark else 1, "", f"YAML syntax: {e.problem or e}")]
        ) from None
    if root is None or not isinstance(data, dict):
        raise SpecError(
            [SpecIssue(filename, 1, "", "the file must be a YAML mapping (province, department, report, ...)")]
        )
    lines = _line_index(root)
    try:
        return ProvinceSpec.model_validate(data)
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            loc, message = _explain(err)
            if err["type"] == "extra_forbidden":
                message = f"unknown key '{loc[-1]}'; remove it or fix its spelling"
            elif err["type"] == "literal_error":
                message = f"unknown value '{err.get('input')}' ({err['msg'].removeprefix('Input should be ')})"
            elif err["type"] == "value_error" and ": " in message and not loc:
                field, message = message.split(": ", 1)
                loc = tuple(field.split("."))
            probe = loc
            while probe and probe not in lines:
                probe = probe[:-1]
            issues.append(SpecIssue(filename, lines.get(probe, 1), _format_loc(loc), message))
        raise SpecError(issues) from None


def load_province_spec(path: Path) -> ProvinceSpec:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([SpecIssue(str(path), 0, "", "file not found")]) from None
    except UnicodeDecodeError as e:
        raise SpecError([SpecIssue(str(path), 1, "", f"not UTF-8 text ({e.reason}); save the file as UTF-8")]) from None
    return parse_province_spec(text, str(path))


def province_spec_files(plan_dirs: Sequence[Path]) -> list[Path]:
    """The ``_province.yaml`` of each province folder (``plan_specs/<province>/``) of the plan folders."""
    out: list[Path] = []
    for d in plan_dirs:
        if d.is_dir():
            out.extend(sorted(d.glob(f"*/{FILE_NAME}")))
    return out
