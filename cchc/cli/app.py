"""The `cchc` command. Thin: parse, call cchc.service, print. Reads the clock only here."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

# Only typer at the top: `cchc --help` must start instantly, so every command imports what it uses
# (pydantic, SQLAlchemy, pendulum, the store, the use cases) inside its own body. tests/test_cli_startup.py
# fails when a module listed in main.COMMAND_MODULES pulls a heavy library in at import time.
if TYPE_CHECKING:
    from cchc.core.spec import Plan
    from cchc.store.judging import Judged

app = typer.Typer(
    help="cchc: kế hoạch tuyên truyền CCHC chạy như quy trình có lịch.",
    no_args_is_help=True,
    # Plain Click help and errors: Rich's formatter alone costs more than the rest of `cchc --help`.
    rich_markup_mode=None,
)
evidence_app = typer.Typer(help="Minh chứng (evidence).", no_args_is_help=True)
app.add_typer(evidence_app, name="evidence")


def warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


def wire_events() -> None:
    """Announce evidence this process records (directly, or as a delivered report) to Prefect, so the duty's
    trigger runs; call it first in every command that may record evidence. Not at import: it loads httpx."""
    from cchc.app import service
    from cchc.io import events

    events.add_warning_sink(warn)
    service.on_evidence_recorded(events.evidence_listener)


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_moment(text: str | None, tz: str) -> dt.datetime:
    """ISO 8601; without an offset it is read in the plan's time zone; a bare date is its 00:00."""
    if text is None:
        return now_utc()
    import pendulum

    try:
        parsed = pendulum.parse(text, tz=tz)
    except (ValueError, pendulum.parsing.exceptions.ParserError):
        fail(f"--at '{text}' is not an ISO 8601 date or datetime (e.g. 2025-10-21T09:00:00+07:00)")
    if not isinstance(parsed, pendulum.DateTime):
        fail(f"--at '{text}' is not a date or datetime")
    return parsed


