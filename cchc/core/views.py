"""What coordinators see: the current occurrence of each duty, a table and a summary.

Pure: built from judged occurrences (and the system's stops, which would otherwise go
unnoticed); the flows publish the result as Prefect artifacts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from cchc.core import assumptions
from cchc.core.calendar import Occurrence
from cchc.core.evaluate import Status
from cchc.core.labels import ROMAN as ROMAN
from cchc.core.labels import STATUS_VI as STATUS_VI
from cchc.core.markdown import md_text
from cchc.core.periods import Cadence, PeriodKey, is_period
from cchc.core.spec import Plan


class Seen(Protocol):
    """A judged occurrence, whatever layer judged it."""

    @property
    def occurrence(self) -> Occurrence: ...
    @property
    def status(self) -> Status: ...
    @property
    def count(self) -> int: ...


S = TypeVar("S", bound=Seen)


def duty_title(plan: Plan, duty_id: str) -> str:
    try:
        return plan.item(duty_id).title
    except KeyError:
        return duty_id


def unit_name(plan: Plan, unit_id: str) -> str:
    try:
        return plan.unit(unit_id).name
    except KeyError:
        return unit_id


def current(judged: Sequence[S], at: dt.datetime) -> list[S]:
    """Per duty: the occurrence whose window holds ``at``, else the last started, else the next."""
    by_duty: dict[str, list[S]] = {}
    for j in judged:
        by_duty.setdefault(j.occurrence.duty, []).append(j)
    out = []
    for items in by_duty.values():
        items.sort(key=lambda j: j.occurrence.starts)
        inside = [j for j in items if j.occurrence.starts <= at < j.occurrence.due]
        started = [j for j in items if j.occurrence.starts <= at]
        out.append(inside[0] if inside else started[-1] if started else items[0])
    out.sort(key=lambda j: (j.occurrence.due, j.occurrence.duty))
    return out


def period_label(key: str, sep: str = "/") -> str:
    """'tháng 9/2025', 'quý III/2025' (or with sep=' năm ': 'quý III năm 2025'), '6 tháng cuối năm 2025', 'năm 2025'."""
    if not is_period(key):
        return key
    p = PeriodKey.parse(key)
    if p.cadence is Cadence.month:
        return f"tháng {p.index}{sep}{p.year}"
    if p.cadence is Cadence.quarter:
        return f"quý {ROMAN[p.index]}{sep}{p.year}"
    if p.cadence is Cadence.half:
        return f"6 tháng {'đầu' if p.index == 1 else 'cuối'} năm {p.year}"
    return f"năm {p.year}"


def fmt_day(day: dt.date) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


def fmt_moment(moment: dt.datetime, tz: str) -> str:
    """'08:00 ngày 03/11/2026', in the plan's time zone."""
    local = moment.astimezone(ZoneInfo(tz))
    return f"{local:%H:%M} ngày {fmt_day(local.date())}"


ZONE_VI = {"Asia/Ho_Chi_Minh": "giờ Việt Nam", "Asia/Saigon": "giờ Việt Nam", "UTC": "giờ UTC"}


def zone_label(moment: dt.datetime, tz: str) -> str:
    """'giờ Việt Nam, UTC+7': which clock a time shown to people is read on (the Prefect UI uses the browser's)."""
    offset = moment.astimezone(ZoneInfo(tz)).utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    utc = f"UTC{sign}{hours}" + (f":{mins:02d}" if mins else "")
    return f"{ZONE_VI.get(tz, f'giờ {tz}')}, {utc}"


def fmt_moment_zone(moment: dt.datetime, tz: str) -> str:
    """'08:00 ngày 03/11/2026 (giờ Việt Nam, UTC+7)'."""
    return f"{fmt_moment(moment, tz)} ({zone_label(moment, tz)})"


def fmt_local_day_zone(moment: dt.datetime, tz: str) -> str:
    """'ngày 03/11/2026 (giờ Việt Nam, UTC+7)': the day only, so an artifact judged twice a day reads the
    same both times (and is not written again)."""
    return f"ngày {fmt_day(moment.astimezone(ZoneInfo(tz)).date())} ({zone_label(moment, tz)})"


