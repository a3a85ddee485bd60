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
    known: bool = True  # False: not checked this time (what it depends on failed); the last verdict stands

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
    to: tuple[str, ...] = ()  # who has not heard it yet


def _missing(entry: dict[str, Any], key: str, recipients: Sequence[str]) -> tuple[str, ...]:
    heard = set(entry.get(key, []))
    return tuple(a for a in recipients if a not in heard)


def transitions(
    state: dict[str, Any], checks: Sequence[Check], now: dt.datetime, recipients: Sequence[str]
) -> tuple[dict[str, Any], list[Change]]:
    """Pure: the new state and what to tell whom, given what was known and what the checks say now.

    A failure is told once per episode (keyed by when it began) to each recipient; its recovery once, and
    only if the failure was told. A check that could not run this time keeps its last verdict, so a server
    that is down does not read as the recovery of everything behind it. What a recipient's server did not
    take stays to tell (settle() records who heard what).
    """
    new: dict[str, Any] = {}
    changes: list[Change] = []
    for c in checks:
        before = state.get(c.name, {})
        if not c.known:
            if not before:
                continue
            entry = dict(before)
        elif c.status == "failing":
            if before.get("status") == "failing":
                entry = dict(before)
            else:
                entry = {"status": "failing", "since": now.isoformat(), "told_to": []}
            entry.update(message=c.message, action=c.action)
        elif before.get("status") == "failing" and before.get("told_to"):
            entry = {"status": c.status, "since": before["since"], "recovery_told_to": [], "message": c.message}
        elif "recovery_told_to" in before:
            entry = {**before, "status": c.status, "message": c.message}
        else:
            entry = {"status": c.status}
        if entry.get("status") == "failing":
            need = _missing(entry, "told_to", recipients)
            if need:
                changes.append(Change(c.name, "failing", entry["since"], entry["message"], entry["action"], need))
        elif "recovery_told_to" in entry:
            need = _missing(entry, "recovery_told_to", recipients)
            if need:
                changes.append(Change(c.name, "recovered", entry["since"], entry["message"], "", need))
            else:
                entry = {"status": entry["status"]}  # everyone heard the recovery: the episode is over
        new[c.name] = entry
    return new, changes


def settle(state: dict[str, Any], heard: Sequence[tuple[Change, str]]) -> dict[str, Any]:
    """Record which recipient's mail server took which change."""
    out = {k: {**v, **{f: list(v[f]) for f in ("told_to", "recovery_told_to") if f in v}} for k, v in state.items()}
    for ch, addr in heard:
        entry = out.get(ch.check)
        if entry is None or entry.get("since") != ch.since:
            continue
        key = "told_to" if ch.kind == "failing" else "recovery_told_to"
        if key in entry and addr not in entry[key]:
            entry[key].append(addr)
    return out
