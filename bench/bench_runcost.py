"""Benchmark: the cost of one flow run as a process, the way the runner (`cchc up`) and a process worker run it.

Every scheduled run is a new `python -m prefect.engine` process: it imports Prefect's engine, reads the run and
its deployment from the API, imports the deployment's entrypoint module (flows/*.py, which imports tasks/ and
cchc.app/...), then runs the flow. This script starts a real `prefect server start` (scratch PREFECT_HOME,
SQLite), registers one deployment per entrypoint and, in turns (so the machine's noise falls on all alike):

- **floor**: an empty async flow with the duty flows' parameters, in a file that imports nothing of ours:
  what Prefect itself costs per run process, which no change of ours can remove;
- **quota / deadline / continuous**: a duty run of a seed plan (collect, judge, events, mail pass, artifacts);
- **mail**: the plan's mail pass; **report**: a report run before its draft day (judged and reminded).

Each run is a fresh process with the children's environment of `cchc up` (`server_env.process_env`: bytecode
kept as there). CPU is the process's user+system time (`os.wait4`), wall from spawn to exit.

It also times importing each entrypoint module on top of an already imported engine (`import prefect.engine,
prefect.flow_engine`, CPU, a fresh process each) and reads `python -X importtime` for the heavy libraries each
module pulls in at import, and the heavy libraries still loaded at the end of a real run (what a run needs).

Prints medians, our cost above the floor, ratios, and the province day (1,680 runs) at this cost.
``--against REV`` also measures the flows/, tasks/, cchc/ and notifications/ of a git revision (`git archive` into
the scratch folder, each tree with its own store), in the same rounds: before and after in one run. ``--rev REV``
measures a revision instead of the working tree (which others may be editing): ``--rev C --against C~1`` is
exactly one commit's effect.

    python bench/bench_runcost.py [--rounds 5] [--plan phu-thong-2025] [--rev REV] [--against REV] [--no-server]

``--worker`` instead runs the floor, a quota duty and the mail pass under real process workers (`prefect worker
start`, limit 1, as `cchc worker` starts it), one on a pool with the direct command `python -m prefect.engine`
(CCHC_WORKER_DIRECT_COMMAND, the default) and one on Prefect's default, which starts every run through its
workspace supervisor; the same rounds, alternating: the run process's CPU (reaped by the worker, supervisor and
engine together), the worker's own CPU, and the wall time from creation to the process's exit.

    python bench/bench_runcost.py --worker [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_flow import prefect_server  # noqa: E402

# The libraries a lean run should not load unless its flow uses them (issue #18, "lean flow runs").
HEAVY = (
    "sqlalchemy",
    "alembic",
    "jinja2",
    "docx",
    "docxtpl",
    "matplotlib",
    "openpyxl",
    "feedparser",
    "selectolax",
    "aiosmtplib",
    "fastapi",
    "vietnam_provinces",
    "email_validator",
)
ENTRYPOINTS = {
    "quota": "flows/quota.py:quota_duty",
    "deadline": "flows/deadline.py:deadline_duty",
    "continuous": "flows/continuous.py:continuous_duty",
    "mail": "flows/mail.py:plan_mail",
    "report": "flows/report.py:report_duty",
}
ENGINE = "import prefect.engine, prefect.flow_engine"
PROVINCE_DAY_RUNS = 1680  # 114 Hải Phòng plans on 2025-10-01 (README, "The daily pass with 1, 2 and 4 workers")
CORES = 2
AT = "2025-08-12T07:00:00+07:00"  # a working morning; the reports' next draft day is after it (no pause)
RUN_TIMEOUT = 300.0

EMPTY_FLOW = '''"""Prefect's floor: an empty flow with the duty flows' parameters, importing nothing of cchc."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow


@flow(name="bench-empty", flow_run_name="{plan_id}:{duty_id}", log_prints=True, persist_result=False)
async def empty(plan_id: str, duty_id: str, at: dt.datetime | None = None, reason: str = "lịch") -> dict[str, Any]:
    return {}
