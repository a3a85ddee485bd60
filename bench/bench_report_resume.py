"""Benchmark: a report approved on the coordinator's page, from her click to the delivered report, against the
same approval answered in Prefect's UI (the paused run resumed with its form's input), in this run.

For each trial and path, on a fresh home: the real Phú Thái plan (reports without signing), a real aiosmtpd on
loopback, Prefect's test server; the quarterly report's run drafts and pauses for approval; then

- ui:     `aresume_flow_run(run, run_input=...)`, what the Resume form of the Prefect UI sends;
- portal: POST /c/<her link>/p/<plan>/report through the portal's ASGI app (the decision stored first-wins,
          then `report_workflow.hand_to_run` resumes the paused run over the REST API);
- old:    the portal's decision without the resume (the path before this change): the paused run sees nothing
          until its pause times out (set here to --old-wait seconds; in production up to a day), so the report
          goes out only through the run the decision's event triggers under `cchc up` (bench_up.py measures
          that latency) while the paused run holds its slot.

Measured: from the decision to the run's end with the report delivered (the final mail received by aiosmtpd).
Other work on the machine slows the paths alike only when it is steady: compare the ratios.

    python bench/bench_report_resume.py [--trials 3] [--old-wait 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

PLAN = "phu-thai-2025h2"
TZ = "Asia/Ho_Chi_Minh"
PHU_THAI = 10750


def _no_signing_plans(into: Path) -> Path:
    plans = into / "plans"
    plans.mkdir()
    text = (ROOT / "plan_specs" / f"{PLAN}.yaml").read_text(encoding="utf-8")
    text = re.sub(r"^(    )signer:", r"\1signing: none\n\1signer:", text, flags=re.M)
    (plans / f"{PLAN}.yaml").write_text(text, encoding="utf-8")
    return plans


async def _paused(api: str) -> str:
    import httpx

    body = {"flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}}, "limit": 50}
    async with httpx.AsyncClient() as client:
        for _ in range(600):
            runs = (await client.post(f"{api}/flow_runs/filter", json=body)).json()
            if runs:
                return str(runs[0]["id"])
            await asyncio.sleep(0.1)
    raise RuntimeError("the report run never paused")


async def trial(path: str, api: str, server: Any, old_wait: int) -> float:
    import anyio
    import pendulum
    from fastapi.testclient import TestClient
    from prefect.flow_runs import aresume_flow_run

    from cchc.app import report_workflow, submissions
    from cchc.portal.app import create_app
    from cchc.settings import get_settings
    from cchc.store.db import dispose_all
    from flows.report import report_duty

    home = Path(tempfile.mkdtemp(prefix="bench-resume-"))
    os.environ.update(
        CCHC_HOME=str(home / "var"),
        CCHC_PLAN_DIR=str(_no_signing_plans(home)),
        CCHC_SMTP_URL=server.url,
        CCHC_PORTAL_URL="http://127.0.0.1:8765",
        PREFECT_API_URL=api,
    )
    dispose_all()
    get_settings.cache_clear()
    settings = get_settings()
    at = pendulum.datetime(2025, 9, 3, 8, tz=TZ)
    wait = old_wait if path == "old" else 600
    run = asyncio.create_task(
        report_duty(
            plan_id=PLAN, report_id="bao-cao-quy", at=at, now=at, approval_wait_seconds=wait, approval_poll_seconds=1
        )
    )
    run_id = await _paused(api)
    before = len(server.received)
    if path == "ui":
        started = time.perf_counter()
        await aresume_flow_run(
            uuid.UUID(run_id),
            run_input={"decision": "Duyệt và gửi", "number": "41/BC-UBND", "signer_name": "", "note": ""},
        )
    else:
        if path == "old":  # the decision is stored and announced, the paused run is not resumed
            report_workflow.hand_to_run = lambda *a, **k: []  # type: ignore[assignment]
        now = pendulum.datetime(2025, 9, 4, 9, tz=TZ)
        _, url = submissions.add_coordinator(
            settings, "Nguyễn Thị Lan", "lan@phu-thai.example", PHU_THAI, [], "bench", now
        )
        link = url.split("http://127.0.0.1:8765", 1)[1]
        client = TestClient(create_app(settings, clock=lambda: now))
        token = re.search(r'name="csrf" value="([0-9a-f]{64})"', client.get(f"{link}/p/{PLAN}").text)
        assert token
        form = {"csrf": token.group(1), "report": "bao-cao-quy|2025-Q3", "version": "1", "decision": "approve"}
        started = time.perf_counter()
        answer = await anyio.to_thread.run_sync(
            lambda: client.post(f"{link}/p/{PLAN}/report", data={**form, "number": "41/BC-UBND"})
        )
        assert answer.status_code == 200, answer.text
    result = await asyncio.wait_for(run, timeout=wait + 120)
    took = time.perf_counter() - started
    delivered = [m for m in server.received[before:] if "Báo cáo số 41/BC-UBND" in m.subject]
    if path == "old":
        assert result["state"] == "waiting" and not delivered, result  # timed out; the triggered run delivers
    else:
        assert result["state"] == "delivered" and len(delivered) == 2, (result, len(delivered))
    return took


async def main(trials: int, old_wait: int) -> None:
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    from cchc.app import report_workflow
    from tests.mailserver import running

    hand = report_workflow.hand_to_run
    with prefect_test_harness(server_startup_timeout=90):
        api = str(PREFECT_API_URL.value()).rstrip("/")
        for server in running():
            times: dict[str, list[float]] = {"ui": [], "portal": [], "old": []}
            for _ in range(trials):
                for path in ("ui", "portal"):
                    times[path].append(await trial(path, api, server, old_wait))
            times["old"].append(await trial("old", api, server, old_wait))
            report_workflow.hand_to_run = hand  # type: ignore[assignment]
    ui = statistics.median(times["ui"])
    print(f"{'path':<8} {'median s':>9}  trials (s)")
    for path, values in times.items():
        note = f"   ({statistics.median(values) / ui:.2f}x ui)"
        print(f"{path:<8} {statistics.median(values):>9.2f}  {', '.join(f'{v:.2f}' for v in values)}{note}")
    print(f"old: the paused run ends at its pause timeout ({old_wait} s here) without delivering")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--old-wait", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.trials, args.old_wait))
