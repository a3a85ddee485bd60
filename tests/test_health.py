"""The watchdog's rule, pure: a failure is told once per episode, a recovery once, nothing is lost unsent."""

from __future__ import annotations

import datetime as dt

from cchc.core.health import Change, Check, settle, transitions

T0 = dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)


def _checks(**status: str) -> list[Check]:
    return [Check(name, s, f"{name} {s}", "làm gì đó") for name, s in status.items()]  # type: ignore[arg-type]


def test_a_failure_is_told_once_and_its_recovery_once() -> None:
    state, told = transitions({}, _checks(api="failing", disk="ok"), T0)
    assert [(c.check, c.kind) for c in told] == [("api", "failing")]
    state = settle(state, told)
    state, again = transitions(state, _checks(api="failing", disk="ok"), T0 + dt.timedelta(hours=1))
    assert again == [], "still failing, already told"
    state, back = transitions(state, _checks(api="ok", disk="ok"), T0 + dt.timedelta(hours=2))
    assert [(c.check, c.kind, c.since) for c in back] == [("api", "recovered", T0.isoformat())]
    state = settle(state, back)
    state, quiet = transitions(state, _checks(api="ok", disk="warning"), T0 + dt.timedelta(hours=3))
    assert quiet == [], "a warning is not an alarm, and the recovery was told"


def test_what_the_mail_server_did_not_take_is_told_on_the_next_pass() -> None:
    state, first = transitions({}, _checks(api="failing"), T0)
    assert len(first) == 1
    state = settle(state, [])  # the server was down: nothing told
    state, again = transitions(state, _checks(api="failing"), T0 + dt.timedelta(hours=1))
    assert [(c.check, c.since) for c in again] == [("api", T0.isoformat())], "the same episode, still to tell"


def test_a_failure_that_was_never_told_recovers_silently_and_a_new_episode_is_new() -> None:
    state, _ = transitions({}, _checks(api="failing"), T0)
    state, back = transitions(state, _checks(api="ok"), T0 + dt.timedelta(hours=1))
    assert back == []
    later = T0 + dt.timedelta(days=1)
    state, told = transitions(state, _checks(api="failing"), later)
    assert told == [Change("api", "failing", later.isoformat(), "api failing", "làm gì đó")]
