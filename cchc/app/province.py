"""Use case: the province roll-up for the Department of Home Affairs (``cchc province status``, the province
artifact, the province summary report), over every plan of the province in the plan folder."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cchc.app import plan_cache, service
from cchc.core.loader import spec_files
from cchc.core.province import By, ProvinceRef, Rollup, find_province
from cchc.core.spec import Plan
from cchc.settings import Settings
from cchc.store import repo
from cchc.store.db import session_scope
from cchc.store.province import rollup_lines

TZ = "Asia/Ho_Chi_Minh"  # every commune plan of the country judges in Vietnam's time
SYNC_BATCH = 200  # plans per transaction: SQLite holds its write lock until each commit


def resolve_province(query: str) -> ProvinceRef:
    try:
        return find_province(query)
    except ValueError as e:
        raise service.UserError(str(e)) from None


def province_plans(settings: Settings, province: ProvinceRef) -> list[Plan]:
    """The province's plans in the plan folder (by commune code: a plan's commune must be in the province),
    with the coordinators' decisions on their assumptions applied, as every other command reads them."""
    codes = set(province.commune_codes())
    out = []
    for path in spec_files([settings.plan_dir]):
        plan = plan_cache.load(path, settings.home)
        if plan.commune.code in codes:
            out.append(service.with_decisions(settings, plan))
    return sorted(out, key=lambda p: p.id)


def rollup(
    settings: Settings,
    province: ProvinceRef,
    at: dt.datetime,
    now: dt.datetime,
    by: By = "kind",
    plans: Sequence[Plan] | None = None,
) -> Rollup:
    """Sync the province's plans into the store (a no-op for unchanged ones) and ask the one roll-up query."""
    chosen = list(plans) if plans is not None else province_plans(settings, province)
    engine = service.engine_for(settings)
    for i in range(0, len(chosen), SYNC_BATCH):
        with session_scope(engine) as s:
            repo.sync_plans(s, chosen[i : i + SYNC_BATCH], now)
    reports = [(p.id, r.id) for p in chosen for r in p.reports]
    with session_scope(engine) as s:
        lines = rollup_lines(s, [p.id for p in chosen], at, TZ, reports, by)
    names = {p.commune.code: p.commune.name for p in chosen}
    return Rollup(province.code, province.name, at, TZ, by, lines, plans=len(chosen), names=names)
