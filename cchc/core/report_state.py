"""Where one report of one period stands, and the moves between those states, as data.

A report run is created ``pending`` and moves only along ``TRANSITIONS``; the report workflow
(cchc.app.report_workflow) passes every change through ``advance``, so a move the machine does
not know (a delivered report drafted again, an approval undone) is refused instead of written.

The values are the strings the ``report_runs.state`` column holds (``signing`` and ``signed`` since 0010,
which added the columns of the signed copy and the e-office record).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from cchc.core.labels import REPORT_STATE_VI


class ReportState(StrEnum):
    pending = "pending"  # the row exists, no draft yet
    drafted = "drafted"  # a draft was mailed to the coordinator and waits for a decision
    sent_back = "sent_back"  # the approver returned the draft; a new draft (or a later decision) follows
    approved = "approved"  # numbered; the final is being delivered, or prepared for signing
    signing = "signing"  # the final DOCX and its PDF went to the coordinator: waits for the signed copy or e-office
    signed = "signed"  # the signed copy is attached; it is being delivered to every recipient
    delivered = "delivered"  # every delivery was sent and recorded as the report duty's evidence


class Wait(StrEnum):
    """The report flow ends without a new state: it waits for a decision on the current draft."""

    waiting = "waiting"  # no decision came in time; the next run asks again
    stale = "stale"  # the decision was made on a draft a newer one replaced; nothing was recorded


INITIAL = ReportState.pending

# From each state, the states the workflow may write next (report_workflow: draft, decide, settle).
TRANSITIONS: Mapping[ReportState, frozenset[ReportState]] = {
    # The first draft.
    ReportState.pending: frozenset({ReportState.drafted}),
    # A new version when the records changed (or on demand); the approver's decision.
    ReportState.drafted: frozenset({ReportState.drafted, ReportState.sent_back, ReportState.approved}),
    # A new draft after the send-back; or a decision on the returned draft itself (version unchanged).
    ReportState.sent_back: frozenset({ReportState.drafted, ReportState.sent_back, ReportState.approved}),
    # Signing required: the final and its PDF go to the coordinator. Not required: every delivery row was sent.
    ReportState.approved: frozenset({ReportState.signing, ReportState.delivered}),
    # The signed copy attached (or attached again: the same copy); or sent through e-office, which delivers it.
    ReportState.signing: frozenset({ReportState.signed, ReportState.delivered}),
    # Every delivery row of the signed copy was sent.
    ReportState.signed: frozenset({ReportState.delivered}),
    # Final. Two mail passes may settle the same delivery at once: the second writes the same state again.
    ReportState.delivered: frozenset({ReportState.delivered}),
}

# Decided: no new draft, no new decision; what remains is the delivery.
DECIDED: frozenset[ReportState] = frozenset(
    {ReportState.approved, ReportState.signing, ReportState.signed, ReportState.delivered}
)
# Mail to the recipients may be on its way: settling reads these.
DELIVERING: frozenset[ReportState] = frozenset({ReportState.approved, ReportState.signed})
# A draft may be (re)made from these: the states that may move to ``drafted``.
DRAFTABLE: frozenset[ReportState] = frozenset(s for s, nxt in TRANSITIONS.items() if ReportState.drafted in nxt)


class TransitionError(ValueError):
    """A state change the report state machine does not allow."""


def allowed(current: ReportState | str, target: ReportState | str) -> bool:
    return ReportState(target) in TRANSITIONS[ReportState(current)]


def advance(current: ReportState | str, target: ReportState | str) -> ReportState:
    """The state to write in place of ``current``; raises TransitionError on a move the machine refuses.

    ``current`` may be the column's plain string; an unknown string is refused as well.
    """
    try:
        frm, to = ReportState(current), ReportState(target)
    except ValueError:
        raise TransitionError(f"unknown report state in {current!r} -> {target!r}") from None
    if to not in TRANSITIONS[frm]:
        nxt = ", ".join(sorted(TRANSITIONS[frm])) or "nothing"
        raise TransitionError(f"a report cannot go from '{frm}' to '{to}' (from '{frm}' it may go to: {nxt})")
    return to


def label(state: ReportState | str | None) -> str:
    """The Vietnamese name of a state (None: no run yet)."""
    return REPORT_STATE_VI[ReportState(state) if state is not None else None]
