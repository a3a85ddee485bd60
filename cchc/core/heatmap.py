"""The plan at a glance: duties against months, each cell the status of the occurrence that covers it.

Pure data, no drawing (``cchc.app.heatmap`` draws it): the same grid feeds the plan's home artifact and
the report's figure, and its fingerprint tells whether a picture already drawn still holds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from cchc.core import assumptions
from cchc.core.calendar import to_local
from cchc.core.evaluate import Status
from cchc.core.periods import PeriodKey, is_period
from cchc.core.spec import Duty, Plan, Report
from cchc.core.views import Seen, fmt_local_day_zone

TITLE_CHARS = 34  # a row label fits beside the grid at a readable size


class Cell(StrEnum):
    """What a cell shows: the status words of ``cchc.core.labels``, folded to what a picture can tell apart."""

    met = "met"
    met_late = "met_late"
    open = "open"  # open or due soon: still time
    overdue = "overdue"
    missed = "missed"
    waived = "waived"
    upcoming = "upcoming"  # not yet begun
    before_effect = "before_effect"  # the plan had not taken effect: not judged


CELL_OF_STATUS: dict[Status, Cell] = {
    Status.met: Cell.met,
    Status.met_late: Cell.met_late,
    Status.open: Cell.open,
    Status.due_soon: Cell.open,
    Status.overdue: Cell.overdue,
    Status.missed: Cell.missed,
    Status.waived: Cell.waived,
    Status.upcoming: Cell.upcoming,
    Status.before_effect: Cell.before_effect,
}

# Legend order: done, still open, late, not judged.
CELL_VI: dict[Cell, str] = {
    Cell.met: "đạt",
    Cell.met_late: "đạt (muộn)",
    Cell.waived: "miễn",
    Cell.open: "đang thực hiện",
    Cell.overdue: "quá hạn",
    Cell.missed: "không đạt",
    Cell.upcoming: "chưa đến kỳ",
    Cell.before_effect: "chưa hiệu lực",
}

ASSUMED_MARK = "*"
ASSUMED_LEGEND = f"{ASSUMED_MARK} mốc do bộ phận điều phối đặt, chưa xác nhận (kế hoạch không quy định)"


@dataclass(frozen=True)
class Row:
    item: str  # duty or report id
    label: str  # "1. Đăng tin trên Trang thông tin…"
    assumed: bool  # an aspect of its rule rests on an unconfirmed assumption


@dataclass(frozen=True)
class Span:
    """One occurrence on the grid: row ``row``, months ``first``..``last`` (column indexes, inclusive)."""

    row: int
    first: int
    last: int
    cell: Cell
    period: str
    text: str  # "2/3", "" where no count applies


@dataclass(frozen=True)
class Grid:
    title: str
    rows: tuple[Row, ...]
    columns: tuple[str, ...]  # "T7/2025"
    spans: tuple[Span, ...]
    now_column: float | None  # where the judging moment falls (column index + share of the month), if inside
    caption: str  # "Tình trạng đến 08:00 ngày 30/11/2026 (giờ Việt Nam, UTC+7)"

    @property
    def assumed(self) -> bool:
        return any(r.assumed for r in self.rows)

    def fingerprint(self) -> str:
        """Everything the picture shows, hashed: equal fingerprints give the same bytes."""
        h = hashlib.sha256(f"{self.title}\n{self.caption}\n{self.now_column}\n".encode())
        for r in self.rows:
            h.update(f"r|{r.item}|{r.label}|{r.assumed}\n".encode())
        h.update("|".join(self.columns).encode())
        for s in self.spans:
            h.update(f"s|{s.row}|{s.first}|{s.last}|{s.cell}|{s.period}|{s.text}\n".encode())
        return h.hexdigest()


def _month_index(first: dt.date, day: dt.date) -> int:
    return (day.year - first.year) * 12 + day.month - first.month


def _months(start: dt.date, end: dt.date) -> list[dt.date]:
    out = []
    cur = dt.date(start.year, start.month, 1)
    while cur <= end:
        out.append(cur)
        cur = dt.date(cur.year + cur.month // 12, cur.month % 12 + 1, 1)
    return out


def _short(text: str, limit: int = TITLE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def row_label(number: str | None, title: str) -> str:
    return f"{number}. {_short(title)}" if number else _short(title)


def _count_text(count: int, required: int | None, cell: Cell) -> str:
    if cell in (Cell.upcoming, Cell.before_effect, Cell.waived):
        return ""
    return f"{count}/{required}" if required is not None else ""


def _now_column(first: dt.date, n: int, local: dt.datetime) -> float | None:
    day = local.date()
    col = _month_index(first, day)
    if not 0 <= col < n:
        return None
    month_days = (dt.date(day.year + day.month // 12, day.month % 12 + 1, 1) - dt.date(day.year, day.month, 1)).days
    return col + (day.day - 1) / month_days


def plan_grid(plan: Plan, judged: Sequence[Seen], at: dt.datetime) -> Grid:
    """Every duty and report of the plan against the months of its period, as judged at ``at``."""
    local = to_local(at, plan.timezone)
    months = _months(plan.period.start, plan.period.end)
    first = months[0]
    columns = tuple(f"T{m.month}/{m.year}" for m in months)
    items: list[Duty | Report] = [*plan.duties, *plan.reports]
    rows = tuple(
        Row(
            i.id,
            row_label(i.number if isinstance(i, Duty) and i.number else str(n), i.title),
            bool(assumptions.unconfirmed(plan, i.id)),
        )
        for n, i in enumerate(items, start=1)
    )
    index = {r.item: n for n, r in enumerate(rows)}
    spans = []
    for j in sorted(judged, key=lambda j: (index.get(j.occurrence.duty, -1), j.occurrence.starts)):
        o = j.occurrence
        row = index.get(o.duty)
        if row is None:
            continue
        start, last = _period_days(o.period, o.last_day) if is_period(o.period) else (o.start_day, o.last_day)
        lo = max(0, _month_index(first, start))
        hi = min(len(months) - 1, _month_index(first, last))
        if hi < 0 or lo > len(months) - 1 or lo > hi:
            continue  # outside the plan's months (a tail after its end)
        cell = CELL_OF_STATUS[j.status]
        spans.append(Span(row, lo, hi, cell, o.period, _count_text(j.count, o.required, cell)))
    return Grid(
        title=f"{plan.commune_label[:1].upper()}{plan.commune_label[1:]}: tình trạng các nhiệm vụ theo tháng",
        rows=rows,
        columns=columns,
        spans=tuple(spans),
        now_column=_now_column(first, len(months), local),
        # The day, not the minute: the picture (and its cache) changes with a status or the day, not every run.
        caption=f"Tính đến {fmt_local_day_zone(at, plan.timezone)}",
    )


class ReportPeriod(Protocol):
    @property
    def period(self) -> str: ...
    @property
    def due(self) -> dt.date: ...
    @property
    def status(self) -> Status: ...
    @property
    def count(self) -> int: ...
    @property
    def required(self) -> int | None: ...


class ReportLine(Protocol):
    @property
    def number(self) -> str: ...
    @property
    def duty(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def periods(self) -> Sequence[ReportPeriod]: ...


def _period_days(key: str, due: dt.date) -> tuple[dt.date, dt.date]:
    if is_period(key):
        p = PeriodKey.parse(key)
        return p.first, p.last
    if ".." in key:  # a one-off window "2025-07-01..2025-09-30"
        a, b = key.split("..", 1)
        try:
            return dt.date.fromisoformat(a), dt.date.fromisoformat(b)
        except ValueError:
            pass
    return due, due


def report_grid(
    title: str, lines: Sequence[ReportLine], data_from: dt.date, data_to: dt.date, assumed: frozenset[str]
) -> Grid:
    """The report's figure: its duties against the months of its data window, as the report judged them.

    ``assumed``: the duties whose rule rests on an unconfirmed assumption."""
    months = _months(data_from, data_to)
    first = months[0]
    rows = tuple(Row(line.duty, row_label(line.number, line.title), line.duty in assumed) for line in lines)
    spans = []
    for n, line in enumerate(lines):
        for p in line.periods:
            start, last = _period_days(p.period, p.due)
            lo = max(0, _month_index(first, start))
            hi = min(len(months) - 1, _month_index(first, min(last, p.due)))
            if lo > hi:
                continue
            cell = CELL_OF_STATUS[p.status]
            spans.append(Span(n, lo, hi, cell, p.period, _count_text(p.count, p.required, cell)))
    return Grid(
        title=title,
        rows=rows,
        columns=tuple(f"T{m.month}/{m.year}" for m in months),
        spans=tuple(spans),
        now_column=None,
        caption=(
            f"Số liệu từ {data_from.day:02d}/{data_from.month:02d}/{data_from.year} "
            f"đến {data_to.day:02d}/{data_to.month:02d}/{data_to.year}"
        ),
    )
