"""The plan's home artifact, "Tuần này": what the coordinator acts on this week, on one page.

Pure: the caller gathers the judged plan, the reports waiting for approval, the failing feed sources, the
failed runs, the links into the Prefect UI and the heatmap image; this module only words them (Markdown,
every text from a spec, a feed or Prefect escaped with ``md_text``; links only to paths we build).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cchc.core import assumptions
from cchc.core.calendar import to_local
from cchc.core.evaluate import DONE, Status
from cchc.core.labels import REPORT_STATE_VI, STATUS_VI
from cchc.core.markdown import md_text
from cchc.core.spec import Plan
from cchc.core.views import (
    Seen,
    commune_heading,
    duty_title,
    fmt_day,
    fmt_moment_zone,
    period_label,
    unit_name,
    zone_label,
)

# A link target we build ourselves: a path of the Prefect UI, or a data-URI image; never user text.
_UI_PATH = re.compile(r"^/[a-z0-9/_-]*$")
_DATA_SVG = re.compile(r"^data:image/svg\+xml;base64,[A-Za-z0-9+/=]+$")


def home_key(plan_id: str) -> str:
    """The artifact key (Prefect allows ``[a-z0-9-]``)."""
    return f"plan-{plan_id}-tuan-nay".lower().replace("_", "-")


def deployment_path(deployment_id: str) -> str:
    return f"/deployments/deployment/{deployment_id}"


def flow_run_path(flow_run_id: str) -> str:
    return f"/runs/flow-run/{flow_run_id}"


def artifact_path(key: str) -> str:
    return f"/artifacts/key/{key}"


@dataclass(frozen=True)
class WaitingReport:
    report_id: str
    period: str
    state: str  # report_runs.state: drafted | sent_back | approved
    due: dt.date | None


@dataclass(frozen=True)
class FailingSource:
    duty: str
    url: str
    since: dt.datetime
    error: str


@dataclass(frozen=True)
class FailedRun:
    name: str
    state: str  # "Failed", "Crashed"
    at: dt.datetime
    flow_run_id: str


@dataclass(frozen=True)
class HomeState:
    judged: Sequence[Seen]
    waiting: Sequence[WaitingReport] = ()
    sources: Sequence[FailingSource] = ()
    runs: Sequence[FailedRun] = ()
    deployments: Mapping[str, str] = field(default_factory=dict)  # item id -> deployment id in Prefect
    artifacts: Mapping[str, str] = field(default_factory=dict)  # label -> artifact key
    heatmap: str | None = None  # data:image/svg+xml;base64,…


def week_of(at: dt.datetime, tz: str) -> tuple[dt.date, dt.date]:
    """Monday and Sunday of the week holding ``at`` in the plan's time zone."""
    day = to_local(at, tz).date()
    monday = day - dt.timedelta(days=day.weekday())
    return monday, monday + dt.timedelta(days=6)


def _link(label: str, path: str | None) -> str:
    text = md_text(label)
    if path is None or not _UI_PATH.match(path):
        return text
    return f"[{text}]({path})"


def _item(plan: Plan, state: HomeState, item_id: str) -> str:
    dep = state.deployments.get(item_id)
    return _link(duty_title(plan, item_id), deployment_path(dep) if dep else None)


def _result(plan: Plan, j: Seen) -> str:
    o = j.occurrence
    count = f"{j.count}/{o.required}, " if o.required is not None else ""
    late = j.status in (Status.overdue, Status.missed)
    # Never "quá hạn" against a rule the plan does not state (as in the overdue artifact and the report).
    word = "chưa đủ minh chứng" if late and assumptions.unconfirmed(plan, o.duty) else STATUS_VI[j.status]
    return f"{count}{word}"


def _assumed(plan: Plan, item_id: str) -> str:
    aspects = assumptions.unconfirmed(plan, item_id)
    return f" — *{md_text(assumptions.note(aspects))}*" if aspects else ""


