"""Automatic evidence sources (the commune website's feed or listing page).

The duty flows call ``collect`` before judging. Plan specs do not declare sources yet,
so a duty has nothing to fetch and the flow judges the evidence already in the store.
"""

from __future__ import annotations

import datetime as dt

from cchc.settings import Settings
from cchc.spec import Plan


def collect(settings: Settings, plan: Plan, duty_id: str, at: dt.datetime) -> int:
    """Fetch new items for the duty and record them once; returns how many were new."""
    del settings, plan, duty_id, at  # no source kinds are declared in specs yet
    return 0
