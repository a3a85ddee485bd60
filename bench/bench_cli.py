"""Benchmark: how fast the `cchc` command starts (#18 item 2), against bare Python and bare Typer in this run.

Each command runs N times as a fresh process (`python -m cchc.cli ...`), the commands taking turns so that other
work on the machine falls on all of them alike; the medians of wall time and of CPU time (user + system of the
child) are printed, with ratios against the two baselines measured in the same rounds:

- `python -c pass`          the interpreter alone;
- `python -c "import typer"` the command-line library every command loads.

On a shared machine wall time stretches with the load; CPU time stretches much less, and is the better estimate
of a quiet machine's wall time. Each command runs once before timing, on a scratch CCHC_HOME (its store created,
its parsed plans kept).

Bytecode: with PYTHONDONTWRITEBYTECODE set (as in some containers) and no .pyc files in the environment,
Python compiles every module from source at every start. `--bytecode cached` (the default) points
PYTHONPYCACHEPREFIX at a scratch folder, as an installed package behaves; `--bytecode env` keeps the environment
as it is; `--bytecode both` measures the two.

`--against REV` also times the command as it was at a git revision (its files extracted to a scratch folder
and put first on PYTHONPATH, with its own scratch home), in the same rounds:

`cchc status PLAN --json` is also timed with its quick read's entries (CCHC_HOME/cache/status) removed before
each run: the use cases' path, which the quick read replaces when nothing changed (cchc.app.status_read).

`--routes` also times, as bare imports, what each way of making it quick leaves to load: the quick read's own
modules, the same with SQLAlchemy Core (a Core-only read), with the ORM and the models, with the use cases.

    python bench/bench_cli.py [--runs 15] [--bytecode cached|env|both] [--against d9a2ec2] [--routes] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLAN = "phu-thong-2025"
STATUS = f"cchc status {PLAN} --json"
GOAL = 0.6  # issue #18: `cchc status PLAN --json` under 0.6 s


@dataclass
class Case:
    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    clear: Path | None = None  # removed before each run (the quick status read's entries: the slow path)
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)

    def run(self, timed: bool) -> None:
        if self.clear is not None:
            shutil.rmtree(self.clear, ignore_errors=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(self.argv, env=self.env, cwd=self.cwd, capture_output=True, check=False, timeout=300)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"{self.name}: exit {done.returncode}\n{done.stderr.decode(errors='replace')[-2000:]}")
        if timed:
            self.walls.append(wall)
            self.cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)


def environment(home: Path, pycache: Path | None, pythonpath: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CCHC_", "PREFECT_"))}
    # The plan specs of the same tree: an older revision may not read today's.
    env.update(CCHC_HOME=str(home), CCHC_PLAN_DIR=str((pythonpath or ROOT) / "plan_specs"))
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def extract(rev: str, into: Path) -> None:
    archive = subprocess.run(
        ["git", "archive", rev, "cchc", "notifications", "plan_specs"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


# --routes: what each way of making `cchc status` quick leaves to import (imports only, no command run). The quick
# read's own modules; with SQLAlchemy Core (a Core-only read on a Connection: route 1); with the ORM and the
# models too (the use cases' read).
QUICK_READ = "import cchc.cli.main, cchc.app.status_read, cchc.app.status_view, cchc.core.labels"
ROUTES = (
    ("imports: the quick read (sqlite3)", QUICK_READ),
    ("imports: + SQLAlchemy Core", f"{QUICK_READ}, sqlalchemy"),
    ("imports: + the ORM and the models", f"{QUICK_READ}, sqlalchemy.orm, cchc.store.models"),
    ("imports: + the use cases (service)", f"{QUICK_READ}, cchc.app.service"),
)


def cases(scratch: Path, mode: str, against: str | None, routes: bool = False) -> list[Case]:
    pycache = scratch / f"pycache-{mode}" if mode == "cached" else None
    py = sys.executable
    base = environment(scratch / f"home-{mode}", pycache, None)
    out = [
        Case("python -c pass", [py, "-c", "pass"], base, ROOT),
        Case("python -c 'import typer'", [py, "-c", "import typer"], base, ROOT),
    ]
    if routes:
        out += [Case(label, [py, "-c", code], base, ROOT) for label, code in ROUTES]
    trees: list[tuple[str, Path | None, Path]] = [("", None, scratch / f"home-{mode}")]
    if against:
        old = scratch / f"tree-{against}"
        if not old.exists():
            extract(against, old)
        trees.append((f" @{against}", old, scratch / f"home-{mode}-{against}"))
    for suffix, tree, home in trees:
        env = environment(home, pycache, tree)
        cwd = tree or ROOT
        for label, args in (
            ("cchc --help", ["--help"]),
            (STATUS, ["status", PLAN, "--json"]),
            ("cchc plans --json", ["plans", "--json"]),
        ):
            out.append(Case(label + suffix, [py, "-m", "cchc.cli", *args], env, cwd))
        if not suffix:  # this tree's status with its quick read's entries removed each time: the use cases
            argv = [py, "-m", "cchc.cli", "status", PLAN, "--json"]
            out.append(Case(f"{STATUS} (no quick read)", argv, env, cwd, clear=home / "cache" / "status"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--bytecode", choices=("cached", "env", "both"), default="cached")
    parser.add_argument("--against", help="also time the command at this git revision")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--routes", action="store_true", help="also time the imports each quick-read route leaves")
    args = parser.parse_args()
    modes = ("cached", "env") if args.bytecode == "both" else (args.bytecode,)
    scratch = Path(tempfile.mkdtemp(prefix="cchc-bench-cli-"))
    results: dict[str, list[dict[str, float | str | None]]] = {}
    try:
        for mode in modes:
            runs = cases(scratch, mode, args.against, args.routes)
            for c in runs:
                c.run(timed=False)  # the store created, the plans kept, the bytecode written
            for _ in range(args.runs):
                for c in runs:
                    c.run(timed=True)
            bare, typer = runs[0], runs[1]
            cpu = {c.name: c.cpu for c in runs}
            results[mode] = [
                {
                    "command": c.name,
                    "wall_s": round(c.wall, 4),
                    "cpu_s": round(c.cpu, 4),
                    "wall_vs_python": round(c.wall / bare.wall, 2),
                    "wall_vs_typer": round(c.wall / typer.wall, 2),
                    "cpu_vs_typer": round(c.cpu / typer.cpu, 2),
                    # the same command at --against REV, in the same rounds
                    "cpu_vs_rev": round(c.cpu / cpu[f"{c.name} @{args.against}"], 2)
                    if f"{c.name} @{args.against}" in cpu
                    else None,
                }
                for c in runs
            ]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        print(json.dumps({"runs": args.runs, "load": os.getloadavg(), "results": results}, indent=2))
        return
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"median of {args.runs} runs each; {os.cpu_count()} CPUs, load average now {load}")
    for mode, rows in results.items():
        what = "bytecode cached (as installed)" if mode == "cached" else "environment as is"
        flag = "set" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "unset"
        print(f"\n{what}; PYTHONDONTWRITEBYTECODE {flag} in this shell")
        print(
            f"{'command':<52} {'wall s':>7} {'cpu s':>7} {'wall/python':>12} {'wall/typer':>11} {'cpu/typer':>10}"
            f" {'cpu/@rev':>9}"
        )
        for r in rows:
            vs_rev = f"{r['cpu_vs_rev']:>8.2f}x" if r["cpu_vs_rev"] is not None else f"{'':>9}"
            print(
                f"{r['command']:<52} {r['wall_s']:>7.3f} {r['cpu_s']:>7.3f} {r['wall_vs_python']:>11.2f}x "
                f"{r['wall_vs_typer']:>10.2f}x {r['cpu_vs_typer']:>9.2f}x {vs_rev}"
            )
        cpu = {str(r["command"]): float(r["cpu_s"] or 0) for r in rows}
        quick, slow = cpu[STATUS], cpu[f"{STATUS} (no quick read)"]
        verdict = "met" if quick < GOAL else "NOT met"
        print(f"{STATUS}: {quick:.3f} s CPU (goal < {GOAL} s: {verdict}); {quick / slow:.2f}x of the use cases' path")


if __name__ == "__main__":
    main()
