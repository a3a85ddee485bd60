"""What a plan's spec assumed where the signed plan is silent, and the coordinator's decisions on it.

Every cadence, count and due date of a duty or report carries its basis: the plan's own words, or an
assumption. An unconfirmed assumption still reminds the lead units, marked as such, but is never
escalated to the leader and never reported as a failure. The coordinator confirms it or changes it
(``Decision``); ``apply`` folds the decisions into the plan, after which a confirmed rule acts like
one the plan states. Pure: no store, no clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from cchc.core.labels import CADENCE_VI
from cchc.core.spec import ASPECTS, Basis, DueRule, Duty, Plan, Report, RuleBasis

_Item = TypeVar("_Item", Duty, Report)
EFFECTIVE = "effective"  # the plan's effective date, an aspect of the plan itself (item "")
ASPECT_VI = {"cadence": "chu kỳ", "count": "số lượng", "due": "hạn", EFFECTIVE: "ngày hiệu lực"}
MARK = "do bộ phận điều phối đặt, kế hoạch không quy định"  # shown wherever an assumption acts


def note(aspects: Sequence[str]) -> str:
    """'hạn do bộ phận điều phối đặt, kế hoạch không quy định' (or the aspects that are assumed); '' for none."""
    if not aspects:
        return ""
    return f"{', '.join(ASPECT_VI[a] for a in aspects)} {MARK}"


@dataclass(frozen=True)
class Decision:
    """A coordinator's word on one assumption: confirm it as it is, or change it (then it is confirmed)."""

    plan: str
    item: str  # duty or report id; "" for the plan's effective date
    aspect: str  # cadence | count | due | effective
    action: str  # confirm | change
    by: str
    at: dt.datetime
    reason: str
    due: DueRule | None = None  # change of a due rule
    min_count: int | None = None  # change of a count
    effective_from: dt.date | None = None  # change of the effective date

    @property
    def words(self) -> str:
        local = self.at.date().strftime("%d/%m/%Y")
        verb = "xác nhận" if self.action == "confirm" else "điều chỉnh"
        return f"{self.by} {verb} ngày {local}: {self.reason}"


@dataclass(frozen=True)
class Assumption:
    plan: str
    item: str
    title: str
    aspect: str
    rule: str  # the rule as it acts, in words
    reason: str
    regime: str | None
    confirmed: str | None

    def as_json(self) -> dict[str, object]:
        return {
            "plan": self.plan,
            "item": self.item,
            "title": self.title,
            "aspect": self.aspect,
            "rule": self.rule,
            "reason": self.reason,
            "regime": self.regime,
            "confirmed": self.confirmed,
        }


class DecisionError(ValueError):
    """A decision that cannot apply to the plan: the message says what to give instead."""


def basis_of(item: Duty | Report, aspect: str) -> Basis | None:
    return item.basis.of(aspect) if item.basis is not None else None


def aspects_of(item: Duty | Report) -> tuple[str, ...]:
    """The aspects a rule has: a report has no count; a duty without a count rule has none either."""
    if isinstance(item, Report):
        return ("cadence", "due")
    return ASPECTS if item.requirement is not None else ("cadence", "due")


def unconfirmed(plan: Plan, item_id: str) -> tuple[str, ...]:
    """The aspects of a duty's or report's rule that rest on an assumption nobody confirmed."""
    try:
        item = plan.item(item_id)
    except KeyError:
        return ()
    out = []
    for a in aspects_of(item):
        b = basis_of(item, a)
        if b is not None and b.unconfirmed:
            out.append(a)
    return tuple(out)


def rule_words(item: Duty | Report, aspect: str) -> str:
    if aspect == "cadence":
        return CADENCE_VI.get(str(item.cadence), str(item.cadence))
    if aspect == "count":
        assert isinstance(item, Duty)
        return f"ít nhất {item.requirement.min_count if item.requirement else 1} minh chứng mỗi kỳ"
    rule = item.due
    if rule is None:
        return "cuối kỳ" if isinstance(item, Duty) else "ngày 05 của tháng cuối kỳ"
    month = {"last": "tháng cuối kỳ", "next": "tháng sau kỳ"}.get(
        str(rule.in_month), f"tháng thứ {rule.in_month} của kỳ"
    )
    return f"ngày {rule.day:02d} của {month}"


