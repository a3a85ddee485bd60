"""Use cases shared by the CLI and the Prefect flows: resolve a plan, record, judge.

Every function takes the moment it acts at; only callers at the edge read the clock.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pendulum
from sqlalchemy import Engine

from cchc.calendar import Occurrence, occurrences, to_local
from cchc.loader import SpecError, load_plan
from cchc.settings import Settings
from cchc.spec import DutyKind, EvidenceKind, Plan
from cchc.store import repo
from cchc.store.db import get_engine, session_scope
from cchc.views import duty_title


class UserError(Exception):
    """Input a person must correct; the message says what to do. Nothing was changed."""


EvidenceListener = Callable[[Plan, str, repo.Recorded], None]
_evidence_listeners: list[EvidenceListener] = []


def on_evidence_recorded(listener: EvidenceListener) -> None:
    """Seam for the orchestration layer (events) without importing it here."""
    if listener not in _evidence_listeners:
        _evidence_listeners.append(listener)


def resolve_plan(ref: str, settings: Settings) -> Plan:
    """A plan id (looked up in the plan folder) or a path to a spec file."""
    path = Path(ref)
    if ref.endswith((".yaml", ".yml")) or path.is_file():
        return load_plan(path)
    candidate = settings.plan_dir / f"{ref}.yaml"
    if candidate.is_file():
        return load_plan(candidate)
    known = sorted(p.stem for p in settings.plan_dir.glob("*.yaml")) if settings.plan_dir.is_dir() else []
    close = difflib.get_close_matches(ref, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else (f" (known: {', '.join(known)})" if known else "")
    raise UserError(f"unknown plan '{ref}'{hint}; give a plan id from {settings.plan_dir}/ or a path to a .yaml file")


def all_plans(settings: Settings) -> list[Plan]:
    return [load_plan(p) for p in sorted(settings.plan_dir.glob("*.yaml"))]


def engine_for(settings: Settings) -> Engine:
    return get_engine(settings.db_url)


def ensure_plan(engine: Engine, plan: Plan, now: dt.datetime) -> None:
    with session_scope(engine) as s:
        repo.sync_plan(s, plan, now)


def duty_ids(plan: Plan) -> list[str]:
    return [d.id for d in plan.duties] + [r.id for r in plan.reports]


def accepted_kinds(plan: Plan, duty_id: str) -> list[str]:
    for d in plan.duties:
        if d.id == duty_id:
            return [k.value for k in d.requirement.evidence] if d.requirement else [EvidenceKind.report_delivery.value]
    return [EvidenceKind.report_delivery.value]


def check_duty(plan: Plan, duty_id: str) -> None:
    ids = duty_ids(plan)
    if duty_id not in ids:
        close = difflib.get_close_matches(duty_id, ids, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (duties: {', '.join(ids)})"
        raise UserError(f"plan {plan.id} has no duty '{duty_id}'{hint}")


def store_file(settings: Settings, source: Path) -> tuple[str, str]:
    """Copy a file into the content store by its sha256; return (sha256, original name)."""
    if not source.is_file():
        raise UserError(f"file {source} does not exist")
    h = hashlib.sha256()
    with source.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    target = settings.files_dir / digest[:2] / digest
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".part")
        shutil.copyfile(source, tmp)
        tmp.replace(target)
    return digest, source.name


@dataclass(frozen=True)
class EvidenceInput:
    duty: str
    kind: str
    title: str
    occurred_on: dt.date
    url: str | None = None
    file: Path | None = None
    unit: str | None = None
    source: str = "manual"
    file_sha256: str | None = None
    file_name: str | None = None


def record_evidence(settings: Settings, plan: Plan, item: EvidenceInput, now: dt.datetime) -> repo.Recorded:
    """Validate everything first, then write once; a duplicate is reported, not counted."""
    check_duty(plan, item.duty)
    try:
        EvidenceKind(item.kind)
    except ValueError:
        allowed = ", ".join(k.value for k in EvidenceKind)
        raise UserError(f"unknown evidence kind '{item.kind}' (allowed: {allowed})") from None
    accepted = accepted_kinds(plan, item.duty)
    if item.kind not in accepted:
        raise UserError(f"duty {item.duty} counts {', '.join(accepted)}; --kind {item.kind} would not count for it")
    if not item.title.strip():
        raise UserError("evidence needs a title")
    today = to_local(now, plan.timezone).date()
    if item.occurred_on > today:
        raise UserError(f"evidence date {item.occurred_on.isoformat()} is in the future (today is {today.isoformat()})")
    if item.url:
        try:
            repo.normalize_url(item.url)
        except repo.StoreError as e:
            raise UserError(str(e)) from None
    if item.unit is not None and item.unit not in {u.id for u in plan.units}:
        close = difflib.get_close_matches(item.unit, [u.id for u in plan.units], n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise UserError(f"plan {plan.id} has no unit '{item.unit}'{hint}")
    sha, name = item.file_sha256, item.file_name
    if item.file is not None:
        sha, name = store_file(settings, item.file)
    if not item.url and not sha and item.kind in (EvidenceKind.post.value,):
        raise UserError("a post needs its link (--url) or a file (--file)")
    engine = engine_for(settings)
    ensure_plan(engine, plan, now)
    with session_scope(engine) as s:
        rec = repo.add_evidence(
            s,
            repo.NewEvidence(
                plan_id=plan.id,
                duty_id=item.duty,
                kind=item.kind,
                title=item.title.strip(),
                occurred_on=item.occurred_on,
                source=item.source,
                url=item.url,
                file_sha256=sha,
                file_name=name,
                unit_id=item.unit,
            ),
            now,
        )
    if not rec.duplicate:
        for listener in list(_evidence_listeners):
            listener(plan, item.duty, rec)
    return rec


def judge_plan(settings: Settings, plan: Plan, at: dt.datetime, now: dt.datetime | None = None) -> list[repo.Judged]:
    engine = engine_for(settings)
    ensure_plan(engine, plan, now or at)
    with session_scope(engine) as s:
        return repo.evaluate(s, at, [plan.id], plan.timezone)


def iso(moment: dt.datetime) -> str:
    return pendulum.instance(moment).isoformat()


def due_display(o: Occurrence) -> pendulum.DateTime:
    """Last on-time second, for people: 'due at the end of 5 September'."""
    return pendulum.instance(o.due).subtract(seconds=1)


def occurrence_json(plan: Plan, o: Occurrence) -> dict[str, Any]:
    return {
        "plan": plan.id,
        "duty": o.duty,
        "kind": o.kind.value,
        "period": o.period,
        "starts": iso(o.starts),
        "due": iso(due_display(o)),
        "due_date": o.last_day.isoformat(),
        "closes": iso(o.closes),
        "required": o.required,
        "lead": o.lead,
        "title": duty_title(plan, o.duty),
    }


def calendar_json(plan: Plan, start: dt.date | None, end: dt.date | None) -> list[dict[str, Any]]:
    return [occurrence_json(plan, o) for o in occurrences(plan, start, end)]


def status_json(plan: Plan, judged: list[repo.Judged]) -> list[dict[str, Any]]:
    out = []
    for j in judged:
        obj = occurrence_json(plan, j.occurrence)
        obj["status"] = j.status.value
        obj["count"] = j.count
        out.append(obj)
    return out


def is_report(o: Occurrence) -> bool:
    return o.kind is DutyKind.report


__all__ = ["SpecError", "UserError"]


@dataclass(frozen=True)
class DutyEvaluation:
    """One duty judged at one moment, with the statuses that changed since the last run."""

    plan_judged: list[repo.Judged]
    duty_judged: list[repo.Judged]
    changes: list[tuple[repo.Judged, str | None]]


def evaluate_duty(settings: Settings, plan: Plan, duty_id: str, at: dt.datetime, now: dt.datetime) -> DutyEvaluation:
    """Judge the whole plan (for the coordinator's table) and record this duty's statuses.

    Only occurrences that have started are recorded, so 'upcoming' never counts as a change.
    Recording is a conditional update: two overlapping runs report each change once.
    """
    check_duty(plan, duty_id)
    engine = engine_for(settings)
    ensure_plan(engine, plan, now)
    with session_scope(engine) as s:
        judged = repo.evaluate(s, at, [plan.id], plan.timezone)
        mine = [j for j in judged if j.occurrence.duty == duty_id]
        changes = repo.record_statuses(s, [j for j in mine if j.occurrence.starts <= at], at)
    return DutyEvaluation(plan_judged=judged, duty_judged=mine, changes=changes)


def waive_occurrence(
    settings: Settings, plan: Plan, duty_id: str, period: str, reason: str, by: str, now: dt.datetime
) -> bool:
    check_duty(plan, duty_id)
    if not reason.strip():
        raise UserError("a waiver needs a reason (--reason)")
    engine = engine_for(settings)
    ensure_plan(engine, plan, now)
    try:
        with session_scope(engine) as s:
            return repo.waive(s, plan.id, duty_id, period, reason.strip(), by, now)
    except repo.StoreError as e:
        raise UserError(str(e)) from None
