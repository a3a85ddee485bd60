"""The province roll-up as data: which communes are behind, on what, at one moment.

The store answers with one set-based query (``cchc.store.province``): per commune and duty kind (or per
commune and duty), how many occurrences stand in each status. Everything here is pure: the counts, the
derived figures (due so far, share met, reports on time / late / not yet), the order a department reads
them in (worst first), the text table, and the heatmap grid (communes against duty kinds).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from vietnam_provinces import Province, Ward

from cchc.core.communes import _folded, matches
from cchc.core.heatmap import Cell, Grid, Row, Span
from cchc.core.markdown import md_text
from cchc.core.views import fmt_local_day_zone

By = Literal["kind", "duty"]
REPORT_GROUP = "compiled_report"  # the commune's own periodic report (plan.reports), beside the duty kinds

# Columns of the province views, in reading order; the last is the commune's report to the province.
GROUP_VI: dict[str, str] = {
    "quota": "Định kỳ (số lượng)",
    "deadline": "Có thời hạn",
    "continuous": "Thường xuyên",
    "report": "Báo cáo của đơn vị",
    REPORT_GROUP: "Báo cáo của xã",
}
GROUP_SHORT: dict[str, str] = {  # heatmap columns are narrow
    "quota": "Số lượng",
    "deadline": "Thời hạn",
    "continuous": "Thường xuyên",
    "report": "BC đơn vị",
    REPORT_GROUP: "BC của xã",
}


@dataclass(frozen=True)
class Counts:
    """Occurrences of a group by status, as ``cchc.core.evaluate.judge`` names them (due_soon counted as open)."""

    met: int = 0
    met_late: int = 0
    open: int = 0
    overdue: int = 0
    missed: int = 0
    waived: int = 0
    upcoming: int = 0
    before_effect: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))

    @property
    def done(self) -> int:
        return self.met + self.met_late

    @property
    def due(self) -> int:
        """Due so far, or done earlier: what the share met is taken over (waived ones included)."""
        return self.met + self.met_late + self.overdue + self.missed + self.waived

    @property
    def share_met(self) -> float | None:
        """Met (on time or late) over what was due so far and not waived; None where nothing was due."""
        base = self.due - self.waived
        return self.done / base if base else None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["due"] = self.due
        out["done"] = self.done
        out["share_met"] = None if self.share_met is None else round(self.share_met, 4)
        return out

    def worst_cell(self) -> Cell:
        """What one heatmap cell shows for the group: its worst status that has happened."""
        for cell, n in (
            (Cell.missed, self.missed),
            (Cell.overdue, self.overdue),
            (Cell.met_late, self.met_late),
            (Cell.met, self.met),
            (Cell.waived, self.waived),
            (Cell.open, self.open),
            (Cell.upcoming, self.upcoming),
        ):
            if n:
                return cell
        return Cell.before_effect


@dataclass(frozen=True)
class Line:
    """One commune and one group: a duty kind (``by='kind'``) or a duty of a plan (``by='duty'``)."""

    commune_code: int
    commune: str
    group: str  # a duty kind, REPORT_GROUP, or a duty / report id
    kind: str  # the duty kind; REPORT_GROUP for the commune's own reports
    counts: Counts
    plan_id: str | None = None  # by duty only
    title: str = ""  # by duty: the duty's title; by kind: the kind's label

    @property
    def is_report(self) -> bool:
        return self.kind == REPORT_GROUP


@dataclass(frozen=True)
class Reports:
    """The commune's own periodic reports (to the province): delivered on time, late, not yet (due, not sent)."""

    on_time: int = 0
    late: int = 0
    not_yet: int = 0
    waived: int = 0

    @classmethod
    def of(cls, c: Counts) -> Reports:
        return cls(on_time=c.met, late=c.met_late, not_yet=c.overdue + c.missed, waived=c.waived)

    def as_json(self) -> dict[str, int]:
        return {"on_time": self.on_time, "late": self.late, "not_yet": self.not_yet, "waived": self.waived}


