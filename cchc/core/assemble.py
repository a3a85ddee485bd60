"""Assemble a periodic report from what the store recorded. Pure: no clock, no I/O.

Every sentence comes from a record: an occurrence of the plan's calendar judged over the
report's data window, or an evidence item. Where there is no record, the report says so.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from cchc.core import assumptions
from cchc.core.calendar import Occurrence, period_bounds, plan_occurrences, report_data_window, to_local
from cchc.core.evaluate import DONE, Status, judge, tally_dates
from cchc.core.labels import CHANNEL_VI, ROMAN
from cchc.core.markdown import md_text, md_url
from cchc.core.periods import Cadence, PeriodKey, is_period
from cchc.core.spec import Channel, Plan, Report
from cchc.core.views import period_label

ASSESS_DONE = "Hoàn thành"
ASSESS_DONE_LATE = "Hoàn thành (có kỳ muộn)"
ASSESS_LATE = "Chưa hoàn thành"
ASSESS_OPEN = "Đang thực hiện"
ASSESS_NONE = "Không có yêu cầu trong kỳ"
ASSESS_ASSUMED = "Chưa đủ minh chứng theo mốc do bộ phận điều phối đặt (kế hoạch không quy định)"


@dataclass(frozen=True)
class EvidenceItem:
    """One evidence record as the store keeps it (rejected items are not passed in)."""

    id: int
    duty: str
    kind: str
    title: str
    occurred_on: dt.date
    url: str | None = None
    unit: str | None = None
    file_name: str | None = None


@dataclass(frozen=True)
class EvidenceLine:
    day: dt.date
    title: str
    unit: str
    link: str

    @property
    def text(self) -> str:
        parts = [f"{fmt_day(self.day)}: {self.title}"]
        if self.unit:
            parts.append(f"({self.unit})")
        if self.link:
            parts.append(f"— {self.link}")
        return " ".join(parts)


@dataclass(frozen=True)
class PeriodResult:
    period: str
    label: str
    due: dt.date
    status: Status
    count: int
    required: int | None
    note: str  # the sentence for this occurrence


@dataclass(frozen=True)
class ReportRow:
    number: str
    duty: str
    title: str
    lead: str
    support: str
    channel: str
    periods: tuple[PeriodResult, ...]
    count: int
    evidence: tuple[EvidenceLine, ...]
    result: str
    assessment: str
    assumed: bool = False  # its rule rests on an assumption nobody confirmed (marked in the report's figure)


@dataclass(frozen=True)
class Shortfall:
    unit: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class NextItem:
    """One duty's occurrences still to do, from the cut-off to the end of the next period."""

    title: str
    lead: str
    dues: tuple[tuple[str, dt.date], ...]

    @property
    def text(self) -> str:
        when = "; ".join(f"{label}: hạn {fmt_day(day)}" for label, day in self.dues)
        return f"{self.title} ({self.lead}) — {when}"


@dataclass(frozen=True)
class Approval:
    """What the approver fixed: the number, who signs, the date on the document."""

    number: str | None = None
    signer_name: str | None = None
    signed_on: dt.date | None = None


@dataclass(frozen=True)
class ReportModel:
    plan_id: str
    report_id: str
    period: str
    period_label: str
    draft: bool
    issuer: str  # "ỦY BAN NHÂN DÂN"
    body: str  # "XÃ PHÚ THÁI"
    number_line: str  # "Số: 12/BC-UBND" or "Số:      /BC-UBND"
    place_date: str  # "Phú Thái, ngày 05 tháng 9 năm 2025"
    title: str  # "BÁO CÁO"
    summary: str
    basis: str
    data_from: dt.date
    data_to: dt.date
    rows: tuple[ReportRow, ...]
    totals: tuple[tuple[str, int], ...]
    evidence_count: int
    overview: str
    shortfalls: tuple[Shortfall, ...]
    next_items: tuple[NextItem, ...]
    next_label: str
    closing: str
    recipients: tuple[str, ...]
    signer_authority: str
    signer_title: str
    signer_name: str
    fingerprint: str = field(default="")


def fmt_day(day: dt.date) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


def place_date(place: str, day: dt.date) -> str:
    """NĐ 30/2020: a zero before days below 10 and months below 3."""
    month = f"{day.month:02d}" if day.month < 3 else str(day.month)
    return f"{place}, ngày {day.day:02d} tháng {month} năm {day.year}"


def period_words(key: str) -> str:
    """'quý III năm 2025', '6 tháng cuối năm 2025', 'năm 2025', 'tháng 9 năm 2025'."""
    return period_label(key, " năm ")


def next_period(key: str) -> str:
    return str(PeriodKey.parse(key).next())


