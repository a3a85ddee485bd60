"""Benchmark: reading a commune website's feed inside a duty run.

A 300-item RSS feed (Vietnamese titles) served on loopback. Baseline: fetching and parsing the
feed alone (cchc.io: httpx + feedparser). Measured: the first collection (every item recorded) and a
repeated one on the unchanged feed (the daily case: one read of the store, no write).

    python bench/bench_collect.py [--items 300] [--runs 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import threading
import time
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def feed(n: int) -> bytes:
    start = dt.datetime(2025, 8, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    items = "".join(
        f"<item><title>Tin cải cách hành chính số {i}</title>"
        f"<link>https://phuthong.example/cchc/tin-{i}.html</link>"
        f"<description>Bài tuyên truyền CCHC số {i}.</description>"
        f"<pubDate>{format_datetime(start + dt.timedelta(hours=9 * i))}</pubDate></item>"
        for i in range(n)
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>CCHC</title>{items}</channel></rss>'.encode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    body = feed(args.items)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *a: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/rss"

    home = Path(tempfile.mkdtemp(prefix="cchc-bench-collect-"))
    spec = yaml.safe_load((ROOT / "plan_specs" / "phu-thong-2025.yaml").read_text(encoding="utf-8"))
    duty = "ttdvth-tin-bai-website"
    for d in spec["duties"]:
        if d["id"] == duty:
            d["sources"] = [
                {"type": "feed", "url": url, "keywords": ["cải cách hành chính"], "allow_hosts": ["127.0.0.1"]}
            ]
    (home / "plans").mkdir()
    (home / "plans" / "phu-thong-2025.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    os.environ["CCHC_HOME"] = str(home / "var")
    os.environ["CCHC_PLAN_DIR"] = str(home / "plans")

    import pendulum

    from cchc.app import collect as collectors
    from cchc.app import service
    from cchc.io.feeds import parse_feed
    from cchc.io.fetch import fetch
    from cchc.settings import get_settings

    settings = get_settings()
    plan = service.resolve_plan("phu-thong-2025", settings)
    at = pendulum.datetime(2025, 12, 31, 9, tz=plan.timezone)

    def baseline() -> None:
        _, data = fetch(url, ["127.0.0.1"])
        parse_feed(data, at, plan.timezone)

    baseline()
    base = []
    for _ in range(args.runs):
        t = time.perf_counter()
        baseline()
        base.append(time.perf_counter() - t)
    t = time.perf_counter()
    first = collectors.collect(settings, plan, duty, at, at)
    first_t = time.perf_counter() - t
    again = []
    for _ in range(args.runs):
        t = time.perf_counter()
        r = collectors.collect(settings, plan, duty, at, at)
        again.append(time.perf_counter() - t)
        assert r.new == 0
    b, a = statistics.median(base), statistics.median(again)
    print(f"feed of {args.items} items ({len(body) // 1024} KiB), {first.new} recorded on the first run")
    print(f"  baseline: fetch + parse only              {b * 1000:8.1f} ms")
    print(f"  first collection (every item recorded)    {first_t * 1000:8.1f} ms  ratio {first_t / b:.2f}x")
    print(f"  unchanged feed (the daily case)           {a * 1000:8.1f} ms  ratio {a / b:.2f}x")
    server.shutdown()


if __name__ == "__main__":
    main()