@dataclass(frozen=True)
class CommuneSummary:
    code: int
    name: str
    duties: Counts  # every duty kind, the commune's own reports left out
    reports: Reports

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "duties": self.duties.as_json(),
            "reports": self.reports.as_json(),
        }


def _worst_first(s: CommuneSummary) -> tuple[float, int, int, int, str]:
    share = s.duties.share_met
    return (2.0 if share is None else share, -s.duties.missed, -s.duties.overdue, -s.reports.not_yet, s.name)


@dataclass(frozen=True)
class Rollup:
    province_code: int
    province: str
    at: dt.datetime
    tz: str
    by: By
    lines: tuple[Line, ...]
    plans: int = 0
    names: dict[int, str] = field(default_factory=dict)  # every commune with a plan, by code (none judged yet too)

    def communes(self) -> list[CommuneSummary]:
        """One summary per commune, worst first: lowest share met, then most missed, overdue, reports not sent."""
        duties: dict[int, Counts] = {}
        reports: dict[int, Counts] = {}
        names = dict(self.names)
        for ln in self.lines:
            names.setdefault(ln.commune_code, ln.commune)
            target = reports if ln.is_report else duties
            target[ln.commune_code] = target.get(ln.commune_code, Counts()) + ln.counts
        out = [
            CommuneSummary(code, name, duties.get(code, Counts()), Reports.of(reports.get(code, Counts())))
            for code, name in names.items()
        ]
        return sorted(out, key=_worst_first)

    def totals(self) -> CommuneSummary:
        duties = sum((ln.counts for ln in self.lines if not ln.is_report), Counts())
        reports = sum((ln.counts for ln in self.lines if ln.is_report), Counts())
        return CommuneSummary(self.province_code, self.province, duties, Reports.of(reports))

    def by_group(self) -> dict[str, Counts]:
        """Province totals per duty kind (REPORT_GROUP for the communes' reports)."""
        out: dict[str, Counts] = {}
        for ln in self.lines:
            key = ln.kind
            out[key] = out.get(key, Counts()) + ln.counts
        return {k: out[k] for k in (*GROUP_VI, *sorted(set(out) - set(GROUP_VI))) if k in out}

    def as_json(self) -> dict[str, Any]:
        return {
            "province": {"code": self.province_code, "name": self.province},
            "at": self.at.isoformat(),
            "by": self.by,
            "plans": self.plans,
            "totals": self.totals().as_json(),
            "communes": [c.as_json() for c in self.communes()],
            "lines": [
                {
                    "commune_code": ln.commune_code,
                    "commune": ln.commune,
                    "plan": ln.plan_id,
                    "group": ln.group,
                    "kind": ln.kind,
                    "title": ln.title,
                    **ln.counts.as_json(),
                }
                for ln in self.lines
            ],
        }


# --- the province itself -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProvinceRef:
    code: int
    name: str

    @property
    def slug(self) -> str:
        """'Thành phố Hải Phòng' -> 'hai-phong': the folder name under plan_specs/."""
        return re.sub(r"[^a-z0-9]+", "-", _folded(self.name)).strip("-")

    def commune_codes(self) -> list[int]:
        return sorted(int(w.code) for w in Ward.iter_all() if int(w.province_code) == self.code)


def all_provinces() -> list[ProvinceRef]:
    return [ProvinceRef(int(p.code), p.name) for p in Province.iter_all()]


def find_province(query: str) -> ProvinceRef:
    """A province by register code (digits) or part of its name, with or without diacritics.

    Raises ValueError naming the candidates when none or several match."""
    q = query.strip()
    found = [p for p in all_provinces() if matches(q, p.name, p.code)]
    exact = [p for p in found if _folded(p.name) == _folded(q)]
    if len(exact) == 1:
        return exact[0]
    if len(found) == 1:
        return found[0]
    if not found:
        raise ValueError(
            f"không có tỉnh/thành phố nào khớp '{query}': ghi mã (vd. 31) hoặc tên (vd. 'Hải Phòng', 'hai phong')"
        )
    names = ", ".join(f"{p.name} ({p.code})" for p in found)
    raise ValueError(f"'{query}' khớp nhiều tỉnh/thành phố: {names}; ghi rõ hơn hoặc ghi mã")