def listing(plan: Plan) -> list[Assumption]:
    """Every assumption of the plan, confirmed or not, in the order of the spec."""
    out: list[Assumption] = []
    if plan.issued_on is None:
        out.append(
            Assumption(
                plan.id,
                "",
                plan.title,
                EFFECTIVE,
                f"có hiệu lực từ {plan.effective_on.strftime('%d/%m/%Y')}",
                plan.effective_note or "kế hoạch không ghi ngày ban hành",
                None,
                plan.effective_confirmed,
            )
        )
    items: list[Duty | Report] = [*plan.duties, *plan.reports]
    for item in items:
        for a in aspects_of(item):
            b = basis_of(item, a)
            if b is None or b.assumed is None:
                continue
            out.append(
                Assumption(plan.id, item.id, item.title, a, rule_words(item, a), b.assumed, b.regime, b.confirmed)
            )
    return out


def apply(plan: Plan, decisions: Iterable[Decision]) -> Plan:
    """The plan as the coordinator's decisions leave it (the latest decision on an aspect wins)."""
    latest: dict[tuple[str, str], Decision] = {}
    for d in sorted(decisions, key=lambda d: d.at):
        if d.plan == plan.id:
            latest[(d.item, d.aspect)] = d
    if not latest:
        return plan
    update: dict[str, object] = {}
    eff = latest.pop(("", EFFECTIVE), None)
    if eff is not None:
        update["effective_confirmed"] = eff.words
        if eff.effective_from is not None:
            update["effective_from"] = eff.effective_from
    duties = [_decided(d, latest) for d in plan.duties]
    reports = [_decided(r, latest) for r in plan.reports]
    update["duties"] = tuple(duties)
    update["reports"] = tuple(reports)
    # Validate the result as a whole (a changed date must still lie inside the plan, and so on).
    return Plan.model_validate({**plan.model_dump(by_alias=True), **_dumped(update)})


def _dumped(update: dict[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in update.items():
        if isinstance(v, tuple):
            out[k] = [x.model_dump(by_alias=True) if hasattr(x, "model_dump") else x for x in v]
        else:
            out[k] = v
    return out


def _decided(item: _Item, latest: dict[tuple[str, str], Decision]) -> _Item:
    mine = {a: d for (i, a), d in latest.items() if i == item.id}
    if not mine:
        return item
    basis = item.basis
    if basis is None:
        return item  # the edited spec gives no basis any more: nothing left to confirm
    per = {a: basis.of(a) for a in ASPECTS}
    changes: dict[str, object] = {}
    for aspect, d in mine.items():
        own = per[aspect]
        if own is None:
            continue  # the edited spec dropped this aspect; the decision no longer applies
        per[aspect] = own.model_copy(update={"confirmed": d.words})
        if d.action == "change":
            if aspect == "due" and d.due is not None:
                changes["due"] = d.due
            elif aspect == "count" and d.min_count is not None and isinstance(item, Duty) and item.requirement:
                changes["requirement"] = item.requirement.model_copy(update={"min_count": d.min_count})
    changes["basis"] = RuleBasis(cadence=per["cadence"], count=per["count"], due=per["due"])
    return item.model_copy(update=changes)


def check(plan: Plan, item_id: str, aspect: str, action: str, changes: Sequence[object] = ()) -> None:
    """A decision must name an assumption of the plan, and a change must say what the rule becomes."""
    if aspect == EFFECTIVE:
        if item_id:
            raise DecisionError("the effective date belongs to the plan: give no duty or report id with it")
        if plan.issued_on is not None:
            raise DecisionError(f"plan {plan.id} states its issue date ({plan.issued_on}); nothing to confirm")
        return
    if aspect not in ASPECTS:
        raise DecisionError(f"aspect '{aspect}' is not one of: {', '.join((*ASPECTS, EFFECTIVE))}")
    try:
        item = plan.item(item_id)
    except KeyError:
        raise DecisionError(f"plan {plan.id} has no duty or report '{item_id}'") from None
    if action == "change" and aspect == "cadence":
        raise DecisionError("a cadence changes the plan's calendar: edit the spec's YAML and load it again")
    b = basis_of(item, aspect)
    if b is None or b.assumed is None:
        raise DecisionError(
            f"the {aspect} of {item_id} is not an assumption (the plan states it, or the spec gives no basis); "
            "nothing to confirm: `cchc assumptions` lists what is"
        )
    if action == "change" and not any(c is not None for c in changes):
        raise DecisionError(f"a change of the {aspect} needs its new value (--due-day, --min-count)")