def parse_day(text: str | None, flag: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        fail(f"{flag} '{text}' is not a date in the form YYYY-MM-DD")


def get_plan(ref: str) -> Plan:
    """A plan id or a spec path, as service.resolve_plan reads it, with the parsed spec from CCHC_HOME's cache."""
    from cchc.app import plan_cache, service
    from cchc.core.loader import SpecError
    from cchc.settings import get_settings

    settings = get_settings()
    try:
        path = service.spec_path(ref, settings)  # flat or in <province>/<commune>/; unknown: did you mean ...?
        if path.is_file():
            return service.with_decisions(settings, plan_cache.load(path, settings.home))
        return service.resolve_plan(ref, settings)  # a missing file: the loader's message
    except SpecError as e:
        fail(str(e))
    except service.UserError as e:
        fail(str(e))


def show_assumptions(plan: Plan, as_json: bool) -> None:
    """`cchc assumptions` and `cchc validate --assumptions`."""
    from cchc.core import assumptions

    rows = assumptions.listing(plan)
    if as_json:
        emit_json([a.as_json() for a in rows])
        return
    if not rows:
        typer.echo(f"{plan.id}: không có giả định nào: mọi mốc đều theo kế hoạch")
        return
    open_ = sum(1 for a in rows if not a.confirmed)
    typer.echo(f"{plan.id}: {len(rows)} giả định, {open_} chưa xác nhận")
    for a in rows:
        where = a.item or "(kế hoạch)"
        state = f"đã xác nhận: {a.confirmed}" if a.confirmed else "CHƯA XÁC NHẬN"
        typer.echo(f"  {where} · {assumptions.ASPECT_VI[a.aspect]}: {a.rule}")
        typer.echo(f"      lý do: {a.reason}" + (f" · theo: {a.regime}" if a.regime else ""))
        typer.echo(f"      {state}")


@app.command()
def validate(
    paths: Annotated[list[Path] | None, typer.Argument(help="Spec files or folders (default: plan_specs/).")] = None,
    list_assumptions: Annotated[
        bool, typer.Option("--assumptions", help="Also list every assumption of each plan, confirmed or not.")
    ] = False,
) -> None:
    """Check plan specs; one line per plan; exit 0 only when all are valid."""
    from cchc.core.loader import SpecError, load_plan, spec_files
    from cchc.settings import get_settings

    targets = spec_files(paths or [get_settings().plan_dir])
    if not targets:
        fail("no plan specs found")
    bad = 0
    for p in targets:
        try:
            plan = load_plan(p)
        except SpecError as e:
            bad += 1
            for issue in e.issues:
                typer.echo(str(issue))
            continue
        typer.echo(f"{p}: ok: {plan.id} ({len(plan.duties)} duties, {len(plan.reports)} reports)")
        if list_assumptions:
            from cchc.app import service

            show_assumptions(service.with_decisions(get_settings(), plan), as_json=False)
    if not paths:  # the plan folder as `cchc up` reads it: no id twice, each spec in its commune's folder
        from cchc.app import plan_cache

        layout = plan_cache.read_folder(get_settings().plan_dir, get_settings().home).layout
        for issue in layout:
            typer.echo(str(issue))
        bad += len(layout)
    raise typer.Exit(1 if bad else 0)


@app.command()
def schema(out: Annotated[Path | None, typer.Option(help="Write the JSON Schema here.")] = None) -> None:
    """Export the JSON Schema of plan specs (for editors)."""
    from cchc.core.loader import json_schema

    text = json_schema()
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")


@app.command()
def plans(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    province: Annotated[
        str | None, typer.Option(help="Only this province: part of its name, with or without diacritics.")
    ] = None,
    commune: Annotated[
        str | None, typer.Option(help="Only this commune: its register code, or part of its name.")
    ] = None,
) -> None:
    """List the plans in the plan folder (optionally of one province or commune)."""
    from cchc.app import plan_cache
    from cchc.core.communes import matches
    from cchc.core.loader import SpecError
    from cchc.settings import get_settings

    settings = get_settings()
    rows = []
    try:  # the same check as `cchc up`: every spec loads, no id twice, each in its commune's folder
        loaded = [plan for _, plan in plan_cache.load_folder(settings.plan_dir, settings.home)]
    except SpecError as e:
        fail(str(e))
    for plan in loaded:
        if province is not None and not matches(province, plan.commune.province):
            continue
        if commune is not None and not matches(commune, plan.commune.name, plan.commune.code):
            continue
        rows.append(
            {
                "id": plan.id,
                "title": plan.title,
                "number": plan.number,
                "commune": plan.commune.name,
                "commune_code": plan.commune.code,
                "province": plan.commune.province,
                "period_start": plan.period.start.isoformat(),
                "period_end": plan.period.end.isoformat(),
                "duties": len(plan.duties),
                "reports": len(plan.reports),
            }
        )
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        typer.echo(
            f"{r['id']:<20} xã {r['commune']:<12} {r['period_start']}..{r['period_end']}  {r['duties']} nhiệm vụ, {r['reports']} báo cáo"
        )


@app.command()
def calendar(
    plan: str,
    from_: Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD")] = None,
    to: Annotated[str | None, typer.Option("--to", help="YYYY-MM-DD")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Occurrences of every duty and report: period, window, due time."""
    from cchc.app import service

    p = get_plan(plan)
    start, end = parse_day(from_, "--from"), parse_day(to, "--to")
    if start and end and end < start:
        fail("--to is before --from")
    rows = service.calendar_json(p, start, end)
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        req = f"≥{r['required']}" if r["required"] is not None else ""
        typer.echo(f"{r['period']:<10} hạn {r['due_date']}  {r['kind']:<10} {r['duty']:<28} {req:<4} {r['lead']}")


@evidence_app.command("add")
def evidence_add(
    plan: str,
    duty: str,
    kind: Annotated[str, typer.Option(help="post, broadcast, document, photo, event, survey, report_delivery")],
    title: Annotated[str, typer.Option()],
    date: Annotated[str, typer.Option(help="When it happened, YYYY-MM-DD.")],
    url: Annotated[str | None, typer.Option()] = None,
    file: Annotated[Path | None, typer.Option()] = None,
    unit: Annotated[str | None, typer.Option(help="Unit id that sent it.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Record a piece of evidence for a duty; a duplicate link or file is not counted twice."""
    from cchc.app import service
    from cchc.settings import get_settings

    wire_events()
    p = get_plan(plan)
    day = parse_day(date, "--date")
    assert day is not None
    settings = get_settings()
    try:
        rec = service.record_evidence(
            settings,
            p,
            service.EvidenceInput(duty=duty, kind=kind, title=title, occurred_on=day, url=url, file=file, unit=unit),
            now_utc(),
        )
    except service.UserError as e:
        fail(str(e))
    early = service.before_effect_note(p, day)
    if as_json:
        emit_json({"id": rec.id, "duplicate": rec.duplicate, "before_effect": early is not None})
    else:
        typer.echo(f"{rec.id} (duplicate: already recorded)" if rec.duplicate else str(rec.id))
        if early:
            typer.echo(f"lưu ý: {early}", err=True)


@app.command()
def status(
    plan: str,
    at: Annotated[str | None, typer.Option(help="ISO 8601 moment to judge at (default: now).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Status of every occurrence as at a moment."""
    from cchc.app import status_read
    from cchc.app.status_view import status_json
    from cchc.core.evaluate import Status
    from cchc.core.labels import STATUS_VI
    from cchc.settings import get_settings

    # Unchanged since the last time (spec, decisions, plan row, schema): the store read on sqlite3, with no
    # SQLAlchemy, loader or use cases to import. Anything else: the use cases, which keep it for next time.
    read = status_read.fast(plan, get_settings(), lambda tz: parse_moment(at, tz)) or _status_slow(plan, at)
    rows = status_json(*read)
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        req = f"{r['count']}/{r['required']}" if r["required"] is not None else str(r["count"])
        status = STATUS_VI[Status(r["status"])]
        typer.echo(f"{r['period']:<10} hạn {r['due_date']}  {status:<15} {req:<5} {r['duty']:<28} {r['lead']}")


def _status_slow(plan: str, at: str | None) -> tuple[Plan, list[Judged]]:
    from cchc.app import service, status_read
    from cchc.settings import get_settings

    settings = get_settings()
    p = get_plan(plan)
    pending = status_read.prepare(plan, settings)
    if pending is not None:
        p = get_plan(plan)  # its decisions read again after prepare took their digest (see remember)
    judged = service.judge_plan(settings, p, parse_moment(at, p.timezone), now_utc())
    if pending is not None:
        status_read.remember(pending, p)
    return p, judged
