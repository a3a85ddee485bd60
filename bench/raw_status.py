"""Evaluate's rule as hand-written SQL: the baseline the store's queries are measured against.

bench_evaluate.py asks it per occurrence, bench_province.py counts it per commune and kind; both build their
query from these two pieces, so the baseline is one rule. Table aliases: ``o`` occurrences, ``e`` evidence,
``w`` waivers, ``k`` the counted kinds; parameters ``:at`` (the moment) and ``:at_day`` (its local day).
"""

from __future__ import annotations

# An occurrence's status; needs ``GROUP BY o.id`` over COUNTED_EVIDENCE.
STATUS = """CASE
    WHEN EXISTS (SELECT 1 FROM waivers w WHERE w.plan_id = o.plan_id AND w.duty_id = o.duty_id AND w.period = o.period)
      THEN 'waived'
    WHEN :at < o.starts THEN 'upcoming'
    WHEN COALESCE(SUM(CASE WHEN e.occurred_on <= o.last_day THEN 1 ELSE 0 END), 0) >= o.needed THEN 'met'
    WHEN COUNT(e.id) >= o.needed THEN 'met_late'
    WHEN NOT o.in_force THEN 'before_effect'
    WHEN :at < o.due THEN CASE WHEN :at >= o.due_soon_from THEN 'due_soon' ELSE 'open' END
    WHEN :at < o.closes THEN 'overdue'
    ELSE 'missed'
  END"""

# The evidence that counts for an occurrence: in its window, by the moment, not rejected, of a counted kind.
COUNTED_EVIDENCE = """LEFT JOIN evidence e
  ON e.plan_id = o.plan_id AND e.duty_id = o.duty_id
 AND e.occurred_on >= o.start_day AND e.occurred_on < o.close_day AND e.occurred_on <= :at_day
 AND e.rejected_at IS NULL
 AND e.kind IN (SELECT k.kind FROM duty_evidence_kinds k WHERE k.plan_id = o.plan_id AND k.duty_id = o.duty_id)
"""
