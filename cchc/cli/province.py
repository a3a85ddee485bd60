"""`cchc province …`: the roll-up for the Department of Home Affairs (Sở Nội vụ) over a province's plans."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cchc.cli.app import app, emit_json, fail, now_utc, parse_moment

province_app = typer.Typer(
    help="Tổng hợp cấp tỉnh cho Sở Nội vụ: tình hình các xã, báo cáo tổng hợp.", no_args_is_help=True
)
app.add_typer(province_app, name="province")

PROVINCE_HELP = "Tỉnh/thành phố: mã (vd. 31) hoặc tên, có hoặc không dấu (vd. 'Hải Phòng', 'hai phong')."


@province_app.command("status")
def status(
    province: Annotated[str, typer.Argument(help=PROVINCE_HELP)],
    at: Annotated[str | None, typer.Option(help="Thời điểm đánh giá, ISO 8601 (mặc định: bây giờ).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    by: Annotated[
        str, typer.Option("--by", help="Nhóm theo 'kind' (loại nhiệm vụ) hoặc 'duty' (từng nhiệm vụ).")
    ] = "kind",
) -> None:
    """Các xã của tỉnh (thấp nhất trước): tỉ lệ đạt, quá hạn, không đạt, báo cáo đúng hạn/muộn; tổng cộng."""
    from cchc.app import province as use_case
    from cchc.app.service import UserError
    from cchc.core.loader import SpecError
    from cchc.core.province import table_text
    from cchc.settings import get_settings

    if by not in ("kind", "duty"):
        fail(f"--by '{by}': chọn 'kind' (theo loại nhiệm vụ) hoặc 'duty' (theo từng nhiệm vụ)")
    settings = get_settings()
    try:
        ref = use_case.resolve_province(province)
        moment = parse_moment(at, use_case.TZ)
        plans = use_case.province_plans(settings, ref)
        if not plans:
            fail(f"thư mục kế hoạch {settings.plan_dir} không có kế hoạch nào của {ref.name} (mã {ref.code})")
        r = use_case.rollup(settings, ref, moment, now_utc(), by, plans)  # type: ignore[arg-type]
    except (UserError, SpecError) as e:
        fail(str(e))
    if as_json:
        emit_json(r.as_json())
        return
    typer.echo(table_text(r))


@province_app.command("report")
def report(
    province: Annotated[str, typer.Argument(help=PROVINCE_HELP)],
    period: Annotated[str, typer.Option(help="Kỳ báo cáo, vd. 2025-Q4, 2025-H2, 2025.")],
    out: Annotated[Path, typer.Option(help="Thư mục ghi báo cáo (DOCX và HTML).")],
    at: Annotated[
        str | None, typer.Option(help="Số liệu tính đến thời điểm này (mặc định: ngày chốt số liệu của kỳ).")
    ] = None,
) -> None:
    """Lập báo cáo tổng hợp của Sở Nội vụ (thể thức Nghị định 30/2020/NĐ-CP): DOCX và HTML."""
    from cchc.app import province as use_case
    from cchc.app import province_report
    from cchc.app.service import UserError
    from cchc.core.loader import SpecError
    from cchc.settings import get_settings

    settings = get_settings()
    try:
        ref = use_case.resolve_province(province)
        moment = parse_moment(at, use_case.TZ) if at is not None else None
        written = province_report.write(settings, ref, period, out, moment, now_utc())
    except (UserError, SpecError) as e:
        fail(str(e))
    for path in written:
        typer.echo(f"đã ghi {path}")
