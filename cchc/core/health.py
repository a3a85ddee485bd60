"""Health verdicts and the watchdog's memory of them: pure, so the rule "tell once per episode" is tested alone.

`cchc.app.doctor` makes the checks, `cchc.app.watchdog` keeps the state file and sends the mail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Verdict = Literal["ok", "warning", "failing"]
ORDER: dict[Verdict, int] = {"ok": 0, "warning": 1, "failing": 2}


@dataclass(frozen=True)
class Check:
    name: str
    status: Verdict
    message: str
    action: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return asdict(self)


def worst(checks: Sequence[Check]) -> Verdict:
    return max((c.status for c in checks), key=ORDER.__getitem__, default="ok")


@dataclass(frozen=True)
class Change:
    check: str
    kind: str  # "failing" | "recovered"
    since: str  # ISO moment the failure began (the key of the episode)
    message: str
    action: str


def transitions(
    state: dict[str, Any], checks: Sequence[Check], now: dt.datetime
) -> tuple[dict[str, Any], list[Change]]:
    """Pure: the new state and what to tell, given what was known and what the checks say now.

    A failure is told once per episode (keyed by when it began); a recovery once, and only after a told failure.
    Until the mail server takes a message, it stays to tell (settle() marks it told).
    """
    new: dict[str, Any] = {}
    changes: list[Change] = []
    for c in checks:
        before = state.get(c.name, {})
        was_failing = before.get("status") == "failing"
        if c.status == "failing":
            since = before["since"] if was_failing else now.isoformat()
            told = bool(before.get("told")) if was_failing else False
            new[c.name] = {"status": "failing", "since": since, "told": told}
            if not told:
                changes.append(Change(c.name, "failing", since, c.message, c.action))
        elif (was_failing and before.get("told")) or before.get("recovery_pending"):
            new[c.name] = {"status": c.status, "since": before["since"], "recovery_pending": True}
            changes.append(Change(c.name, "recovered", before["since"], c.message, ""))
        else:
            new[c.name] = {"status": c.status}
    return new, changes


def settle(state: dict[str, Any], told: Sequence[Change]) -> dict[str, Any]:
    """Mark what the mail server accepted as told."""
    out = {k: dict(v) for k, v in state.items()}
    for ch in told:
        entry = out.get(ch.check)
        if entry is None:
            continue
        if ch.kind == "failing" and entry.get("since") == ch.since:
            entry["told"] = True
        if ch.kind == "recovered":
            entry.pop("recovery_pending", None)
    return out
