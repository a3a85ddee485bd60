"""Use case: the department's word on the province summary report's assumed rule (``cchc assumption … PROVINCE``).

The same model as a plan's assumptions (cchc.app.service.decide_assumption): the decision is stored with its
audit row, the spec file stays as written, and every reader of the spec (the province report) reads it with
the decisions applied (``decided``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cchc.app import province as province_case
from cchc.app.service import UserError, check_decider, engine_for, plan_path, rules_refusal
from cchc.core import province_assumptions as rules
from cchc.core.assumptions import Decision
from cchc.core.province import ProvinceRef
from cchc.core.province_spec import FILE_NAME, ProvinceSpec, load_province_spec, province_spec_files
from cchc.core.spec import DueRule
from cchc.settings import Settings
from cchc.store import assumptions as assumption_store
from cchc.store.db import session_scope


def spec_of(settings: Settings, province: ProvinceRef) -> ProvinceSpec:
    """The province's ``_province.yaml`` in the plan folder (any folder below it), by its province code, as
    written (UserError: none)."""
    for path in province_spec_files([settings.plan_dir]):
        spec = load_province_spec(path)
        if spec.province.code == province.code:
            return spec
    raise UserError(
        f"chưa có tệp {FILE_NAME} của {province.name} (mã {province.code}) trong {settings.plan_dir}: tạo "
        f"{settings.plan_dir}/{province.slug}/{FILE_NAME} (cơ quan tổng hợp, người ký, nơi nhận, hạn báo cáo; "
        f"xem mẫu plan_specs/hai-phong/{FILE_NAME})"
    )


def target(settings: Settings, ref: str) -> ProvinceSpec | None:
    """The province spec ``ref`` names (a ``_province.yaml`` path, its folder's name, or a province's code or
    name that is not a plan id), as written; None when ``ref`` is a plan's id or path (or names nothing: the plan's error says so)."""
    path = Path(ref)
    if path.name == FILE_NAME and path.is_file():
        return load_province_spec(path)
    if ref.endswith((".yaml", ".yml")) or path.is_file() or plan_path(settings, ref) is not None:
        return None
    for spec_path in province_spec_files([settings.plan_dir]):
        if spec_path.parent.name == ref:  # the province's folder: plan_specs/hai-phong/
            return load_province_spec(spec_path)
    try:
        province = province_case.resolve_province(ref)
    except UserError:
        return None
    return spec_of(settings, province)


def decided(settings: Settings, spec: ProvinceSpec) -> ProvinceSpec:
    """The spec with the department's decisions on its assumptions applied."""
    with session_scope(engine_for(settings)) as s:
        made = assumption_store.decisions(s, rules.key(spec))
    return rules.apply(spec, made)


def decide(
    settings: Settings,
    spec: ProvinceSpec,
    item: str,
    aspect: str,
    action: str,
    reason: str,
    by: str,
    now: dt.datetime,
    due: DueRule | None = None,
    min_count: int | None = None,
    effective_from: dt.date | None = None,
) -> ProvinceSpec:
    """Record the decision on one assumption of the summary report (audited); return the spec as it now acts.
    Refused as a plan's decision is: no reason, nobody deciding, not an assumption, a change without a value."""
    check_decider(reason, by)
    if min_count is not None or effective_from is not None:
        raise UserError("the summary report has no count and no effective date: change its due day (--due-day)")
    current = decided(settings, spec)
    with rules_refusal():
        rules.check(current, item, aspect, action, (due,))
        d = Decision(rules.key(spec), "", aspect, action, by.strip(), now, reason.strip(), due)
        result = rules.apply(current, [d])
    with session_scope(engine_for(settings)) as s:
        assumption_store.add(s, d)
    return result
