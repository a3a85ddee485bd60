"""Benchmark: a quarterly report with 1000 evidence items, assembled and rendered.

Baseline: the same document rendered straight from the Word template with a context built
beforehand (docxtpl alone). Measured: assembly from records + DOCX, HTML and Markdown, and
the whole path from a real SQLite store. Prints medians, peak memory and ratios to the baseline.

    python bench/bench_report.py [--items 1000] [--runs 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median seconds over ``runs`` and the peak traced memory (MiB) of one run."""
    fn()  # warm up: template parsing, imports
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return statistics.median(times), peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="cchc-bench-report-"))
    os.environ["CCHC_HOME"] = str(home)
    os.environ["CCHC_PLAN_DIR"] = str(ROOT / "plan_specs")

    import pendulum

    from cchc.app import report_workflow as workflow
    from cchc.app import service
    from cchc.app.report_render import context, render_docx, render_docx_context, render_html, render_markdown
    from cchc.core.assemble import EvidenceItem, assemble
    from cchc.core.loader import load_plan
    from cchc.settings import get_settings
    from cchc.store import repo
    from cchc.store.db import session_scope

    plan = load_plan(ROOT / "plan_specs" / "phu-thai-2025h2.yaml")
    at = pendulum.datetime(2025, 9, 20, 9, tz=plan.timezone)  # Q3 data: 15/06..27/08
    duties = [d for d in plan.duties if d.requirement]
    items = []
    for i in range(args.items):
        d = duties[i % len(duties)]
        day = dt.date(2025, 7, 1) + dt.timedelta(days=i % 58)
        items.append(
            EvidenceItem(
                i + 1,
                d.id,
                d.requirement.evidence[0].value if d.requirement else "post",
                f"Minh chứng số {i + 1} về cải cách hành chính",
                day,
                url=f"https://phuthai.example/tin/{i + 1}",
                unit=d.lead,
            )
        )
    model = assemble(plan, "bao-cao-quy", "2025-Q3", at, items)
    ctx = context(model)
    shown = sum(len(r.evidence) for r in model.rows)

    settings = get_settings()
    engine = service.engine_for(settings)
    service.ensure_plan(engine, plan, at)
    with session_scope(engine) as s:
        for e in items:
            repo.add_evidence(
                s, repo.NewEvidence(plan.id, e.duty, e.kind, e.title, e.occurred_on, "bench", e.url, unit_id=e.unit), at
            )

    base_t, base_m = timed(lambda: render_docx_context(ctx), args.runs)
    asm_t, asm_m = timed(lambda: assemble(plan, "bao-cao-quy", "2025-Q3", at, items), args.runs)
    docx_t, docx_m = timed(lambda: render_docx(assemble(plan, "bao-cao-quy", "2025-Q3", at, items)), args.runs)
    html_t, _ = timed(lambda: render_html(model), args.runs)
    md_t, _ = timed(lambda: render_markdown(model), args.runs)
    store_t, store_m = timed(
        lambda: render_docx(workflow.build(settings, plan, "bao-cao-quy", "2025-Q3", at)), args.runs
    )

    print(f"quarterly report, {args.items} evidence items ({shown} inside the data window), {len(model.rows)} duties")
    print(
        f"  baseline: docxtpl render of the template, context prebuilt  {base_t * 1000:8.1f} ms  peak {base_m:6.1f} MiB"
    )
    print(
        f"  assembly only (pure)                                         {asm_t * 1000:8.1f} ms  peak {asm_m:6.1f} MiB"
    )
    print(
        f"  assembly + DOCX                                              {docx_t * 1000:8.1f} ms  peak {docx_m:6.1f} MiB  ratio {docx_t / base_t:.2f}x"
    )
    print(f"  HTML (Jinja2)                                                {html_t * 1000:8.1f} ms")
    print(f"  Markdown (Jinja2)                                            {md_t * 1000:8.1f} ms")
    print(
        f"  from the SQLite store: query + assembly + DOCX               {store_t * 1000:8.1f} ms  peak {store_m:6.1f} MiB  ratio {store_t / base_t:.2f}x"
    )


if __name__ == "__main__":
    main()
