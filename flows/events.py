"""Events the flows send, so that Prefect reacts at once instead of at the next tick."""

from __future__ import annotations

from prefect.events import emit_event

from cchc.core.deployments import EVIDENCE_EVENT


def emit_evidence_recorded(plan_id: str, duty_id: str, evidence_id: int | None, kind: str, reason: str = "") -> None:
    emit_event(
        event=EVIDENCE_EVENT,
        resource={"prefect.resource.id": f"cchc.duty.{plan_id}.{duty_id}"},
        related=[{"prefect.resource.id": f"cchc.plan.{plan_id}", "prefect.resource.role": "plan"}],
        payload={
            "plan": plan_id,
            "duty": duty_id,
            "evidence_id": evidence_id,
            "kind": kind,
            "reason": reason or f"minh chứng mới #{evidence_id}",
        },
    )
