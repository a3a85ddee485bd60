"""Benchmark: judge a synthetic province (hundreds of plans, ~1M evidence rows).

Builds plans from the five real ones, spread over real communes from vietnam-provinces,
loads them and about a million evidence rows into a scratch SQLite file (or the URL
given with --url), then times ``repo.evaluate`` for every plan at one moment against
the same question asked as one raw SQL query, and prints both with their ratio.

    python bench/bench_evaluate.py [--plans 400] [--evidence 1000000] [--url URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pendulum
from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cchc.core.calendar import plan_occurrences  # noqa: E402
from cchc.core.communes import all_wards, province_name, short_name  # noqa: E402
from cchc.core.loader import load_plan  # noqa: E402
from cchc.core.spec import Commune, Plan  # noqa: E402
from cchc.store import repo  # noqa: E402
from cchc.store.db import get_engine, session_scope  # noqa: E402
from cchc.store.models import EvidenceRow  # noqa: E402

RAW_SQL = """
SELECT o.plan_id, o.duty_id, o.period,
  CASE
    WHEN EXISTS (SELECT 1 FROM waivers w WHERE w.plan_id = o.plan_id AND w.duty_id = o.duty_id AND w.period = o.period)
      THEN 'waived'
    WHEN :at < o.starts THEN 'upcoming'
    WHEN COALESCE(SUM(CASE WHEN e.occurred_on <= o.last_day THEN 1 ELSE 0 END), 0) >= o.needed THEN 'met'
    WHEN COUNT(e.id) >= o.needed THEN 'met_late'
    WHEN :at < o.due THEN CASE WHEN :at >= o.due_soon_from THEN 'due_soon' ELSE 'open' END
    WHEN :at < o.closes THEN 'overdue'
    ELSE 'missed'
  END AS status,
  COUNT(e.id) AS count
FROM occurrences o
LEFT JOIN evidence e
  ON e.plan_id = o.plan_id AND e.duty_id = o.duty_id
 AND e.occurred_on >= o.start_day AND e.occurred_on < o.close_day AND e.occurred_on <= :at_day
 AND e.rejected_at IS NULL
 AND e.kind IN (SELECT k.kind FROM duty_evidence_kinds k WHERE k.plan_id = o.plan_id AND k.duty_id = o.duty_id)
GROUP BY o.id
"""


def synthetic_plans(n: int, rng: random.Random) -> list[Plan]:
    templates = [load_plan(p) for p in sorted((ROOT / "plan_specs").glob("*.yaml"))]
    wards = all_wards()
    rng.shuffle(wards)
    plans = []
    for i in range(n):
        base = templates[i % len(templates)]
        w = wards[i % len(wards)]
        commune = Commune(name=short_name(w), province=province_name(w), code=int(w.code))
        plans.append(base.model_copy(update={"id": f"{base.id}-{w.code}", "commune": commune}))
    return plans


def load(url: str, plans: list[Plan], evidence: int, rng: random.Random) -> int:
    engine = get_engine(url)
    now = pendulum.datetime(2026, 1, 10, tz="UTC")
    with session_scope(engine) as s:
        for p in plans:
            repo.sync_plan(s, p, now)
    per_plan = max(1, evidence // len(plans))
    total = 0
    rows: list[dict[str, object]] = []
    for p in plans:
        duties = [(d.id, d.requirement.evidence[0].value) for d in p.duties if d.requirement]
        span = (p.period.end - p.period.start).days + 1
        for j in range(per_plan):
            duty, kind = duties[j % len(duties)]
            day = p.period.start + dt.timedelta(days=rng.randrange(span))
            rows.append(
                {
                    "plan_id": p.id,
                    "duty_id": duty,
                    "kind": kind,
                    "title": f"Tin bài CCHC số {j}",
                    "url": f"https://{p.id}.example/tin/{j}",
                    "occurred_on": day,
                    "origin": "feed",
                    "recorded_at": now,
                    "dedup_key": f"url:https://{p.id}.example/tin/{j}",
                }
            )
        if len(rows) >= 50_000:
            total += _flush(engine, rows)
    total += _flush(engine, rows)
    return total


def _flush(engine: object, rows: list[dict[str, object]]) -> int:
    n = len(rows)
    if n:
        with session_scope(engine) as s:  # type: ignore[arg-type]
            s.execute(insert(EvidenceRow), rows)
        rows.clear()
    return n


def timed(fn: object, repeat: int) -> tuple[float, object]:
    times = []
    result: object = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plans", type=int, default=400)
    ap.add_argument("--evidence", type=int, default=1_000_000)
    ap.add_argument("--url", default=None, help="SQLAlchemy URL (default: a scratch SQLite file)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    rng = random.Random(2025)
    tmp = tempfile.mkdtemp(prefix="cchc-bench-")
    url = args.url or f"sqlite:///{tmp}/province.db"
    t0 = time.perf_counter()
    plans = synthetic_plans(args.plans, rng)
    n_occ = sum(len(plan_occurrences(p)) for p in plans)
    n_ev = load(url, plans, args.evidence, rng)
    build = time.perf_counter() - t0
    print(
        f"province: {len(plans)} plans over {len({p.commune.code for p in plans})} communes, {n_occ} occurrences, {n_ev} evidence rows"
    )
    print(f"build and load: {build:.1f} s  ({url.split(':')[0]})")

    engine = get_engine(url)
    at = pendulum.datetime(2025, 11, 20, 9, tz="Asia/Ho_Chi_Minh")

    def ours() -> list[repo.Judged]:
        with session_scope(engine) as s:
            return repo.evaluate(s, at)

    at_utc = at.in_timezone("UTC")
    sqlite = url.startswith("sqlite")
    params = {"at": at_utc.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else at_utc, "at_day": at.date().isoformat()}

    def raw() -> list[tuple[object, ...]]:
        with engine.connect() as c:
            return [tuple(r) for r in c.execute(text(RAW_SQL), params)]

    t_ours, judged = timed(ours, args.repeat)
    t_raw, rows = timed(raw, args.repeat)
    ours_counts = Counter(j.status.value for j in judged)  # type: ignore[attr-defined]
    raw_counts = Counter(r[3] for r in rows)  # type: ignore[attr-defined]
    print(f"statuses: {dict(sorted(ours_counts.items()))}")
    print(f"same answer as raw SQL: {ours_counts == raw_counts}")
    print(f"repo.evaluate (SQL tally + pure judge): {t_ours:.3f} s for {len(judged)} occurrences")  # type: ignore[arg-type]
    print(f"raw SQL query with CASE:                {t_raw:.3f} s")
    print(f"ratio evaluate/raw: {t_ours / t_raw:.2f}x")


if __name__ == "__main__":
    main()
