"""Steps of the province page run: publishing its artifact (the Prefect side)."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from tasks.duty import latest_artifacts, unchanged


@task(name="cập nhật trang tổng hợp tỉnh", cache_policy=NO_CACHE)
def publish_province(key: str, markdown: str, description: str) -> bool:
    """Write the artifact unless its newest version says the same (a keyed write is a new version each time)."""
    if unchanged(latest_artifacts([key]), key, markdown, description):
        get_run_logger().info("trang tổng hợp tỉnh không đổi, không ghi lại")
        return False
    create_markdown_artifact(key=key, markdown=markdown, description=description)
    get_run_logger().info("trang tổng hợp tỉnh đã cập nhật (%d ký tự)", len(markdown))
    return True
