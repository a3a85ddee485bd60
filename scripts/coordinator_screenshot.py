"""Screenshot of the coordinator's portal page for the README (docs/img/coordinator-portal.png).

Runs the real portal on loopback over a scratch home holding two real plans, one coordinator of Phú Thái with one
pending submission, and shows her page after she uploaded a workbook with two mistakes, in Debian's chromium.
Usage: .venv/bin/python scripts/coordinator_screenshot.py [OUT.png]
"""

from __future__ import annotations

import datetime as dt
import io
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = 8791


def main(out: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="cchc-shot-"))
    plans = tmp / "plans"
    plans.mkdir()
    for plan_id in ("phu-thai-2025h2", "phu-thong-2025"):
        (plans / f"{plan_id}.yaml").write_bytes((ROOT / "plan_specs" / f"{plan_id}.yaml").read_bytes())
    os.environ.update(CCHC_HOME=str(tmp / "var"), CCHC_PLAN_DIR=str(plans), CCHC_PORTAL_URL=f"http://127.0.0.1:{PORT}")
    for name in ("CCHC_DATABASE_URL", "CCHC_SMTP_URL"):
        os.environ.pop(name, None)

    import uvicorn
    from openpyxl import load_workbook
    from playwright.sync_api import sync_playwright

    from cchc.app import submissions
    from cchc.core.loader import load_plan
    from cchc.io.workbook import export_bytes
    from cchc.portal.app import create_app
    from cchc.settings import get_settings

    settings = get_settings()
    now = dt.datetime.now(dt.UTC)
    who, url = submissions.add_coordinator(
        settings, "Nguyễn Thị Lan", "lan@phuthai.example", 10750, [], "operator:demo", now
    )
    good = export_bytes(load_plan(plans / "phu-thai-2025h2.yaml"))
    sent = submissions.upload(settings, who, "ke-hoach-phu-thai.xlsx", good, now)
    assert sent.submission is not None
    submissions.submit(settings, who, sent.submission.id, now)
    wb = load_workbook(io.BytesIO(good))
    wb["Nhiệm vụ"].cell(row=2, column=12).value = "hang thang"  # a misspelt cadence
    wb["Nhiệm vụ"].cell(row=3, column=3).value = "phong-vh"  # a unit not declared
    bad = tmp / "ke-hoach-sua.xlsx"
    wb.save(bad)

    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=PORT, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 720, "height": 1000})
            page.goto(url)
            page.set_input_files("#file", str(bad))
            page.click("#upload-form button")
            page.screenshot(path=str(out), full_page=True)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    print(out)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "img" / "coordinator-portal.png")
