"""Steps of the plan's home run ("Tuần này"): the Prefect side (deployment links, failed runs, publishing)."""

from __future__ import annotations

import datetime as dt

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterTags,
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType

from cchc.core.deployments import MANAGED_TAG
from cchc.core.home import FailedRun
from tasks.duty import latest_artifacts, unchanged

FAILED_LOOKBACK = dt.timedelta(hours=48)
FAILED_SHOWN = 20


@task(name="đọc liên kết và lần chạy lỗi", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def prefect_view(plan_id: str, now: dt.datetime) -> tuple[dict[str, str], list[FailedRun]]:
    """The plan's deployments (item id -> deployment id, for links) and its runs that failed or crashed lately."""
    with get_client(sync_client=True) as client:
        deployments = client.read_deployments(
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[MANAGED_TAG, f"plan:{plan_id}"]))
        )
        links: dict[str, str] = {}
        for d in deployments:
            item = d.parameters.get("duty_id") or d.parameters.get("report_id")
            if isinstance(item, str):
                links[item] = str(d.id)
        if not deployments:
            return links, []
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                deployment_id=FlowRunFilterDeploymentId(any_=[d.id for d in deployments]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.FAILED, StateType.CRASHED])),
                expected_start_time=FlowRunFilterExpectedStartTime(after_=now - FAILED_LOOKBACK),
            ),
            limit=FAILED_SHOWN,
        )
    failed = [
        FailedRun(
            r.name,
            (r.state.name if r.state else None) or "Failed",
            r.expected_start_time or r.start_time or now,
            str(r.id),
        )
        for r in runs
    ]
    return links, failed


@task(name="cập nhật trang Tuần này", cache_policy=NO_CACHE)
def publish_home(key: str, markdown: str, description: str) -> bool:
    """Write the artifact unless its newest version says the same (a keyed write is a new version each time)."""
    if unchanged(latest_artifacts([key]), key, markdown, description):
        get_run_logger().info("trang Tuần này không đổi, không ghi lại")
        return False
    create_markdown_artifact(key=key, markdown=markdown, description=description)
    get_run_logger().info("trang Tuần này đã cập nhật (%d ký tự)", len(markdown))
    return True
