"""The report state machine (cchc.core.report_state): its values, its table, and what advance refuses."""

from __future__ import annotations

import itertools

import pytest

from cchc.core.labels import REPORT_STATE_VI
from cchc.core.report_state import (
    DECIDED,
    DRAFTABLE,
    INITIAL,
    TRANSITIONS,
    ReportState,
    TransitionError,
    Wait,
    advance,
    allowed,
    label,
)

S = ReportState
ALLOWED = sorted((a, b) for a, nxt in TRANSITIONS.items() for b in nxt)
REFUSED = sorted((a, b) for a, b in itertools.product(S, S) if b not in TRANSITIONS[a])


def test_the_values_are_the_strings_the_report_runs_column_holds() -> None:
    # report_runs.state keeps its values, and rows written before the enum still read; signing and signed
    # came with migration 0010 (the signed report).
    assert [s.value for s in S] == ["pending", "drafted", "sent_back", "approved", "signing", "signed", "delivered"]
    assert [w.value for w in Wait] == ["waiting", "stale"]
    assert all(isinstance(s, str) and s == s.value for s in S)
    assert all(isinstance(w, str) and w == w.value for w in Wait)
    assert INITIAL == "pending"


def test_the_table_is_what_the_workflow_does() -> None:
    assert dict(TRANSITIONS) == {
        S.pending: {S.drafted},  # first draft
        S.drafted: {S.drafted, S.sent_back, S.approved},  # new version, send back, approve
        S.sent_back: {S.drafted, S.sent_back, S.approved},  # redraft, or a decision on the returned draft
        S.approved: {S.signing, S.delivered},  # the final and its PDF to sign; or (no signing) every delivery sent
        S.signing: {S.signed, S.delivered},  # the signed copy attached; or sent through e-office
        S.signed: {S.delivered},  # every delivery of the signed copy sent
        S.delivered: {S.delivered},  # a second settle of the same delivery
    }
    assert set(TRANSITIONS) == set(S)
    assert set(DRAFTABLE) == {S.pending, S.drafted, S.sent_back}
    assert set(DECIDED) == {S.approved, S.signing, S.signed, S.delivered}


@pytest.mark.parametrize(("current", "target"), ALLOWED, ids=[f"{a}->{b}" for a, b in ALLOWED])
def test_every_allowed_transition_advances(current: ReportState, target: ReportState) -> None:
    assert advance(current, target) is target
    assert advance(current.value, target.value) is target  # the column's plain string works too
    assert allowed(current, target)


@pytest.mark.parametrize(("current", "target"), REFUSED, ids=[f"{a}->{b}" for a, b in REFUSED])
def test_every_other_transition_is_refused_with_what_is_allowed(current: ReportState, target: ReportState) -> None:
    with pytest.raises(TransitionError, match=f"from '{current}' to '{target}'") as e:
        advance(current, target)
    assert all(f"{s}" in str(e.value) for s in TRANSITIONS[current])
    assert not allowed(current, target)


def test_the_refused_list_covers_the_dangerous_moves() -> None:
    assert len(ALLOWED) + len(REFUSED) == len(S) ** 2
    for move in [
        (S.approved, S.drafted),
        (S.approved, S.sent_back),
        (S.delivered, S.approved),
        (S.pending, S.approved),
        (S.signing, S.drafted),  # a report out for signature is not drafted again
        (S.signed, S.signing),  # nor is a signed copy taken back
        (S.drafted, S.signing),  # nothing is signed before approval
    ]:
        assert move in REFUSED


def test_an_unknown_state_is_refused() -> None:
    with pytest.raises(TransitionError, match="unknown report state"):
        advance("archived", S.drafted)
    with pytest.raises(TransitionError, match="unknown report state"):
        advance(S.drafted, "waiting")


def test_every_state_and_no_run_have_a_vietnamese_label() -> None:
    assert set(REPORT_STATE_VI) == {None, *S}
    assert label(None) == label(S.pending) == label("pending") == "chưa lập dự thảo"
    assert label("drafted") == "chờ duyệt" and label(S.delivered) == "đã gửi"
    assert label(S.signing) == "đã duyệt, chờ ký và gửi" and label("signed") == "đã ký, đang gửi"