def number_line(number: str | None) -> str:
    if not number or not number.strip():
        return "Số:       /BC-UBND"
    n = number.strip()
    return f"Số: {n}" if "/" in n else f"Số: {n}/BC-UBND"


def summary_line(report: Report, period: str) -> str:
    """The report's title without 'Báo cáo', completed with the period where the plan left it open."""
    text = re.sub(r"^\s*báo cáo\s+", "", report.title, flags=re.IGNORECASE)
    words = period_words(period)
    if re.search(r"\bquý\s*$", text):
        text = f"{text} {words.removeprefix('quý ')}"
    elif period[:4] not in text:
        text = f"{text} {period[:4]}" if re.search(r"6 tháng (đầu|cuối) năm\s*$", text) else f"{text} {words}"
    return text[:1].upper() + text[1:]


def unit_name(plan: Plan, unit_id: str | None) -> str:
    if not unit_id:
        return ""
    try:
        return plan.unit(unit_id).name
    except KeyError:
        return unit_id


def _occurrence_note(o: Occurrence, status: Status, count: int, label: str, waiver: str | None, cut: dt.date) -> str:
    partial = o.last_day > cut and status not in DONE
    when = f"{label} (tính đến {fmt_day(cut)})" if partial else label
    if status is Status.waived:
        return f"{label}: được miễn ({waiver})" if waiver else f"{label}: được miễn"
    if status is Status.before_effect:
        return f"{label}: trước ngày kế hoạch có hiệu lực, không đánh giá"
    if o.required is not None:
        return f"{when}: {count}/{o.required}"
    if count == 0:
        return f"{when}: chưa có minh chứng"
    return f"{when}: {count} minh chứng" + (" (muộn)" if status is Status.met_late else "")


def _assess(statuses: Sequence[Status], assumed: bool = False) -> str:
    statuses = [s for s in statuses if s is not Status.before_effect]  # not judged, not reported
    if not statuses:
        return ASSESS_NONE
    if any(s in (Status.overdue, Status.missed) for s in statuses):
        return ASSESS_ASSUMED if assumed else ASSESS_LATE
    if any(s not in DONE for s in statuses):
        return ASSESS_OPEN
    return ASSESS_DONE_LATE if Status.met_late in statuses else ASSESS_DONE


