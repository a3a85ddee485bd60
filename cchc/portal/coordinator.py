"""The coordinator's pages of the portal: put a plan in from a workbook, without a shell.

She arrives by her own signed sign-in link (`cchc coordinator add`), scoped to her commune: she uploads a
workbook, sees every error by sheet and cell (nothing stored) or a summary of the plan (a draft), and sends
it to the operator, who alone writes it into plan_specs/ with `cchc plan accept`. She sees only her own
submissions. Every request re-reads her record, so a revoked link stops at once. The units' evidence pages
(cchc.portal.app) and their middlewares (security headers, same origin, body limit) serve these pages too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, UploadFile
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from cchc.app import service, submissions
from cchc.core.spec import Plan
from cchc.settings import Settings

TEMPLATES = Path(__file__).parent / "templates"
Clock = Callable[[], dt.datetime]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_env().get_template(name).render(**context), status_code=status)


REFUSED = {
    "expired": (
        410,
        "Đường dẫn đã hết hạn",
        "Đường dẫn đăng nhập này đã hết hạn. Đề nghị bộ phận vận hành cấp đường dẫn mới.",
    ),
    "revoked": (
        403,
        "Đường dẫn đã bị thu hồi",
        "Đường dẫn đăng nhập này đã bị thu hồi nên không dùng được nữa. Đề nghị liên hệ bộ phận vận hành.",
    ),
}
FORGED = (
    403,
    "Đường dẫn không hợp lệ",
    "Đường dẫn này không do hệ thống cấp hoặc đã bị sửa đổi, nên không dùng được. "
    "Đề nghị mở lại đúng đường dẫn đăng nhập được cấp cho bạn.",
)


def refused(reason: str) -> HTMLResponse:
    status, title, message = REFUSED.get(reason, FORGED)
    return _page("coordinator_refused.html", status, title=title, message=message)


def plan_summary(plan: Plan) -> dict[str, Any]:
    """What she checks before sending: the plan as the system read it."""
    return {
        "id": plan.id,
        "title": plan.title,
        "commune": f"{plan.commune_label}, {plan.commune.province} (mã {plan.commune.code})",
        "period": f"{plan.period.start:%d/%m/%Y} – {plan.period.end:%d/%m/%Y}",
        "number": plan.number or "(chưa có số)",
        "issued_on": f"{plan.issued_on:%d/%m/%Y}" if plan.issued_on else "(chưa có ngày ban hành)",
        "units": len(plan.units),
        "duties": len(plan.duties),
        "reports": len(plan.reports),
        "duty_titles": [f"{d.number or '–'}. {d.title}" for d in plan.duties],
    }


def add_routes(app: FastAPI, settings: Settings, clock: Clock, base: str) -> None:
    """The coordinator's routes, under /c/{token}."""

    def home(token: str, who: submissions.Coordinator, status: int = 200, **extra: Any) -> HTMLResponse:
        own = submissions.own_submissions(settings, who)
        folder = submissions.plans_in_folder(settings)
        mine = [plan_id for plan_id, code in folder if code == who.commune_code]
        return _page(
            "coordinator.html",
            status,
            token=token,
            base=base,
            who=who,
            submissions=own,
            mine=mine,
            templates=[plan_id for plan_id, _ in folder],
            to_sign=_to_sign(mine),
            **extra,
        )

    def _to_sign(mine: list[str]) -> list[dict[str, str]]:
        """Her commune's approved reports waiting for the signed copy (report signing, cchc.app.report_workflow)."""
        from cchc.app import report_workflow

        out: list[dict[str, str]] = []
        for plan_id in mine:
            with contextlib.suppress(service.UserError):
                out += report_workflow.awaiting_signature(settings, service.resolve_plan(plan_id, settings))
        return out

    def xlsx(name: str, data: bytes) -> Response:
        return Response(data, media_type=XLSX, headers={"content-disposition": f'attachment; filename="{name}"'})

    @app.get("/c/{token}/plan/{plan_id}.xlsx")
    def coordinator_workbook(token: str, plan_id: str) -> Response:
        try:
            who = submissions.signed_in(settings, token, clock())
        except submissions.Refused as e:
            return refused(e.reason)
        try:
            return xlsx(f"{plan_id}.xlsx", submissions.workbook_of(settings, who, plan_id))
        except service.UserError as e:
            return home(token, who, 404, error=str(e))

    @app.get("/c/{token}/template")
    def coordinator_template(token: str, like: str = "", period: str = "") -> Response:
        try:
            who = submissions.signed_in(settings, token, clock())
        except submissions.Refused as e:
            return refused(e.reason)
        try:
            name, data = submissions.template_for(settings, who, like, period.strip() or None)
        except service.UserError as e:
            return home(token, who, 400, error=str(e))
        return xlsx(name, data)

    @app.get("/c/{token}", response_class=HTMLResponse)
    def coordinator_home(token: str) -> HTMLResponse:
        try:
            who = submissions.signed_in(settings, token, clock())
        except submissions.Refused as e:
            return refused(e.reason)
        return home(token, who)

    @app.post("/c/{token}/upload", response_class=HTMLResponse)
    def coordinator_upload(  # sync: parsing a workbook runs in the thread pool
        token: str, file: Annotated[UploadFile, File()]
    ) -> HTMLResponse:
        now = clock()
        try:
            who = submissions.signed_in(settings, token, now)
        except submissions.Refused as e:
            return refused(e.reason)
        limit = settings.upload_max_bytes
        data = file.file.read(limit + 1)
        if len(data) > limit:
            return home(token, who, 413, error=f"Tệp lớn hơn {limit // (1024 * 1024)} MB nên không nhận.")
        try:
            result = submissions.upload(settings, who, file.filename or "", data, now)
        except submissions.Refused as e:
            return refused(e.reason)
        if result.issues:
            return home(token, who, 400, issues=result.issues)
        assert result.submission is not None and result.plan is not None
        return home(token, who, draft=result.submission, summary=plan_summary(result.plan))

    @app.post("/c/{token}/sign/{plan_id}/{report_id}/{period}", response_class=HTMLResponse)
    def coordinator_sign(  # sync: storing the file and queueing the mail run in the thread pool
        token: str, plan_id: str, report_id: str, period: str, file: Annotated[UploadFile, File()]
    ) -> HTMLResponse:
        """The signed copy of her commune's approved report: it goes to every recipient, once."""
        from cchc.app import report_workflow

        now = clock()
        try:
            who = submissions.signed_in(settings, token, now)
        except submissions.Refused as e:
            return refused(e.reason)
        mine = [p for p, code in submissions.plans_in_folder(settings) if code == who.commune_code]
        if plan_id not in mine:
            return home(token, who, 404, error=f"Không có kế hoạch {plan_id} của xã bạn.")
        limit = settings.upload_max_bytes
        data = file.file.read(limit + 1)
        if len(data) > limit:
            return home(token, who, 413, error=f"Tệp lớn hơn {limit // (1024 * 1024)} MB nên không nhận.")
        try:
            plan = service.resolve_plan(plan_id, settings)
            tgt = report_workflow.target(plan, report_id, period, now)
            d = report_workflow.sign(settings, plan, tgt, data, file.filename or "ban-da-ky", who.name, now)
        except service.UserError as e:
            return home(token, who, 400, error=str(e))
        message = (
            f"Đã nhận bản đã ký của báo cáo {tgt.report.title} kỳ {period}; "
            f"{len(d.queued)} thư gửi nơi nhận đã xếp hàng, hệ thống sẽ gửi đi."
        )
        return home(token, who, 200, ok=message)

    @app.post("/c/{token}/submit/{submission_id}", response_class=HTMLResponse)
    def coordinator_submit(token: str, submission_id: int) -> HTMLResponse:
        now = clock()
        try:
            who = submissions.signed_in(settings, token, now)
            sent = submissions.submit(settings, who, submission_id, now)
        except submissions.Refused as e:
            return refused(e.reason)
        except service.UserError as e:
            return home(token, who, 404, error=str(e))
        message = (
            f"Đã gửi hồ sơ #{sent.id} (kế hoạch {sent.plan_id}) cho bộ phận vận hành duyệt. "
            "Kế hoạch chỉ chạy sau khi được duyệt."
        )
        return home(token, who, 200, ok=message)
