"""The province page's deployment (as data): one per province that has plans, beside the plans' own.

Kept apart from ``cchc.core.deployments`` (the plans' mapping): a province page belongs to no plan, and a province
of 114 communes adds one deployment, not one per commune. It runs on working days at 07:30, 12:30 and 16:30, as
the plans' home pages do, over the span of the province's plans.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cchc.core.communes import _folded
from cchc.core.deployments import HOME_HOURS, MANAGED_TAG, TAIL_DAYS, DeploymentSpec, _clean, _rrule
from cchc.core.province import ProvinceRef, all_provinces
from cchc.core.spec import Plan

ENTRYPOINT = "flows/province.py:province_home"


def province_deployment(province: ProvinceRef, plans: Sequence[Plan]) -> DeploymentSpec:
    first = min(p.period.start for p in plans)
    last = max(p.period.end for p in plans) + dt.timedelta(days=TAIL_DAYS + 31)
    hours = ",".join(str(h) for h in HOME_HOURS)
    return DeploymentSpec(
        name=_clean(f"Tổng hợp tỉnh · {province.name}"),
        entrypoint=ENTRYPOINT,
        description=(
            f"{province.name}: trang tổng hợp cho Sở Nội vụ (mục Artifacts, khóa cchc-province-{province.code}): "
            f"{len(plans)} kế hoạch, các xã xếp từ tỉ lệ đạt thấp nhất, quá hạn, không đạt, báo cáo đúng hạn/muộn/"
            "chưa gửi và bản đồ nhiệt xã × loại nhiệm vụ. Chạy 07:30, 12:30, 16:30 các ngày làm việc."
        ),
        parameters={"province": str(province.code)},
        tags=[MANAGED_TAG, f"province:{province.code}", "kind:province"],
        schedules=[_rrule(first, last, f"FREQ=HOURLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR={hours};BYMINUTE=30")],
    )


def province_deployments(plans: Sequence[Plan]) -> list[DeploymentSpec]:
    """One province page per province that has at least one of these plans, by province code."""
    by_name = {_folded(p.name): p for p in all_provinces()}
    grouped: dict[int, tuple[ProvinceRef, list[Plan]]] = {}
    for plan in plans:
        ref = by_name.get(_folded(plan.commune.province))
        if ref is None:  # the spec's commune check ties code, name and province to the register
            continue
        grouped.setdefault(ref.code, (ref, []))[1].append(plan)
    return [province_deployment(ref, ps) for _, (ref, ps) in sorted(grouped.items())]
