"""Use cases shared by the CLI and the Prefect flows: resolve a plan, record, judge.

Every function takes the moment it acts at; only callers at the edge read the clock.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import Engine

from cchc.app import plan_cache
from cchc.app.status_view import calendar_json as calendar_json  # the JSON shapes live there (light)
from cchc.app.status_view import due_display as due_display
from cchc.app.status_view import iso as iso
from cchc.app.status_view import occurrence_json as occurrence_json
from cchc.app.status_view import status_json as status_json
from cchc.core import assumptions, runs
from cchc.core.calendar import Occurrence, to_local
from cchc.core.deployments import plan_deployments
from cchc.core.loader import MAX_SPEC_BYTES, SpecError, SpecIssue, find_spec, walk_specs
from cchc.core.spec import DueRule, DutyKind, EvidenceKind, Plan
from cchc.settings import Settings
from cchc.store import assumptions as assumption_store
from cchc.store import repo
from cchc.store import runs as run_store
from cchc.store.db import get_engine, session_scope


class UserError(Exception):
    """Input a person must correct; the message says what to do. Nothing was changed."""


# (plan, item, the record or Recorded(0, False) when no single record changed, why): what counts for an
# item changed. Item "" is the whole plan (its effective date).
EvidenceListener = Callable[[Plan, str, repo.Recorded, str], None]
_evidence_listeners: list[EvidenceListener] = []


def on_evidence_recorded(listener: EvidenceListener) -> None:
    """Seam for the orchestration layer (events) without importing it here."""
    if listener not in _evidence_listeners:
        _evidence_listeners.append(listener)


def _counting_changed(plan: Plan, item: str, rec: repo.Recorded, reason: str) -> None:
    """Evidence recorded or rejected, an occurrence waived, an assumed rule decided: every listener hears it
    here, after the change is committed, whichever entry point (CLI, portal, form) made it."""
    for listener in list(_evidence_listeners):
        listener(plan, item, rec, reason)


def resolve_plan(ref: str, settings: Settings) -> Plan:
    """A plan id (looked up in the plan folder) or a path to a spec file, with the coordinator's decisions
    on its assumptions applied."""
    return with_decisions(settings, _parsed(spec_path(ref, settings), settings.home))


def plan_path(settings: Settings, plan_id: str) -> Path | None:
    """The spec file of a plan id in the plan folder, flat or in its <province>/<commune>/ folder
    (SpecError when two files hold the id)."""
    return find_spec(settings.plan_dir, plan_id)


def spec_path(ref: str, settings: Settings) -> Path:
    """A path to a spec file as given, or the file of a plan id in the plan folder (UserError: unknown)."""
    path = Path(ref)
    if ref.endswith((".yaml", ".yml")) or path.is_file():
        return path
    found = plan_path(settings, ref)
    if found is not None:
        return found
    known = sorted(walk_specs(settings.plan_dir))
    close = difflib.get_close_matches(ref, known, n=1)
    listed = f" (known: {', '.join(known)})" if 0 < len(known) <= 12 else ""
    hint = f" (did you mean '{close[0]}'?)" if close else listed
    raise UserError(f"unknown plan '{ref}'{hint}; give a plan id from {settings.plan_dir}/ or a path to a .yaml file")


# Parsed specs by file, with the sha256 of the bytes they were parsed from. Parsing and validating a
# spec takes ~100 ms, and one run resolves its plan more than once; plans are frozen, so sharing is safe.
# A process's first read of a spec goes through CCHC_HOME's plan cache (a run under `cchc up` is a new
# process each time).
_PARSED: dict[Path, tuple[str, Plan]] = {}
# Plans with the coordinator's decisions applied (re-validating the whole plan), by spec and decisions.
_DECIDED: dict[Path, tuple[tuple[str, tuple[assumptions.Decision, ...]], Plan]] = {}


def _digest(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_SPEC_BYTES:
            return None  # the loader refuses it with its own message
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _parsed(path: Path, home: Path) -> Plan:
    """``load_plan(path)``, parsed again only when the file's bytes changed (compared by hash, not mtime)."""
    key = path.resolve()
    before = _digest(path)
    hit = _PARSED.get(key)
    if hit is not None and before is not None and hit[0] == before:
        return hit[1]
    plan = plan_cache.load(path, home)
    if before is not None and _digest(path) == before:  # not rewritten while it was being parsed
        _PARSED[key] = (before, plan)
    return plan


