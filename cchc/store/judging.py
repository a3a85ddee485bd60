"""The tally query's rows judged: from the values the driver hands back to the ordered ``Judged`` occurrences.

The pure half of ``repo.evaluate`` (which runs the query through SQLAlchemy), kept apart from it so that the
quick status read (``cchc.store.fastread``: the same query on the standard library's sqlite3) judges its rows
with the very same code, without importing SQLAlchemy.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from cchc.core.calendar import Occurrence
from cchc.core.evaluate import Status, Tally, judge
from cchc.core.spec import DutyKind


@dataclass(frozen=True)
class Judged:
    occurrence: Occurrence
    status: Status
    count: int
    late: int


# An occurrence's columns but its plan: the same for every plan made from the same template (3,321 plans
# repeat a few hundred of these), so ``judge_rows`` converts each distinct one once. The tally query selects them
# first, as the driver hands them (repo._RAW: no SQLAlchemy result processing of every value of every row).
_STATIC = (
    "duty_id", "kind", "period", "starts", "due", "closes", "required", "needed", "lead", "due_soon_from",
    "in_force", "co_leads",
)  # fmt: skip
_N_STATIC = len(_STATIC)
_MOMENTS = frozenset({"starts", "due", "closes", "due_soon_from"})
_KINDS = {k.value: k for k in DutyKind}
_T = TypeVar("_T")
_OCC_FIELDS = {"plan", "duty", "kind", "period", "starts", "due", "closes", "required", "needed", "evidence_kinds",
               "lead", "due_soon_from", "in_force", "co_leads"}  # fmt: skip
if (
    {f.name for f in fields(Occurrence)} != _OCC_FIELDS
    or {f.name for f in fields(Judged)} != {"occurrence", "status", "count", "late"}
    or any(hasattr(c, "__post_init__") or hasattr(c, "__slots__") for c in (Occurrence, Judged))
):  # pragma: no cover - a guard on _frozen below
    raise RuntimeError("repo.evaluate builds Occurrence and Judged field by field: give it their new fields")
_new = object.__new__


def _frozen(cls: type[_T], values: dict[str, object], **more: object) -> _T:
    """A frozen dataclass instance from its field values, without its __init__'s setattr per field (5x slower).

    For the two plain dataclasses ``evaluate`` makes 150,000 of at national size (guarded above: the fields
    known, no __post_init__, no slots); equal to one made by the constructor (tests/test_evaluate_fast.py)."""
    obj = _new(cls)
    obj.__dict__.update(values, **more)
    return obj


def _static_part(raw: tuple[object, ...], zone: ZoneInfo, moments: dict[object, dt.datetime]) -> dict[str, object]:
    """The fields of an Occurrence but its plan, from the driver's values of ``_STATIC``."""
    duty, kind, period, starts, due, closes, required, needed, lead, soon, in_force, co = raw

    def moment(v: object) -> dt.datetime:
        local = moments.get(v)
        if local is None:
            # SQLite hands back naive UTC as text, PostgreSQL a naive UTC datetime (func.timezone in repo._tally_query).
            m = dt.datetime.fromisoformat(v) if isinstance(v, str) else v
            assert isinstance(m, dt.datetime), v
            local = moments[v] = (m if m.tzinfo else m.replace(tzinfo=dt.UTC)).astimezone(zone)
        return local

    return {
        "duty": duty,
        "kind": _KINDS[str(kind)],
        "period": period,
        "starts": moment(starts),
        "due": moment(due),
        "closes": moment(closes),
        "required": required,
        "needed": needed,
        "evidence_kinds": (),
        "lead": lead,
        "due_soon_from": moment(soon),
        "in_force": bool(in_force),
        "co_leads": tuple(u for u in str(co or "").split(",") if u),
    }


def judge_rows(rows: Iterable[Sequence[Any]], at: dt.datetime, tz: str) -> list[Judged]:
    """The tally query's rows (``repo._tally_query``: the ``_STATIC`` columns as the driver hands them, then
    plan_id, on time, late, waived) judged at ``at`` by the pure ``judge``, ordered by due time, item, period."""
    zone = _zone(tz)
    local_at = _in_zone(at, zone)
    moments: dict[object, dt.datetime] = {}
    # static part -> (its fields, its judged occurrences in arrival order)
    parts: dict[tuple[object, ...], tuple[dict[str, object], list[Judged]]] = {}
    tallies: dict[tuple[object, object, object], Tally] = {}
    for r in rows:
        raw = tuple(r[:_N_STATIC])
        part = parts.get(raw)
        if part is None:
            part = parts[raw] = (_static_part(raw, zone, moments), [])
        plan, on, late, waived = r[_N_STATIC:]
        occ = _frozen(Occurrence, part[0], plan=plan)
        tally = tallies.get((on, late, waived))
        if tally is None:  # frozen: one per distinct (on time, late, waived)
            tally = tallies[(on, late, waived)] = Tally(on_time=int(on), late=int(late), waived=bool(waived))
        status = judge(occ, tally, local_at)
        count = tally.on_time + tally.late
        part[1].append(_frozen(Judged, {"occurrence": occ, "status": status, "count": count, "late": tally.late}))
    out: list[Judged] = []
    for _, judged in sorted(parts.values(), key=_order):
        out.extend(judged)
    return out


def tally_day(at: dt.datetime, tz: str) -> dt.date:
    """The day the tally counts evidence up to: ``at``'s date in the plans' zone."""
    return at.astimezone(_zone(tz)).date()


def _order(part: tuple[dict[str, object], list[Judged]]) -> tuple[dt.datetime, str, str]:
    f = part[0]
    return (f["due"], f["duty"], f["period"])  # type: ignore[return-value]


def _in_zone(at: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The same instant as a plain datetime in ``zone``: compared with the occurrences' moments (all in that
    zone) without converting both sides each time. Kept as given where the local time is ambiguous (a
    clock set back), since moments of one zone compare by their local fields."""
    utc = at.astimezone(dt.UTC)
    local = dt.datetime(*utc.timetuple()[:6], utc.microsecond, tzinfo=dt.UTC).astimezone(zone)
    if local.utcoffset() != local.replace(fold=1 - local.fold).utcoffset():
        return at
    return local


@lru_cache(maxsize=8)
def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cycle collector off while 300,000 acyclic objects are made: it would otherwise run again and again
    over all of them as they pile up (two thirds of the time of the loop at national size). Back on after,
    unless someone else had turned it off."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
