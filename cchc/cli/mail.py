"""CLI for email: `cchc tick`, `cchc outbox`, `cchc mail flush`, `cchc mail serve`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cchc.cli.app import app, emit_json, fail, get_plan, now_utc, parse_moment, wire_events

if TYPE_CHECKING:
    from cchc.app.mail_pass import TickResult

# The outbox states, for the help text without importing the store; tests/test_cli_startup.py checks that they
# are cchc.store.outbox.STATUSES.
OUTBOX_STATUSES = ("queued", "sending", "sent", "failed", "skipped")

mail_app = typer.Typer(help="Thư điện tử: gửi lại, máy nhận thư thử nghiệm.", no_args_is_help=True)
app.add_typer(mail_app, name="mail")


def _check_mail_settings() -> None:
    from cchc.settings import get_settings
    from notifications.smtp import MailConfigError, parse_smtp_url

    s = get_settings()
    if s.smtp_url is not None and s.smtp_url.get_secret_value().strip():
        try:
            parse_smtp_url(s.smtp_url.get_secret_value())
        except MailConfigError as e:
            fail(str(e))


def _report(result: TickResult, as_json: bool) -> None:
    if as_json:
        emit_json(result.as_json())
    else:
        for title, lines in (
            ("đã gửi", result.sent),
            ("bỏ qua", result.skipped),
            ("thử lại sau", result.retrying),
            ("lỗi", result.failed),
        ):
            for line in lines:
                detail = f"  ({line.detail})" if line.detail and title != "đã gửi" else ""
                typer.echo(f"{title:<12} {line.key}  → {line.to or '-'}{detail}")
        typer.echo(
            f"đã gửi {len(result.sent)}, bỏ qua {len(result.skipped)}, thử lại sau {len(result.retrying)}, "
            f"lỗi {len(result.failed)}"
        )
        from cchc.settings import get_settings

        settings = get_settings()
        if result.sent and (settings.smtp_url is None or not settings.smtp_url.get_secret_value().strip()):
            typer.echo(
                "chưa cấu hình máy chủ thư (CCHC_SMTP_URL): thư được ghi thành tệp .eml trong "
                f"{settings.mail_dir.resolve()}"
            )
    for p in result.problems:
        typer.echo(f"warning: {p}", err=True)
    if result.config_error:
        raise typer.Exit(1)


@app.command()
def tick(
    plan: str,
    at: Annotated[str | None, typer.Option(help="ISO 8601 moment the pass runs at (default: now).")] = None,
    duty: Annotated[list[str] | None, typer.Option(help="Only these duties (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One pass as the schedule runs it: evaluate, queue due reminders, send what is queued."""
    from cchc.app import service
    from cchc.app.mail_pass import run_tick
    from cchc.settings import get_settings

    wire_events()  # a delivered report becomes evidence
    _check_mail_settings()
    p = get_plan(plan)
    moment = parse_moment(at, p.timezone)
    for d in duty or []:
        try:
            service.check_duty(p, d)
        except service.UserError as e:
            fail(str(e))
    result = run_tick(get_settings(), p, moment, now_utc(), duty)
    _report(result, as_json)


def row_json(r: Any) -> dict[str, Any]:
    from cchc.app import service

    return {
        "key": r.key,
        "to": r.recipient,
        "cc": r.cc,
        "subject": r.subject,
        "status": r.status,
        "step": r.step,
        "plan": r.plan_id,
        "duty": r.duty_id,
        "period": r.period,
        "occurrence": f"{r.plan_id}:{r.duty_id}:{r.period}" if r.duty_id else None,
        "unit": r.unit_id,
        "attempts": r.attempts,
        "message_id": r.message_id,
        "due_at": service.iso(r.due_at),
        "created_at": service.iso(r.created_at),
        "sent_at": service.iso(r.sent_at) if r.sent_at else None,
        "server_reply": r.server_reply,
        "error": r.last_error,
    }


@app.command()
def outbox(
    plan: Annotated[str | None, typer.Argument(help="Plan id (default: every plan).")] = None,
    status: Annotated[str | None, typer.Option(help=f"Only rows in this state: {', '.join(OUTBOX_STATUSES)}.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The outbox: every message the system queued, sent, skipped or failed."""
    from cchc.app import service
    from cchc.core.labels import MAIL_STATUS_VI
    from cchc.settings import get_settings
    from cchc.store import outbox as ob
    from cchc.store.db import session_scope

    if status is not None and status not in ob.STATUSES:
        fail(f"--status '{status}' is not one of {', '.join(ob.STATUSES)}")
    plan_id = get_plan(plan).id if plan else None
    engine = service.engine_for(get_settings())
    with session_scope(engine) as s:
        rows = [row_json(r) for r in ob.rows(s, plan_id, status)]
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        status = MAIL_STATUS_VI.get(r["status"], r["status"])
        typer.echo(f"{status:<9} {r['due_at'][:16]}  {r['key']}  → {r['to'] or '-'}  {r['error'] or ''}".rstrip())
    typer.echo(f"{len(rows)} rows")


@mail_app.command("flush")
def mail_flush(
    plan: Annotated[str | None, typer.Argument(help="Plan id (default: every plan).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Send now what is queued or waiting to be retried."""
    from cchc.app.mail_pass import flush
    from cchc.settings import get_settings

    wire_events()  # a delivered report becomes evidence
    _check_mail_settings()
    plan_id = get_plan(plan).id if plan else None
    _report(flush(get_settings(), now_utc(), plan_id), as_json)


@mail_app.command("serve")
def mail_serve(
    host: Annotated[str, typer.Option(help="Loopback address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 1025,
) -> None:
    """A local SMTP catcher for demos: keeps every message it receives as a .eml file."""
    from cchc.settings import get_settings
    from notifications import catcher

    folder = get_settings().inbox_dir
    try:
        controller = catcher.start(folder, host, port)
    except (ValueError, OSError) as e:
        fail(f"cannot listen on {host}:{port}: {e}")
    typer.echo(f"SMTP catcher on {host}:{port}; messages go to {folder.resolve()}")
    typer.echo(f"use: CCHC_SMTP_URL=smtp+insecure://{host}:{port}   (Ctrl-C stops)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