def fmt_duration(length: dt.timedelta) -> str:
    """'2 ngày 2 giờ', '3 giờ 20 phút', '45 phút': the two largest units, rounded down."""
    minutes = max(0, int(length.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} ngày {hours} giờ" if hours else f"{days} ngày"
    if hours:
        return f"{hours} giờ {mins} phút" if mins else f"{hours} giờ"
    return f"{mins} phút" if mins else "dưới 1 phút"


def gap_notice(stopped_from: dt.datetime, resumed_at: dt.datetime, tz: str) -> str:
    """One stop of the system, for the coordinator (status artifact, weekly digest)."""
    return (
        f"Lưu ý: hệ thống đã ngừng chạy từ {fmt_moment(stopped_from, tz)} đến {fmt_moment(resumed_at, tz)} "
        f"({fmt_duration(resumed_at - stopped_from)}); các lần chạy theo lịch trong thời gian đó không diễn ra đúng giờ."
    )


def status_description(plan: Plan, at: dt.datetime, notes: Sequence[str] = ()) -> str:
    """The description of the plan's status table (Markdown in the Prefect UI: the plan's title
    is escaped); ``notes`` (stops, from ``gap_notice``: system text) follow as paragraphs."""
    head = f"{md_text(plan.title)}: kỳ hiện tại của mọi nhiệm vụ, tính đến {fmt_local_day_zone(at, plan.timezone)}"
    return "\n\n".join([head, *notes])


def status_table(plan: Plan, judged: Sequence[Seen], at: dt.datetime) -> list[dict[str, str]]:
    rows = []
    for j in current(judged, at):
        o = j.occurrence
        need = f"{j.count}/{o.required}" if o.required is not None else str(j.count)
        assumed = assumptions.unconfirmed(plan, o.duty)
        # What she scans first (status, period, due date, count, unit) before the long title: at 1440 px
        # the UI shows only the first columns.
        cells = {
            "Trạng thái": STATUS_VI[j.status],
            "Kỳ": o.period,
            "Hạn": fmt_day(o.last_day),
            "Kết quả": need,
            "Đơn vị chủ trì": ", ".join(unit_name(plan, u) for u in o.leads),
            "Nhiệm vụ": duty_title(plan, o.duty),
            "Căn cứ": f"giả định: {assumptions.note(assumed)}" if assumed else "kế hoạch",
            "Mã": o.duty,
        }
        rows.append(md_cells(cells))
    return rows


def period_line(j: Seen) -> str:
    """One period's result for a run's log: '2025-12: 1/3, đang thực hiện, hạn 31/12/2025'."""
    o = j.occurrence
    count = f"{j.count}/{o.required}" if o.required is not None else f"{j.count} minh chứng"
    return f"{o.period}: {count}, {STATUS_VI[j.status]}, hạn {fmt_day(o.last_day)}"


def commune_heading(plan: Plan) -> str:
    """'Xã Phủ Thông': the commune's proper name kept (str.capitalize() would give 'Xã phủ thông')."""
    label = plan.commune_label
    return label[:1].upper() + label[1:]


def md_cells(cells: dict[str, str]) -> dict[str, str]:
    """A table artifact's row: the Prefect UI renders every cell as Markdown, so each is escaped."""
    return {k: md_text(v) for k, v in cells.items()}


def overdue_markdown(plan: Plan, judged: Sequence[Seen], at: dt.datetime, notes: Sequence[str] = ()) -> str:
    """Everything overdue or missed so far, grouped by lead unit; ``notes`` (stops, from
    ``gap_notice``: system text, not escaped) first. Text from the spec (commune, units,
    duty titles) goes through ``md_text``: the Prefect UI renders raw HTML and links."""
    late = [j for j in judged if j.status in (Status.overdue, Status.missed) and j.occurrence.starts <= at]
    when = fmt_local_day_zone(at, plan.timezone)
    lines = [f"# {md_text(commune_heading(plan))}: việc quá hạn tính đến {when}", ""]
    for note in notes:
        lines += [note, ""]
    if not late:
        lines.append("Không có nhiệm vụ nào quá hạn hoặc không đạt.")
        return "\n".join(lines) + "\n"
    by_unit: dict[str, list[Seen]] = {}
    for j in late:
        by_unit.setdefault(j.occurrence.lead, []).append(j)
    for unit_id in sorted(by_unit, key=lambda u: unit_name(plan, u)):
        lines.append(f"## {md_text(unit_name(plan, unit_id))}")
        for j in sorted(by_unit[unit_id], key=lambda j: j.occurrence.due):
            o = j.occurrence
            need = f", {j.count}/{o.required}" if o.required is not None else ""
            assumed = assumptions.unconfirmed(plan, o.duty)
            word = f"chưa đủ minh chứng ({assumptions.note(assumed)})" if assumed else STATUS_VI[j.status]
            lines.append(
                f"- {md_text(duty_title(plan, o.duty))} — kỳ {md_text(o.period)}, hạn {fmt_day(o.last_day)}: **{word}**{need}"
            )
        lines.append("")
    return "\n".join(lines)
