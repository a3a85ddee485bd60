"""`cchc worker`: a Prefect process worker for the `cchc` work pool, started only once its settings check out."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from cchc.cli.app import app

# Flow runs send a heartbeat this often (Prefect's minimum); `cchc up --scale` re-queues a run silent for
# 90 s (flows/serve.py HEARTBEAT_WITHIN), so Prefect's default of 180 s would re-queue live runs.
HEARTBEAT_SECONDS = "30"


@app.command()
def worker(
    pool: Annotated[str, typer.Option(help="Work pool to take runs from.")] = "cchc",
    limit: Annotated[int | None, typer.Option(help="At most this many flow runs at once (default: no limit).")] = None,
    name: Annotated[str | None, typer.Option(help="The worker's name in the Prefect UI (default: Prefect's).")] = None,
    mail_to_files: Annotated[
        bool,
        typer.Option(
            "--mail-to-files",
            help="Without CCHC_SMTP_URL, write messages as .eml under CCHC_HOME (every worker on one machine).",
        ),
    ] = False,
) -> None:
    """Check what a worker's runs need (Prefect API, shared store at the migration head, checkout, SMTP), then run
    `prefect worker start --pool POOL --type process` in this process."""
    from cchc.app.worker_check import WorkerCheckError, check, interpreter_path
    from cchc.settings import get_settings

    settings = get_settings()
    try:
        setup = check(settings, mail_to_files=mail_to_files)
    except WorkerCheckError as e:
        typer.echo("không khởi động worker (the worker was not started):", err=True)
        for problem in e.problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(2) from None
    env = settings.child_env({"CCHC_PROJECT_DIR": str(setup.project_dir), "CCHC_PLAN_DIR": str(setup.plan_dir)})
    env.setdefault("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", HEARTBEAT_SECONDS)
    # The pool's direct run command (`python -m prefect.engine`, CCHC_WORKER_DIRECT_COMMAND) finds this venv.
    env["PATH"] = interpreter_path(env.get("PATH"))
    args = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process"]
    if limit is not None:
        args += ["--limit", str(limit)]
    if name:
        args += ["--name", name]
    typer.echo(f"worker {name or ''} → {setup.api_url}, pool {pool}, checkout {setup.project_dir}".replace("  ", " "))
    sys.stdout.flush()
    # The worker replaces this process: signals reach Prefect's worker directly, and no extra process stays.
    os.chdir(setup.project_dir)
    os.execve(sys.executable, args, env)  # noqa: S606 - a fixed argument list, no shell
