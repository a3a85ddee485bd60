"""The watchdog's rule, pure: a failure is told once per episode to each recipient, its recovery once, a check
that could not run keeps its last verdict, and what a recipient's server did not take is told to that one again."""

from __future__ import annotations

import datetime as dt

from cchc.core.health import Change, Check, settle, transitions

T0 = dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)
OPS, VHXH = "ops@tinh.example", "vhxh@xa.example"
BOTH = [OPS, VHXH]


def _checks(**status: str) -> list[Check]:
    return [Check(name, s, f"{name} {s}", "làm gì đó") for name, s in status.items()]  # type: ignore[arg-type]


def _all_heard(changes: list[Change]) -> list[tuple[Change, str]]:
    return [(ch, a) for ch in changes for a in ch.to]


def test_a_failure_is_told_once_and_its_recovery_once() -> None:
    state, told = transitions({}, _checks(api="failing", disk="ok"), T0, BOTH)
    assert [(c.check, c.kind, c.to) for c in told] == [("api", "failing", (OPS, VHXH))]
    state = settle(state, _all_heard(told))
    state, again = transitions(state, _checks(api="failing", disk="ok"), T0 + dt.timedelta(hours=1), BOTH)
    assert again == [], "still failing, already told"
    state, back = transitions(state, _checks(api="ok", disk="ok"), T0 + dt.timedelta(hours=2), BOTH)
    assert [(c.check, c.kind, c.since) for c in back] == [("api", "recovered", T0.isoformat())]
    state = settle(state, _all_heard(back))
    state, quiet = transitions(state, _checks(api="ok", disk="warning"), T0 + dt.timedelta(hours=3), BOTH)
    assert quiet == [], "a warning is not an alarm, and the recovery was told"


def test_what_a_recipients_server_did_not_take_is_told_to_that_recipient_only() -> None:
    state, first = transitions({}, _checks(api="failing"), T0, BOTH)
    state = settle(state, [(first[0], VHXH)])  # the operator's server answered 451
    state, again = transitions(state, _checks(api="failing"), T0 + dt.timedelta(hours=1), BOTH)
    assert [(c.check, c.since, c.to) for c in again] == [("api", T0.isoformat(), (OPS,))]
    state = settle(state, [])  # the whole mail server down: nothing heard, nothing lost
    state, still = transitions(state, _checks(api="failing"), T0 + dt.timedelta(hours=2), BOTH)
    assert [c.to for c in still] == [(OPS,)]


def test_a_check_that_could_not_run_keeps_its_verdict_instead_of_recovering() -> None:
    state, told = transitions({}, _checks(executor="failing"), T0, BOTH)
    state = settle(state, _all_heard(told))
    blind = [Check("executor", "warning", "chưa kiểm tra được", known=False)]
    state, changes = transitions(state, blind, T0 + dt.timedelta(hours=1), BOTH)
    assert changes == [], "the API is down: that is not the executor's recovery"
    state, changes = transitions(state, _checks(executor="failing"), T0 + dt.timedelta(hours=2), BOTH)
    assert changes == [], "the same episode, already told: not a new alarm when the API returns"


def test_a_failure_that_was_never_told_recovers_silently_and_a_new_episode_is_new() -> None:
    state, _ = transitions({}, _checks(api="failing"), T0, BOTH)
    state, back = transitions(state, _checks(api="ok"), T0 + dt.timedelta(hours=1), BOTH)
    assert back == []
    later = T0 + dt.timedelta(days=1)
    state, told = transitions(state, _checks(api="failing"), later, BOTH)
    assert told == [Change("api", "failing", later.isoformat(), "api failing", "làm gì đó", (OPS, VHXH))]


def test_a_new_recipient_hears_of_a_failure_still_going_on() -> None:
    state, told = transitions({}, _checks(api="failing"), T0, [OPS])
    state = settle(state, _all_heard(told))
    state, more = transitions(state, _checks(api="failing"), T0 + dt.timedelta(hours=1), BOTH)
    assert [c.to for c in more] == [(VHXH,)]
