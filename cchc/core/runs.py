"""Did the system stop? The rule that compares a plan's run beats with its schedule.

When `cchc up` (or the workers) are stopped, nothing runs and nothing says so: reminders
silently do not go out. Every run of a plan records when it started (its beat, in the store);
the next run asks here whether the schedule expected a run in between. Pure: the moments are
parameters, so the rule is tested with real plans and real dates, without a clock or a database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cchc.core.deployments import DeploymentSpec, expected_runs, plan_deployments
from cchc.core.spec import Plan

GRACE = dt.timedelta(minutes=30)  # a run started this late is slow, not missed


@dataclass(frozen=True)
class Gap:
    """The plan's runs stopped at ``stopped_from`` (the first run that did not come) until ``resumed_at``."""

    stopped_from: dt.datetime
    resumed_at: dt.datetime

    @property
    def length(self) -> dt.timedelta:
        return self.resumed_at - self.stopped_from


def first_missed(specs: Sequence[DeploymentSpec], after: dt.datetime, before: dt.datetime) -> dt.datetime | None:
    """The first moment strictly after ``after`` and before ``before`` at which any of these should have run."""
    if before <= after:
        return None
    # The home page ("Tuần này") only redraws a view; the plan's own runs (duties, reports, mail) set the beat.
    found = [m for s in specs if "kind:home" not in s.tags for m in expected_runs(s, after, before) if m > after]
    return min(found) if found else None


def gap_in(
    specs: Sequence[DeploymentSpec],
    last_run_at: dt.datetime | None,
    now: dt.datetime,
    grace: dt.timedelta = GRACE,
) -> Gap | None:
    """A stop between the previous run's start and this one's, given the plan's deployments."""
    if last_run_at is None:
        return None  # the first run ever has nothing to compare with
    missed = first_missed(specs, last_run_at, now - grace)
    return Gap(missed, now) if missed is not None else None


def find_gap(plan: Plan, last_run_at: dt.datetime | None, now: dt.datetime, grace: dt.timedelta = GRACE) -> Gap | None:
    """A stop of the plan's runs: a scheduled run of any of its deployments that did not come.

    ``last_run_at`` is when the previous run of the plan started (wall clock; None for the first
    run), ``now`` when this one starts. A run expected after the previous one and more than
    ``grace`` before now did not start on time: the system stood still from that moment until now.
    """
    if last_run_at is None:
        return None
    return gap_in(plan_deployments(plan), last_run_at, now, grace)
