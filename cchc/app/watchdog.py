"""The alarm for a system that has stopped: runs the doctor's checks from outside Prefect's scheduler and
emails the coordinators and the operator once when a check starts failing, and once when it recovers.

`cchc up` runs it every CCHC_WATCHDOG_INTERVAL seconds; with Prefect workers a systemd timer runs
`cchc watchdog --once` (deploy/systemd/). The state file remembers what was already told, so restarts and
overlapping passes tell nothing twice; a message is marked told only after the mail server took it, so a
mail server that is down delays the alarm instead of losing it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cchc.app.doctor import run_checks
from cchc.app.watchdog_mail import send_changes
from cchc.core.health import Change, Check, settle, transitions
from cchc.core.loader import SpecError, load_plan, spec_files
from cchc.core.spec import Plan, UnitRole
from cchc.settings import Settings

STATE_FILE = "watchdog.json"


def recipients(settings: Settings, plans: Sequence[Plan]) -> list[tuple[str, str]]:
    """(name, address) of the operator and every plan's coordinators, each address once."""
    seen: dict[str, str] = {}
    if settings.operator_email:
        seen[settings.operator_email] = "Người vận hành hệ thống"
    for p in plans:
        for u in p.units_with_role(UnitRole.coordinator):
            for e in u.emails:
                seen.setdefault(str(e), u.name)
    return [(name, addr) for addr, name in seen.items()]


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    """One watchdog pass at a time on this CCHC_HOME (a timer and `cchc up` may overlap)."""
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".watchdog.lock").open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class PassResult:
    checks: list[Check]
    told: list[Change]
    pending: list[Change]
    recipients: list[str]
    problem: str | None = None


def run_pass(settings: Settings, now: dt.datetime) -> PassResult:
    path = settings.home / STATE_FILE
    with _locked(settings.home):
        checks = run_checks(settings, now)
        to = recipients(settings, _plans(settings))
        names = {addr: name for name, addr in to}
        state, changes = transitions(_load(path), checks, now, list(names))
        heard: list[tuple[Change, str]] = []
        problem = None
        if changes and to:
            heard, problem = send_changes(settings, names, changes, now, socket.gethostname())
        elif changes:
            problem = "không có địa chỉ nào để báo: đặt CCHC_OPERATOR_EMAIL hoặc email của cơ quan thường trực"
        _save(path, settle(state, heard))
    got = {(ch.check, ch.kind, ch.since, addr) for ch, addr in heard}
    told = [ch for ch in changes if all((ch.check, ch.kind, ch.since, a) in got for a in ch.to)]
    pending = [ch for ch in changes if ch not in told]
    return PassResult(checks, told, pending, list(names), problem)


def _plans(settings: Settings) -> list[Plan]:
    out = []
    for path in spec_files([settings.plan_dir]) if settings.plan_dir.is_dir() else []:
        with contextlib.suppress(SpecError):
            out.append(load_plan(path))
    return out
