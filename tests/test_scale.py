"""`cchc up --scale` for real: the Prefect server and the store on PostgreSQL, every deployment in the `cchc`
process work pool, two `cchc worker` processes, and a real SMTP server (aiosmtpd) on loopback.

The day's pass: for 5 small plans (tests/fixtures/demo.yaml under five ids, five communes' addresses), every
duty deployment and mail pass due on 2025-09-23 (the day's runs of their RRULEs, from
``cchc.core.deployments.expected_runs``) gets the flow run Prefect's scheduler would have made for 08:00 that
day, created through the API with ``create_flow_run`` and a Scheduled state at that time. The real scheduler
only makes runs from now on, and a run judges the moment it was scheduled for, so this is the same run at the
same moment without waiting for a 2025 morning. That day sends the posts' August escalation and September's
first reminders of both duties.

Halfway, worker 1 and the flow-run processes it started are SIGKILLed (their process groups: a machine
lost); `cchc up` starts worker 1 again. The run it held goes silent; the requeue automation `cchc up --scale`
created puts it back to Scheduled (AwaitingRetry) and a worker runs it again. The test then shows: one run per
due deployment, all Completed; the killed run among them with AwaitingRetry in its history and submitted
twice; both workers took runs; no message reached the SMTP server twice; and SIGTERM stops everything, the
server and workers included.

Uses throwaway databases on the test PostgreSQL (CCHC_TEST_POSTGRES_URL) instead of a cluster under
CCHC_HOME; ``test_cluster_under_home`` starts and reuses such a cluster once (about 8 s).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from cchc.app import pgcluster
from cchc.core.communes import all_wards, province_name, short_name
from cchc.core.deployments import expected_runs, plan_deployments
from cchc.core.loader import load_plan
from tests.conftest import ROOT
from tests.mailserver import MailServer
from tests.running import CCHC, free_port, processes_of, wait_for

DAY = dt.date(2025, 9, 23)
TZ = dt.timezone(dt.timedelta(hours=7))
PLANS = 5
DUE_KINDS = ("quota_duty", "deadline_duty", "plan_mail")


def _write_plans(folder: Path) -> list[str]:
    folder.mkdir(parents=True)
    source = (ROOT / "tests" / "fixtures" / "demo.yaml").read_text(encoding="utf-8")
    ids = []
    # Five real communes of the demo's province: a deployment's name carries its commune.
    home_province = next(province_name(w) for w in all_wards() if int(w.code) == 1969)
    wards = [w for w in all_wards() if province_name(w) == home_province][:PLANS]
    for n, ward in enumerate(wards, start=1):
        plan_id = f"scale-{n}"
        text_ = source.replace("id: demo", f"id: {plan_id}", 1).replace("Kế hoạch thử", f"Kế hoạch thử {n}")
        text_ = text_.replace("@phu-thong.example", f"@xa-{n}.example")
        commune = f"commune: {{name: {short_name(ward)}, province: {home_province}, code: {int(ward.code)}}}"
        text_ = re.sub(r"^commune: .*$", commune, text_, count=1, flags=re.MULTILINE)
        (folder / f"{plan_id}.yaml").write_text(text_, encoding="utf-8")
        ids.append(plan_id)
    return ids


def _due_names(folder: Path) -> set[str]:
    """The deployments whose schedules run on DAY (what the scheduler would have created)."""
    start = dt.datetime.combine(DAY, dt.time(0), TZ)
    names = set()
    for f in sorted(folder.glob("*.yaml")):
        for spec in plan_deployments(load_plan(f)):
            if spec.flow_name in DUE_KINDS and expected_runs(spec, start, start + dt.timedelta(days=1)):
                names.add(spec.name)
    return names


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(proc.name))
    return tree


def _descendants(pid: int) -> list[int]:
    tree, out, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(item.decode(errors="replace").partition("=")[::2] for item in raw.split(b"\0") if b"=" in item)


def _worker_pid(home: Path, name: str) -> int | None:
    for pid in processes_of(home):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"worker" in cmd and name.encode() in cmd:
            return pid
    return None


class Api:
    def __init__(self, url: str) -> None:
        self.url = url

    def call(self, method: str, path: str, body: Any = None) -> Any:
        for attempt in range(6):
            try:
                r = httpx.request(method, f"{self.url}{path}", json=body, timeout=20)
            except httpx.HTTPError:
                if attempt == 5:
                    raise
                time.sleep(1)
                continue
            if r.status_code not in (429, 502, 503) or attempt == 5:
                r.raise_for_status()
                return r.json() if r.content else None
            time.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")

    def runs(self, ids: list[str]) -> list[dict[str, Any]]:
        return list(self.call("POST", "/flow_runs/filter", {"flow_runs": {"id": {"any_": ids}}, "limit": 200}))


def _up(home: Path, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    out = (home / "up.out").open("ab")
    return subprocess.Popen(
        [CCHC, "up", "--scale", "--workers", "2", "--worker-limit", "2", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _kill_worker_mid_run(home: Path, api: Api, created: list[str]) -> str:
    """SIGKILL worker 1 and its flow-run processes (each in its own session) while one of its runs is Running."""

    log = home / "logs" / "worker-1.log"

    def running_under_worker_1() -> tuple[int, list[int], str] | None:
        pid = _worker_pid(home, "cchc-worker-1")
        if pid is None:
            return None
        below = _descendants(pid)
        held = {_environ(p).get("PREFECT__FLOW_RUN_ID") for p in below} - {None}
        if not held:
            return None
        running = [r["id"] for r in api.runs(sorted(h for h in held if h)) if r["state_type"] == "RUNNING"]
        # Not while it is also starting one (Submitting, Pending): that one would wait for the slower
        # Pending requeue (twice CCHC_REQUEUE_AFTER), which another test could cover.
        taken = re.findall(r"submitting flow run '([0-9a-f-]+)'", log.read_text())
        starting = [r for r in api.runs(taken) if r["state_type"] == "PENDING"]
        return (pid, below, running[0]) if running and not starting else None

    pid, below, run_id = wait_for("a run of worker 1 in Running", running_under_worker_1, timeout=150, every=0.2)
    assert run_id in created
    # The worker started the pool's direct command itself (no workspace supervisor, which would have set the
    # entrypoint), `python` found first in the worker's own venv, heartbeats every 30 s.
    engines = [p for p in below if _environ(p).get("PREFECT__FLOW_RUN_ID") == run_id]
    assert engines, below
    for p in engines:
        run_env = _environ(p)
        assert Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[:3] == [b"python", b"-m", b"prefect.engine"]
        assert "PREFECT__FLOW_ENTRYPOINT" not in run_env
        assert run_env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
        assert run_env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30"
    for p in [pid, *below]:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgid(p), signal.SIGKILL)
    return str(run_id)


def test_two_workers_run_the_day_once_and_a_killed_worker_loses_nothing(
    tmp_path: Path, pg_databases: Callable[..., str]
) -> None:
    store_url = pg_databases()
    prefect_url = pg_databases().replace("+psycopg", "+asyncpg")
    home, plans = tmp_path / "home", tmp_path / "plans"
    home.mkdir()
    _write_plans(plans)
    due = _due_names(plans)
    assert len(due) == PLANS * len(DUE_KINDS), due  # the day has work for every duty and every mail pass
    mail = MailServer().start()
    port = free_port()
    env = {
        **os.environ,
        "CCHC_HOME": str(home),
        "CCHC_PLAN_DIR": str(plans),
        "CCHC_PORTAL_URL": f"http://127.0.0.1:{free_port()}",
        "CCHC_DATABASE_URL": store_url,
        "PREFECT_API_DATABASE_CONNECTION_URL": prefect_url,
        "CCHC_SMTP_URL": mail.url,
        # Heartbeats come every 30 s; a loaded CI machine delays some by tens of seconds.
        "CCHC_REQUEUE_AFTER": "60",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    api = Api(f"http://127.0.0.1:{port}/api")
    proc = _up(home, env, port)

    def output() -> str:
        return (home / "up.out").read_text(errors="replace")

    try:
        wait_for("cchc up --scale to be ready", lambda: "Ctrl-C" in output() or proc.poll() is not None, 240)
        assert proc.poll() is None, output()
        pool = api.call("GET", "/work_pools/cchc")
        assert pool["type"] == "process"
        assert pool["base_job_template"]["variables"]["properties"]["command"]["default"] == "python -m prefect.engine"
        deployments = api.call("POST", "/deployments/filter", {"limit": 200})
        assert all(d["work_pool_name"] == "cchc" for d in deployments)
        by_name = {d["name"]: d for d in deployments}
        assert due <= set(by_name)
        assert by_name[min(due)]["pull_steps"][0]["prefect.deployments.steps.set_working_directory"] == {
            "directory": "{{ $CCHC_PROJECT_DIR }}"
        }

        at = dt.datetime.combine(DAY, dt.time(8), TZ).isoformat()
        created = [
            api.call(
                "POST",
                f"/deployments/{by_name[name]['id']}/create_flow_run",
                {"state": {"type": "SCHEDULED", "name": "Scheduled", "state_details": {"scheduled_time": at}}},
            )["id"]
            for name in sorted(due)
        ]
        killed = _kill_worker_mid_run(home, api, created)

        def all_final() -> bool:
            return all(r["state_type"] in ("COMPLETED", "FAILED", "CRASHED") for r in api.runs(created))

        try:
            wait_for("every run of the day to finish", all_final, timeout=300, every=2)
        except AssertionError:
            states = [(r["name"], r["state_name"], r["run_count"]) for r in api.runs(created)]
            raise AssertionError(f"not every run finished (killed {killed}): {states}") from None
        runs = api.runs(created)
        assert {r["state_name"] for r in runs} == {"Completed"}, [(r["name"], r["state_name"]) for r in runs]

        # Every due deployment ran once: the server holds exactly one run of it (the killed one included).
        # (Evidence-triggered runs of other deployments, the plans' home pages, come and go beside them.)
        due_ids = {by_name[n]["id"] for n in due}
        every = api.call(
            "POST", "/flow_runs/filter", {"limit": 200, "flow_runs": {"deployment_id": {"any_": sorted(due_ids)}}}
        )
        assert Counter(r["deployment_id"] for r in every) == Counter(due_ids)
        # The killed run was put back in the queue by the automation, then ran to the end.
        states = api.call("GET", f"/flow_run_states/?flow_run_id={killed}")
        names = [s["name"] for s in states]
        assert "AwaitingRetry" in names and names.index("AwaitingRetry") < len(names) - 1, names
        assert any("nhịp tim" in (s["message"] or "") or "Pending" in (s["message"] or "") for s in states), states

        # Every run sent heartbeats from its engine (what the requeue automation watches).
        beating: set[str] = set()

        def heartbeats() -> bool:
            for r in set(created) - beating:
                body = {
                    "filter": {
                        "event": {"name": ["prefect.flow-run.heartbeat"]},
                        "resource": {"id": [f"prefect.flow-run.{r}"]},
                    },
                    "limit": 1,
                }
                if api.call("POST", "/events/filter", body)["events"]:
                    beating.add(r)
            return beating == set(created)

        wait_for("a heartbeat of every run", heartbeats, timeout=60, every=2)

        # Both workers took runs (Prefect's worker logs each one it submits).
        took = {
            n: set(re.findall(r"submitting flow run '([0-9a-f-]+)'", (home / "logs" / f"worker-{n}.log").read_text()))
            for n in (1, 2)
        }
        assert took[1] and took[2], took
        logs = "".join((home / "logs" / f"worker-{n}.log").read_text() for n in (1, 2))
        assert logs.count(f"submitting flow run '{killed}'") >= 2  # by worker 1, then again after the requeue
        assert "worker-1 dừng bất thường" in output()  # and started again

        # No message twice: distinct Message-IDs, and never the same subject to the same address twice.
        received = mail.received
        assert received, "the day sends reminders and an escalation"
        ids = [r.message_id for r in received]
        assert len(ids) == len(set(ids))
        pairs = [(rcpt, r.subject) for r in received for rcpt in r.rcpt]
        assert len(pairs) == len(set(pairs))
        engine = create_engine(store_url)
        with engine.connect() as c:
            sent = set(c.execute(text("SELECT message_id FROM outbox WHERE status = 'sent'")).scalars())
        engine.dispose()
        assert set(ids) <= sent

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0, output()
        wait_for("every process of the home to end", lambda: not processes_of(home), timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in processes_of(home):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)
        mail.stop()


def test_cluster_under_home() -> None:
    """The persistent cluster: made once under CCHC_HOME/pg with its two databases, reused, stopped, started again
    on the same port. (A home the postgres user can walk into: pytest's tmp_path is 0700 for root.)"""
    home = Path(tempfile.mkdtemp(prefix="cchc-scale-"))
    home.chmod(home.stat().st_mode | stat.S_IXOTH | stat.S_IROTH)
    cluster = None
    try:
        cluster = pgcluster.ensure(home)
        assert cluster.started
        again = pgcluster.ensure(home)
        assert again == pgcluster.Cluster(cluster.root, cluster.port, started=False)
        engine = create_engine(cluster.store_url)
        with engine.connect() as c:
            names = set(c.execute(text("SELECT datname FROM pg_database")).scalars())
        engine.dispose()
        assert {"prefect", "cchc"} <= names
        pgcluster.stop(cluster)
        restarted = pgcluster.ensure(home)
        assert restarted.started and restarted.port == cluster.port
    finally:
        if cluster is not None:
            subprocess.run(
                ["runuser", "-u", "postgres", "--", str(pgcluster.pg_bin() / "pg_ctl"), "-D", str(cluster.data), "stop"]
                if os.geteuid() == 0
                else [str(pgcluster.pg_bin() / "pg_ctl"), "-D", str(cluster.data), "stop"],
                capture_output=True,
                check=False,
            )
        subprocess.run(["rm", "-rf", str(home)], check=False)


@pytest.mark.parametrize("missing", ["PREFECT_API_URL", "CCHC_DATABASE_URL", "CCHC_SMTP_URL"])
def test_worker_refuses_without_a_setting(tmp_path: Path, pg_url: str, missing: str) -> None:
    """`cchc worker` names the missing variable and exits non-zero before any Prefect worker starts."""
    mail = MailServer().start()
    try:
        env = {
            **os.environ,
            "CCHC_HOME": str(tmp_path),
            "PREFECT_API_URL": "http://127.0.0.1:9/api",
            "CCHC_DATABASE_URL": pg_url,
            "CCHC_SMTP_URL": mail.url,
        }
        env.pop(missing)
        done = subprocess.run([CCHC, "worker"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    finally:
        mail.stop()
    assert done.returncode == 2
    assert f"{missing} chưa đặt" in done.stderr, done.stderr
    assert "Worker '" not in done.stdout  # Prefect's worker never started
