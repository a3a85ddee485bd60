"""CLI for evidence that arrives by itself or is corrected: `cchc portal`, `cchc evidence reject`, `cchc audit`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cchc.cli.app import app, emit_json, evidence_app, fail, get_plan, now_utc, wire_events


@app.command()
def portal(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8700,
) -> None:
    """Serve the page units open from their reminder emails to send evidence (CCHC_PORTAL_URL must reach it)."""
    from cchc.portal.app import serve
    from cchc.settings import get_settings

    typer.echo(f"portal on http://{host}:{port} (links in emails point to {get_settings().portal_url})")
    serve(host, port)


@evidence_app.command("reject")
def evidence_reject(
    plan: str,
    evidence_id: int,
    reason: Annotated[str, typer.Option(help="Why it does not count.")],
    by: Annotated[str, typer.Option(help="Who decided.")] = "điều phối viên",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Stop counting one piece of evidence; it stays in the record with the reason."""
    from cchc.app import service
    from cchc.settings import get_settings

    wire_events()  # the duty re-runs now and the status shows it (service.reject_evidence tells)
    p = get_plan(plan)
    try:
        duty = service.reject_evidence(get_settings(), p, evidence_id, reason, by, now_utc())
    except service.UserError as e:
        fail(str(e))
    if as_json:
        emit_json({"plan": p.id, "id": evidence_id, "duty": duty, "rejected": True})
    else:
        typer.echo(f"rejected #{evidence_id} ({duty})")


@app.command()
def audit(
    plan: str,
    limit: Annotated[int, typer.Option(help="Newest entries first, at most this many.")] = 100,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Who changed what counts, when and why: evidence added or rejected, occurrences waived, assumptions decided.
    PLAN may also name a province (code, name, folder or its _province.yaml): the department's decisions."""
    from cchc.app import province_assumptions, service
    from cchc.core import province_assumptions as province_rules
    from cchc.core.loader import SpecError
    from cchc.settings import get_settings
    from cchc.store import repo
    from cchc.store.db import session_scope

    settings = get_settings()
    engine = service.engine_for(settings)
    try:
        province = province_assumptions.target(settings, plan)
    except (service.UserError, SpecError) as e:
        fail(str(e))
    if province is not None:
        key = province_rules.key(province)  # its decisions are kept, and audited, under this id
    else:
        p = get_plan(plan)
        service.ensure_plan(engine, p, now_utc())
        key = p.id
    with session_scope(engine) as s:
        rows: list[dict[str, Any]] = [
            {
                "at": service.iso(r.at),
                "actor": r.actor,
                "action": r.action,
                "duty": r.duty_id,
                "period": r.period,
                "evidence_id": r.evidence_id,
                "reason": r.reason,
                "detail": r.detail,
            }
            for r in repo.audit_trail(s, key, limit)
        ]
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        why = f" — {r['reason']}" if r["reason"] else ""
        typer.echo(f"{r['at'][:19]}  {r['actor']:<22} {r['action']:<16} {r['duty'] or ''} {r['period'] or ''}{why}")
