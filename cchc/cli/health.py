"""`cchc doctor` (is the system healthy?) and `cchc watchdog` (tell someone when it is not)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from cchc.cli.app import app, emit_json, now_utc

if TYPE_CHECKING:
    from cchc.core.health import Check


def _print(checks: list[Check]) -> None:
    from cchc.core.labels import VERDICT_VI

    width = max(len(c.name) for c in checks)
    for c in checks:
        typer.echo(f"[{VERDICT_VI[c.status]:<8}] {c.name:<{width}}  {c.message}")
        if c.action and c.status != "ok":
            typer.echo(f"{'':<{width + 13}}→ {c.action}")


@app.command()
def doctor(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Kiểm tra sức khỏe của hệ thống đang chạy: mỗi mục một dòng (tốt / cảnh báo / lỗi) và cách xử lý."""
    from cchc.app import doctor as dr
    from cchc.core.health import worst
    from cchc.settings import get_settings

    checks = dr.run_checks(get_settings(), now_utc())
    verdict = worst(checks)
    if as_json:
        emit_json({"status": verdict, "checks": [c.json() for c in checks]})
    else:
        _print(checks)
    raise typer.Exit(1 if verdict == "failing" else 0)


@app.command()
def watchdog(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit (for a systemd timer).")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Chạy các kiểm tra định kỳ; báo qua thư một lần khi một mục bắt đầu lỗi, một lần khi nó hoạt động lại."""
    from cchc.app import watchdog as wd
    from cchc.core.health import worst
    from cchc.settings import get_settings

    settings = get_settings()
    while True:
        result = wd.run_pass(settings, now_utc())
        if as_json:
            emit_json(
                {
                    "status": worst(result.checks),
                    "told": [c.__dict__ for c in result.told],
                    "pending": [c.__dict__ for c in result.pending],
                    "recipients": result.recipients,
                    "problem": result.problem,
                }
            )
        else:
            for c in result.told:
                typer.echo(
                    f"đã báo: {c.check} {'lỗi' if c.kind == 'failing' else 'hoạt động lại'} → {', '.join(result.recipients)}"
                )
            if result.problem:
                typer.echo(f"chưa báo được: {result.problem}", err=True)
        if once:
            raise typer.Exit(1 if result.pending else 0)
        time.sleep(settings.watchdog_interval)
