"""The province summary report's assumptions (``_province.yaml``), decided like a plan's.

No plan fixes the day the department (Sở Nội vụ) reports to the province and the Ministry, so the spec's
cadence and due rule may be assumed. The department confirms one as it stands, or changes the due day; the
decision is kept in the store (the same table and audit as a plan's, under the key ``province-<code>``) and
folded into the spec here, so the report reads "theo …" instead of "giả định, chưa được xác nhận".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cchc.core.assumptions import ASPECT_VI, Assumption, Decision, DecisionError
from cchc.core.labels import CADENCE_VI
from cchc.core.province_spec import ProvinceSpec
from cchc.core.spec import Basis, RuleBasis

ASPECTS = ("cadence", "due")  # the summary report counts nothing: it has no count


def key(spec: ProvinceSpec) -> str:
    """Where its decisions are kept, beside the plans' (a plan id never starts with 'province-<digits>')."""
    return f"province-{spec.province.code}"


def rule_words(spec: ProvinceSpec, aspect: str) -> str:
    if aspect == "cadence":
        return CADENCE_VI.get(spec.report.cadence, spec.report.cadence)
    due = spec.report.due
    month = {"last": "tháng cuối kỳ", "next": "tháng sau kỳ"}.get(str(due.in_month), f"tháng thứ {due.in_month} của kỳ")
    return f"ngày {due.day:02d} của {month}"


def listing(spec: ProvinceSpec) -> list[Assumption]:
    """The summary report's assumptions, confirmed or not (item '': the province has one report)."""
    out = []
    for aspect in ASPECTS:
        b = spec.report.basis.of(aspect)
        if b is None or b.assumed is None:
            continue
        out.append(
            Assumption(
                key(spec), "", spec.report.title, aspect, rule_words(spec, aspect), b.assumed, b.regime, b.confirmed
            )
        )
    return out


def check(spec: ProvinceSpec, item_id: str, aspect: str, action: str, changes: Sequence[object] = ()) -> None:
    """The same refusals as a plan's decisions (cchc.core.assumptions.check), for the one summary report."""
    name = f"the summary report of {spec.province.name}"
    if item_id:
        raise DecisionError(f"{name} is the province's only report: give no duty or report id with it")
    if aspect not in ASPECTS:
        raise DecisionError(f"aspect '{aspect}' is not one of: {', '.join(ASPECTS)} (the summary report has no count)")
    if action == "change" and aspect == "cadence":
        raise DecisionError("a cadence changes the report's calendar: edit the spec's YAML and load it again")
    b = spec.report.basis.of(aspect)
    if b is None or b.assumed is None:
        raise DecisionError(
            f"the {aspect} of {name} is not an assumption (the spec cites what states it); "
            f"nothing to confirm: `cchc assumptions {spec.province.code}` lists what is"
        )
    if action == "change" and not any(c is not None for c in changes):
        raise DecisionError(f"a change of the {aspect} needs its new value (--due-day, --in-month)")


def apply(spec: ProvinceSpec, decisions: Iterable[Decision]) -> ProvinceSpec:
    """The spec as the department's decisions leave it (the latest decision on an aspect wins); validated whole."""
    latest: dict[str, Decision] = {}
    for d in sorted(decisions, key=lambda d: d.at):
        if d.plan == key(spec) and d.aspect in ASPECTS:
            latest[d.aspect] = d
    if not latest:
        return spec
    basis = spec.report.basis
    per: dict[str, Basis | None] = {a: basis.of(a) for a in ASPECTS}
    report = spec.report.model_dump()
    for aspect, d in latest.items():
        own = per[aspect]
        if own is None:
            continue  # the edited spec dropped this aspect; the decision no longer applies
        per[aspect] = own.model_copy(update={"confirmed": d.words})
        if d.action == "change" and aspect == "due" and d.due is not None:
            report["due"] = d.due.model_dump()
    report["basis"] = RuleBasis(cadence=per["cadence"], due=per["due"]).model_dump(exclude_none=True)
    return ProvinceSpec.model_validate({**spec.model_dump(), "report": report})


def confirmed_words(spec: ProvinceSpec, aspect: str) -> str:
    """'hạn của Báo cáo tổng hợp …: ngày 19 của tháng cuối kỳ — <who> xác nhận ngày …: <why>'."""
    (a,) = [x for x in listing(spec) if x.aspect == aspect]
    return f"{ASPECT_VI[aspect]} của {a.title}: {a.rule} — {a.confirmed}"