def all_plans(settings: Settings) -> list[Plan]:
    """Every plan of the plan folder with the coordinator's decisions applied, in id order; all or nothing:
    one SpecError names every broken spec, every id held twice and every spec in another commune's folder.
    Specs come from CCHC_HOME's plan cache, the decisions from one read of the store."""
    loaded = plan_cache.load_folder(settings.plan_dir, settings.home)
    with session_scope(engine_for(settings)) as s:
        decided = assumption_store.decisions_by_plan(s)
    return [_apply(settings, path, plan, decided.get(plan.id, [])) for path, plan in loaded]


def with_decisions(settings: Settings, plan: Plan) -> Plan:
    """The plan as the coordinator's confirmed or changed assumptions leave it."""
    with session_scope(engine_for(settings)) as s:
        decided = assumption_store.decisions(s, plan.id)
    if not decided:
        return plan
    spec = _spec_of(plan)
    return _apply(settings, spec[0] if spec else None, plan, decided)


def _apply(settings: Settings, path: Path | None, plan: Plan, decided: list[assumptions.Decision]) -> Plan:
    if not decided:
        return plan
    cached = _cached_decided(plan, decided)
    if cached is not None:
        return cached
    try:
        applied = assumptions.apply(plan, decided)
    except ValueError as e:  # a decision the edited spec no longer admits: say so, with the file
        why = f"a recorded decision on its assumptions (cchc assumptions {plan.id}) no longer fits the spec: {e}"
        where = path or settings.plan_dir / f"{plan.id}.yaml"
        raise SpecError([SpecIssue(str(where), 1, "", why)]) from None
    _remember_decided(plan, decided, applied)
    return applied


def _spec_of(plan: Plan) -> tuple[Path, str] | None:
    """The cached file this very plan object was parsed from, with its hash."""
    return next(((path, digest) for path, (digest, parsed) in _PARSED.items() if parsed is plan), None)


def _cached_decided(plan: Plan, decided: list[assumptions.Decision]) -> Plan | None:
    spec = _spec_of(plan)
    if spec is None:
        return None
    hit = _DECIDED.get(spec[0])
    return hit[1] if hit is not None and hit[0] == (spec[1], tuple(decided)) else None


def _remember_decided(plan: Plan, decided: list[assumptions.Decision], applied: Plan) -> None:
    spec = _spec_of(plan)
    if spec is not None:
        _DECIDED[spec[0]] = ((spec[1], tuple(decided)), applied)


def check_decider(reason: str, by: str) -> None:
    """A decision on an assumption (a plan's or a province's) says why and who decides."""
    if not reason.strip():
        raise UserError("a decision needs a reason (--reason): why the rule is right, or what says so")
    if not by.strip():
        raise UserError("say who decides (--by)")


@contextmanager
def rules_refusal() -> Iterator[None]:
    """A decision the rules refuse, or one whose result fails the spec's own rules (a date outside the plan...),
    as the person's error: the first reason, without pydantic's prefix."""
    try:
        yield
    except ValidationError as e:
        first = e.errors()[0]
        raise UserError(str(first["msg"]).removeprefix("Value error, ")) from None
    except ValueError as e:
        raise UserError(str(e)) from None


def decide_assumption(
    settings: Settings,
    plan: Plan,
    item: str,
    aspect: str,
    action: str,
    reason: str,
    by: str,
    now: dt.datetime,
    due: DueRule | None = None,
    min_count: int | None = None,
    effective_from: dt.date | None = None,
) -> Plan:
    """Record the coordinator's decision on one assumption (audited) and return the plan as it now acts."""
    check_decider(reason, by)
    with rules_refusal():
        assumptions.check(plan, item, aspect, action, (due, min_count, effective_from))
        d = assumptions.Decision(
            plan.id, item, aspect, action, by.strip(), now, reason.strip(), due, min_count, effective_from
        )
        decided = assumptions.apply(plan, [d])
    engine = engine_for(settings)
    with session_scope(engine) as s:
        assumption_store.add(s, d)
    ensure_plan(engine, decided, now)
    verb = "xác nhận" if action == "confirm" else "điều chỉnh"
    _counting_changed(decided, item, repo.Recorded(0, False), f"{verb} giả định {assumptions.ASPECT_VI[aspect]}")
    return decided


