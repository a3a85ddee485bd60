"""`cchc replay` drafts reports without the heatmap unless asked (#18: drawing it was most of a half-year
replay), and nothing a person sees of the replay depends on it."""

from __future__ import annotations

import datetime as dt
import io

from docx import Document

from cchc.app import replay as rp
from cchc.app import report_workflow as workflow
from cchc.app import service
from cchc.settings import Settings

PLAN = "phu-thong-2025"
DAYS = (dt.date(2025, 12, 8), dt.date(2025, 12, 8))  # the day the Q4 report is drafted


def replayed(settings: Settings, figures: bool | None) -> tuple[dict[str, object], int]:
    """The replay's log as JSON (its timing left out) and the number of pictures in the Q4 draft."""
    plan = service.resolve_plan(PLAN, settings)
    options = {} if figures is None else {"figures": figures}
    with rp.scratch_store(settings) as scratch:
        result = rp.replay(scratch, plan, *DAYS, **options)
        row = workflow.run_state(scratch, plan, "bao-cao-quy", "2025-Q4")
        assert row is not None and row.draft_sha256 is not None
        draft = Document(io.BytesIO(service.stored_path(scratch, row.draft_sha256).read_bytes()))
    log = result.as_json()
    log.pop("seconds")
    return log, len(draft.inline_shapes)


def test_replayed_drafts_have_the_figure_only_when_asked_and_the_same_log_either_way(cchc_env: Settings) -> None:
    plain, pictures = replayed(cchc_env, None)
    drawn, drawn_pictures = replayed(cchc_env, True)
    assert pictures == 0
    assert drawn_pictures == 1
    assert plain == drawn
    drafted = [r["what"] for d in plain["days"] for r in d["reports"] if r["report"] == "bao-cao-quy"]  # type: ignore[index]
    assert drafted and str(drafted[0]).startswith("lập dự thảo bản 1")
