"""Benchmark: `cchc up` start-up (the five plans) and evidence-event latency, against the old path in this run.

For each path, on its own fresh home and ports, the real supervisor (server, runner, portal) is started:

- cold:     from the start to the runner serving every deployment (the line `serving N deployments` in
            serve.log, and the API counting them all);
- restart:  the same after stopping it, plans unchanged;
- added:    the same after adding one small live plan (its deployments are new, the rest unchanged);
- event:    evidence recorded for the live plan's quota duty as `cchc evidence add` records it (in this
            process, so the CLI's own start-up is left out), from the moment of recording to the creation of
            the status artifact showing the new count, and to the end of the run its event triggered, N times.

The baseline is the registration path before this change (`python -m flows.serve --sequential`: every
deployment applied one by one, with Prefect's git version probe), Prefect's default 10 s runner poll, and
the status table left to the triggered run. The supervisor is today's for both (the runner starts alongside
the server). Other work on the machine slows both alike only when it is steady: compare the ratios.

    python bench/bench_up.py [--events 5] [--only new --only old --only bytecode]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import statistics
import string
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cchc.app import service  # noqa: E402
from cchc.app.server_env import process_env  # noqa: E402
from cchc.app.supervisor import Supervisor  # noqa: E402
from cchc.io import events  # noqa: E402
from cchc.settings import get_settings  # noqa: E402
from tests.running import free_port, wait_for  # noqa: E402

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# "bytecode": today's path with cchc.app.server_env's variables in the children's environment (bytecode kept
# under CCHC_HOME/cache/pycache even where PYTHONDONTWRITEBYTECODE is set), until the supervisor adds them itself.
PATHS = {"new": [], "old": ["--sequential", "--poll", "10"], "bytecode": []}
# The runs that ended, newest first (the scheduler's hundreds of future runs have no end time).
DONE = {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}, "sort": "END_TIME_DESC", "limit": 20}
SERVING = re.compile(r"serving (\d+) deployments")
REGISTERED = re.compile(r" in (\d+\.\d) s")


def live_plan(folder: Path) -> Path:
    """The acceptance test's live plan, with its daily run far from now (no scheduled run during the bench)."""
    today = dt.datetime.now(TZ).date()
    first_next = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    end = (first_next + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    run_at = (dt.datetime.now(TZ) + dt.timedelta(hours=12)).strftime("%H:%M:%S")
    text = string.Template((ROOT / "tests" / "fixtures" / "live.yaml.tmpl").read_text(encoding="utf-8")).substitute(
        start=today.replace(day=1).isoformat(), end=end.isoformat(), run_time=run_at
    )
    path = folder / "live.yaml"
    path.write_text(text, encoding="utf-8")
    return path


class Scenario:
    def __init__(self, label: str, base: Path) -> None:
        self.label = label
        self.home = (base / label / "var").resolve()
        self.plans = (base / label / "plans").resolve()
        self.plans.mkdir(parents=True)
        for p in sorted((ROOT / "plan_specs").glob("*.yaml")):
            shutil.copy(p, self.plans / p.name)
        self.port = free_port()
        self.portal_port = free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.saved: dict[str, str | None] = {}

    def env(self) -> None:
        os.environ.update(
            {
                "CCHC_HOME": str(self.home),
                "CCHC_PLAN_DIR": str(self.plans),
                "CCHC_PORTAL_URL": f"http://127.0.0.1:{self.portal_port}",
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            }
        )
        for name in ("PREFECT_API_URL", "CCHC_DATABASE_URL", "CCHC_SMTP_URL"):
            os.environ.pop(name, None)
        if self.label == "bytecode":
            extra = process_env(self.home, os.environ)
            self.saved = {k: os.environ.get(k) for k in extra}
            os.environ.update(extra)
        get_settings.cache_clear()

    def restore(self) -> None:
        """The environment as it was before ``env`` (for the scenarios after this one)."""
        for name, value in self.saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def serve_lines(self) -> list[str]:
        log = self.home / "logs" / "serve.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return [line for line in text.splitlines() if SERVING.search(line)]

    def count(self) -> int:
        try:
            return int(httpx.post(f"{self.api}/deployments/count", json={}, timeout=10).json())
        except (httpx.HTTPError, ValueError):
            return -1

    def start(self) -> tuple[Supervisor, float, str]:
        """Start the supervisor; seconds until the runner serves every deployment, and its line."""
        self.env()
        seen = len(self.serve_lines())
        sup = Supervisor(get_settings(), "127.0.0.1", self.port, echo=lambda _m: None, serve_args=PATHS[self.label])
        t0 = time.perf_counter()
        try:
            sup.start()
            line = wait_for("every deployment served", lambda: self._served(sup, seen), 600, 0.2, SystemExit)
        except BaseException:
            self.stop(sup)
            raise
        return sup, time.perf_counter() - t0, line

    def _served(self, sup: Supervisor, seen: int) -> str | None:
        for c in sup.children:
            if c.proc.poll() is not None:
                raise SystemExit(f"{c.name} exited; see {c.log.name}")
        lines = self.serve_lines()
        if len(lines) <= seen:
            return None
        m = SERVING.search(lines[-1])
        assert m is not None
        # The runner's own count (the deployments a plan gives may change in the tree while the bench runs).
        served = int(m.group(1))
        return lines[-1] if self.count() == served else None

    def stop(self, sup: Supervisor) -> None:
        sup.stop()
        _interruptible()  # stop() ignores further signals while the children go; the bench wants them back

    def event_latencies(self, n: int, publish: bool) -> tuple[list[float], list[float]]:
        """Per evidence item: seconds from its recording to the status showing its count, and to the end of
        the run its event triggered. Recorded here, as `cchc evidence add` does (the CLI's own start-up left
        out); ``publish=False`` leaves the table to that run, as before."""
        os.environ["PREFECT_API_URL"] = self.api
        get_settings.cache_clear()
        settings = get_settings()
        plan = service.resolve_plan("live", settings)
        day = dt.datetime.now(TZ).date()
        shown_after, run_after = [], []
        for i in range(1, n + 1):
            item = service.EvidenceInput(
                duty="tin-bai", kind="post", title=f"Tin CCHC số {i}", occurred_on=day, url=f"https://x.example/{i}"
            )
            recorded_at = dt.datetime.now(dt.UTC)
            rec = service.record_evidence(settings, plan, item, recorded_at)
            warning = events.post_evidence_event(plan, "tin-bai", rec, publish=publish)
            assert warning is None, warning

            def shown(i: int = i) -> dt.datetime | None:
                body = {"artifacts": {"key": {"any_": ["plan-live-status"]}}, "sort": "CREATED_DESC", "limit": 1}
                latest = httpx.post(f"{self.api}/artifacts/filter", json=body, timeout=10).json()
                if not latest:
                    return None
                data = latest[0]["data"]
                rows = json.loads(data) if isinstance(data, str) else data
                if any(r["Mã"] == "tin-bai" and r["Kết quả"] == f"{i}/3" for r in rows):
                    return _utc(latest[0]["created"])
                return None

            def run_done(reason: str = f"minh chứng mới #{rec.id}") -> dt.datetime | None:
                runs = httpx.post(f"{self.api}/flow_runs/filter", json=DONE, timeout=10)
                for r in runs.json():
                    if r["parameters"].get("reason") == reason and r["state_type"] == "COMPLETED":
                        return _utc(r["end_time"])
                return None

            shown_after.append(
                (wait_for(f"the status showing {i}/3", shown, 120, 0.2, SystemExit) - recorded_at).total_seconds()
            )
            run_after.append(
                (wait_for(f"the run for item {i}", run_done, 120, 0.2, SystemExit) - recorded_at).total_seconds()
            )
        os.environ.pop("PREFECT_API_URL")
        get_settings.cache_clear()
        return shown_after, run_after


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _interruptible() -> None:
    """Ctrl-C or SIGTERM unwinds the bench, so each supervisor stops its children on the way out."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def _utc(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def run(label: str, base: Path, n_events: int) -> dict[str, Any]:
    s = Scenario(label, base)
    figures: dict[str, Any] = {}
    for phase in ("cold", "restart", "added"):
        if phase == "added":
            live_plan(s.plans)
        sup, seconds, line = s.start()
        try:
            figures[phase] = seconds
            took = REGISTERED.search(line)
            assert took is not None, line
            figures[f"{phase}-reg"] = float(took.group(1))  # the runner's registration alone
            print(f"{label:>4} {phase:<8} {seconds:6.1f} s   {line.strip()}", flush=True)
            if phase == "added":
                shown, ran = s.event_latencies(n_events, publish=label != "old")
                figures["event"], figures["run"] = statistics.median(shown), statistics.median(ran)
                for key, values in (("event", shown), ("run", ran)):
                    listed = ", ".join(f"{x:.2f}" for x in values)
                    print(f"{label:>4} {key:<8} median {figures[key]:5.2f} s  ({listed})", flush=True)
        finally:
            s.stop(sup)  # whatever happened: no server or runner left behind
    s.restore()
    return figures


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=5)
    ap.add_argument("--only", choices=sorted(PATHS), action="append", help="only these paths (repeatable)")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="cchc-bench-up-"))
    _interruptible()
    try:
        results = {label: run(label, base, args.events) for label in PATHS if not args.only or label in args.only}
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if "new" in results and "bytecode" in results:
        new, kept = results["new"], results["bytecode"]
        print("\nmeasure                             bytecode kept   new (baseline)   kept/new")
        for key in ("cold", "restart", "restart-reg", "added", "event", "run"):
            print(f"{key:<34} {kept[key]:6.1f} s        {new[key]:6.1f} s        {kept[key] / new[key]:.2f}×")
    if "new" in results and "old" in results:
        new, old = results["new"], results["old"]
        print("\nmeasure                             new       old (baseline)   new/old")
        for key, what in (
            ("cold", "cold start, five plans"),
            ("cold-reg", "  of which registration"),
            ("restart", "restart, plans unchanged"),
            ("restart-reg", "  of which registration"),
            ("added", "restart, one plan added"),
            ("added-reg", "  of which registration"),
            ("event", "evidence → status shown (median)"),
            ("run", "evidence → its run done (median)"),
        ):
            print(f"{what:<34} {new[key]:6.1f} s  {old[key]:6.1f} s        {new[key] / old[key]:.2f}×")


if __name__ == "__main__":
    main()
