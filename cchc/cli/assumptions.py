"""`cchc assumptions` and `cchc assumption confirm|change`: what a spec assumed, and the coordinator's word on it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cchc.cli.app import app, fail, get_plan, now_utc, parse_day, show_assumptions, wire_events

assumption_app = typer.Typer(help="Xác nhận hoặc điều chỉnh một giả định của kế hoạch.", no_args_is_help=True)
app.add_typer(assumption_app, name="assumption")


@app.command("assumptions")
def list_assumptions(
    plan: str,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every assumption of a plan (timings the signed plan does not state), confirmed or not."""
    show_assumptions(get_plan(plan), as_json)


Aspect = Annotated[str, typer.Option("--aspect", help="cadence, count, due, or effective (the plan's effective date)")]
Reason = Annotated[str, typer.Option(help="Why: the document or the decision that settles it.")]
By = Annotated[str, typer.Option(help="Who decides (name and role).")]


def _decide(plan_ref: str, item: str | None, aspect: str, action: str, reason: str, by: str, **change: Any) -> None:
    from cchc.app import service
    from cchc.core import assumptions
    from cchc.settings import get_settings

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
    plan: str,
    item: Annotated[str | None, typer.Argument(help="Duty or report id; none for the effective date.")] = None,
    aspect: Aspect = "due",
    reason: Reason = "",
    by: By = "",
) -> None:
    """Confirm an assumption as it stands: from now on it acts like a rule the plan states."""
    _decide(plan, item, aspect, "confirm", reason, by)


@assumption_app.command("change")
def change(
    plan: str,
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