def engine_for(settings: Settings) -> Engine:
    return get_engine(settings.db_url)


def ensure_plan(engine: Engine, plan: Plan, now: dt.datetime) -> None:
    with session_scope(engine) as s:
        repo.sync_plan(s, plan, now)


def duty_ids(plan: Plan) -> list[str]:
    return [d.id for d in plan.duties] + [r.id for r in plan.reports]


def accepted_kinds(plan: Plan, duty_id: str) -> list[str]:
    return [k.value for k in plan.counted_kinds(duty_id)]


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
    _keep(stored_path(settings, digest), lambda tmp: shutil.copyfile(source, tmp))
    return digest, source.name


def store_bytes(settings: Settings, data: bytes) -> str:
    """Keep generated bytes (a rendered report) in the content store; return their sha256."""
    digest = hashlib.sha256(data).hexdigest()
    _keep(stored_path(settings, digest), lambda tmp: tmp.write_bytes(data))
    return digest


def _keep(target: Path, write: Callable[[Path], object]) -> None:
    """Write into a temporary file of this writer's own, then rename: two writers of the same content
    (parallel uploads of one file) never share a temporary, and a reader never sees half a file."""
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        tmp.replace(target)  # same content under the same name: the last rename wins harmlessly
    finally:
        tmp.unlink(missing_ok=True)


def stored_path(settings: Settings, sha256: str) -> Path:
    return settings.files_dir / sha256[:2] / sha256


@dataclass(frozen=True)
class EvidenceInput:
    duty: str
    kind: str
    title: str
    occurred_on: dt.date
    url: str | None = None
    file: Path | None = None
    unit: str | None = None
    origin: str = "manual"
    file_sha256: str | None = None
    file_name: str | None = None
    actor: str | None = None  # who, for the audit trail (default: the source)


MAX_TITLE = 1000


def evidence_span(plan: Plan) -> tuple[dt.date, dt.date]:
    """The days evidence may be dated: the plan's period, widened back to the 15th of the month before it
    (a report's data window starts there)."""
    start = plan.period.start
    month_before = (start.replace(day=1) - dt.timedelta(days=1)).replace(day=15)
    return min(month_before, start), plan.period.end


def before_effect_note(plan: Plan, day: dt.date) -> str | None:
    """Work dated before the plan took effect is recorded, and the person who sent it is told so."""
    if day >= plan.effective_on:
        return None
    basis = " (ngày giả định, chờ bộ phận điều phối xác nhận)" if plan.effective_assumed else ""
    return (
        f"ngày {day.strftime('%d/%m/%Y')} trước ngày kế hoạch có hiệu lực "
        f"({plan.effective_on.strftime('%d/%m/%Y')}{basis}); minh chứng vẫn được ghi nhận"
    )


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
    if len(item.title) > MAX_TITLE:
        raise UserError(f"the title has {len(item.title)} characters; keep it under {MAX_TITLE}")
    today = to_local(now, plan.timezone).date()
    if item.occurred_on > today:
        raise UserError(f"evidence date {item.occurred_on.isoformat()} is in the future (today is {today.isoformat()})")
    earliest, latest = evidence_span(plan)
    if not earliest <= item.occurred_on <= latest:
        raise UserError(
            f"evidence date {item.occurred_on.isoformat()} is outside plan {plan.id} "
            f"({earliest.isoformat()}..{latest.isoformat()}: its period, from the 15th of the month before, "
            "where a report's data window starts)"
        )
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
                origin=item.origin,
                url=item.url,
                file_sha256=sha,
                file_name=name,
                unit_id=item.unit,
            ),
            now,
        )
        if not rec.duplicate:
            repo.audit(
                s,
                now,
                item.actor or item.origin,
                "evidence.add",
                plan.id,
                item.duty,
                evidence_id=rec.id,
                detail=f"{item.kind}: {item.title.strip()} ({item.url or name or '-'}; ngày {item.occurred_on.isoformat()})",
            )
    if not rec.duplicate:
        _counting_changed(plan, item.duty, rec, "")
    return rec


