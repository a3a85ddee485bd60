"""Benchmark: the province roll-up (one set-based query) against the raw SQL answer of the same question.

114 plans (Hải Phòng: bench/synth.py ``province_plans(31)``), about a million evidence rows (some rejected, some
of a kind that does not count) and a few waivers per plan, loaded into a scratch SQLite file and, when
CCHC_TEST_POSTGRES_URL is set, into a throwaway PostgreSQL database (dropped afterwards). Then, in the same run:

- ``cchc.store.province.rollup_lines`` (SQLAlchemy statement + pure result values),
- the same question as one hand-written SQL text (status CASE per occurrence, counted per commune and kind),
- and, for scale, summing ``repo.evaluate`` plan by plan (the loop the roll-up replaces),

each the median of --repeat runs (raw and roll-up interleaved), with the ratios against the raw SQL, and a check that all three agree.

    python bench/bench_province.py [--evidence 1000000] [--repeat 5] [--no-postgres]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pendulum
from sqlalchemy import Engine, create_engine, insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.raw_status import COUNTED_EVIDENCE, STATUS  # noqa: E402
from bench.synth import HAI_PHONG, province_plans  # noqa: E402
from cchc.core.evaluate import Status  # noqa: E402
from cchc.core.spec import Plan  # noqa: E402
from cchc.store import repo  # noqa: E402
from cchc.store.db import dispose_all, get_engine, session_scope  # noqa: E402
from cchc.store.models import EvidenceRow, WaiverRow  # noqa: E402
from cchc.store.province import rollup_lines  # noqa: E402

TZ = "Asia/Ho_Chi_Minh"
AT = pendulum.datetime(2025, 12, 14, 23, 59, 59, tz=TZ)

# The same question, by hand: each occurrence's status by evaluate's rule, counted per commune and kind.
RAW_SQL = f"""
WITH judged AS (
  SELECT o.plan_id, o.kind,
    CASE WHEN (o.plan_id, o.duty_id) IN (VALUES {{reports}}) THEN 1 ELSE 0 END AS is_report,
    {STATUS} AS status
  FROM occurrences o
  {COUNTED_EVIDENCE}  WHERE o.plan_id IN ({{plans}})
  GROUP BY o.id
)
SELECT p.commune_code, j.kind, j.is_report, j.status, COUNT(*) AS n
FROM judged j JOIN plans p ON p.id = j.plan_id
GROUP BY p.commune_code, j.kind, j.is_report, j.status
"""


def load(url: str, plans: list[Plan], evidence: int, rng: random.Random) -> tuple[int, int]:
    engine = get_engine(url)
    now = pendulum.datetime(2025, 7, 1, tz="UTC")
    with session_scope(engine) as s:
        repo.sync_plans(s, plans, now)  # the rows sync_plan would leave, in bulk
    per_plan = max(1, evidence // len(plans))
    total = waived = 0
    rows: list[dict[str, object]] = []
    waivers: list[dict[str, object]] = []
    for p in plans:
        items = [(d.id, [k.value for k in d.counted_kinds]) for d in p.duties]
        items += [(r.id, [k.value for k in r.counted_kinds]) for r in p.reports]
        span = (p.period.end - p.period.start).days + 1
        for j in range(per_plan):
            item, kinds = items[j % len(items)]
            kind = kinds[0] if j % 17 else "photo"  # now and then a kind that may not count
            rows.append(
                {
                    "plan_id": p.id,
                    "duty_id": item,
                    "kind": kind,
                    "title": f"Tin bài CCHC số {j}",
                    "url": f"https://{p.id}.example/tin/{j}",
                    "occurred_on": p.period.start + dt.timedelta(days=rng.randrange(span)),
                    "origin": "feed",
                    "recorded_at": now,
                    "dedup_key": f"url:https://{p.id}.example/tin/{j}",
                    "rejected_at": now if j % 50 == 0 else None,
                }
            )
        for k, (item, _) in enumerate(items[:3]):
            waivers.append(
                {"plan_id": p.id, "duty_id": item, "period": "2025-09" if k else "2025-Q3", "reason": "bench",
                 "by": "bench", "at": now}
            )  # fmt: skip
        if len(rows) >= 50_000:
            total += _flush(engine, EvidenceRow, rows)
    total += _flush(engine, EvidenceRow, rows)
    waived = _flush(engine, WaiverRow, waivers)
    with engine.connect() as c:
        c.execute(text("ANALYZE"))  # both dialects: fresh statistics for the planner
        c.commit()
    return total, waived


def _flush(engine: Engine, model: Any, rows: list[dict[str, object]]) -> int:
    n = len(rows)
    if n:
        with session_scope(engine) as s:
            s.execute(insert(model), rows)
        rows.clear()
    return n


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times = []
    result: Any = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def run(url: str, label: str, plans: list[Plan], evidence: int, repeat: int) -> dict[str, float]:
    rng = random.Random(2025)
    t0 = time.perf_counter()
    n_ev, n_w = load(url, plans, evidence, rng)
    engine = get_engine(url)
    with engine.connect() as c:
        n_occ = c.execute(text("SELECT COUNT(*) FROM occurrences")).scalar_one()
    print(f"\n[{label}] {len(plans)} plans, {n_occ} occurrences, {n_ev} evidence rows, {n_w} waivers "
          f"(loaded in {time.perf_counter() - t0:.1f} s)")  # fmt: skip
    ids = [p.id for p in plans]
    reports = sorted({(p.id, r.id) for p in plans for r in p.reports})
    communes = {p.id: p.commune.code for p in plans}

    def ours() -> Counter[tuple[int, str, str]]:
        with session_scope(engine) as s:
            lines = rollup_lines(s, ids, AT, TZ, reports)
        out: Counter[tuple[int, str, str]] = Counter()
        for ln in lines:
            for status, n in vars(ln.counts).items():
                if n:
                    out[(ln.commune_code, ln.kind, status)] += n
        return out

    at_utc = AT.in_timezone("UTC")
    sqlite = url.startswith("sqlite")
    params = {"at": at_utc.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else at_utc, "at_day": AT.date().isoformat()}
    sql = RAW_SQL.format(
        reports=", ".join(f"('{p}', '{r}')" for p, r in reports),  # slugs by the spec's pattern: no quotes inside
        plans=", ".join(f"'{p}'" for p in ids),
    )

    def raw() -> Counter[tuple[int, str, str]]:
        out: Counter[tuple[int, str, str]] = Counter()
        with engine.connect() as c:
            for code, kind, is_report, status, n in c.execute(text(sql), params):
                key = "compiled_report" if is_report else kind
                out[(int(code), key, "open" if status == "due_soon" else status)] += int(n)
        return out

    def per_plan() -> Counter[tuple[int, str, str]]:
        out: Counter[tuple[int, str, str]] = Counter()
        rep = set(reports)
        with session_scope(engine) as s:
            for pid in ids:
                for j in repo.evaluate(s, AT, [pid], TZ):
                    o = j.occurrence
                    kind = "compiled_report" if (pid, o.duty) in rep else o.kind.value
                    status = "open" if j.status is Status.due_soon else j.status.value
                    out[(communes[pid], kind, status)] += 1
        return out

    a_raw, a_ours = raw(), ours()  # warm both (caches, statistics) before timing
    raws, ourss = [], []
    for _ in range(repeat):  # interleaved, so a busy moment of the shared machine hits both alike
        t_r, a_raw = timed(raw, 1)
        t_o, a_ours = timed(ours, 1)
        raws.append(t_r)
        ourss.append(t_o)
    t_raw, t_ours = statistics.median(raws), statistics.median(ourss)
    t_loop, a_loop = timed(per_plan, max(1, repeat // 2))
    print(f"same answer: roll-up = raw SQL: {a_ours == a_raw}; roll-up = per-plan evaluate: {a_ours == a_loop}")
    print(f"raw SQL (one text query):             {t_raw:.3f} s")
    print(f"roll-up (rollup_lines):               {t_ours:.3f} s   ratio {t_ours / t_raw:.2f}x the raw SQL")
    print(f"per-plan repo.evaluate, summed (loop): {t_loop:.3f} s   ratio {t_loop / t_raw:.2f}x the raw SQL")
    return {"raw": t_raw, "ours": t_ours, "loop": t_loop}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--evidence", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    plans = province_plans(HAI_PHONG)
    tmp = tempfile.mkdtemp(prefix="cchc-bench-province-")
    run(f"sqlite:///{tmp}/province.db", "SQLite", plans, args.evidence, args.repeat)
    base = os.environ.get("CCHC_TEST_POSTGRES_URL")
    if args.no_postgres or not base:
        print("\n[PostgreSQL] skipped (set CCHC_TEST_POSTGRES_URL)")
        return
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"cchc_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        run(base.rsplit("/", 1)[0] + "/" + name, "PostgreSQL", plans, args.evidence, args.repeat)
    finally:
        dispose_all()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
