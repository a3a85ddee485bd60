"""The province summary report (Báo cáo tổng hợp) as data, in the layout of Nghị định 30/2020/NĐ-CP.

Built from the roll-up (``cchc.core.province.Rollup``) judged at the end of the period's cut-off day and the
province spec (issuer, signer, recipients, due rule); rendered to DOCX and HTML by ``cchc.app.province_report``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from cchc.core.assemble import fmt_day, period_words, place_date
from cchc.core.province import GROUP_VI, CommuneSummary, Rollup, pct
from cchc.core.province_spec import ProvinceSpec

MAX_NAMED_SHORTFALLS = 15  # communes named one by one under "tồn tại, hạn chế"; the table has them all


@dataclass(frozen=True)
class KindRow:
    label: str
    due: int
    done: int
    share: str
    overdue: int
    missed: int
    waived: int


@dataclass(frozen=True)
class CommuneRow:
    number: str
    name: str
    due: int
    done: int
    share: str
    overdue: int
    missed: int
    on_time: int
    late: int
    not_yet: int


@dataclass(frozen=True)
class ProvinceReportModel:
    issuer: str  # the body above the department (cơ quan chủ quản)
    body: str  # the department issuing the report
    number_line: str  # "Số:       /BC-SNV" (left blank: the clerk numbers it on signing)
    place_date: str
    title: str
    summary: str
    basis: str
    due_note: str  # the report's own due date, and whether it rests on an assumption
    overview: str
    kinds: tuple[KindRow, ...]
    communes: tuple[CommuneRow, ...]
    total: CommuneRow
    shortfalls: tuple[str, ...]
    next_items: tuple[str, ...]
    closing: str
    recipients: tuple[str, ...]
    signer_authority: str
    signer_title: str
    signer_name: str
    period: str
    data_until: dt.date
    heatmap_caption: str


def judging_moment(spec: ProvinceSpec, period: str, tz_offset: dt.tzinfo) -> dt.datetime:
    """The end of the cut-off day: the report counts what was recorded for days up to it."""
    day = spec.data_until(period)
    return dt.datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=tz_offset)


def _commune_row(n: str, c: CommuneSummary) -> CommuneRow:
    d, r = c.duties, c.reports
    return CommuneRow(n, c.name, d.due, d.done, pct(d.share_met), d.overdue, d.missed, r.on_time, r.late, r.not_yet)


def _shortfall(c: CommuneSummary) -> str | None:
    d, r = c.duties, c.reports
    parts = []
    if d.overdue:
        parts.append(f"{d.overdue} nhiệm vụ quá hạn")
    if d.missed:
        parts.append(f"{d.missed} nhiệm vụ không đạt")
    if r.not_yet:
        parts.append(f"{r.not_yet} báo cáo chưa gửi")
    if r.late:
        parts.append(f"{r.late} báo cáo gửi muộn")
    if not parts:
        return None
    return f"{c.name}: {', '.join(parts)} (tỉ lệ đạt {pct(d.share_met)})"


def assemble(spec: ProvinceSpec, rollup: Rollup, period: str, made_on: dt.date) -> ProvinceReportModel:
    p = spec.period(period)
    words = period_words(str(p))
    until = spec.data_until(period)
    due = spec.due_day(period)
    communes = rollup.communes()
    total = rollup.totals()
    t, tr = total.duties, total.reports
    due_note = f"Hạn gửi báo cáo này: hết ngày {fmt_day(due)}"
    basis_due = spec.report.basis.of("due")
    if spec.due_assumed and basis_due is not None:
        due_note += f" (giả định, chưa được xác nhận: {str(basis_due.assumed).rstrip('.')})"
    elif basis_due is not None and basis_due.plan:
        due_note += f" (theo {basis_due.plan})"
    due_note += "."
    overview = (
        f"Đến hết ngày {fmt_day(until)}, {len(communes)} xã, phường, đặc khu của {province_phrase(rollup.province)} thực hiện "
        f"{rollup.plans} kế hoạch tuyên truyền cải cách hành chính. Trong {t.due} lượt nhiệm vụ đã đến hạn, "
        f"{t.done} lượt đạt ({pct(t.share_met)}, trong đó {t.met_late} lượt đạt nhưng muộn), {t.overdue} lượt quá hạn "
        f"đang được thực hiện, {t.missed} lượt không đạt, {t.waived} lượt được miễn. Báo cáo định kỳ của các xã: "
        f"{tr.on_time} báo cáo gửi đúng hạn, {tr.late} gửi muộn, {tr.not_yet} đã đến hạn nhưng chưa gửi."
    )
    kinds = tuple(
        KindRow(GROUP_VI.get(g, g), c.due, c.done, pct(c.share_met), c.overdue, c.missed, c.waived)
        for g, c in rollup.by_group().items()
    )
    named = [s for s in (_shortfall(c) for c in communes) if s]
    shortfalls = named[:MAX_NAMED_SHORTFALLS]
    if len(named) > MAX_NAMED_SHORTFALLS:
        shortfalls.append(
            f"Và {len(named) - MAX_NAMED_SHORTFALLS} xã, phường, đặc khu khác còn nhiệm vụ quá hạn, không đạt "
            f"hoặc báo cáo chưa gửi (chi tiết tại Bảng 2)"
        )
    following = p.next()
    next_due = spec.due_day(str(following))
    next_items = (
        "Đôn đốc các xã, phường, đặc khu hoàn thành ngay các nhiệm vụ quá hạn và gửi các báo cáo còn thiếu",
        "Hướng dẫn các xã có tỉ lệ đạt thấp rà soát phân công, cập nhật minh chứng kịp thời",
        f"Tổng hợp, báo cáo kết quả {period_words(str(following))} trước ngày {fmt_day(next_due + dt.timedelta(days=1))}",
    )
    return ProvinceReportModel(
        issuer=spec.parent_body.upper(),
        body=spec.department.upper(),
        number_line=f"Số:       /{spec.symbol}",
        place_date=place_date(spec.place, made_on),
        title="BÁO CÁO",
        summary=f"{_strip_report(spec.report.title)} {words}",
        basis=(
            f"Thực hiện chế độ báo cáo công tác cải cách hành chính, {spec.department} tổng hợp kết quả "
            f"thực hiện kế hoạch tuyên truyền cải cách hành chính của các xã, phường, đặc khu {words} "
            f"(số liệu tính đến hết ngày {fmt_day(until)}) như sau:"
        ),
        due_note=due_note,
        overview=overview,
        kinds=kinds,
        communes=tuple(_commune_row(str(n), c) for n, c in enumerate(communes, start=1)),
        total=_commune_row("", CommuneSummary(0, "Tổng cộng", t, tr)),
        shortfalls=tuple(shortfalls),
        next_items=next_items,
        closing=f"{spec.department} báo cáo để các cơ quan biết, theo dõi, chỉ đạo./.",
        recipients=tuple(
            f"- {r.name}{'.' if n == len(spec.recipients) else ';'}" for n, r in enumerate(spec.recipients, 1)
        ),
        signer_authority=spec.signer.authority,
        signer_title=spec.signer.title,
        signer_name=spec.signer.name or "",
        period=str(p),
        data_until=until,
        heatmap_caption=f"Hình 1. Tình trạng theo xã và loại nhiệm vụ, {words} (xã có tỉ lệ đạt thấp nhất ở trên)",
    )


def _strip_report(title: str) -> str:
    rest = re.sub(r"^\s*báo cáo\s+", "", title, flags=re.IGNORECASE)
    return rest[:1].upper() + rest[1:]


def province_phrase(name: str) -> str:
    """'Thành phố Hải Phòng' -> 'thành phố Hải Phòng'; 'Thái Nguyên' -> 'tỉnh Thái Nguyên' (inside a sentence)."""
    if name.startswith("Thành phố "):
        return "thành phố " + name.removeprefix("Thành phố ")
    return name[:1].lower() + name[1:] if name.startswith("Tỉnh ") else f"tỉnh {name}"
