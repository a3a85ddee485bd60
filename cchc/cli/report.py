"""CLI for reports: `cchc report` renders a draft at any moment, `cchc reports` lists where each stands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cchc.cli.app import app, emit_json, fail, get_plan, now_utc, parse_moment


@app.command()
def report(
    plan: str,
    period: Annotated[str, typer.Option(help="Report period: 2025-Q3, 2025-H2 or 2025.")],
    report_id: Annotated[
        str | None, typer.Option("--report", help="Report id in the plan (default: the one of that cadence).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="docx, html or md.")] = "docx",
    out: Annotated[
        Path | None,
        typer.Option(help="Write here (default: docx to a file named after the report; html/md to stdout)."),
    ] = None,
    at: Annotated[str | None, typer.Option(help="ISO 8601 moment the draft is made at (default: now).")] = None,
) -> None:
    """Render a draft of a periodic report from what is recorded (nothing is sent or changed)."""
    from cchc.app import report_workflow as workflow
    from cchc.app import service
    from cchc.app.report_render import FORMATS, TemplateError, render
    from cchc.settings import get_settings

    if fmt not in FORMATS:
        fail(f"--format '{fmt}' is not one of {', '.join(FORMATS)}")
    p = get_plan(plan)
    moment = parse_moment(at, p.timezone)
    settings = get_settings()
    try:
        rid = report_id or workflow.find_report(p, period)
        tgt = workflow.target(p, rid, period, moment)
        model = workflow.build(settings, p, rid, tgt.period, moment)
        data = render(model, fmt, settings.report_template)
    except service.UserError as e:
        fail(str(e))
    except TemplateError as e:
        fail(str(e))
    if out is None and fmt != "docx":
        typer.echo(data.decode(), nl=False)
        return
    target = out or Path(workflow.file_name(p, rid, tgt.period, fmt, True))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(target)
    except OSError as e:
        fail(f"cannot write {target}: {e.strerror}")
    typer.echo(str(target))


@app.command()
def reports(
    plan: str,
    at: Annotated[str | None, typer.Option(help="ISO 8601 moment to judge at (default: now).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every report occurrence of a plan: its status, approval and delivery."""
    from cchc.app import report_workflow as workflow
    from cchc.core.evaluate import Status
    from cchc.core.labels import STATUS_VI
    from cchc.settings import get_settings

    p = get_plan(plan)
    rows = workflow.listing(get_settings(), p, parse_moment(at, p.timezone) if at else now_utc())
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        a = r["approval"]
        number = f" số {a['number']}" if a["number"] else ""
        status = STATUS_VI[Status(r["status"])] if r["status"] else "-"
        typer.echo(f"{r['period']:<8} {r['report']:<14} hạn {r['due'][:10]}  {status:<15} {a['state_vi']}{number}")
