"""The province page in the Prefect UI, for the Department of Home Affairs: every commune of the province, worst
first, with the share met, overdue and missed duties, reports on time / late / not sent, and the heatmap of
communes against duty kinds.

One set-based roll-up query for the whole province (``cchc.store.province``), never a run per commune. The picture
is drawn again only when its grid changed, and the artifact written again only when its text changed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
from prefect import flow

from cchc.app import heatmap as drawing
from cchc.app import province as province_app
from cchc.app.home import cache_dir
from cchc.core import province as view
from cchc.settings import get_settings
from flows.common import run_moment
from tasks.province import publish_province


@flow(name="cchc-province", flow_run_name="tỉnh-{province}", log_prints=True)
async def province_home(province: str, at: dt.datetime | None = None) -> dict[str, Any]:
    """Trang tổng hợp của tỉnh/thành phố cho Sở Nội vụ: các xã (thấp nhất trước), tỉ lệ đạt, quá hạn, không đạt,
    báo cáo đúng hạn/muộn/chưa gửi và bản đồ nhiệt xã × loại nhiệm vụ.

    Args:
        province: Tỉnh/thành phố: mã (vd. 31) hoặc tên (vd. Hải Phòng).
        at: Tính tại thời điểm này; để trống thì dùng giờ đã lên lịch của lần chạy.
    """
    settings = get_settings()
    ref = province_app.resolve_province(province)
    moment = run_moment(at, province_app.TZ)
    r = province_app.rollup(settings, ref, moment, pendulum.now("UTC"))
    picture = drawing.data_uri(drawing.cached_svg(view.province_grid(r), cache_dir(settings))) if r.lines else None
    markdown = view.artifact_markdown(r, picture)
    key = view.artifact_key(ref.code)
    written = publish_province(key, markdown, f"{ref.name}: tổng hợp tình hình các xã (Sở Nội vụ)")
    print(f"{ref.name}: {r.plans} kế hoạch, {len(r.communes())} xã; trang {key} {'đã ghi' if written else 'không đổi'}")
    return {"province": ref.code, "at": moment.isoformat(), "key": key, "written": written, "plans": r.plans}
