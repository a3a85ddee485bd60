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
