"""Building messages (compose.to_email + as_bytes) with and without the header cache, in the same run.

The messages are the seed plans' real ladder messages as a mail pass sends them: one From and Date for the pass,
the same Subject and Cc for every unit an intent goes to. The cache is emptied before every cached round, so its
figure pays the first parse and fold of each value. Run: .venv/bin/python -m bench.bench_compose [N] [ROUNDS]
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from cchc.core.calendar import plan_occurrences
from cchc.core.escalation import intents
from cchc.core.evaluate import Status
from cchc.core.loader import load_plan
from notifications import compose

PLAN_DIR = Path(__file__).resolve().parent.parent / "plan_specs"
AT = dt.datetime(2025, 9, 4, 2, tzinfo=dt.UTC)


def messages(n: int) -> list[dict[str, Any]]:
    """n messages' fields from the seed plans' ladder (cycled if the plans give fewer)."""
    out: list[dict[str, Any]] = []
    for path in sorted(PLAN_DIR.glob("*.yaml")):
        plan = load_plan(path)
        occs = plan_occurrences(plan)
        units = {u.id: u for u in plan.units}
        for status in (Status.due_soon, Status.overdue):
            for intent in intents(plan, [(o, status, 0) for o in occs], AT):
                occ = next(o for o in occs if (o.duty, o.period) == (intent.duty, intent.period))
                cc = [e for u in intent.cc if u in units for e in units[u].emails]
                for unit_id in intent.to:
                    r = compose.render_intent(plan, intent, occ, unit_id, AT)
                    emails = units[unit_id].emails or ("x@ubnd.example",)
                    out.append(
                        {
                            "recipient": [(units[unit_id].name, e) for e in emails],
                            "cc": cc,
                            "subject": r.subject,
                            "text": r.text,
                            "html": r.html,
                        }
                    )
    return [out[i % len(out)] for i in range(n)]


def build_all(rows: list[dict[str, Any]], cache: bool) -> float:
    """CPU seconds to build and flatten every row, as mail_pass.build_email does."""
    if cache:
        compose.cached_header.cache_clear()
    start = time.process_time()
    for i, row in enumerate(rows):
        msg = compose.to_email(
            sender="UBND xã <cchc@ubnd.example>",
            message_id=f"<{i}.bench@ubnd.example>",
            date=AT,
            cache_headers=cache,
            **row,
        )
        msg.as_bytes()
    return time.process_time() - start


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    rows = messages(n)
    subjects = len({r["subject"] for r in rows})
    build_all(rows[:200], False)  # warm the email package's imports and the templates
    before: list[float] = []
    after: list[float] = []
    for _ in range(rounds):  # interleaved, so both sides see the same machine load
        before.append(build_all(rows, False))
        after.append(build_all(rows, True))
    report(f"{n} messages ({subjects} distinct subjects)", rounds, n, before, after)
    # The worst case for a cache: no Subject repeats (From, Cc and Date still do).
    unique = [{**r, "subject": f"{r['subject']} #{i}"} for i, r in enumerate(rows)]
    before, after = [], []
    for _ in range(rounds):
        before.append(build_all(unique, False))
        after.append(build_all(unique, True))
    report(f"{n} messages, every subject distinct", rounds, n, before, after)


def report(what: str, rounds: int, n: int, before: list[float], after: list[float]) -> None:
    b, a = statistics.median(before), statistics.median(after)
    print(f"{what}, median of {rounds} rounds, CPU:")
    print(f"  uncached (email package alone): {b:.2f} s = {b / n * 1e3:.2f} ms/message")
    print(f"  header cache:                   {a:.2f} s = {a / n * 1e3:.2f} ms/message")
    print(f"  ratio cached/uncached: {a / b:.2f}x  (speed-up {b / a:.2f}x)")


if __name__ == "__main__":
    main()
