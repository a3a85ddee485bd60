"""`cchc assumptions` and `cchc assumption confirm|change`: what a spec assumed, and the coordinator's word on it.

PLAN may also name a province (its code, its name, or its ``_province.yaml``): the summary report's assumed
rule is decided the same way (stored, audited), and the province report reads it so."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cchc.cli.app import app, emit_json, fail, get_plan, now_utc, parse_day, show_assumptions, wire_events

if TYPE_CHECKING:
    from cchc.core.province_spec import ProvinceSpec

assumption_app = typer.Typer(help="Xác nhận hoặc điều chỉnh một giả định của kế hoạch.", no_args_is_help=True)
app.add_typer(assumption_app, name="assumption")


PlanRef = Annotated[
    str,
    typer.Argument(
        metavar="PLAN",
        help="Plan id or spec path; or a province (code, name, or its _province.yaml) for its summary report.",
    ),
]


def _province(ref: str) -> ProvinceSpec | None:
    """The province spec PLAN names, with the decisions so far; None for a plan."""
    from cchc.app import province_assumptions
    from cchc.app.service import UserError
    from cchc.core.loader import SpecError
    from cchc.settings import get_settings

    settings = get_settings()
    try:
        spec = province_assumptions.target(settings, ref)
        return None if spec is None else province_assumptions.decided(settings, spec)
    except (UserError, SpecError) as e:
        fail(str(e))


@app.command("assumptions")
def list_assumptions(
    plan: PlanRef,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every assumption of a plan (timings the signed plan does not state), confirmed or not."""
    spec = _province(plan)
    if spec is None:
        show_assumptions(get_plan(plan), as_json)
        return
    from cchc.core import assumptions, province_assumptions

    rows = province_assumptions.listing(spec)
    if as_json:
        emit_json([a.as_json() for a in rows])
        return
    open_ = sum(1 for a in rows if not a.confirmed)
    typer.echo(f"{spec.province.name} (báo cáo tổng hợp): {len(rows)} giả định, {open_} chưa xác nhận")
    for a in rows:
        state = f"đã xác nhận: {a.confirmed}" if a.confirmed else "CHƯA XÁC NHẬN"
        typer.echo(f"  {a.title} · {assumptions.ASPECT_VI[a.aspect]}: {a.rule}")
        typer.echo(f"      lý do: {a.reason}" + (f" · theo: {a.regime}" if a.regime else ""))
        typer.echo(f"      {state}")


Aspect = Annotated[str, typer.Option("--aspect", help="cadence, count, due, or effective (the plan's effective date)")]
Reason = Annotated[str, typer.Option(help="Why: the document or the decision that settles it.")]
By = Annotated[str, typer.Option(help="Who decides (name and role).")]


def _decide(plan_ref: str, item: str | None, aspect: str, action: str, reason: str, by: str, **change: Any) -> None:
    from cchc.app import service
    from cchc.core import assumptions
    from cchc.settings import get_settings

    spec = _province(plan_ref)
    if spec is not None:
        from cchc.app import province_assumptions as province_case
        from cchc.core import province_assumptions

        try:
            now = province_case.decide(
                get_settings(), spec, item or "", aspect, action, reason, by, now_utc(), **change
            )
        except service.UserError as e:
            fail(str(e))
        typer.echo(province_assumptions.confirmed_words(now, aspect))
        return
    wire_events()  # the item re-runs by the decided rule now (service.decide_assumption tells)
    p = get_plan(plan_ref)
    try:
        decided = service.decide_assumption(
            get_settings(), p, item or "", aspect, action, reason, by, now_utc(), **change
        )
    except service.UserError as e:
        fail(str(e))
    (a,) = [x for x in assumptions.listing(decided) if x.item == (item or "") and x.aspect == aspect]
    typer.echo(f"{assumptions.ASPECT_VI[aspect]} của {a.item or decided.id}: {a.rule} — {a.confirmed}")


@assumption_app.command("confirm")
def confirm(
    plan: PlanRef,
    item: Annotated[str | None, typer.Argument(help="Duty or report id; none for the effective date.")] = None,
    aspect: Aspect = "due",
    reason: Reason = "",
    by: By = "",
) -> None:
    """Confirm an assumption as it stands: from now on it acts like a rule the plan states."""
    _decide(plan, item, aspect, "confirm", reason, by)


@assumption_app.command("change")
def change(
    plan: PlanRef,
    item: Annotated[str | None, typer.Argument(help="Duty or report id; none for the effective date.")] = None,
    aspect: Aspect = "due",
    reason: Reason = "",
    by: By = "",
    due_day: Annotated[int | None, typer.Option(help="New due day of the month (1-31).")] = None,
    in_month: Annotated[str, typer.Option(help="Month of the period: last, next, or 1..12.")] = "last",
    min_count: Annotated[int | None, typer.Option(help="New minimum count per period.")] = None,
    effective_from: Annotated[str | None, typer.Option(help="New effective date, YYYY-MM-DD.")] = None,
) -> None:
    """Change an assumed rule (a due day, a count, the effective date); the change is confirmed and audited."""
    from cchc.core.spec import DueRule

    due = None
    if due_day is not None:
        month: int | str = int(in_month) if in_month.isdigit() else in_month
        try:
            due = DueRule.model_validate({"in_month": month, "day": due_day})
        except ValueError as e:
            fail(f"--due-day/--in-month: {str(e).splitlines()[-1].strip()}")
    _decide(
        plan,
        item,
        aspect,
        "change",
        reason,
        by,
        due=due,
        min_count=min_count,
        effective_from=parse_day(effective_from, "--effective-from"),
    )
