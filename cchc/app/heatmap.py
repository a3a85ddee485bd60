"""Draw the plan's heatmap (``cchc.core.heatmap.Grid``): SVG for the Prefect UI and the HTML report, PNG for DOCX.

matplotlib is imported only when a picture is actually drawn (it costs seconds to import); a picture already
drawn for the same grid is read back from the cache by the grid's fingerprint. Output is deterministic
(fixed SVG id salt, no dates or software names in the metadata): an unchanged plan gives identical bytes.
"""

from __future__ import annotations

import base64
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cchc.core.heatmap import ASSUMED_LEGEND, ASSUMED_MARK, CELL_VI, Cell, Grid

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FONT = "DejaVu Sans"  # ships with matplotlib and has every Vietnamese glyph
RENDER_VERSION = "2"  # bump when the drawing changes, so cached pictures are redrawn


@dataclass(frozen=True)
class Style:
    face: str
    hatch: str | None
    hatch_color: str
    mark: str  # a sign inside the cell: the legend is readable in greyscale and for the colour-blind
    ink: str  # text colour on the face


# Lightness and hatching differ as well as hue, so a greyscale print still tells the statuses apart.
STYLES: dict[Cell, Style] = {
    Cell.met: Style("#1b7837", None, "#1b7837", "✓", "#ffffff"),
    Cell.met_late: Style("#a6dba0", "///", "#1b7837", "✓", "#000000"),
    Cell.waived: Style("#d9d9d9", "---", "#525252", "–", "#000000"),
    Cell.open: Style("#fff3b0", None, "#fff3b0", "○", "#000000"),
    Cell.overdue: Style("#f4a582", "xx", "#b2182b", "!", "#000000"),
    Cell.missed: Style("#67001f", "xx", "#f4a582", "✗", "#ffffff"),
    Cell.upcoming: Style("#ffffff", None, "#ffffff", "", "#000000"),
    Cell.before_effect: Style("#f0f0f0", "\\\\\\", "#bdbdbd", "", "#000000"),
}
EDGE = "#636363"


def _rc() -> dict[Any, Any]:  # matplotlib types the keys as a Literal of every rc name
    return {
        "font.family": "sans-serif",
        "font.sans-serif": [FONT],
        "svg.hashsalt": "cchc-heatmap",  # element ids from a fixed salt, not a random one
        "svg.fonttype": "none",  # text stays text: small, searchable, selectable
        "hatch.linewidth": 0.8,
        "path.simplify": True,
    }


def figure(grid: Grid) -> Figure:
    """The grid as a matplotlib figure (nothing global: no pyplot state)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch, Rectangle

    n_rows, n_cols = len(grid.rows), len(grid.columns)
    legend_rows = 3 if grid.assumed else 2
    height = 1.3 + 0.3 * max(n_rows, 1) + 0.28 * legend_rows
    longest = max((len(r.label) + (2 if r.assumed else 0) for r in grid.rows), default=10)
    label_width = min(3.6, 0.4 + 0.075 * longest)  # inches: as wide as the longest row label needs
    width = max(label_width + 0.6 + 0.62 * max(n_cols, 3), 6.4)  # the legend needs about 6 inches
    fig = Figure(figsize=(width, height), dpi=100)
    label_share = label_width / width
    bottom = (0.35 + 0.28 * legend_rows) / height
    top = 1 - 0.9 / height
    ax = fig.add_axes((label_share, bottom, 1 - label_share - 0.02, top - bottom))
    ax.set_xlim(0, n_cols)
    ax.set_ylim(n_rows, 0)
    for s in grid.spans:
        st = STYLES[s.cell]
        ax.add_patch(
            Rectangle(
                (s.first, s.row),
                s.last - s.first + 1,
                1,
                facecolor=st.face,
                edgecolor=EDGE,
                linewidth=0.6,
                hatch=st.hatch,
                hatchcolor=st.hatch_color,
            )
        )
        text = " ".join(t for t in (st.mark, s.text) if t)
        if text:
            ax.text(
                (s.first + s.last + 1) / 2,
                s.row + 0.5,
                text,
                ha="center",
                va="center",
                fontsize=7,
                color=st.ink,
                bbox={"boxstyle": "round,pad=0.12", "facecolor": st.face, "edgecolor": "none"} if st.hatch else None,
            )
    ax.set_xticks([c + 0.5 for c in range(n_cols)], list(grid.columns), fontsize=7)
    ax.xaxis.tick_top()
    labels = [f"{r.label} {ASSUMED_MARK}" if r.assumed else r.label for r in grid.rows]
    ax.set_yticks([r + 0.5 for r in range(n_rows)], labels, fontsize=7.5)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_color(EDGE)
        spine.set_linewidth(0.6)
    if grid.now_column is not None:
        ax.axvline(grid.now_column, color="#000000", linewidth=1.2, linestyle=(0, (3, 2)))
        ax.text(grid.now_column, n_rows, "hôm nay", ha="center", va="top", fontsize=7)
    fig.text(0.01, 1 - 0.1 / height, grid.title, ha="left", va="top", fontsize=10, weight="bold")
    fig.text(0.01, 1 - 0.32 / height, grid.caption, ha="left", va="top", fontsize=7.5)
    handles = [
        Patch(
            facecolor=STYLES[c].face,
            edgecolor=EDGE,
            hatch=STYLES[c].hatch,
            hatchcolor=STYLES[c].hatch_color,
            label=f"{STYLES[c].mark} {CELL_VI[c]}".strip(),
        )
        for c in CELL_VI
    ]
    fig.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(0.01, (0.06 + (0.28 if grid.assumed else 0)) / height),
        ncol=4,
        fontsize=7.5,
        frameon=False,
        handlelength=2.2,
        handleheight=1.2,
        columnspacing=1.4,
    )
    if grid.assumed:
        fig.text(0.01, 0.06 / height, ASSUMED_LEGEND, ha="left", va="bottom", fontsize=7.5)
    return fig


def render_svg(grid: Grid) -> bytes:
    from matplotlib import rc_context

    with rc_context(_rc()):
        fig = figure(grid)
        out = io.BytesIO()
        fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None})
    return out.getvalue()


def render_png(grid: Grid, dpi: int = 120) -> bytes:
    from matplotlib import rc_context

    with rc_context(_rc()):
        fig = figure(grid)
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=dpi, metadata={"Software": None})
    return out.getvalue()


def data_uri(svg: bytes) -> str:
    """For a Markdown image in the Prefect UI, which renders ``data:image/svg+xml;base64`` images."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def cached_svg(grid: Grid, folder: Path) -> bytes:
    """The grid's SVG, drawn only when no picture of this very grid is cached (then written atomically)."""
    path = folder / f"heatmap-{RENDER_VERSION}-{grid.fingerprint()[:32]}.svg"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    svg = render_svg(grid)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
    tmp.write_bytes(svg)
    tmp.replace(path)
    return svg
