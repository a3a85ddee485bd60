"""The province roll-up (one set-based query) against summing ``repo.evaluate`` plan by plan, on random data,
on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable

import pendulum
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert

from cchc.core.communes import province_name, short_name
from cchc.core.evaluate import Status
from cchc.core.loader import load_plan
from cchc.core.province import REPORT_GROUP, Counts, Rollup, find_province, province_grid, table_text
from cchc.core.spec import Commune, Plan
from cchc.settings import Settings
from cchc.store import repo
from cchc.store.db import get_engine, session_scope
from cchc.store.models import EvidenceRow, WaiverRow
from cchc.store.province import rollup_lines
from tests.conftest import PLAN_DIR, PLAN_IDS

TZ = "Asia/Ho_Chi_Minh"
NOW = pendulum.datetime(2025, 7, 1, tz="UTC")


def _plans() -> list[Plan]:
    """The five real plans moved onto four communes of Hải Phòng (one commune holds two plans)."""
    from vietnam_provinces import Ward

    wards = sorted((w for w in Ward.iter_all() if int(w.province_code) == 31), key=lambda w: int(w.code))[:4]
    out = []
    for i, pid in enumerate(PLAN_IDS):
        w = wards[min(i, 3)]
        base = load_plan(PLAN_DIR / f"{pid}.yaml")
        commune = Commune(name=short_name(w), province=province_name(w), code=int(w.code))
        out.append(base.model_copy(update={"id": f"{pid}-{int(w.code)}", "commune": commune}))
    return out


PLANS = _plans()
REPORTS = {(p.id, r.id) for p in PLANS for r in p.reports}


def _seed(url: str, rng: random.Random, n_evidence: int) -> None:
    engine = get_engine(url)
    with session_scope(engine) as s:
        for p in PLANS:
            repo.sync_plan(s, p, NOW)
        s.execute(delete(EvidenceRow))
        s.execute(delete(WaiverRow))
    rows: list[dict[str, object]] = []
    waivers: list[dict[str, object]] = []
    for p in PLANS:
        items = [(d.id, [k.value for k in d.counted_kinds]) for d in p.duties]
        items += [(r.id, [k.value for k in r.counted_kinds]) for r in p.reports]
        span = (p.period.end - p.period.start).days + 60
        for j in range(n_evidence):
            item, kinds = rng.choice(items)
            kind = rng.choice([*kinds, "photo"])  # sometimes a kind that does not count
            rows.append(
                {
                    "plan_id": p.id,
                    "duty_id": item,
                    "kind": kind,
                    "title": f"tin {j}",
                    "url": None,
                    "occurred_on": p.period.start + dt.timedelta(days=rng.randrange(span)),
                    "origin": "feed",
                    "recorded_at": NOW,
                    "dedup_key": f"k{j}",
                    "rejected_at": NOW if rng.random() < 0.1 else None,
                }
            )
        with session_scope(engine) as s:
            occ = repo.stored_occurrences(s, p)
        for o in rng.sample(occ, k=min(3, len(occ))):
            waivers.append(
                {
                    "plan_id": p.id,
                    "duty_id": o.duty,
                    "period": o.period,
                    "reason": "lý do",
                    "by": "điều phối",
                    "at": NOW,
                }
            )
    with session_scope(engine) as s:
        if rows:
            s.execute(insert(EvidenceRow), rows)
        s.execute(insert(WaiverRow), waivers)


def _expected(url: str, at: dt.datetime, by: str) -> dict[tuple[object, ...], Counter[str]]:
    """Per-plan ``repo.evaluate``, grouped the way the roll-up groups."""
    out: dict[tuple[object, ...], Counter[str]] = {}
    with session_scope(get_engine(url)) as s:
        for p in PLANS:
            for j in repo.evaluate(s, at, [p.id], TZ):
                o = j.occurrence
                kind = REPORT_GROUP if (p.id, o.duty) in REPORTS else o.kind.value
                key: tuple[object, ...] = (p.commune.code, kind) if by == "kind" else (p.commune.code, p.id, o.duty)
                status = "open" if j.status is Status.due_soon else j.status.value
                out.setdefault(key, Counter())[status] += 1
    return out


def _got(url: str, at: dt.datetime, by: str) -> dict[tuple[object, ...], Counter[str]]:
    with session_scope(get_engine(url)) as s:
        lines = rollup_lines(s, [p.id for p in PLANS], at, TZ, REPORTS, by)  # type: ignore[arg-type]
    out: dict[tuple[object, ...], Counter[str]] = {}
    for ln in lines:
        key: tuple[object, ...] = (
            (ln.commune_code, ln.kind) if by == "kind" else (ln.commune_code, ln.plan_id, ln.group)
        )
        c = Counter({k: v for k, v in ln.counts.__dict__.items() if v})
        out[key] = c
    return out


def _check(url: str, seed: int, moment: dt.datetime) -> None:
    rng = random.Random(seed)
    _seed(url, rng, rng.randrange(0, 60))
    at = pendulum.instance(moment, tz=TZ)
    for by in ("kind", "duty"):
        assert _got(url, at, by) == _expected(url, at, by), (seed, moment, by)


MOMENTS = st.datetimes(min_value=dt.datetime(2025, 6, 1), max_value=dt.datetime(2027, 2, 1))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), moment=MOMENTS)
def test_rollup_equals_summed_plan_evaluation_on_sqlite(cchc_env: Settings, seed: int, moment: dt.datetime) -> None:
    _check(cchc_env.db_url, seed, moment)


def test_rollup_equals_summed_plan_evaluation_on_postgres(pg_databases: Callable[..., str]) -> None:
    url = pg_databases()
    rng = random.Random(7)
    for _ in range(6):
        day = dt.datetime(2025, 6, 1) + dt.timedelta(days=rng.randrange(600), minutes=rng.randrange(1440))
        _check(url, rng.randrange(10_000), day)


def test_rollup_reads_worst_commune_first_and_counts_reports(cchc_env: Settings) -> None:
    url = cchc_env.db_url
    _seed(url, random.Random(3), 40)
    at = pendulum.datetime(2025, 12, 20, 9, tz=TZ)
    with session_scope(get_engine(url)) as s:
        lines = rollup_lines(s, [p.id for p in PLANS], at, TZ, REPORTS)
    hp = find_province("hai phong")
    r = Rollup(hp.code, hp.name, at, TZ, "kind", lines, plans=len(PLANS))
    communes = r.communes()
    assert len(communes) == 4
    shares = [c.duties.share_met if c.duties.share_met is not None else 2.0 for c in communes]
    assert shares == sorted(shares)
    total = r.totals()
    assert total.duties == sum((c.duties for c in communes), Counts())
    expected_reports = _expected(url, at, "kind")
    delivered = sum(c["met"] for k, c in expected_reports.items() if k[1] == REPORT_GROUP)
    assert total.reports.on_time == delivered
    text = table_text(r)
    assert "Thành phố Hải Phòng (mã 31)" in text and "Tổng cộng" in text
    assert communes[0].name in text.splitlines()[4]  # the worst commune heads the table
    grid = province_grid(r)
    assert [row.label.split(" (")[0] for row in grid.rows] == [c.name for c in communes]
    assert "BC của xã" in grid.columns


def test_a_province_is_found_by_code_or_name_with_or_without_diacritics() -> None:
    assert find_province("31").name == "Thành phố Hải Phòng"
    assert find_province("Hải Phòng").code == 31
    assert find_province("hai phong").slug == "hai-phong"
    with pytest.raises(ValueError, match="không có tỉnh"):
        find_province("Atlantis")