# --- what people read ----------------------------------------------------------------------------------


def pct(share: float | None) -> str:
    return "—" if share is None else f"{round(share * 100):d} %"


def table_text(r: Rollup) -> str:
    """The Vietnamese table of ``cchc province status``: communes worst first, then the totals."""
    head = (
        f"{r.province} (mã {r.province_code}): {r.plans} kế hoạch, tính đến {fmt_local_day_zone(r.at, r.tz)}",
        "",
        f"{'Xã/phường':<26} {'Đến hạn':>7} {'Đạt':>5} {'Tỉ lệ':>6} {'Quá hạn':>7} {'K.đạt':>5} {'Miễn':>5}"
        f"  {'BC đúng hạn':>11} {'BC muộn':>7} {'BC chưa gửi':>11}",
    )
    body = [_table_row(c) for c in r.communes()]
    total = r.totals()
    rule = "-" * len(head[2])
    lines = [*head, rule, *body, rule, _table_row(CommuneSummary(0, "Tổng cộng", total.duties, total.reports))]
    if r.by == "kind":
        lines += ["", "Theo loại nhiệm vụ (toàn tỉnh):"]
        for g, c in r.by_group().items():
            lines.append(
                f"  {GROUP_VI.get(g, g):<24} đến hạn {c.due:>5}, đạt {c.done:>5} ({pct(c.share_met)}), "
                f"quá hạn {c.overdue}, không đạt {c.missed}, miễn {c.waived}"
            )
    else:
        lines += ["", "Theo nhiệm vụ (xã có nhiệm vụ quá hạn hoặc không đạt):"]
        for ln in sorted(r.lines, key=lambda x: (-x.counts.missed, -x.counts.overdue, x.commune, x.group)):
            if ln.counts.missed or ln.counts.overdue:
                lines.append(
                    f"  {ln.commune:<20} {ln.plan_id or '':<24} {ln.group:<28} quá hạn {ln.counts.overdue}, "
                    f"không đạt {ln.counts.missed}"
                )
    return "\n".join(lines)


def _table_row(c: CommuneSummary) -> str:
    d, rp = c.duties, c.reports
    name = c.name if len(c.name) <= 26 else c.name[:25] + "…"
    return (
        f"{name:<26} {d.due:>7} {d.done:>5} {pct(d.share_met):>6} {d.overdue:>7} {d.missed:>5} {d.waived:>5}"
        f"  {rp.on_time:>11} {rp.late:>7} {rp.not_yet:>11}"
    )


