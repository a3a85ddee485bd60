"""CLI for the running system: `cchc up`, `cchc deployments`, `cchc waive`, and evidence events."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cchc.cli.app import app, emit_json, fail, get_plan, now_utc, wire_events

if TYPE_CHECKING:
    from cchc.core.spec import Plan


def _plans_or_fail(plan_dir: Path | None = None) -> list[Plan]:
    from cchc.app import service
    from cchc.core.loader import SpecError
    from cchc.settings import get_settings

    settings = get_settings()
    if plan_dir is not None:
        if not plan_dir.is_dir():
            fail(f"không có thư mục kế hoạch {plan_dir}: hãy chỉ --plans tới thư mục chứa các tệp .yaml")
        settings = settings.model_copy(update={"plan_dir": plan_dir})
    try:
        plans = service.all_plans(settings)
    except SpecError as e:
        fail(str(e))
    if not plans:
        fail(f"no plan specs in {settings.plan_dir}")
    return plans


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="Default: PREFECT_SERVER_API_HOST or 127.0.0.1.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: PREFECT_SERVER_API_PORT or 4200.")] = None,
    scale: Annotated[
        bool, typer.Option("--scale", help="PostgreSQL, the `cchc` work pool and `cchc worker` processes.")
    ] = False,
    workers: Annotated[int, typer.Option(min=1, help="With --scale: how many workers.")] = 2,
    worker_limit: Annotated[int, typer.Option(min=1, help="With --scale: flow runs at once per worker.")] = 4,
) -> None:
    """Start a Prefect server with its UI and serve every plan's deployments until stopped."""
    from cchc.app.supervisor import UP, HomeBusy, Supervisor, busy_message, home_lock
    from cchc.settings import get_settings

    settings = get_settings()
    with contextlib.ExitStack() as held:
        # The home's lock first: reading the plans opens the store, which a restore may be replacing.
        try:
            held.enter_context(home_lock(settings.home, UP))
        except HomeBusy as e:
            typer.echo(f"không khởi động được: {busy_message(e)}")
            raise typer.Exit(2) from None
        try:
            _plans_or_fail()
        except typer.Exit:
            # A broken spec stops `cchc up` before anything runs: tell someone now (once per episode).
            from cchc.app.watchdog import run_pass

            run_pass(settings, now_utc())
            raise
        sup = Supervisor(settings, host or settings.server_host, port or settings.server_port, echo=typer.echo)
        sup.scale, sup.workers, sup.worker_limit = scale, workers, worker_limit
        code = sup.serve_locked()  # the lock goes only after stop(): every child is gone by then
    raise typer.Exit(code)


@app.command()
def deployments(
    write: Annotated[Path | None, typer.Option(help="Write prefect.yaml here.")] = None,
    check: Annotated[Path | None, typer.Option(help="Fail if this prefect.yaml is out of date.")] = None,
    plans_dir: Annotated[
        Path | None, typer.Option("--plans", help="The plan folder (default: CCHC_PLAN_DIR, i.e. plan_specs/).")
    ] = None,
    profile: Annotated[
        str | None, typer.Option(help="commune or province (default: CCHC_DEPLOYMENT_PROFILE, i.e. commune).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The deployments derived from the plans (one per duty and report). At province size generate
    prefect.yaml at deploy time: `cchc deployments --write FILE --plans DIR --profile province`."""
    from cchc.core.deployments import PROFILES, all_deployments, prefect_yaml
    from cchc.settings import get_settings

    chosen = profile or get_settings().deployment_profile
    if chosen not in PROFILES:
        fail(f"--profile {chosen!r} không hợp lệ: chọn một trong {', '.join(PROFILES)}")
    mode = next(p for p in PROFILES if p == chosen)  # the Literal type, for mypy
    plans = _plans_or_fail(plans_dir)
    if write is not None:
        text = prefect_yaml(plans, mode)
        write.write_text(text, encoding="utf-8")
        size = len(text.encode("utf-8"))
        typer.echo(f"wrote {write} ({len(all_deployments(plans, mode))} deployments, {size / 1024:.0f} KiB)")
        return
    if check is not None:
        if not check.is_file() or check.read_text(encoding="utf-8") != prefect_yaml(plans, mode):
            fail(f"{check} is out of date: run `cchc deployments --write {check}`", code=1)
        typer.echo(f"{check} is up to date")
        return
    specs = all_deployments(plans, mode)
    if as_json:
        emit_json(
            [{"name": s.name, "entrypoint": s.entrypoint, "parameters": s.parameters, "tags": s.tags} for s in specs]
        )
        return
    for s in specs:
        typer.echo(f"{s.entrypoint:<36} {s.name}")


@app.command()
def waive(
    plan: str,
    duty: str,
    period: str,
    reason: Annotated[str, typer.Option(help="Why this occurrence is excused.")],
    by: Annotated[str, typer.Option(help="Who decided.")] = "điều phối viên",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Excuse one occurrence of a duty, with a reason; its reminders stop."""
    from cchc.app import service
    from cchc.settings import get_settings

    wire_events()  # the duty re-runs now and the status shows the waiver (service.waive_occurrence tells)
    p = get_plan(plan)
    try:
        created = service.waive_occurrence(get_settings(), p, duty, period, reason, by, now_utc())
    except service.UserError as e:
        fail(str(e))
    if as_json:
        emit_json({"plan": p.id, "duty": duty, "period": period, "waived": True, "new": created})
    else:
        typer.echo("waived" if created else "already waived")