def _outcome(plan: Plan, j: Seen) -> str:
    """An occurrence's result, its lead units and the note on an unconfirmed assumption."""
    o = j.occurrence
    leads = md_text(", ".join(unit_name(plan, u) for u in o.leads))
    return f"{_result(plan, j)} ({leads}){_assumed(plan, o.duty)}"


def _section(title: str, empty: str, rows: list[str]) -> list[str]:
    """A heading, then its rows or the sentence saying there are none, then a blank line."""
    return [f"## {title}", "", *(rows or [empty]), ""]


def home_markdown(plan: Plan, at: dt.datetime, state: HomeState) -> str:
    tz = plan.timezone
    monday, sunday = week_of(at, tz)
    lines = [
        f"# {md_text(commune_heading(plan))} — Tuần này ({fmt_day(monday)}–{fmt_day(sunday)})",
        "",
        f"Cập nhật lúc {fmt_moment_zone(at, tz)}. {md_text(plan.title)}.",
        "",
    ]
    if state.artifacts:
        links = " · ".join(_link(label, artifact_path(key)) for label, key in state.artifacts.items())
        lines += [f"Bảng chi tiết: {links}", ""]

    due = sorted(
        (j for j in state.judged if monday <= j.occurrence.last_day <= sunday and j.status is not Status.before_effect),
        key=lambda j: (j.occurrence.due, j.occurrence.duty),
    )
    lines += _section(
        "Đến hạn trong tuần",
        "Không có nhiệm vụ nào đến hạn trong tuần này.",
        [
            f"- {'✓ ' if j.status in DONE else ''}**hạn {fmt_day(j.occurrence.last_day)}** — "
            f"{_item(plan, state, j.occurrence.duty)}, {md_text(period_label(j.occurrence.period))}: {_outcome(plan, j)}"
            for j in due
        ],
    )

    late = sorted(
        (j for j in state.judged if j.status is Status.overdue and j.occurrence.starts <= at),
        key=lambda j: (j.occurrence.due, j.occurrence.duty),
    )
    lines += _section(
        "Quá hạn",
        "Không có nhiệm vụ nào quá hạn.",
        [
            f"- {_item(plan, state, j.occurrence.duty)}, {md_text(period_label(j.occurrence.period))} — "
            f"hạn {fmt_day(j.occurrence.last_day)}: {_outcome(plan, j)}"
            for j in late
        ],
    )
    lines += _section(
        "Báo cáo chờ duyệt",
        "Không có báo cáo nào chờ duyệt.",
        [
            f"- {_item(plan, state, w.report_id)}, {md_text(period_label(w.period))}: "
            f"**{md_text(REPORT_STATE_VI.get(w.state, w.state))}**{f', hạn {fmt_day(w.due)}' if w.due else ''}"
            for w in sorted(state.waiting, key=lambda w: (w.due or dt.date.max, w.report_id))
        ],
    )
    lines += _section(
        "Nguồn minh chứng tự động bị lỗi",
        "Mọi nguồn tự động đều đọc được.",
        [
            f"- {_item(plan, state, s.duty)}: {md_text(s.url)} — lỗi từ {fmt_moment_zone(s.since, tz)}: {md_text(s.error)}"
            for s in sorted(state.sources, key=lambda s: (s.since, s.duty, s.url))
        ],
    )
    lines += _section(
        "Lần chạy lỗi trong 48 giờ qua",
        "Không có lần chạy nào lỗi hoặc sập.",
        [
            f"- {_link(r.name, flow_run_path(r.flow_run_id))} — {md_text(r.state)}, {fmt_moment_zone(r.at, tz)}"
            for r in sorted(state.runs, key=lambda r: (r.at, r.name), reverse=True)
        ],
    )

    if state.heatmap and _DATA_SVG.match(state.heatmap):
        lines += [
            "## Toàn cảnh kế hoạch",
            "",
            f"![Bản đồ nhiệt: các nhiệm vụ của {md_text(plan.commune_label)} theo tháng]({state.heatmap})",
            "",
        ]
    lines.append(f"Mọi giờ trên trang này là {zone_label(at, tz)}.")
    return "\n".join(lines) + "\n"