def markdown_table(r: Rollup) -> str:
    """The same table for a Prefect artifact or the HTML report (names escaped by the caller's renderer)."""
    rows = [
        "| Xã/phường | Đến hạn | Đạt | Tỉ lệ đạt | Quá hạn | Không đạt | Miễn | BC đúng hạn | BC muộn | BC chưa gửi |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    total = r.totals()
    for c in [*r.communes(), CommuneSummary(0, "**Tổng cộng**", total.duties, total.reports)]:
        d, rp = c.duties, c.reports
        rows.append(
            f"| {_md(c.name) if c.code else c.name} | {d.due} | {d.done} | {pct(d.share_met)} | {d.overdue} "
            f"| {d.missed} | {d.waived} | {rp.on_time} | {rp.late} | {rp.not_yet} |"
        )
    return "\n".join(rows)


def _md(text: str) -> str:
    return md_text(text)


def province_grid(r: Rollup) -> Grid:
    """Communes (worst first) against duty kinds; each cell the worst status that happened, with met/due.

    At 114 communes the picture is tall, not wide: one row a commune, five columns."""
    groups = [g for g in GROUP_VI if any(ln.kind == g for ln in r.lines)]
    communes = r.communes()
    rows = tuple(Row(str(c.code), f"{c.name} ({pct(c.duties.share_met)})", False) for c in communes)
    index = {int(row.item): n for n, row in enumerate(rows)}
    per: dict[tuple[int, str], Counts] = {}
    for ln in r.lines:
        key = (ln.commune_code, ln.kind)
        per[key] = per.get(key, Counts()) + ln.counts
    spans = []
    for (code, kind), c in sorted(per.items()):
        if kind not in groups:
            continue
        col = groups.index(kind)
        cell = c.worst_cell()
        text = f"{c.done}/{c.due - c.waived}" if c.due - c.waived else ""
        spans.append(Span(index[code], col, col, cell, kind, text))
    return Grid(
        title=f"{r.province}: tình trạng theo xã và loại nhiệm vụ",
        rows=rows,
        columns=tuple(GROUP_SHORT[g] for g in groups),
        spans=tuple(sorted(spans, key=lambda s: (s.row, s.first))),
        now_column=None,
        caption=f"Tính đến {fmt_local_day_zone(r.at, r.tz)}; ô: số đạt / số đến hạn; xã xếp từ thấp nhất",
    )


def merge_lines(lines: Iterable[Line]) -> tuple[Line, ...]:
    """Stable order: commune, then group in the reading order of GROUP_VI."""
    order = {g: n for n, g in enumerate(GROUP_VI)}
    return tuple(
        sorted(lines, key=lambda ln: (ln.commune, ln.commune_code, ln.plan_id or "", order.get(ln.kind, 99), ln.group))
    )


def kinds_of(lines: Sequence[Line]) -> list[str]:
    return sorted({ln.kind for ln in lines}, key=lambda k: list(GROUP_VI).index(k) if k in GROUP_VI else 99)


def split_grid(grid: Grid, rows_per_part: int) -> list[Grid]:
    """The grid cut into parts of at most ``rows_per_part`` rows (a page of the DOCX report holds about 25)."""
    if len(grid.rows) <= rows_per_part:
        return [grid]
    parts = []
    n_parts = -(-len(grid.rows) // rows_per_part)
    for i in range(n_parts):
        lo, hi = i * rows_per_part, min((i + 1) * rows_per_part, len(grid.rows))
        spans = tuple(replace(s, row=s.row - lo) for s in grid.spans if lo <= s.row < hi)
        parts.append(replace(grid, title=f"{grid.title} ({i + 1}/{n_parts})", rows=grid.rows[lo:hi], spans=spans))
    return parts


def artifact_key(code: int) -> str:
    return f"cchc-province-{code}"


def artifact_markdown(r: Rollup, heatmap_uri: str | None) -> str:
    """The province page in the Prefect UI: the totals, the communes worst first, the kinds, the heatmap."""
    total = r.totals()
    d, rp = total.duties, total.reports
    parts = [
        f"# {md_text(r.province)}: tình hình thực hiện kế hoạch tuyên truyền CCHC của các xã",
        "",
        f"Tính đến {fmt_local_day_zone(r.at, r.tz)}. {r.plans} kế hoạch của {len(r.communes())} xã, phường, đặc khu.",
        "",
        f"**{d.due}** lượt nhiệm vụ đã đến hạn: **{d.done}** đạt ({pct(d.share_met)}), **{d.overdue}** quá hạn, "
        f"**{d.missed}** không đạt, {d.waived} miễn. Báo cáo của các xã: {rp.on_time} đúng hạn, {rp.late} muộn, "
        f"**{rp.not_yet}** chưa gửi.",
        "",
        "## Theo loại nhiệm vụ",
        "",
        "| Loại nhiệm vụ | Đến hạn | Đạt | Tỉ lệ đạt | Quá hạn | Không đạt | Miễn |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {GROUP_VI.get(g, g)} | {c.due} | {c.done} | {pct(c.share_met)} | {c.overdue} | {c.missed} | {c.waived} |"
            for g, c in r.by_group().items()
        ),
        "",
        "## Các xã (tỉ lệ đạt thấp nhất trước)",
        "",
        markdown_table(r),
    ]
    if heatmap_uri:
        parts += [
            "",
            "## Bản đồ nhiệt: xã × loại nhiệm vụ",
            "",
            f"![Bản đồ nhiệt {md_text(r.province)}]({heatmap_uri})",
        ]
    return "\n".join(parts) + "\n"