def _label(o: Occurrence) -> str:
    if not is_period(o.period):
        return f"từ {fmt_day(o.start_day)} đến {fmt_day(o.last_day)}"
    p = PeriodKey.parse(o.period)
    if p.cadence is Cadence.month:
        return f"tháng {p.index:02d}/{p.year}"
    if p.cadence is Cadence.quarter:
        return f"quý {ROMAN[p.index]}/{p.year}"
    return period_words(o.period)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def assemble(
    plan: Plan,
    report_id: str,
    period: str,
    at: dt.datetime,
    evidence: Sequence[EvidenceItem],
    waivers: Mapping[tuple[str, str], str] | None = None,
    approval: Approval | None = None,
    occurrences: Sequence[Occurrence] | None = None,
) -> ReportModel:
    """The report of ``period`` as the records stood at ``at`` (aware), limited to its data window.

    ``occurrences``: the plan's calendar as the store holds it, where an amendment left earlier periods
    under their old rules; by default, the spec's own calendar."""
    calendar = list(occurrences) if occurrences is not None else plan_occurrences(plan)
    report = plan.report(report_id)
    waivers = waivers or {}
    local = to_local(at, plan.timezone)
    data_from, data_to = report_data_window(report, period, plan.work_calendar)
    cut = min(local.date(), data_to)
    # Judge at the end of the window (or now, if the window is still running).
    after_cut = cut + dt.timedelta(days=1)
    judge_at = (
        to_local(dt.datetime(after_cut.year, after_cut.month, after_cut.day, tzinfo=local.tzinfo), plan.timezone)
        if cut < local.date()
        else local
    )

    by_duty: dict[str, list[EvidenceItem]] = {}
    for e in evidence:
        by_duty.setdefault(e.duty, []).append(e)
    occ_by_duty: dict[str, list[Occurrence]] = {}
    for o in calendar:
        occ_by_duty.setdefault(o.duty, []).append(o)

    rows: list[ReportRow] = []
    totals: dict[str, int] = {}
    late: dict[str, list[str]] = {}
    for i, d in enumerate(plan.duties, start=1):
        items = by_duty.get(d.id, [])
        assumed = assumptions.unconfirmed(plan, d.id)
        in_window = sorted((e for e in items if data_from <= e.occurred_on <= cut), key=lambda e: (e.occurred_on, e.id))
        periods: list[PeriodResult] = []
        for o in occ_by_duty.get(d.id, []):
            if o.last_day < data_from or o.start_day > cut:
                continue
            dates = [e.occurred_on for e in items]
            waived = waivers.get((d.id, o.period))
            tally = tally_dates(o, dates, cut, waived=waived is not None)
            status = judge(o, tally, judge_at)
            count = tally.on_time + tally.late
            label = _label(o)
            periods.append(
                PeriodResult(
                    o.period,
                    label,
                    o.last_day,
                    status,
                    count,
                    o.required,
                    _occurrence_note(o, status, count, label, waived, cut),
                )
            )
            if status in (Status.overdue, Status.missed):
                need = f"mới có {count}/{o.required} minh chứng" if o.required else "chưa có minh chứng"
                # Never "không đạt" against a rule the plan does not state: the shortfall names the assumption.
                verdict = (
                    f" ({assumptions.note(assumed)})"
                    if assumed
                    else (" (không đạt)" if status is Status.missed else " (quá hạn)")
                )
                late.setdefault(d.lead, []).append(f"{d.title} — {label}, hạn {fmt_day(o.last_day)}: {need}{verdict}")
        channel = CHANNEL_VI[d.channels[0] if d.channels else Channel.other]
        if in_window:
            totals[channel] = totals.get(channel, 0) + len(in_window)
        lines = tuple(
            # The sender is named when it is not the lead unit (that one has its own column).
            EvidenceLine(
                e.occurred_on, e.title, "" if e.unit == d.lead else unit_name(plan, e.unit), e.url or e.file_name or ""
            )
            for e in in_window
        )
        result = _cap("; ".join(p.note for p in periods)) if periods else "Kế hoạch không đặt yêu cầu trong kỳ này"
        rows.append(
            ReportRow(
                number=d.number or str(i),
                duty=d.id,
                title=d.title,
                lead=", ".join(unit_name(plan, u) for u in d.leads),
                support=", ".join(unit_name(plan, u) for u in d.support) or (d.support_text or ""),
                channel=channel,
                periods=tuple(periods),
                count=len(lines),
                evidence=lines,
                result=result + ".",
                assessment=_assess([p.status for p in periods], bool(assumed)),
                assumed=bool(assumed),
            )
        )

    shortfalls = tuple(
        Shortfall(unit_name(plan, u), tuple(late[u])) for u in sorted(late, key=lambda u: unit_name(plan, u))
    )
    nxt = next_period(period)
    nxt_first, nxt_last = period_bounds(nxt)
    ahead: dict[str, list[Occurrence]] = {}
    for o in sorted(calendar, key=lambda o: (o.due, o.duty)):
        if (o.duty, o.period) == (report.id, period) or o.last_day <= cut or o.start_day > nxt_last:
            continue
        if not _already_done(o, by_duty, cut, waivers):
            ahead.setdefault(o.duty, []).append(o)
    next_items = tuple(
        NextItem(
            _duty_or_report_title(plan, duty_id),
            unit_name(plan, occ[0].lead),
            tuple((_label(o), o.last_day) for o in occ),
        )
        for duty_id, occ in ahead.items()
    )
    signer_name = (approval.signer_name if approval and approval.signer_name else None) or report.signer.name or ""
    signed_on = approval.signed_on if approval and approval.signed_on else local.date()
    done = sum(1 for r in rows if r.assessment in (ASSESS_DONE, ASSESS_DONE_LATE))
    due_rows = sum(1 for r in rows if r.assessment != ASSESS_NONE)
    total = sum(totals.values())
    overview = (
        f"Từ ngày {fmt_day(data_from)} đến ngày {fmt_day(cut)}, hệ thống ghi nhận {total} minh chứng "
        f"cho {sum(1 for r in rows if r.count)} nhiệm vụ; {done}/{due_rows} nhiệm vụ có yêu cầu trong kỳ đã hoàn thành."
        if total
        else f"Từ ngày {fmt_day(data_from)} đến ngày {fmt_day(cut)}, hệ thống chưa ghi nhận minh chứng nào."
    )
    model = ReportModel(
        plan_id=plan.id,
        report_id=report.id,
        period=period,
        period_label=period_words(period),
        draft=approval is None,
        issuer="ỦY BAN NHÂN DÂN",
        body=plan.commune_label.upper(),
        number_line=number_line(approval.number if approval else None),
        place_date=place_date(plan.commune.name, signed_on),
        title="BÁO CÁO",
        summary=summary_line(report, period),
        basis=_basis(plan, data_from, cut),
        data_from=data_from,
        data_to=cut,
        rows=tuple(rows),
        totals=tuple(sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))),
        evidence_count=total,
        overview=overview,
        shortfalls=shortfalls,
        next_items=next_items,
        next_label=period_words(nxt) if nxt_first <= plan.period.end else "",
        closing=(
            f"Trên đây là báo cáo {summary_line(report, period)[:1].lower()}{summary_line(report, period)[1:]} "
            f"của Ủy ban nhân dân {plan.commune_label}./."
        ),
        recipients=(*(f"- {r.name};" for r in report.recipients), f"- Lưu: VT, {report.compiler.upper()}."),
        signer_authority=report.signer.authority.upper(),
        signer_title=report.signer.title.upper(),
        signer_name=signer_name,
    )
    return _with_fingerprint(model, waivers)