def judge_plan(settings: Settings, plan: Plan, at: dt.datetime, now: dt.datetime | None = None) -> list[repo.Judged]:
    engine = engine_for(settings)
    ensure_plan(engine, plan, now or at)
    with session_scope(engine) as s:
        return repo.evaluate(s, at, [plan.id], plan.timezone)


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
    return evaluate_duties(settings, plan, [duty_id], at, now)


def evaluate_duties(
    settings: Settings, plan: Plan, duty_ids: Sequence[str], at: dt.datetime, now: dt.datetime
) -> DutyEvaluation:
    """``evaluate_duty`` for the runs of several duties at one moment (``cchc replay``): one judgement."""
    for duty_id in duty_ids:
        check_duty(plan, duty_id)
    engine = engine_for(settings)
    ensure_plan(engine, plan, now)
    with session_scope(engine) as s:
        judged = repo.evaluate(s, at, [plan.id], plan.timezone)
        mine = [j for j in judged if j.occurrence.duty in duty_ids]
        changes = repo.record_statuses(s, [j for j in mine if j.occurrence.starts <= at], at)
    return DutyEvaluation(plan_judged=judged, duty_judged=mine, changes=changes)


def reject_evidence(settings: Settings, plan: Plan, evidence_id: int, reason: str, by: str, now: dt.datetime) -> str:
    """Stop counting one item (it stays in the record); returns its duty so the caller can re-judge it."""
    if not reason.strip():
        raise UserError("a rejection needs a reason (--reason)")
    engine = engine_for(settings)
    ensure_plan(engine, plan, now)
    try:
        with session_scope(engine) as s:
            row = repo.reject(s, plan.id, evidence_id, reason.strip(), by, now)
            duty_id, changed = row.duty_id, row.rejected_at == now  # not rejected before this call
    except repo.StoreError as e:
        raise UserError(str(e)) from None
    if changed:
        _counting_changed(plan, duty_id, repo.Recorded(evidence_id, False), f"loại minh chứng #{evidence_id}")
    return duty_id


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
            created = repo.waive(s, plan.id, duty_id, period, reason.strip(), by, now)
    except repo.StoreError as e:
        raise UserError(str(e)) from None
    if created:
        _counting_changed(plan, duty_id, repo.Recorded(0, False), f"miễn kỳ {period}")
    return created


GAPS_SHOWN = dt.timedelta(days=14)  # the status artifact mentions stops found this recently


def note_run(settings: Settings, plan: Plan, now: dt.datetime, grace: dt.timedelta = runs.GRACE) -> runs.Gap | None:
    """A run of the plan starts at ``now`` (wall clock): record its beat, and a stop since the last one.

    Returns the stop when this call recorded it; overlapping runs record and return it once.
    A stop needs the previous beat older than ``grace``: only then are the schedules expanded (a few
    hundred ms for a plan; once a morning, by the first of the runs that start together, while the
    others wait for the lock and then find its fresh beat).
    """
    with session_scope(engine_for(settings)) as s:
        previous = run_store.record_beat(s, plan.id, now)
        if previous is None or previous >= now - grace:
            return None  # the first run ever, or one right after another: nothing can have been missed
        gap = runs.gap_in(plan_deployments(plan), previous, now, grace)
        if gap is None or not run_store.add_gap(s, plan.id, gap.stopped_from, gap.resumed_at):
            return None
    return gap


def recent_gaps(settings: Settings, plan: Plan, since: dt.datetime) -> list[runs.Gap]:
    with session_scope(engine_for(settings)) as s:
        return run_store.gaps_since(s, plan.id, since)
