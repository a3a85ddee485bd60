"""The plan's home artifact "Tuần này": what the store says (the judged plan, reports waiting for approval,
failing feed sources) and the heatmap picture. The Prefect side (links, failed runs, publishing) is in
``tasks/home.py``; the wording in ``cchc.core.home``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cchc.app import heatmap as drawing
from cchc.app import service
from cchc.core import heatmap
from cchc.core.home import FailingSource, WaitingReport
from cchc.core.spec import Plan
from cchc.settings import Settings
from cchc.store import repo, reports, sources
from cchc.store.db import session_scope

WAITING_STATES = ("drafted", "sent_back", "approved", "signing", "signed")  # not yet delivered


@dataclass(frozen=True)
class StoreView:
    judged: list[repo.Judged]
    waiting: list[WaitingReport]
    sources: list[FailingSource]


def cache_dir(settings: Settings) -> Path:
    return settings.home / "cache" / "heatmap"


def read_store(settings: Settings, plan: Plan, at: dt.datetime, now: dt.datetime) -> StoreView:
    """The plan judged at ``at``, its reports not yet delivered, its failing sources (read only, one session)."""
    engine = service.engine_for(settings)
    service.ensure_plan(engine, plan, now)
    with session_scope(engine) as s:
        judged = repo.evaluate(s, at, [plan.id], plan.timezone)
        runs = [r for r in reports.plan_runs(s, plan.id) if r.state in WAITING_STATES]
        failing = sources.failing(s, plan.id)
        waiting_rows = [(r.report_id, r.period, r.state) for r in runs]
        failing_rows = [
            FailingSource(f.duty_id, f.url, f.failing_since, f.last_error or "")
            for f in failing
            if f.failing_since is not None
        ]
    due = {(j.occurrence.duty, j.occurrence.period): j.occurrence.last_day for j in judged}
    waiting = [WaitingReport(rid, period, state, due.get((rid, period))) for rid, period, state in waiting_rows]
    return StoreView(judged, waiting, failing_rows)


def heatmap_uri(settings: Settings, plan: Plan, judged: list[repo.Judged], at: dt.datetime) -> str:
    """The plan's heatmap as a data URI; drawn (matplotlib imported) only when this grid was never drawn:
    the grid changes with a status or the day, not with every run."""
    grid = heatmap.plan_grid(plan, judged, at)
    return drawing.data_uri(drawing.cached_svg(grid, cache_dir(settings)))
