"""What the plan's picture costs: building the grid, drawing SVG/PNG, a cache hit, importing matplotlib.

    .venv/bin/python bench/bench_heatmap.py [--rounds 5]

Ratios are against building the grid in the same run (the machine is shared: absolute times are noisy).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pendulum

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cchc.app import heatmap as drawing  # noqa: E402
from cchc.core.calendar import plan_occurrences  # noqa: E402
from cchc.core.evaluate import Tally, judge  # noqa: E402
from cchc.core.heatmap import plan_grid  # noqa: E402
from cchc.core.loader import load_plan  # noqa: E402
from cchc.store.repo import Judged  # noqa: E402


def timed(fn: Callable[[], object], rounds: int) -> float:
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    plan = load_plan(ROOT / "plan_specs" / "phu-thai-2025h2.yaml")  # the largest seed: 25 rows x 6 months
    at = pendulum.datetime(2025, 11, 12, 9, tz="Asia/Ho_Chi_Minh")
    judged = [Judged(o, judge(o, Tally(on_time=i % 4), at), i % 4, 0) for i, o in enumerate(plan_occurrences(plan))]
    imp = subprocess.run(
        [
            sys.executable,
            "-c",
            "import time; t=time.perf_counter(); import matplotlib.figure, matplotlib.backends.backend_svg; print(time.perf_counter()-t)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    grid = plan_grid(plan, judged, at)
    base = timed(lambda: plan_grid(plan, judged, at), args.rounds)
    svg = drawing.render_svg(grid)
    png = drawing.render_png(grid)
    t_svg = timed(lambda: drawing.render_svg(grid), args.rounds)
    t_png = timed(lambda: drawing.render_png(grid), args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        drawing.cached_svg(grid, Path(tmp))
        t_hit = timed(lambda: drawing.cached_svg(plan_grid(plan, judged, at), Path(tmp)), args.rounds)
    print(f"rows x months: {len(grid.rows)} x {len(grid.columns)}, spans {len(grid.spans)}")
    print(f"SVG {len(svg)} bytes, PNG {len(png)} bytes, data URI {len(drawing.data_uri(svg))} chars")
    print(f"grid (baseline)        {base * 1000:8.2f} ms  1.0x")
    print(f"grid + cache hit       {t_hit * 1000:8.2f} ms  {t_hit / base:.1f}x")
    print(f"draw SVG               {t_svg * 1000:8.2f} ms  {t_svg / base:.0f}x")
    print(f"draw PNG (120 dpi)     {t_png * 1000:8.2f} ms  {t_png / base:.0f}x")
    print(f"import matplotlib      {float(imp.stdout) * 1000:8.2f} ms  {float(imp.stdout) / base:.0f}x (cold process)")


if __name__ == "__main__":
    main()
