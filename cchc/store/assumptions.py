"""The coordinator's decisions on a spec's assumptions, each with its audit row."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from cchc.core.assumptions import Decision
from cchc.core.spec import DueRule
from cchc.store.models import AssumptionDecisionRow
from cchc.store.repo import audit


def add(session: Session, d: Decision) -> int:
    value = {
        k: v
        for k, v in {
            "due": d.due.model_dump() if d.due else None,
            "min_count": d.min_count,
            "effective_from": d.effective_from.isoformat() if d.effective_from else None,
        }.items()
        if v is not None
    }
    row = AssumptionDecisionRow(
        plan_id=d.plan,
        item_id=d.item,
        aspect=d.aspect,
        action=d.action,
        decided_by=d.by[:200],
        decided_at=d.at,
        reason=d.reason,
        value=json.dumps(value, ensure_ascii=False) if value else None,
    )
    session.add(row)
    session.flush()
    detail = f"{d.aspect}" + (f": {json.dumps(value, ensure_ascii=False)}" if value else "")
    audit(session, d.at, d.by, f"assumption.{d.action}", d.plan, duty_id=d.item or None, reason=d.reason, detail=detail)
    return row.id


def decisions(session: Session, plan_id: str) -> list[Decision]:
    return [_decision(r) for r in session.scalars(decisions_query(plan_id))]


def decisions_query(plan_id: str) -> Select[AssumptionDecisionRow]:
    """A plan's decisions in order (also what the quick status read compares, cchc.store.fastread)."""
    return (
        select(AssumptionDecisionRow).where(AssumptionDecisionRow.plan_id == plan_id).order_by(AssumptionDecisionRow.id)
    )


def decisions_by_plan(session: Session) -> dict[str, list[Decision]]:
    """Every plan's decisions in one read (a province's plans loaded together), each plan's in order."""
    out: dict[str, list[Decision]] = {}
    for r in session.scalars(select(AssumptionDecisionRow).order_by(AssumptionDecisionRow.id)):
        out.setdefault(r.plan_id, []).append(_decision(r))
    return out


def _decision(r: AssumptionDecisionRow) -> Decision:
    v = json.loads(r.value) if r.value else {}
    return Decision(
        plan=r.plan_id,
        item=r.item_id,
        aspect=r.aspect,
        action=r.action,
        by=r.decided_by,
        at=r.decided_at,
        reason=r.reason,
        due=DueRule.model_validate(v["due"]) if "due" in v else None,
        min_count=v.get("min_count"),
        effective_from=dt.date.fromisoformat(v["effective_from"]) if "effective_from" in v else None,
    )
