"""Serve every deployment of every plan in plan_specs/ (what `cchc up` runs).

Deployments of plans that were removed (or duties that were dropped) are deleted, so the
UI always matches the specs. On SIGTERM the runner stops without pausing schedules.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Sequence
from typing import Any

from prefect import Flow, serve
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags
from prefect.deployments.runner import RunnerDeployment
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
from prefect.schedules import RRule

from cchc.app import service
from cchc.core.deployments import MANAGED_TAG, DeploymentSpec, all_deployments
from cchc.settings import get_settings


def load_flow(entrypoint: str) -> Flow[Any, Any]:
    path, func = entrypoint.split(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    obj = getattr(module, func)
    assert isinstance(obj, Flow), entrypoint
    return obj


def _kwargs(spec: DeploymentSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "description": spec.description,
        "parameters": spec.parameters,
        "tags": spec.tags,
        "schedules": [RRule(s["rrule"], timezone=s["timezone"]) for s in spec.schedules],
        "triggers": [DeploymentEventTrigger(**{k: v for k, v in t.items() if k != "type"}) for t in spec.triggers],
    }


def to_runner(spec: DeploymentSpec) -> RunnerDeployment:
    """Outside an event loop (serve runs here)."""
    deployment = load_flow(spec.entrypoint).to_deployment(**_kwargs(spec))
    assert isinstance(deployment, RunnerDeployment)
    return deployment


async def ato_runner(spec: DeploymentSpec) -> RunnerDeployment:
    """Inside an event loop."""
    return await load_flow(spec.entrypoint).ato_deployment(**_kwargs(spec))


async def prune(keep: Sequence[RunnerDeployment]) -> list[str]:
    """Delete managed deployments that no spec produces any more."""
    wanted = {(d.flow_name, d.name) for d in keep}
    removed = []
    async with get_client() as client:
        existing = await client.read_deployments(
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[MANAGED_TAG]))
        )
        flows = {f.id: f.name for f in await client.read_flows()}
        for d in existing:
            if (flows.get(d.flow_id), d.name) not in wanted:
                await client.delete_deployment(d.id)
                removed.append(d.name)
    return removed


def build() -> list[RunnerDeployment]:
    plans = service.all_plans(get_settings())
    return [to_runner(s) for s in all_deployments(plans)]


def main() -> None:
    deployments = build()
    removed = asyncio.run(prune(deployments))
    for name in removed:
        print(f"removed deployment no longer in plan_specs/: {name}")
    print(f"serving {len(deployments)} deployments", flush=True)
    # A report run waiting for approval holds its slot until the next morning: one slot per report on top.
    reports = sum(1 for d in deployments if d.entrypoint and d.entrypoint.endswith(":report_duty"))
    serve(*deployments, pause_on_shutdown=False, print_starting_message=False, limit=4 + reports)


if __name__ == "__main__":
    main()
