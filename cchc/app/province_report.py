"""Use case: the province summary report (``cchc province report``), DOCX and HTML, from the roll-up.

Rendering reuses the commune report's machinery (``cchc.app.report_render``: its Jinja2 environment over the
report templates, its template errors; ``cchc.app.heatmap`` for the figure). Both files are rendered before
either is written, and each is written whole (a temporary file renamed), so a failure leaves nothing half-written.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from docx.shared import Mm
from docxtpl import DocxTemplate, InlineImage

from cchc.app import heatmap as drawing
from cchc.app import province as rollup_case
from cchc.app import province_assumptions, report_render
from cchc.app.service import UserError
from cchc.core.province import ProvinceRef, Rollup, province_grid, split_grid
from cchc.core.province_report import ProvinceReportModel, assemble, judging_moment
from cchc.core.province_spec import ProvinceSpec
from cchc.settings import Settings

DOCX_TEMPLATE = report_render.TEMPLATES / "bao-cao-tinh.docx"
HTML_TEMPLATE = "bao-cao-tinh.html"
ROWS_PER_FIGURE = 25  # communes per figure in the DOCX: one figure fits a page at FIGURE_WIDTH
FIGURE_WIDTH = Mm(150)


def province_spec(settings: Settings, province: ProvinceRef) -> ProvinceSpec:
    """The province's ``_province.yaml`` in the plan folder (any folder below it), by its province code, with
    the department's decisions on its assumptions applied (`cchc assumption confirm|change PROVINCE`)."""
    return province_assumptions.decided(settings, province_assumptions.spec_of(settings, province))


def context(model: ProvinceReportModel) -> dict[str, Any]:
    ctx = asdict(model)
    ctx["heatmap"] = None
    ctx["heatmaps"] = []
    return ctx


def render_docx(model: ProvinceReportModel, rollup: Rollup, template: Path = DOCX_TEMPLATE) -> bytes:
    if not template.is_file():
        raise report_render.TemplateError(f"report template {template} does not exist")
    try:
        doc = DocxTemplate(str(template))
        ctx = context(model)
        ctx["heatmaps"] = [
            InlineImage(doc, io.BytesIO(drawing.render_png(part)), width=FIGURE_WIDTH)
            for part in split_grid(province_grid(rollup), ROWS_PER_FIGURE)
        ]
        doc.render(ctx, autoescape=True)
    except Exception as e:  # docxtpl surfaces Jinja and zip errors alike
        raise report_render.TemplateError(
            f"report template {template}: {e}; fix the tags or run scripts/make_province_template.py"
        ) from e
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def render_html(model: ProvinceReportModel, rollup: Rollup) -> str:
    ctx = context(model)
    ctx["heatmap"] = drawing.data_uri(drawing.render_svg(province_grid(rollup)))
    return report_render._env().get_template(HTML_TEMPLATE).render(ctx)


def _write_whole(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_bytes(data)
    tmp.replace(path)


def build(
    settings: Settings, province: ProvinceRef, period: str, at: dt.datetime | None, now: dt.datetime
) -> tuple[ProvinceReportModel, Rollup]:
    spec = province_spec(settings, province)
    try:
        spec.period(period)
    except ValueError as e:
        raise UserError(str(e)) from None
    zone = ZoneInfo(rollup_case.TZ)
    moment = at or judging_moment(spec, period, zone)
    plans = rollup_case.province_plans(settings, province)
    if not plans:
        raise UserError(f"thư mục kế hoạch {settings.plan_dir} không có kế hoạch nào của {province.name}")
    rollup = rollup_case.rollup(settings, province, moment, now, "kind", plans)
    return assemble(spec, rollup, period, now.astimezone(zone).date()), rollup


def write(
    settings: Settings, province: ProvinceRef, period: str, out: Path, at: dt.datetime | None, now: dt.datetime
) -> list[Path]:
    """Render the report (DOCX and HTML) into ``out``; return the files written."""
    model, rollup = build(settings, province, period, at, now)
    docx = render_docx(model, rollup)
    html = render_html(model, rollup).encode("utf-8")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--out {out}: không tạo được thư mục ({e.strerror})") from None
    stem = f"bao-cao-tong-hop-{province.slug}-{model.period}"
    written = []
    for suffix, data in ((".docx", docx), (".html", html)):
        path = out / f"{stem}{suffix}"
        _write_whole(path, data)
        written.append(path)
    return written
