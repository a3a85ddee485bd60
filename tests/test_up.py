"""`cchc up` with the five real plans: every deployment registered, the UI and the portal served, Ctrl-C stops all;
a restart applies nothing and still serves them. Registration against a real server: only what changed is applied.

The live-plan run by the real scheduler, evidence triggers, the doctor and SIGTERM are in test_acceptance.py.
"""

from __future__ import annotations

import re
import signal
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from cchc.core.deployments import DeploymentSpec, all_deployments, plan_deployments
from cchc.core.loader import load_plan, parse_plan
from cchc.settings import Settings
from tests.conftest import FIXTURES, PLAN_DIR
from tests.running import System, get_ok, port_closed, processes_of, wait_for


@pytest.mark.timeout_slow
def test_cchc_up_serves_every_duty_of_the_five_plans_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    system = System(home=(tmp_path / "var").resolve(), plan_dir=PLAN_DIR)
    expected = all_deployments([load_plan(p) for p in sorted(PLAN_DIR.glob("*.yaml"))])
    system.start()
    try:
        wait_for("every deployment to be registered", lambda: system.count_deployments() == len(expected), 240)
        page = httpx.get(f"http://127.0.0.1:{system.port}/", timeout=10)
        assert page.status_code == 200 and "<!DOCTYPE html>" in page.text  # the UI is served
        wait_for("the units' portal", lambda: get_ok(f"http://127.0.0.1:{system.portal_port}/healthz"), 60)
        deps = system.deployments()
        assert {d["name"] for d in deps} == {s.name for s in expected}
        scheduled = [d for d in deps if d["schedules"]]
        assert scheduled and all(
            s["schedule"]["timezone"] == "Asia/Ho_Chi_Minh" for d in scheduled for s in d["schedules"]
        )
    finally:
        code = system.stop(signal.SIGINT)  # Ctrl-C
    assert code == 0, system.output()
    wait_for("every child process to be gone", lambda: not processes_of(system.home), 30)
    assert port_closed(system.port) and port_closed(system.portal_port)
    db = sqlite3.connect(system.home / "prefect" / "prefect.db")
    paused = db.execute("SELECT count(*) FROM deployment WHERE paused").fetchone()[0]
    db.close()
    assert paused == 0, "stopping must not leave deployments paused"

    # A restart with the same plans applies nothing (each deployment's version is its definition's hash),
    # and the runner still serves every deployment it found unchanged: a run of one executes. (Others may be
    # editing flows/ meanwhile in a shared tree: a deployment whose definition did change is applied, and
    # only those are.)
    system.start()
    try:
        line = wait_for("the runner to serve again", lambda: serving_lines(system)[1:], 180)[0]
        served, applied, unchanged, removed = (int(x) for x in SERVING.findall(line)[0])
        after = {d["name"]: d for d in system.deployments()}
        assert len(after) == served and removed == len({d["name"] for d in deps} - set(after))
        kept = {d["name"] for d in deps if d["name"] in after and after[d["name"]]["version"] == d["version"]}
        assert unchanged == len(kept) and applied == served - len(kept), line
        assert len(kept) > served // 2, f"most deployments should be unchanged: {line}"
        for d in deps:
            if d["name"] in kept:
                assert (after[d["name"]]["id"], after[d["name"]]["updated"]) == (d["id"], d["updated"]), d["name"]
        quota = next(after[name] for name in sorted(kept) if "kind:quota" in after[name]["tags"])
        run = system.post(f"/deployments/{quota['id']}/create_flow_run", {"parameters": {"reason": "khởi động lại"}})

        def finished() -> dict[str, Any] | None:
            r = system.post("/flow_runs/filter", {"flow_runs": {"id": {"any_": [run["id"]]}}})[0]
            return r if r["state_type"] in ("COMPLETED", "FAILED", "CRASHED") else None

        done = wait_for("the run of an unchanged deployment", finished, 180)
        assert done["state_type"] == "COMPLETED", serve_log(system)
    finally:
        assert system.stop(signal.SIGINT) == 0, system.output()


SERVING = re.compile(r"serving (\d+) deployments \((\d+) applied, (\d+) unchanged, (\d+) removed")


def serving_lines(system: System) -> list[str]:
    return [line for line in serve_log(system).splitlines() if SERVING.search(line)]


