"""The province page in the Prefect UI: `flows/province.py` through Prefect's harness, and its deployment."""

from __future__ import annotations

import base64
import datetime as dt

import pendulum
import pytest

from cchc.core.deployments import PROVINCE_ENTRYPOINT as ENTRYPOINT
from cchc.core.deployments import province_deployments
from cchc.core.loader import load_plan
from cchc.settings import Settings
from tests.conftest import PLAN_DIR, PLAN_IDS

TZ = "Asia/Ho_Chi_Minh"


@pytest.mark.anyio
@pytest.mark.usefixtures("prefect_harness")
async def test_the_province_flow_publishes_the_table_and_the_heatmap_once(cchc_env: Settings) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    from cchc.app import province as province_app
    from cchc.app import service
    from flows.province import province_home

    plan = service.resolve_plan("phu-thai-2025h2", cchc_env)
    at = pendulum.datetime(2025, 10, 20, 9, tz=TZ)
    # A post no page of another test records: this run's own figures, whatever the session's server holds.
    item = service.EvidenceInput(
        "cong-ttdt-tin-bai", "post", "Tin CCHC", dt.date(2025, 7, 10), url="https://p.example/1"
    )
    service.record_evidence(cchc_env, plan, item, at)
    first = await province_home(province="hai phong", at=at)
    again = await province_home(province="31", at=at)
    assert first["key"] == "cchc-province-31" and first["plans"] == 4
    assert again["written"] is False, "an unchanged page is not written again"
    async with get_client() as client:
        arts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["cchc-province-31"])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    markdown = str(arts[0].data)
    expected = province_app.rollup(cchc_env, province_app.resolve_province("31"), at, at)
    total = expected.totals().duties
    assert markdown.startswith("# Thành phố Hải Phòng: tình hình thực hiện kế hoạch tuyên truyền CCHC của các xã")
    assert f"**{total.due}** lượt nhiệm vụ đã đến hạn: **{total.done}** đạt" in markdown
    assert total.done >= 1
    worst = expected.communes()[0].name
    lines = markdown.splitlines()
    header = lines.index(next(ln for ln in lines if ln.startswith("| Xã/phường |")))
    assert lines[header + 2].startswith(f"| {worst} |"), "the communes table lists the worst first"
    assert lines[header + 2 + 4].startswith("| **Tổng cộng** |")
    uri = markdown.split("](data:image/svg+xml;base64,", 1)[1].split(")", 1)[0]
    svg = base64.b64decode(uri).decode()
    for name in ("Phú Thái", "Lai Khê", "Ninh Giang", "Chí Minh", "BC của xã"):
        assert name in svg


def test_one_province_deployment_per_province_on_working_days() -> None:
    plans = [load_plan(PLAN_DIR / f"{p}.yaml") for p in PLAN_IDS]
    specs = province_deployments(plans)
    assert [(s.name, s.parameters) for s in specs] == [
        ("Tổng hợp tỉnh · Thái Nguyên", {"province": "19"}),
        ("Tổng hợp tỉnh · Thành phố Hải Phòng", {"province": "31"}),
    ]
    hp = specs[1]
    assert hp.entrypoint == ENTRYPOINT
    assert "BYDAY=MO,TU,WE,TH,FR;BYHOUR=7,12,16;BYMINUTE=30" in hp.schedules[0]["rrule"]
    assert hp.schedules[0]["rrule"].startswith("DTSTART:20250701T")  # the earliest Hải Phòng plan
