"""Benchmark: loading a province's and the nation's plan specs, cold against CCHC_HOME's plan cache.

Writes the synthetic plans of bench/synth.py (Hải Phòng's 114 communes, then all 3,321) as YAML into a scratch
plan folder grouped as <province>/<commune>/<id>.yaml (each file the real plan's readable YAML from
cchc.core.spec_dump with its id and commune put in), then times, for each size:

- cold: every spec parsed, validated and kept under an empty CCHC_HOME (``plan_cache.load_folder``); at
  province size also the loader alone (``read_folder`` without a cache), to show what keeping costs;
- cached: the same folder read again (walk, file read, sha256, unpickle): the ratio cold / cached;
- ``service.all_plans`` end to end (walk, layout checks, cache, the coordinator's decisions), against the
  same plans with one store session per plan (what ``all_plans`` did before: ``with_decisions`` per plan).

    python bench/bench_specs.py                 # 114 and 3,321 plans (the cold national pass takes minutes)
    python bench/bench_specs.py --sizes 114     # the province only
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.synth import HAI_PHONG, national_plans, province_plans, templates  # noqa: E402
from cchc.core.loader import spec_folder  # noqa: E402
from cchc.core.spec import Plan  # noqa: E402
from cchc.core.spec_dump import dump_spec  # noqa: E402

DECIDED = 5  # plans with a recorded decision on an assumption: both paths apply them
PLAIN_UP_TO = 500  # the loader alone is timed too up to this many plans (at 3,321 it takes minutes)


def write_tree(plans: list[Plan], root: Path) -> None:
    """Each plan as its template's YAML with the plan's id and commune, in its province/commune folder."""
    texts = {t.id: dump_spec(t) for t in templates()}
    for p in plans:
        base = next(t for t in texts if p.id.startswith(f"{t}-"))
        c = p.commune
        text = re.sub(r"(?m)^id: .*$", f"id: {p.id}", texts[base], count=1)
        text = re.sub(
            r"(?m)^commune: .*$", f"commune: {{name: {c.name}, province: {c.province}, code: {c.code}}}", text, count=1
        )
        folder = root / spec_folder(c)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{p.id}.yaml").write_text(text, encoding="utf-8")


def timed(fn: Callable[[], object], repeat: int = 1) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def bench(n: int, plans: list[Plan], scratch: Path) -> list[tuple[str, float, str]]:
    from cchc.app import plan_cache, service
    from cchc.core import assumptions
    from cchc.settings import get_settings
    from cchc.store.db import dispose_all

    root, home = scratch / f"plans-{n}", scratch / f"home-{n}"
    write_tree(plans, root)
    os.environ["CCHC_HOME"], os.environ["CCHC_PLAN_DIR"] = str(home), str(root)
    os.environ.pop("CCHC_DATABASE_URL", None)
    get_settings.cache_clear()
    settings = get_settings()
    rows: list[tuple[str, float, str]] = []

    plain_times, cold_times = [], []
    loaded: list[tuple[Path, Plan]] = []
    for _ in range(2 if n <= PLAIN_UP_TO else 1):  # alternated: a busy machine slows both alike
        if n <= PLAIN_UP_TO:  # the loader alone, to show what keeping the plans costs on top
            seconds, folder = timed(lambda: plan_cache.read_folder(root, None))
            assert isinstance(folder, plan_cache.Folder) and not folder.issues and len(folder.plans) == n, folder
            plain_times.append(seconds)
        shutil.rmtree(plan_cache.cache_dir(home), ignore_errors=True)  # an empty cache each time
        seconds, out = timed(lambda: plan_cache.load_folder(root, home))
        assert isinstance(out, list) and len(out) == n
        cold_times.append(seconds)
        loaded = out
    cold = min(cold_times)
    if plain_times:
        plain = min(plain_times)
        rows.append(("loader alone: parse + validate", plain, f"{plain / n * 1000:.1f} ms a plan"))
        rows.append(("cold: parse + validate + keep in the cache", cold, f"{cold / plain:.2f}x the loader alone"))
    else:
        rows.append(("cold: parse + validate + keep in the cache", cold, f"{cold / n * 1000:.1f} ms a plan"))
    cached, again = timed(lambda: plan_cache.load_folder(root, home), repeat=3)
    assert again == loaded
    rows.append(("cached: walk + read + sha256 + unpickle", cached, f"cold/cached = {cold / cached:.1f}x"))
    size = sum(f.stat().st_size for f in plan_cache.cache_dir(home).glob("*.pickle"))
    rows.append(("  (cache on disk)", 0.0, f"{size / 2**20:.1f} MiB in {n} files"))

    # A few coordinators' decisions, so both paths apply some (the same work on each side).
    for _, plan in loaded[:DECIDED]:
        items = [d.id for d in plan.duties] + [r.id for r in plan.reports]
        item, aspect = next((i, a) for i in items for a in assumptions.unconfirmed(plan, i))
        now = dt.datetime.now(dt.UTC)
        service.decide_assumption(settings, plan, item, aspect, "confirm", "bench", "bench", now)

    def per_plan_sessions() -> list[Plan]:  # all_plans before: one store session per plan
        return [service.with_decisions(settings, p) for _, p in plan_cache.load_folder(root, home)]

    before, old = timed(per_plan_sessions, repeat=3)
    after, new = timed(lambda: service.all_plans(settings), repeat=3)
    assert new == old
    rows.append(("all_plans, one store session per plan (before)", before, ""))
    rows.append(("all_plans, one read of every decision (now)", after, f"before/now = {before / after:.2f}x"))
    dispose_all()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="114,3321", help="comma-separated: 114 (Hải Phòng) and/or 3321 (national)")
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-specs-"))
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            plans = province_plans(HAI_PHONG) if size == 114 else national_plans()
            if len(plans) != size:
                sys.exit(f"--sizes: {size} is neither 114 (Hải Phòng) nor 3321 (national)")
            print(f"\n{size} plans ({len({p.commune.province for p in plans})} provinces)", flush=True)
            for label, seconds, note in bench(size, plans, scratch):
                print(f"  {label:<50} {seconds:8.2f} s  {note}", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
