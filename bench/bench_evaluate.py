"""Benchmark: judge a synthetic province, or the whole country, against the raw SQL.

Builds plans from the five real ones, spread over real communes from vietnam-provinces (``--national``: every
commune, 3,321 plans, with 3M evidence rows unless told otherwise), loads them and the evidence into a scratch
SQLite file and, with ``--url``, into a throwaway database created on that PostgreSQL server (dropped
afterwards), then times ``repo.evaluate`` for every plan at one moment against the same question asked as one
raw SQL query with CASE, on each backend, and prints both with their ratio. The statuses must agree.

    python bench/bench_evaluate.py [--plans 400] [--evidence 1000000] [--url POSTGRES_URL] [--no-sqlite]
    python bench/bench_evaluate.py --national --url "$CCHC_TEST_POSTGRES_URL"
    python bench/bench_evaluate.py --national --profile     # cProfile of repo.evaluate, top functions

Plans go in through ``repo.sync_plans`` (the store's own path; PostgreSQL gets the rows it wrote in the SQLite
store by COPY, when there is one: statement by statement it takes ~10 minutes there); evidence through the DBAPI
in big batches: ``executemany`` on SQLite, ``COPY`` on PostgreSQL. Both databases are ANALYZEd after loading
(PostgreSQL is VACUUM ANALYZEd, as its autovacuum would do after such a load). Rounds alternate raw and ours;
the figures are medians. ``--keep`` keeps both stores for EXPLAIN and profiling.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import os
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pendulum
from sqlalchemy import MetaData, Table, create_engine, select, text
from sqlalchemy.engine import Engine, make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.raw_status import COUNTED_EVIDENCE, STATUS  # noqa: E402
from bench.synth import national_plans  # noqa: E402
from cchc.core.communes import all_wards, province_name, short_name  # noqa: E402
from cchc.core.loader import load_plan  # noqa: E402
from cchc.core.spec import Commune, Plan  # noqa: E402
from cchc.store import repo  # noqa: E402
from cchc.store.db import dispose_all, get_engine, session_scope  # noqa: E402
from cchc.store.judging import gc_paused  # noqa: E402
from cchc.store.models import Base  # noqa: E402

RAW_SQL = f"""
SELECT o.plan_id, o.duty_id, o.period,
  {STATUS} AS status,
  COUNT(e.id) AS count
FROM occurrences o
{COUNTED_EVIDENCE}GROUP BY o.id
"""

# On PostgreSQL repo.evaluate joins the counted kinds and turns JIT off (see repo._tally_query); the baseline
# asks the same way, so the ratio measures what evaluate adds to the query. RAW_SQL there is shown once, as
# the issue measured it.
RAW_SQL_PG = RAW_SQL.replace(
    "LEFT JOIN evidence e\n",
    "LEFT JOIN (evidence e JOIN duty_evidence_kinds k\n"
    "           ON k.plan_id = e.plan_id AND k.duty_id = e.duty_id AND k.kind = e.kind)\n",
).replace(
    " AND e.kind IN (SELECT k.kind FROM duty_evidence_kinds k WHERE k.plan_id = o.plan_id AND k.duty_id = o.duty_id)\n",
    "\n",
)
assert RAW_SQL_PG.count("JOIN") == 2 and "IN (SELECT" not in RAW_SQL_PG

EVIDENCE_COLUMNS = ("plan_id", "duty_id", "kind", "title", "url", "occurred_on", "source", "recorded_at", "dedup_key")
BATCH = 100_000


def synthetic_plans(n: int | None, rng: random.Random) -> list[Plan]:
    """``n`` plans over as many real communes (every commune once when None), copies of the five real plans."""
    templates = [load_plan(p) for p in sorted((ROOT / "plan_specs").glob("*.yaml"))]
    wards = all_wards()
    rng.shuffle(wards)
    plans = []
    for i in range(len(wards) if n is None else n):
        base = templates[i % len(templates)]
        w = wards[i % len(wards)]
        commune = Commune(name=short_name(w), province=province_name(w), code=int(w.code))
        plans.append(base.model_copy(update={"id": f"{base.id}-{w.code}", "commune": commune}))
    return plans


def evidence_rows(plans: list[Plan], evidence: int, seed: int) -> Iterator[tuple[Any, ...]]:
    """The same rows for every backend (one seed): ``evidence`` spread evenly over the plans' counted duties."""
    rng = random.Random(seed)
    now = dt.datetime(2026, 1, 10)  # naive UTC, as UTCDateTime stores it on SQLite; PostgreSQL gets it with +00
    per_plan, extra = divmod(evidence, len(plans))
    for i, p in enumerate(plans):
        duties = [(d.id, d.requirement.evidence[0].value) for d in p.duties if d.requirement]
        span = (p.period.end - p.period.start).days + 1
        for j in range(per_plan + (1 if i < extra else 0)):
            duty, kind = duties[j % len(duties)]
            day = p.period.start + dt.timedelta(days=rng.randrange(span))
            url = f"https://{p.id}.example/tin/{j}"
            yield (p.id, duty, kind, f"Tin bài CCHC số {j}", url, day, "feed", now, f"url:{url}")


