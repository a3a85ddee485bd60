"""The direct worker command (issue #18): what the `cchc` pool hands a process worker, and how `cchc worker`
makes `python` in that command mean its own venv.

The pool is made on Prefect's test server; the job configuration is what Prefect 3.9.1's process worker builds
from the pool for a flow run (`from_template_and_values`, then `prepare_for_flow_run`): when its command is
configured the worker starts that command itself, without `python -m prefect.runner._workspace_supervisor`.
A flow run end to end on this command (pull step, heartbeats, a killed worker's run requeued) is
tests/test_scale.py.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.workers.process import ProcessJobConfiguration

from cchc.app.worker_check import _interpreter, interpreter_path
from cchc.settings import Settings
from flows.serve import DIRECT_COMMAND, ensure_pool


async def _pool_job(name: str, direct_command: bool) -> tuple[bool, ProcessJobConfiguration]:
    async with get_client() as client:
        made = await ensure_pool(client, name, direct_command)
        pool = await client.read_work_pool(name)
    config = await ProcessJobConfiguration.from_template_and_values(pool.base_job_template, {})
    config.prepare_for_flow_run(FlowRun(flow_id=uuid.uuid4(), name="một-lượt"))
    return made, config


def test_pool_gives_the_worker_the_direct_command_and_the_setting_turns_it_off(prefect_harness: None) -> None:
    name = f"cchc-test-{uuid.uuid4().hex[:8]}"
    made, config = asyncio.run(_pool_job(name, direct_command=True))
    assert made
    assert config._command_configured  # the worker runs this command itself: no workspace supervisor
    assert config.command == DIRECT_COMMAND == "python -m prefect.engine"  # no host's path in the pool

    # Off (CCHC_WORKER_DIRECT_COMMAND=false): the same pool goes back to Prefect's default, the supervisor.
    made, config = asyncio.run(_pool_job(name, direct_command=False))
    assert not made
    assert not config._command_configured
    assert config.command is not None and "prefect.engine" in config.command  # Prefect's own fallback

    # And on again: a later `cchc up --scale` with the default restores it.
    _, config = asyncio.run(_pool_job(name, direct_command=True))
    assert config._command_configured and config.command == DIRECT_COMMAND


def test_worker_path_finds_its_own_interpreter_first() -> None:
    venv_bin = str(Path(sys.executable).parent)
    path = interpreter_path(os.pathsep.join(["/usr/bin", venv_bin, "", "/bin"]))
    assert path.split(os.pathsep) == [venv_bin, "/usr/bin", "/bin"]  # first, once, no empty entry
    found = shutil.which("python", path=path)
    assert found is not None and os.path.samefile(found, sys.executable)
    assert interpreter_path(None) == venv_bin


def test_worker_refuses_an_interpreter_without_python_beside_it(tmp_path: Path, cchc_env: Settings) -> None:
    lone = tmp_path / "bin" / "python3.12"  # e.g. a system interpreter with only python3 installed
    lone.parent.mkdir()
    lone.write_text("")
    problems: list[str] = []
    _interpreter(cchc_env, problems, executable=str(lone))
    assert len(problems) == 1
    assert "CCHC_WORKER_DIRECT_COMMAND=false" in problems[0] and str(lone) in problems[0]

    problems = []
    _interpreter(cchc_env, problems)  # this venv has its python
    assert problems == []
    _interpreter(cchc_env.model_copy(update={"worker_direct_command": False}), problems, executable=str(lone))
    assert problems == []  # off: Prefect's own command, nothing to find


@pytest.mark.parametrize("value, expected", [("false", False), ("0", False), ("true", True)])
def test_setting_reads_the_variable(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("CCHC_WORKER_DIRECT_COMMAND", value)
    assert Settings().worker_direct_command is expected


SLOW_FLOW = '''"""Writes where it runs, then waits: long enough to be cancelled or killed."""

import os
import time
from pathlib import Path

from prefect import flow


@flow(name="cchc-test-slow")
def slow(seconds: float = 120.0) -> None:
    Path(f"cwd-{os.environ['PREFECT__FLOW_RUN_ID']}").write_text(str(Path.cwd()))
    time.sleep(seconds)
'''


def _engine_pids(worker: int, run_id: str) -> list[int]:
    """The worker's descendants that run this flow run (read from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if f"PREFECT__FLOW_RUN_ID={run_id}".encode() in env.split(b"\0") and ppid == worker:
            pids.append(int(entry.name))
    return pids


def test_a_worker_on_the_direct_command_keeps_the_pull_step_cancellation_and_crash(
    prefect_harness: None, tmp_path: Path
) -> None:
    """A real `prefect worker start` on a pool with the direct command: the run works in the pull step's folder,
    as one process below the worker; a cancel ends it Cancelled, a killed run process ends it Crashed."""
    import signal
    import subprocess

    from prefect.client.schemas.objects import StateType
    from prefect.settings import PREFECT_API_URL
    from prefect.states import Cancelling

    from tests.running import wait_for

    project = tmp_path / "checkout"
    project.mkdir()
    (project / "slow_flow.py").write_text(SLOW_FLOW)
    name = f"cchc-test-{uuid.uuid4().hex[:8]}"

    async def setup() -> tuple[str, str]:
        async with get_client() as client:
            await ensure_pool(client, name, direct_command=True)
            flow_id = await client.create_flow_from_name("cchc-test-slow")
            deployment_id = await client.create_deployment(
                flow_id=flow_id,
                name=name,
                entrypoint="slow_flow.py:slow",
                work_pool_name=name,
                pull_steps=[{"prefect.deployments.steps.set_working_directory": {"directory": str(project)}}],
            )
            runs = [await client.create_flow_run_from_deployment(deployment_id) for _ in range(2)]
            return str(runs[0].id), str(runs[1].id)

    async def state_of(run_id: str) -> StateType | None:
        async with get_client() as client:
            run = await client.read_flow_run(uuid.UUID(run_id))
            return run.state.type if run.state else None

    async def cancel(run_id: str) -> None:
        async with get_client() as client:
            await client.set_flow_run_state(uuid.UUID(run_id), Cancelling())

    to_cancel, to_kill = asyncio.run(setup())
    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PATH": interpreter_path(os.environ.get("PATH")),
    }
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", name, "--type", "process", "--limit", "2"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        for run_id in (to_cancel, to_kill):
            wait_for(f"run {run_id} to start", lambda r=run_id: (project / f"cwd-{r}").exists(), timeout=90)
            assert (project / f"cwd-{run_id}").read_text() == str(project)  # the pull step's folder
            engines = _engine_pids(worker.pid, run_id)
            assert len(engines) == 1, engines  # one process per run, started by the worker itself
            cmd = Path(f"/proc/{engines[0]}/cmdline").read_bytes().split(b"\0")
            assert cmd[:3] == [b"python", b"-m", b"prefect.engine"], cmd

        asyncio.run(cancel(to_cancel))
        wait_for("the cancelled run", lambda: asyncio.run(state_of(to_cancel)) == StateType.CANCELLED, timeout=60)
        os.kill(_engine_pids(worker.pid, to_kill)[0], signal.SIGKILL)
        wait_for("the killed run", lambda: asyncio.run(state_of(to_kill)) == StateType.CRASHED, timeout=60)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        log.close()