def serve_log(system: System) -> str:
    path = system.home / "logs" / "serve.log"
    return path.read_text(errors="replace") if path.exists() else ""


# ------------------------------------------------------------------ incremental registration (flows/serve.py)


def _demo(run_time: str | None = None, drop: str | None = None) -> list[DeploymentSpec]:
    text = (FIXTURES / "demo.yaml").read_text(encoding="utf-8")
    if run_time:
        text = text.replace("units:\n", f'run_time: "{run_time}"\nunits:\n', 1)
    return [s for s in plan_deployments(parse_plan(text)) if drop is None or s.parameters.get("duty_id") != drop]


async def _server_state() -> dict[str, dict[str, Any]]:
    """Every managed deployment on the server: its id, version, last update, schedules and automations."""
    from prefect.client.orchestration import get_client

    from flows.serve import _managed

    async with get_client() as client:
        deployments = await _managed(client)
        automations = await client.read_automations()
    return {
        d.name: {
            "id": d.id,
            "version": d.version,
            "updated": d.updated,
            "entrypoint": d.entrypoint,
            "rrules": sorted(s.schedule.rrule for s in d.schedules),  # type: ignore[union-attr]
            "triggers": [
                a.name for a in automations if any(getattr(x, "deployment_id", None) == d.id for x in a.actions)
            ],
        }
        for d in deployments
    }


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.anyio
async def test_a_restart_applies_only_what_changed_and_a_changed_schedule_reaches_the_server(
    cchc_env: Settings,
) -> None:
    from prefect.client.orchestration import get_client

    from flows.serve import register, version_of

    specs = _demo()
    await register([])  # the session's server may hold deployments other tests registered: start from none
    first = await register(specs)
    assert sorted(first.applied) == sorted(s.name for s in specs) and not first.unchanged
    state = await _server_state()
    assert set(state) == {s.name for s in specs}  # anything else tagged cchc was pruned
    for s in specs:
        d = state[s.name]
        assert d["version"] == version_of(s) and d["entrypoint"] == s.entrypoint
        assert d["rrules"] == sorted(x["rrule"] for x in s.schedules)
        assert d["triggers"] == [t["name"] for t in s.triggers]  # the evidence trigger, once

    # A restart with the same plans writes nothing: same ids, not one deployment updated.
    again = await register(specs)
    assert again.applied == [] and again.removed == [] and sorted(again.unchanged) == sorted(state)
    assert again.ids == first.ids
    assert await _server_state() == state

    # The plan's run time moves: every duty's schedule changes (the mail pass's does not), and the server
    # holds the new rule only, with its trigger still there once.
    moved = _demo(run_time="09:30")
    changed = {s.name for s in moved if s.schedules != next(o for o in specs if o.name == s.name).schedules}
    assert changed and len(changed) < len(moved)
    third = await register(moved)
    assert set(third.applied) == changed and set(third.unchanged) == {s.name for s in moved} - changed
    after = await _server_state()
    for s in moved:
        assert after[s.name]["rrules"] == sorted(x["rrule"] for x in s.schedules)
        if s.name in changed:
            assert all("T093000" in r for r in after[s.name]["rrules"])
        assert after[s.name]["triggers"] == [t["name"] for t in s.triggers]
        assert after[s.name]["id"] == state[s.name]["id"]  # updated in place, its runs' history kept
    moved_names = {s.name for s in moved}
    assert set(after) == moved_names
    for name in moved_names - changed:
        assert after[name]["updated"] == state[name]["updated"]

    # A duty dropped from the plan loses its deployment (and the runner never polls for it).
    dropped = _demo(run_time="09:30", drop="contest")
    gone = (moved_names - {s.name for s in dropped}).pop()
    fourth = await register(dropped)
    assert fourth.removed == [gone] and fourth.applied == [] and gone not in fourth.ids
    assert set(await _server_state()) == {s.name for s in dropped}

    # A deployment whose evidence trigger went missing (a start killed between the two writes) is re-applied.
    victim = next(s for s in dropped if s.triggers)
    async with get_client() as client:
        await client.delete_resource_owned_automations(f"prefect.deployment.{fourth.ids[victim.name]}")
    fifth = await register(dropped)
    assert fifth.applied == [victim.name]
    assert (await _server_state())[victim.name]["triggers"] == [t["name"] for t in victim.triggers]
