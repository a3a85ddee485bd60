"""Synthetic plans at province and national scale, for the benchmarks (not for tests of meaning).

Each plan is one of the five real plans moved onto a real commune of the 2025 register (vietnam-provinces):
same duties, reports and calendar, the commune's own name, code and province, and the id
``<real id>-<commune code>``. ``model_copy`` keeps it fast (no re-validation): 3,321 plans in about a second.

    from bench.synth import province_plans, national_plans
    plans = province_plans(31)          # Hải Phòng: 114 communes, one plan each
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from vietnam_provinces import Ward  # noqa: E402

from cchc.core.communes import all_wards, province_name, short_name  # noqa: E402
from cchc.core.loader import load_plan  # noqa: E402
from cchc.core.spec import Commune, Plan  # noqa: E402

HAI_PHONG = 31  # 114 communes after the 2025 reorganisation


@lru_cache(maxsize=1)
def templates() -> tuple[Plan, ...]:
    """The five real plans, in id order."""
    return tuple(load_plan(p) for p in sorted((ROOT / "plan_specs").glob("*.yaml")))


def on_commune(base: Plan, ward: Ward, suffix: str = "") -> Plan:
    commune = Commune(name=short_name(ward), province=province_name(ward), code=int(ward.code))
    return base.model_copy(update={"id": f"{base.id}-{int(ward.code)}{suffix}", "commune": commune})


def _spread(wards: list[Ward], per_commune: int) -> list[Plan]:
    bases = templates()
    plans: list[Plan] = []
    for i, ward in enumerate(sorted(wards, key=lambda w: int(w.code))):
        for j in range(per_commune):
            base = bases[(i + j) % len(bases)]
            plans.append(on_commune(base, ward, f"-{j + 1}" if per_commune > 1 else ""))
    return plans


def province_plans(province_code: int, per_commune: int = 1) -> list[Plan]:
    """One plan (or ``per_commune``) for every commune of the province, the real plans taken in turn."""
    wards = [w for w in all_wards() if int(w.province_code) == province_code]
    if not wards:
        raise ValueError(f"no commune in province {province_code} (vietnam-provinces register)")
    return _spread(wards, per_commune)


def national_plans() -> list[Plan]:
    """One plan for each of the 3,321 communes of the country."""
    return _spread(all_wards(), 1)


if __name__ == "__main__":
    import time

    t0 = time.perf_counter()
    hp = province_plans(HAI_PHONG)
    t1 = time.perf_counter()
    nat = national_plans()
    t2 = time.perf_counter()
    print(f"Hải Phòng: {len(hp)} plans in {t1 - t0:.2f} s; national: {len(nat)} plans in {t2 - t1:.2f} s")
