"""Render a report model: DOCX (the Word template, docxtpl), HTML and Markdown (Jinja2).

Rendering returns bytes or text; storing and sending are elsewhere.
"""

from __future__ import annotations

import io
from dataclasses import fields
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cchc.app import heatmap as drawing
from cchc.core import heatmap
from cchc.core.assemble import ReportModel, fmt_day
from cchc.core.heatmap import Grid
from cchc.core.markdown import md_text, md_url

if TYPE_CHECKING:
    from jinja2 import Environment

# docx, docxtpl and jinja2 are imported where a document is rendered: every duty run imports this module
# (through the mail pass) and renders nothing (issue #18, lean flow runs; tests/test_flow_imports.py).

TEMPLATES = Path(__file__).parent / "report_templates"
DOCX_TEMPLATE = TEMPLATES / "bao-cao.docx"
FORMATS = ("docx", "html", "md")
MEDIA_TYPES = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "html": "text/html",
    "md": "text/markdown",
}


class TemplateError(ValueError):
    """The Word template cannot be used; the message says which file and why."""


FIGURE_WIDTH_MM = 160  # the text width of an A4 page with the decree's margins


def report_grid(model: ReportModel) -> Grid | None:
    """The report's figure: each duty with a period in the data window against its months (None: nothing to draw)."""
    lines = [r for r in model.rows if r.periods]
    if not lines:
        return None
    return heatmap.report_grid(
        f"Tình trạng các nhiệm vụ theo tháng, {model.period_label}",
        lines,
        model.data_from,
        model.data_to,
        frozenset(r.duty for r in lines if r.assumed),
    )


def context(model: ReportModel) -> dict[str, Any]:
    ctx: dict[str, Any] = {f.name: getattr(model, f.name) for f in fields(model)}
    ctx["next_heading"] = model.next_label.upper() if model.next_label else "THỜI GIAN TỚI"
    ctx["data_from_text"] = fmt_day(model.data_from)
    ctx["data_to_text"] = fmt_day(model.data_to)
    ctx["heatmap_caption"] = f"Hình 1. Tình trạng các nhiệm vụ theo tháng, {model.period_label}"
    ctx["heatmap"] = None  # filled per format: a data URI in HTML, an InlineImage in DOCX
    return ctx


def render_docx(model: ReportModel, template: Path | None = None, figure: bool = True) -> bytes:
    """The document from the Word template; the signature block stays editable for signing by hand.
    The figure goes where the template has ``{{ heatmap }}`` (a template without it has no figure);
    ``figure=False`` leaves it out (drawing it is most of the rendering: `cchc replay` without --figures)."""
    grid = report_grid(model) if figure else None
    return render_docx_context(context(model), template, drawing.render_png(grid) if grid else None)


def render_docx_context(ctx: dict[str, Any], template: Path | None = None, figure_png: bytes | None = None) -> bytes:
    from docx.shared import Mm
    from docxtpl import DocxTemplate, InlineImage

    path = template or DOCX_TEMPLATE
    if not path.is_file():
        raise TemplateError(f"report template {path} does not exist; set CCHC_REPORT_TEMPLATE to a .docx file")
    try:
        doc = DocxTemplate(str(path))
        if figure_png is not None:
            ctx = {**ctx, "heatmap": InlineImage(doc, io.BytesIO(figure_png), width=Mm(FIGURE_WIDTH_MM))}
        doc.render(ctx, autoescape=True)
    except Exception as e:  # docxtpl surfaces Jinja and zip errors alike
        raise TemplateError(
            f"report template {path}: {e}; fix the {{{{ }}}} / {{% %}} tags or run scripts/make_report_template.py"
        ) from e
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


@lru_cache(maxsize=1)
def _env() -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


class MdSafe(str):
    """Markdown already made safe (by ``md_url``); the Markdown template prints it as it is."""

    __slots__ = ()


def _md_finalize(value: object) -> str:
    """Every ``{{ }}`` of the Markdown template goes through ``md_text`` unless already safe."""
    return value if isinstance(value, MdSafe) else md_text(value)


def _md_link(url: str, label: str | None = None) -> MdSafe:
    return MdSafe(md_url(url, label))


@lru_cache(maxsize=1)
def _md_env() -> Environment:
    """The Markdown template's environment: user text is escaped by default (``finalize``);
    the ``md_link`` filter makes a link only of an http(s) URL."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=False,  # noqa: S701 -- Markdown, not HTML: finalize escapes every value with md_text
        finalize=_md_finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md_link"] = _md_link
    env.filters["fmt_day"] = fmt_day
    return env


def render_html(model: ReportModel) -> str:
    ctx = context(model)
    grid = report_grid(model)
    if grid is not None:
        ctx["heatmap"] = drawing.data_uri(drawing.render_svg(grid))
    return _env().get_template("bao-cao.html").render(ctx)


def render_markdown(model: ReportModel) -> str:
    return _md_env().get_template("bao-cao.md").render(context(model))


def render(model: ReportModel, fmt: str, template: Path | None = None) -> bytes:
    if fmt == "docx":
        return render_docx(model, template)
    if fmt == "html":
        return render_html(model).encode()
    if fmt == "md":
        return render_markdown(model).encode()
    raise ValueError(f"unknown format '{fmt}' (use {', '.join(FORMATS)})")