'''

# Run the engine as `python -m prefect.engine` does, and write the modules loaded at its end (analysis only).
MODULES_AT_EXIT = """
import atexit, json, runpy, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["prefect.engine"]
runpy.run_module("prefect.engine", run_name="__main__", alter_sys=True)
"""


@dataclass
class Tree:
    """A copy of the code the runs import: this tree, or a git revision's archive."""

    label: str
    root: Path
    home: Path


@dataclass
class Case:
    name: str
    tree: Tree
    entrypoint: str
    parameters: dict[str, Any]
    deployment_id: Any = None
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)


def checkout(rev: str, into: Path) -> Tree:
    archive = subprocess.run(
        ["git", "archive", rev, "cchc", "flows", "tasks", "notifications", "plan_specs"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    into.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return Tree(f"@{rev}", into, into.parent / f"home-{into.name}")


def child_env(tree: Tree, api: str | None) -> dict[str, str]:
    from cchc.app.server_env import installed_bytecode, process_env

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= process_env(tree.home / "cchc", os.environ, shipped=installed_bytecode())
    env |= {
        "CCHC_HOME": str(tree.home / "cchc"),
        "CCHC_PLAN_DIR": str(tree.root / "plan_specs"),
        "PREFECT_HOME": str(tree.home / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
    }
    for name in ("CCHC_DATABASE_URL", "CCHC_SMTP_URL"):
        env.pop(name, None)  # a scratch SQLite store; mail goes to .eml files
    if api is not None:
        env["PREFECT_API_URL"] = api
    return env


def timed(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = RUN_TIMEOUT) -> tuple[float, float, str]:
    """(CPU s, wall s, output) of one child process (cwd first on its sys.path: that tree's code is imported);
    a failure or a run past the timeout (a report paused for approval) stops the bench with its output."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as sink:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while (waited := os.wait4(proc.pid, os.WNOHANG))[0] == 0:
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise SystemExit(f"{' '.join(argv)} did not end within {timeout:.0f} s")
            time.sleep(0.005)
        wall = time.perf_counter() - t0
        _, status, usage = waited
        proc.returncode = os.waitstatus_to_exitcode(status)
        sink.seek(0)
        text = sink.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{text[-3000:]}")
    return usage.ru_utime + usage.ru_stime, wall, text


def heavy_of(modules: list[str] | set[str]) -> list[str]:
    return sorted({m.split(".")[0] for m in modules} & set(HEAVY))


# --- imports ------------------------------------------------------------------------------------------------


def import_cpu(module: str | None, tree: Tree, rounds: int) -> float:
    """Median CPU of importing `module` in a process where the engine is imported already."""
    load = f"importlib.import_module({module!r})\n" if module else ""
    probe = (
        f"{ENGINE}\nimport importlib, resource\nu = resource.getrusage(resource.RUSAGE_SELF)\n{load}"
        "v = resource.getrusage(resource.RUSAGE_SELF)\nprint(v.ru_utime + v.ru_stime - u.ru_utime - u.ru_stime)\n"
    )
    values = []
    for _ in range(rounds):
        _, _, out = timed([sys.executable, "-c", probe], child_env(tree, None), tree.root)
        values.append(float(out.split()[-1]))
    return statistics.median(values)


def importtime_heavy(module: str, tree: Tree) -> tuple[float, list[tuple[str, float]]]:
    """(our module's cumulative import ms, [(heavy library, its ms)]) from `-X importtime` over the engine."""
    _, _, err = timed(
        [sys.executable, "-X", "importtime", "-c", f"{ENGINE}\nimport {module}"], child_env(tree, None), tree.root
    )
    ours = 0.0
    heavy: dict[str, float] = {}
    for line in err.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        name = name.strip()
        if name == module:
            ours = int(cumulative) / 1000
        top = name.split(".")[0]
        # A module is listed once, at its first import; those of the engine are not heavy ones. Each
        # library's figure is the sum of its modules' own times, wherever in our tree they were imported.
        if top in HEAVY:
            heavy[top] = heavy.get(top, 0.0) + int(own) / 1000
    return ours, sorted(heavy.items(), key=lambda kv: -kv[1])


def measure_imports(trees: list[Tree], rounds: int) -> None:
    print(f"importing each entrypoint on top of the engine ({ENGINE}); CPU medians of {rounds} fresh processes")
    for tree in trees:  # the first process of a tree writes its bytecode (where server_env says)
        timed([sys.executable, "-c", f"{ENGINE}\nimport flows.report, flows.mail"], child_env(tree, None), tree.root)
    bare = statistics.median(
        timed([sys.executable, "-c", ENGINE], child_env(trees[0], None), ROOT)[0] for _ in range(rounds)
    )
    print(
        f"{'module':<18} {'tree':<10} {'import CPU s':>12} {'× engine':>9} {'importtime ms':>14}  heavy libraries at import (ms)"
    )
    print(f"{'(the engine)':<18} {'':<10} {bare:12.3f} {1:9.2f}")
    for entrypoint in ENTRYPOINTS.values():
        module = entrypoint.split(":")[0].removesuffix(".py").replace("/", ".")
        for tree in trees:
            cpu = import_cpu(module, tree, rounds)
            ms, heavy = importtime_heavy(module, tree)
            libs = ", ".join(f"{lib} {t:.0f}" for lib, t in heavy) or "none"
            print(f"{module:<18} {tree.label:<10} {cpu:12.3f} {cpu / bare:9.2f} {ms:14.0f}  {libs}")
    print()


# --- runs ---------------------------------------------------------------------------------------------------


async def register(cases: list[Case]) -> None:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        for case in cases:
            flow_id = await client.create_flow_from_name(f"bench-runcost-{case.name}")
            case.deployment_id = await client.create_deployment(
                flow_id=flow_id,
                name=f"runcost-{case.name}-{case.tree.label}",
                entrypoint=case.entrypoint,
                path=str(case.tree.root),
                enforce_parameter_schema=False,
            )


async def new_run(case: Case) -> Any:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        run = await client.create_flow_run_from_deployment(case.deployment_id, parameters=case.parameters)
        return run.id


async def final_state(run_id: Any) -> str:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        run = await client.read_flow_run(run_id)
        return f"{run.state.type.value if run.state else None}"


def one_run(case: Case, api: str, modules_out: Path | None = None) -> None:
    run_id = asyncio.run(new_run(case))
    env = child_env(case.tree, api) | {"PREFECT__FLOW_RUN_ID": str(run_id)}
    if modules_out is None:
        cpu, wall, out = timed([sys.executable, "-m", "prefect.engine"], env, case.tree.root)
        case.cpu.append(cpu)
        case.wall.append(wall)
    else:
        _, _, out = timed([sys.executable, "-c", MODULES_AT_EXIT, str(modules_out)], env, case.tree.root)
        case.loaded = heavy_of(json.loads(modules_out.read_text()))
    state = asyncio.run(final_state(run_id))
    if state != "COMPLETED":
        raise SystemExit(f"{case.name} ({case.tree.label}): the run ended {state}:\n{out[-3000:]}")


def cases_of(tree: Tree, plan_id: str) -> list[Case]:
    from cchc.app import service
    from cchc.settings import get_settings

    plan = service.resolve_plan(plan_id, get_settings())
    first = {k: next(d.id for d in plan.duties if d.kind.value == k) for k in ("quota", "deadline", "continuous")}
    base = {"plan_id": plan_id, "at": AT}
    return [
        *(Case(k, tree, ENTRYPOINTS[k], {**base, "duty_id": first[k]}) for k in ("quota", "deadline", "continuous")),
        Case("mail", tree, ENTRYPOINTS["mail"], base),
        Case("report", tree, ENTRYPOINTS["report"], {**base, "report_id": plan.reports[0].id}),
    ]


def measure_runs(scratch: Path, trees: list[Tree], plan_id: str, rounds: int, api: str) -> None:
    empty_path = scratch / "empty_flow.py"
    empty_path.write_text(EMPTY_FLOW)
    floor = Case("floor", trees[0], f"{empty_path}:empty", {"plan_id": plan_id, "at": AT, "duty_id": "x"})
    per_tree = [cases_of(tree, plan_id) for tree in trees]
    cases = [floor, *(c for cs in per_tree for c in cs)]
    asyncio.run(register(cases))
    for case in cases:  # warm-up: bytecode, the store, first reminders and artifacts; and what a run loads
        one_run(case, api, modules_out=scratch / f"modules-{case.name}-{case.tree.label}.json")
    for r in range(rounds):  # each round starts one case later: no case always follows the same one
        for case in cases[r % len(cases) :] + cases[: r % len(cases)]:
            one_run(case, api)
    f_cpu = statistics.median(floor.cpu)
    print(f"one run as a process (python -m prefect.engine), plan {plan_id} at {AT}; medians of {rounds} rounds")
    print(
        f"{'run':<11} {'tree':<10} {'CPU s':>6} {'wall s':>7} {'above floor':>12} {'× floor':>8}  "
        "heavy libraries loaded by the end of the run"
    )
    for case in cases:
        cpu, wall = statistics.median(case.cpu), statistics.median(case.wall)
        label = "" if case is floor else case.tree.label
        print(
            f"{case.name:<11} {label:<10} {cpu:6.2f} {wall:7.2f} {cpu - f_cpu:12.2f} {cpu / f_cpu:8.2f}  "
            f"{', '.join(case.loaded) or 'none'}"
        )
    # The province day: 39% of runs are mail passes in the commune profile (README), the rest duty runs.
    for tree, tcases in zip(trees, per_tree, strict=True):
        duty_cpu = statistics.median(c for case in tcases[:3] for c in case.cpu)
        day = PROVINCE_DAY_RUNS * (0.61 * duty_cpu + 0.39 * statistics.median(tcases[3].cpu))
        floor_day = PROVINCE_DAY_RUNS * f_cpu
        print(
            f"province day ({tree.label}), {PROVINCE_DAY_RUNS} runs (61% duty, 39% mail): {day / 60:.0f} CPU-min, "
            f"at least {day / 60 / CORES:.0f} min on {CORES} cores; Prefect's floor {floor_day / 60:.0f} CPU-min of it "
            f"({floor_day / day:.0%})"
        )
    if len(trees) == 2:
        ratios = [
            statistics.median(a.cpu) / statistics.median(b.cpu) for a, b in zip(per_tree[0], per_tree[1], strict=True)
        ]
        above = [
            (statistics.median(a.cpu) - f_cpu) / (statistics.median(b.cpu) - f_cpu)
            for a, b in zip(per_tree[0], per_tree[1], strict=True)
        ]
        print(
            f"{trees[0].label} against {trees[1].label}: run CPU {min(ratios):.2f}–{max(ratios):.2f}×, "
            f"our part above the floor {min(above):.2f}–{max(above):.2f}×"
        )
    print(f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


WORKER_CASES = ("floor", "quota", "mail")
WORKER_MODES = ("direct", "supervised")
WORKER_START = [
    sys.executable,
    "-m",
    "prefect",
    "worker",
    "start",
]  # the pool's command: `python -m prefect.engine`, or Prefect's default


def _cpu_of(pid: int) -> tuple[float, float]:
    """(own CPU s, CPU s of its children it has waited for) of a process, from /proc."""
    rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(rest[11]) + int(rest[12])) / tick, (int(rest[13]) + int(rest[14])) / tick


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return out


async def register_pooled(cases: list[Case], pool: str, direct: bool) -> None:
    from prefect.client.orchestration import get_client

    from flows.serve import ensure_pool

    async with get_client() as client:
        await ensure_pool(client, pool, direct)
        for case in cases:
            flow_id = await client.create_flow_from_name(f"bench-runcost-{case.name}")
            case.deployment_id = await client.create_deployment(
                flow_id=flow_id,
                name=f"runcost-{case.name}-{pool}",
                entrypoint=case.entrypoint,
                work_pool_name=pool,
                # As `cchc up --scale` registers (flows/serve.py PULL_STEPS): the engine moves into the checkout.
                pull_steps=[{"prefect.deployments.steps.set_working_directory": {"directory": str(case.tree.root)}}],
                enforce_parameter_schema=False,
            )


def worker_run(case: Case, worker: subprocess.Popen[bytes], own: list[float]) -> None:
    """One run taken by a waiting worker (limit 1): the CPU of its run process (reaped by the worker), the
    worker's own CPU meanwhile, and the wall time from creation to the run's final state and process exit."""
    before_own, before_children = _cpu_of(worker.pid)
    t0 = time.perf_counter()
    run_id = asyncio.run(new_run(case))
    deadline = time.monotonic() + RUN_TIMEOUT
    while (state := asyncio.run(final_state(run_id))) not in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
        if time.monotonic() > deadline or worker.poll() is not None:
            raise SystemExit(f"{case.name}: the worker's run did not end ({state})")
        time.sleep(0.05)
    while _children(worker.pid):
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    after_own, after_children = _cpu_of(worker.pid)
    if state != "COMPLETED":
        raise SystemExit(f"{case.name} under a worker ended {state}")
    case.cpu.append(after_children - before_children)
    case.wall.append(wall)
    own.append(after_own - before_own)


def measure_worker_runs(scratch: Path, tree: Tree, plan_id: str, rounds: int, api: str) -> None:
    """The same runs taken by a process worker, its pool with the direct command (one process per run) and
    without (Prefect's workspace supervisor, which then execs the engine), in the same rounds."""
    from cchc.app.worker_check import interpreter_path

    empty_path = scratch / "empty_flow.py"
    empty_path.write_text(EMPTY_FLOW)
    by_mode: dict[str, list[Case]] = {}
    own: dict[str, list[float]] = {m: [] for m in WORKER_MODES}
    workers: dict[str, subprocess.Popen[bytes]] = {}
    logs = []
    try:
        for mode in WORKER_MODES:
            cases = [
                Case("floor", tree, f"{empty_path}:empty", {"plan_id": plan_id, "at": AT, "duty_id": "x"}),
                *(c for c in cases_of(tree, plan_id) if c.name in WORKER_CASES),
            ]
            asyncio.run(register_pooled(cases, f"bench-{mode}", mode == "direct"))
            by_mode[mode] = cases
            env = child_env(tree, api) | {
                "PATH": interpreter_path(os.environ.get("PATH")),  # as `cchc worker` starts it
                "PREFECT_WORKER_QUERY_SECONDS": "1",
                "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
            }
            logs.append((scratch / f"worker-{mode}.log").open("wb"))
            workers[mode] = subprocess.Popen(
                [*WORKER_START, "--pool", f"bench-{mode}", "--type", "process", "--limit", "1"],
                env=env,
                cwd=tree.root,
                stdout=logs[-1],
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        for mode in WORKER_MODES:  # warm-up, untimed
            for case in by_mode[mode]:
                worker_run(case, workers[mode], [])
                case.cpu.clear()
                case.wall.clear()
        for r in range(rounds):
            for i in range(len(WORKER_CASES)):
                for mode in WORKER_MODES[r % 2 :] + WORKER_MODES[: r % 2]:  # alternate which mode goes first
                    worker_run(by_mode[mode][i], workers[mode], own[mode])
    finally:
        for proc in workers.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        for log in logs:
            log.close()
    print(f"one run under a process worker (limit 1), plan {plan_id}; medians of {rounds} rounds, same rounds")
    print(f"{'run':<8} {'run process CPU s':>27} {'ratio':>6} {'wall s':>15}  (direct / supervised)")
    med = statistics.median
    for i, name in enumerate(WORKER_CASES):
        d, s = by_mode["direct"][i], by_mode["supervised"][i]
        print(
            f"{name:<8} {med(d.cpu):12.2f} / {med(s.cpu):12.2f} {med(d.cpu) / med(s.cpu):6.2f} "
            f"{med(d.wall):7.2f} / {med(s.wall):5.2f}"
        )
    print(f"the worker's own CPU per run: {med(own['direct']):.2f} s direct, {med(own['supervised']):.2f} s supervised")
    for mode in WORKER_MODES:
        cases = by_mode[mode]
        per_run = 0.61 * med(cases[1].cpu) + 0.39 * med(cases[2].cpu) + med(own[mode])
        print(
            f"province day, {mode}: {PROVINCE_DAY_RUNS} runs (61% duty, 39% mail) {PROVINCE_DAY_RUNS * per_run / 60:.0f} "
            f"CPU-min with the workers' own CPU"
        )
    print(f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--plan", default="phu-thong-2025")
    ap.add_argument("--against", metavar="REV", help="also measure the code at this git revision, in the same rounds")
    ap.add_argument("--rev", metavar="REV", help="measure this git revision instead of the working tree (shared)")
    ap.add_argument("--no-server", action="store_true", help="only the import figures")
    ap.add_argument(
        "--worker", action="store_true", help="only runs under a process worker: the direct command against Prefect's"
    )
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server on SIGTERM too (finally below)
    scratch = Path(tempfile.mkdtemp(prefix="cchc-bench-runcost-"))
    (scratch / "prefect").mkdir()
    os.environ["CCHC_HOME"] = str(scratch / "home-this" / "cchc")
    os.environ["CCHC_PLAN_DIR"] = str(ROOT / "plan_specs")
    try:
        trees = [checkout(args.rev, scratch / "this") if args.rev else Tree("this", ROOT, scratch / "home-this")]
        if args.against:
            trees.append(checkout(args.against, scratch / "against"))
        if args.worker:
            with prefect_server(scratch / "prefect") as api:
                os.environ["PREFECT_API_URL"] = api
                measure_worker_runs(scratch, trees[0], args.plan, args.rounds, api)
            return
        measure_imports(trees, args.rounds)
        if not args.no_server:
            with prefect_server(scratch / "prefect") as api:
                os.environ["PREFECT_API_URL"] = api
                measure_runs(scratch, trees, args.plan, args.rounds, api)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