def _duty_or_report_title(plan: Plan, duty_id: str) -> str:
    return plan.item(duty_id).title


def _already_done(
    o: Occurrence, by_duty: Mapping[str, Sequence[EvidenceItem]], cut: dt.date, waivers: Mapping[tuple[str, str], str]
) -> bool:
    if (o.duty, o.period) in waivers:
        return True
    dates = [e.occurred_on for e in by_duty.get(o.duty, [])]
    t = tally_dates(o, dates, cut)
    return t.on_time + t.late >= o.needed


def _basis(plan: Plan, data_from: dt.date, data_to: dt.date) -> str:
    ref = f"Kế hoạch số {plan.number}" if plan.number else "Kế hoạch"
    if plan.issued_on:
        ref += f" ngày {fmt_day(plan.issued_on)}"
    title = plan.title[:1].lower() + plan.title[1:]
    title = re.sub(r"^kế hoạch\s+", "", title)
    return (
        f"Thực hiện {ref} của Ủy ban nhân dân {plan.commune_label} về {title}, "
        f"Ủy ban nhân dân {plan.commune_label} báo cáo kết quả thực hiện từ ngày {fmt_day(data_from)} "
        f"đến ngày {fmt_day(data_to)} như sau:"
    )


def _with_fingerprint(model: ReportModel, waivers: Mapping[tuple[str, str], str]) -> ReportModel:
    """A hash of the records the report stands on (its evidence and waivers, not the day it is read):
    a new draft is needed only when it changes."""
    h = hashlib.sha256()
    for row in model.rows:
        h.update(f"{row.duty}\n".encode())
        for e in row.evidence:
            h.update(f"{e.day}|{e.title}|{e.unit}|{e.link}\n".encode())
    for k, v in sorted(waivers.items()):
        h.update(f"{k}|{v}\n".encode())
    return replace(model, fingerprint=h.hexdigest())


def approval_brief(model: ReportModel, version: int, draft_url: str | None = None, asked_again: bool = False) -> str:
    """What the approver reads in the Resume dialog: the draft in a few lines, a link to it, and what to fill in.

    ``draft_url`` is an absolute http(s) link to the draft (the run's artifact in the UI); anything else is
    shown as text. ``asked_again`` says the previous answer approved without a document number.
    """
    by_assessment: dict[str, int] = {}
    for row in model.rows:
        by_assessment[row.assessment] = by_assessment.get(row.assessment, 0) + 1
    lines: list[str] = []
    if asked_again:
        lines += [
            "**⚠ Chưa duyệt được: lần trước chọn «Duyệt và gửi» nhưng chưa nhập số văn bản.** "
            "Nhập số văn bản (ví dụ 12/BC-UBND) rồi chọn «Duyệt và gửi» lại.",
            "",
        ]
    lines += [
        f"**Dự thảo {md_text(model.summary[:1].lower() + model.summary[1:])}** (bản {version})",
        "",
        f"- Số liệu từ {fmt_day(model.data_from)} đến {fmt_day(model.data_to)}; {model.evidence_count} minh chứng.",
        f"- {len(model.rows)} nhiệm vụ: "
        + "; ".join(f"{md_text(k).lower()}: {v}" for k, v in sorted(by_assessment.items(), key=lambda kv: -kv[1])),
    ]
    late = sum(len(s.items) for s in model.shortfalls)
    by_unit = "; ".join(f"{md_text(s.unit)}: {len(s.items)}" for s in model.shortfalls)
    lines.append(
        f"- Tồn tại, hạn chế: {late} việc ({by_unit}); chi tiết trong dự thảo."
        if late
        else "- Tồn tại, hạn chế: không có."
    )
    if draft_url:
        lines.append(
            f"- Xem toàn văn dự thảo: {md_url(draft_url, 'mở dự thảo')} (bản DOCX đính kèm thư gửi cơ quan thường trực)."
        )
    lines += [
        "",
        "Duyệt: chọn «Duyệt và gửi» và **nhập số văn bản** (bắt buộc). Trả lại: chọn «Trả lại để sửa» và ghi lý do.",
    ]
    return "\n".join(lines)