def batches(rows: Iterator[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for r in rows:
        batch.append(r)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


COPIED = ("plans", "duties", "duty_evidence_kinds", "occurrences")  # what sync_plan writes for a new plan


def load(
    engine: Engine, plans: list[Plan], evidence: int, seed: int, synced: Engine | None = None
) -> tuple[int, int, float, float]:
    """Plans through the store's sync (or, given ``synced``, a store where they already went through it: its
    rows copied), evidence by the DBAPI in big batches. Returns (occurrences, rows, plans' s, evidence's s)."""
    t0 = time.perf_counter()
    if synced is None:
        now = pendulum.datetime(2026, 1, 10, tz="UTC")
        with session_scope(engine) as s:
            repo.sync_plans(s, plans, now)  # the rows sync_plan would leave, in bulk
    else:
        _copy_tables(synced, engine)
    t1 = time.perf_counter()
    n = 0
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cols = ", ".join(EVIDENCE_COLUMNS)
        if engine.dialect.name == "postgresql":
            with cur.copy(f"COPY evidence ({cols}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for r in evidence_rows(plans, evidence, seed):
                    copy.write_row((*r[:7], r[7].replace(tzinfo=dt.UTC), r[8]))
                    n += 1
            raw.commit()
            raw.dbapi_connection.autocommit = True  # type: ignore[union-attr]
            cur.execute("VACUUM ANALYZE")  # what autovacuum does after such a load: statistics, visibility map
            raw.dbapi_connection.autocommit = False  # type: ignore[union-attr]
        else:
            cur.execute("BEGIN")
            marks = ", ".join("?" for _ in EVIDENCE_COLUMNS)
            for batch in batches(evidence_rows(plans, evidence, seed)):
                cur.executemany(
                    f"INSERT INTO evidence ({cols}) VALUES ({marks})",
                    [(*r[:5], r[5].isoformat(), r[6], r[7].isoformat(" ") + ".000000", r[8]) for r in batch],
                )
                n += len(batch)
            raw.commit()
            cur.execute("ANALYZE")
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.commit()
    finally:
        raw.close()
    with engine.connect() as c:
        occ = int(c.execute(text("SELECT count(*) FROM occurrences")).scalar_one())
    return occ, n, t1 - t0, time.perf_counter() - t1


def _copy_tables(source: Engine, target: Engine) -> None:
    """The plans' rows as sync_plan wrote them in ``source``, into PostgreSQL by COPY (sync_plan statement by
    statement for 3,321 plans takes minutes there; the rows are the same)."""
    meta = MetaData()
    raw = target.raw_connection()
    try:
        cur = raw.cursor()
        with source.connect() as src:
            for name in COPIED:
                table = Table(name, meta, autoload_with=src)
                cols = [c.name for c in table.columns]
                typed = Base.metadata.tables[name]  # the models' types: aware datetimes, dates, booleans
                rows = src.execute(select(*(typed.c[c] for c in cols)))
                with cur.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for r in rows:
                        copy.write_row(tuple(r))
        cur.execute("SELECT setval('occurrences_id_seq', (SELECT max(id) FROM occurrences))")
        raw.commit()
    finally:
        raw.close()


def run(
    label: str, url: str, plans: list[Plan], evidence: int, repeat: int, profile: bool, synced: Engine | None = None
) -> dict[str, Any]:
    t0 = time.perf_counter()
    engine = get_engine(url)
    n_occ, n_ev, t_plans, t_ev = load(engine, plans, evidence, 2025, synced)
    build = time.perf_counter() - t0
    how = "copied from the SQLite store" if synced is not None else "repo.sync_plans"
    print(
        f"\n[{label}] {len(plans)} plans, {n_occ} occurrences, {n_ev} evidence rows; load {build:.1f} s "
        f"(plans {t_plans:.1f} s by {how}, evidence {t_ev:.1f} s)",
        flush=True,
    )

    at = pendulum.datetime(2025, 11, 20, 9, tz="Asia/Ho_Chi_Minh")
    at_utc = at.in_timezone("UTC")
    sqlite = engine.dialect.name == "sqlite"
    params = {"at": at_utc.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else at_utc, "at_day": at.date().isoformat()}
    if not sqlite:
        params["at_day"] = at.date()  # type: ignore[assignment]

    def ours() -> list[repo.Judged]:
        with session_scope(engine) as s:
            return repo.evaluate(s, at)

    def raw(sql: str = RAW_SQL if sqlite else RAW_SQL_PG) -> list[tuple[object, ...]]:
        # The baseline gets what evaluate has: the cycle collector paused while its rows pile up.
        with gc_paused(), engine.connect() as c:
            if sql is RAW_SQL_PG:
                c.execute(text("SET LOCAL jit = off"))
            return [tuple(r) for r in c.execute(text(sql), params)]

    ours()  # warm: the first query reads the file / shared buffers in, for both
    # Interleaved rounds (raw, ours, raw, ours, ...): the other engineers' load hits both alike. CPU time of
    # this process too: on SQLite the whole query runs here, so it is the figure least moved by that load.
    walls: dict[str, list[float]] = {"raw": [], "ours": []}
    cpus: dict[str, list[float]] = {"raw": [], "ours": []}
    judged: list[repo.Judged] = []
    rows: list[tuple[object, ...]] = []
    for _ in range(repeat):
        for name in ("raw", "ours"):
            w0, c0 = time.perf_counter(), time.process_time()
            if name == "raw":
                rows = raw()
            else:
                judged = ours()
            walls[name].append(time.perf_counter() - w0)
            cpus[name].append(time.process_time() - c0)
    t_raw, t_ours = statistics.median(walls["raw"]), statistics.median(walls["ours"])
    c_raw, c_ours = statistics.median(cpus["raw"]), statistics.median(cpus["ours"])
    ours_counts = Counter(j.status.value for j in judged)
    raw_counts = Counter(str(r[3]) for r in rows)
    same = ours_counts == raw_counts
    ours_keys = {(j.occurrence.plan, j.occurrence.duty, j.occurrence.period, j.status.value, j.count) for j in judged}
    raw_keys = {(r[0], r[1], r[2], r[3], int(r[4])) for r in rows}  # type: ignore[call-overload]
    same = same and ours_keys == raw_keys
    print(f"[{label}] statuses: {dict(sorted(ours_counts.items()))}")
    print(f"[{label}] same answer as raw SQL (every occurrence's status and count): {same}")
    print(f"[{label}] repo.evaluate (SQL tally + pure judge): {t_ours:.3f} s for {len(judged)} occurrences")
    print(f"[{label}] raw SQL query with CASE:                {t_raw:.3f} s")
    print(f"[{label}] ratio evaluate/raw: {t_ours / t_raw:.2f}x  (median of {repeat}, interleaved)")
    print(f"[{label}] CPU of this process: {c_ours:.3f} s / {c_raw:.3f} s = {c_ours / c_raw:.2f}x", flush=True)
    issue = None
    if not sqlite:
        t0 = time.perf_counter()
        raw(RAW_SQL)
        issue = time.perf_counter() - t0
        print(f"[{label}] raw SQL as the issue measured it (correlated IN, JIT on), once: {issue:.3f} s", flush=True)
    if profile:
        prof = cProfile.Profile()
        prof.runcall(ours)
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(18)
        print(out.getvalue())
    return {
        "label": label, "ours": t_ours, "raw": t_raw, "cpu": f"{c_ours / c_raw:.2f}x" if sqlite else "(server)",
        "occ": n_occ, "rows": n_ev, "issue": issue,
        "load": build, "same": same,
    }  # fmt: skip


def postgres(
    server: str, plans: list[Plan], evidence: int, repeat: int, profile: bool, synced: Engine | None, keep: bool
) -> dict[str, Any]:
    """The same on a throwaway database made on ``server`` (dropped afterwards unless ``keep``)."""
    base = make_url(server)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"cchc_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        return run("postgresql", url, plans, evidence, repeat, profile, synced)
    finally:
        dispose_all()
        if keep:
            print(f"kept: {url}")
        else:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plans", type=int, default=400)
    ap.add_argument("--evidence", type=int, default=None, help="evidence rows (1M; 3M with --national)")
    ap.add_argument("--national", action="store_true", help="every commune of vietnam-provinces: 3,321 plans")
    ap.add_argument("--url", default=None, help="a PostgreSQL server URL: a throwaway database is made on it")
    ap.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="cProfile one repo.evaluate, top functions by own time")
    ap.add_argument("--keep", action="store_true", help="keep the SQLite file and the PostgreSQL database")
    args = ap.parse_args()
    evidence = args.evidence or (3_000_000 if args.national else 1_000_000)

    plans = national_plans() if args.national else synthetic_plans(args.plans, random.Random(2025))
    communes = len({p.commune.code for p in plans})
    print(f"{'national' if args.national else 'province'}: {len(plans)} plans over {communes} communes")
    results = []
    tmp = tempfile.mkdtemp(prefix="cchc-bench-")
    synced: Engine | None = None
    try:
        if not args.no_sqlite:
            sqlite_url = f"sqlite:///{tmp}/store.db"
            results.append(run("sqlite", sqlite_url, plans, evidence, args.repeat, args.profile))
            synced = get_engine(sqlite_url)
        if args.url:
            results.append(postgres(args.url, plans, evidence, args.repeat, args.profile, synced, args.keep))
    finally:
        dispose_all()
        if args.keep:
            print(f"kept: {tmp}/store.db")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print(
        "\nbackend     | plans | occurrences | evidence rows | load    | repo.evaluate | raw SQL | ratio | CPU ratio | same"
    )
    for r in results:
        print(
            f"{r['label']:<11} | {len(plans):>5} | {r['occ']:>11,} | {r['rows']:>13,} | {r['load']:>5.0f} s "
            f"| {r['ours']:>11.2f} s | {r['raw']:>5.2f} s | {r['ours'] / r['raw']:.2f}x | {r['cpu']:>9} | {r['same']}"
        )
    for r in results:
        if r["issue"] is not None:
            print(f"{r['label']}: the issue's raw SQL (correlated IN, JIT on) took {r['issue']:.2f} s, once")
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
