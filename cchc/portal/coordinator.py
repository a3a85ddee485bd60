"""The coordinator's pages of the portal: put a plan in from a workbook, and act on her commune's plans.

She arrives by her own signed sign-in link (`cchc coordinator add`), scoped to her commune: she uploads a
workbook, sees every error by sheet and cell (nothing stored) or a summary of the plan (a draft), and sends
it to the operator, who alone writes it into plan_specs/ with `cchc plan accept`. She sees only her own
submissions. Every request re-reads her record, so a revoked link stops at once. The units' evidence pages
(cchc.portal.app) and their middlewares (security headers, same origin, body limit) serve these pages too.

On each plan of her commune (/c/{token}/p/{plan}) she records evidence, waives an occurrence, rejects a piece
of evidence, confirms an assumption and approves or sends back a report draft, through the same use cases as
the CLI and the Prefect forms (cchc.app.service, cchc.app.report_workflow), audited under her name and the
address she acted from. Every post is checked against the store: her link, the plan's commune, a form token
derived from her link, and each posted id against her plan; anything else is refused (403) and audited.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from cchc.app import service, submissions
from cchc.core import assumptions, forms, views
from cchc.core.calendar import plan_occurrences, to_local
from cchc.core.links import is_id
from cchc.core.report_state import label as state_label
from cchc.core.spec import Plan
from cchc.settings import Settings
from cchc.store import coordinators as store
from cchc.store.db import session_scope

log = logging.getLogger("cchc.portal")

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


Sniff = Callable[[bytes], Any]  # cchc.portal.app.sniff: a file's real type (.ext, .label) or None


def add_routes(app: FastAPI, settings: Settings, clock: Clock, base: str, sniff: Sniff | None = None) -> None:
    """The coordinator's routes, under /c/{token}; ``sniff`` checks her evidence files as the units' page does
    (passed in: this module is imported by cchc.portal.app). Without it she sends links only."""

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
        for warning in report_workflow.hand_signed_to_run(plan, tgt):  # the run waiting for it sends it now
            log.warning("%s", warning)
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

    add_action_routes(app, settings, clock, base, sniff)


# ------------------------------------------------------------------ her actions on her commune's plans

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
FORBIDDEN = (
    "Không được phép",
    "Bạn chỉ thao tác được trên kế hoạch của xã mình, từ chính các biểu mẫu trên trang của bạn. "
    "Yêu cầu này đã bị từ chối và được ghi lại. Đề nghị mở lại đường dẫn đăng nhập được cấp cho bạn.",
)


def form_token(settings: Settings, token: str) -> str:
    """The CSRF token her forms carry: derived from her own sign-in link with the portal's secret, so a page
    elsewhere cannot make one, and it dies with her link."""
    return hmac.new(settings.link_secret(), b"coordinator-form:" + token.encode(), hashlib.sha256).hexdigest()


def where_from(request: Request) -> str:
    """The address she acted from, as the portal sees it (the proxy's address when behind one)."""
    return request.client.host if request.client else "?"


def forbidden() -> HTMLResponse:
    return _page("coordinator_forbidden.html", 403, title=FORBIDDEN[0], message=FORBIDDEN[1])


class Forged(Exception):
    """A posted value her page never offered: another plan's id, a duty or period her plan does not have."""


def _choose(value: str, allowed: dict[str, Any], what: str) -> Any:
    if value not in allowed:
        raise Forged(f"{what} '{value[:80]}' không có trên trang của kế hoạch này")
    return allowed[value]


def add_action_routes(app: FastAPI, settings: Settings, clock: Clock, base: str, sniff: Sniff | None) -> None:
    """Record, waive, reject, confirm, approve: /c/{token}/p/{plan_id}[/action]."""
    from cchc.app import report_workflow as workflow

    def own_plan(who: submissions.Coordinator, plan_id: str) -> Plan | None:
        """Her commune's plan by id (and one of hers when she was given a list), read from the store of
        specs on every request; None for anything else."""
        if not is_id(plan_id):
            return None
        if who.plan_ids and plan_id not in who.plan_ids:
            return None
        if (plan_id, who.commune_code) not in submissions.plans_in_folder(settings):
            return None
        try:
            plan = service.resolve_plan(plan_id, settings)
        except (service.UserError, service.SpecError):
            return None
        return plan if plan.commune.code == who.commune_code else None

    def refuse(who: submissions.Coordinator, plan_id: str, what: str, reason: str, where: str) -> HTMLResponse:
        now = clock()
        with session_scope(service.engine_for(settings)) as s:
            row = store.get(s, who.id)
            if row is not None:
                store.refused_action(s, row, plan_id or store.commune_scope(who.commune_code), what, reason, where, now)
        log.warning("coordinator #%s refused on %s: %s (%s)", who.id, plan_id, what, reason)
        return forbidden()

    def actor_of(who: submissions.Coordinator, where: str) -> str:
        with session_scope(service.engine_for(settings)) as s:
            row = store.get(s, who.id)
            if row is None or row.revoked_at is not None:
                raise submissions.Refused("revoked")
            return store.acting(row, where)

    def choices(plan: Plan, now: dt.datetime) -> dict[str, Any]:
        today = to_local(now, plan.timezone).date()
        occ = plan_occurrences(plan)
        waivable = {
            f"{o.duty}|{o.period}": (
                o.duty,
                o.period,
                f"{views.duty_title(plan, o.duty)} — {views.period_label(o.period)}",
            )
            for o in occ
            if o.start_day <= today + dt.timedelta(days=31)
        }
        pending = {
            f"{a.item}|{a.aspect}": (a.item, a.aspect, a)
            for a in assumptions.listing(plan)
            if a.item  # confirmed ones too: a second decision is kept, not refused as forged
        }
        with session_scope(service.engine_for(settings)) as s:
            drafted = store.drafted_reports(s, plan.id)
        titles = {r.id: r.title for r in plan.reports}
        reports = {
            f"{rid}|{period}": {
                "report": rid,
                "period": period,
                "title": titles[rid],
                "approval": {"state": state, "state_vi": state_label(state), "version": version},
            }
            for rid, period, state, version in drafted
            if rid in titles  # a report the spec still has
        }
        return {
            "duties": {c.code: c.label for c in forms.duty_choices(plan, evidence_only=True)},
            "kinds": {c.code: c.label for c in forms.kind_choices(plan)},
            "waivable": waivable,
            "assumptions": pending,
            "reports": reports,
            "today": today,
        }

    def plan_page(
        token: str, who: submissions.Coordinator, plan: Plan, status: int = 200, **extra: Any
    ) -> HTMLResponse:
        now = clock()
        c = choices(plan, now)
        judged = service.judge_plan(settings, plan, now)
        latest: dict[str, Any] = {}
        for j in judged:  # each item's latest occurrence that has started
            seen = latest.get(j.occurrence.duty)
            if j.occurrence.start_day <= c["today"] and (seen is None or seen.occurrence.starts < j.occurrence.starts):
                latest[j.occurrence.duty] = j
        rows = []
        for item_id in service.duty_ids(plan):
            if item_id not in latest:
                continue
            j = latest[item_id]
            o = j.occurrence
            rows.append(
                {
                    "title": views.duty_title(plan, item_id),
                    "period": views.period_label(o.period),
                    "count": j.count if o.required is not None else None,
                    "required": o.required,
                    "status": views.STATUS_VI[j.status],
                    "due": views.fmt_day(o.last_day),
                }
            )
        with session_scope(service.engine_for(settings)) as s:
            evidence = store.recent_evidence(s, plan.id)
        return _page(
            "coordinator_plan.html",
            status,
            token=token,
            base=base,
            who=who,
            plan=plan,
            csrf=form_token(settings, token),
            rows=rows,
            evidence=[
                {
                    "id": e.id,
                    "duty": views.duty_title(plan, e.duty_id) if e.duty_id in service.duty_ids(plan) else e.duty_id,
                    "kind": forms.kind_label(e.kind),
                    "title": e.title,
                    "day": views.fmt_day(e.occurred_on),
                    "where": e.url or e.file_name or "",
                    "rejected": e.rejected_reason if e.rejected_at else None,
                }
                for e in evidence
            ],
            duties=c["duties"],
            kinds=c["kinds"],
            waivable=[(k, v[2]) for k, v in c["waivable"].items()],
            assumptions=[(k, v[2]) for k, v in c["assumptions"].items() if v[2].confirmed is None],
            reports=[(k, r) for k, r in c["reports"].items() if r["approval"]["state"] == workflow.DRAFTED.value],
            today=c["today"].isoformat(),
            **extra,
        )

    def enter(token: str, plan_id: str, request: Request, csrf: str | None, what: str) -> tuple[Any, Any, str]:
        """(her, her plan, where) or the page to answer with: the link re-checked in the store, the plan's
        commune, the form token."""
        where = where_from(request)
        try:
            who = submissions.signed_in(settings, token, clock())
        except submissions.Refused as e:
            return refused(e.reason), None, where
        plan = own_plan(who, plan_id)
        if plan is None:
            return (
                refuse(
                    who,
                    plan_id,
                    what,
                    "không phải kế hoạch của xã mình",
                    where,
                ),
                None,
                where,
            )
        if csrf is not None and not hmac.compare_digest(csrf, form_token(settings, token)):
            return refuse(who, plan_id, what, "mã biểu mẫu không khớp đường dẫn của mình", where), None, where
        return who, plan, where

    @app.get("/c/{token}/p/{plan_id}", response_class=HTMLResponse)
    def coordinator_plan(token: str, plan_id: str, request: Request) -> HTMLResponse:
        who, plan, _ = enter(token, plan_id, request, None, "mở trang kế hoạch")
        if plan is None:
            return who  # type: ignore[no-any-return]
        return plan_page(token, who, plan)

    @app.get("/c/{token}/p/{plan_id}/draft/{report_id}/{period}.docx")
    def coordinator_draft(token: str, plan_id: str, report_id: str, period: str, request: Request) -> Response:
        who, plan, where = enter(token, plan_id, request, None, "tải dự thảo báo cáo")
        if plan is None:
            return who  # type: ignore[no-any-return]
        run = None
        if report_id in {r.id for r in plan.reports}:
            run = workflow.run_state(settings, plan, report_id, period)
        if run is None or run.draft_sha256 is None:
            return refuse(who, plan.id, f"tải dự thảo {report_id[:64]} {period[:16]}", "không có dự thảo này", where)
        data = service.stored_path(settings, run.draft_sha256).read_bytes()
        name = workflow.file_name(plan, report_id, period, "docx", True)
        return Response(data, media_type=DOCX, headers={"content-disposition": f'attachment; filename="{name}"'})

    @app.post("/c/{token}/p/{plan_id}/evidence", response_class=HTMLResponse)
    def coordinator_evidence(  # sync: storing a file and recording run in the thread pool
        token: str,
        plan_id: str,
        request: Request,
        csrf: Annotated[str, Form()] = "",
        duty: Annotated[str, Form()] = "",
        kind: Annotated[str, Form()] = "",
        date: Annotated[str, Form()] = "",
        title: Annotated[str, Form()] = "",
        url: Annotated[str, Form()] = "",
        file: Annotated[UploadFile | None, File()] = None,
    ) -> HTMLResponse:
        who, plan, where = enter(token, plan_id, request, csrf, "ghi nhận minh chứng")
        if plan is None:
            return who  # type: ignore[no-any-return]
        now = clock()
        c = choices(plan, now)
        try:
            _choose(duty, c["duties"], "nhiệm vụ")
            _choose(kind, c["kinds"], "loại minh chứng")
        except Forged as e:
            return refuse(who, plan.id, "ghi nhận minh chứng", str(e), where)
        data = file.file.read(settings.upload_max_bytes + 1) if file is not None and file.filename else b""
        try:
            day = _evidence_day(plan, date, c["today"])
            if kind not in service.accepted_kinds(plan, duty):
                words = ", ".join(forms.kind_label(k) for k in service.accepted_kinds(plan, duty))
                raise service.UserError(f"Nhiệm vụ này chỉ tính: {words}; chọn lại loại minh chứng.")
            if not title.strip():
                raise service.UserError("Cần nhập tiêu đề minh chứng.")
            if not url.strip() and not data:
                raise service.UserError("Cần đường dẫn (http/https) hoặc một tệp minh chứng.")
            if len(data) > settings.upload_max_bytes:
                raise service.UserError(f"Tệp lớn hơn {settings.upload_max_bytes // (1024 * 1024)} MB nên không nhận.")
            sha = name = None
            if data:
                ftype = sniff(data) if sniff is not None else None
                if ftype is None:
                    raise service.UserError("Loại tệp này không được nhận: chỉ nhận ảnh JPEG/PNG, tệp PDF hoặc DOCX.")
                sha = service.store_bytes(settings, data)
                name = f"{sha[:16]}.{ftype.ext}"
            item = service.EvidenceInput(
                duty=duty,
                kind=kind,
                title=title,
                occurred_on=day,
                url=url.strip() or None,
                origin="portal",
                file_sha256=sha,
                file_name=name,
                actor=actor_of(who, where),
            )
            rec = service.record_evidence(settings, plan, item, now)
        except (service.UserError, service.SpecError) as e:
            return plan_page(token, who, plan, 400, error=str(e))
        except submissions.Refused as e:
            return refused(e.reason)
        if rec.duplicate:
            message = f"Minh chứng này đã có từ trước (#{rec.id}, cùng đường dẫn hoặc tệp); không tính lại."
        else:
            message = f"Đã ghi nhận minh chứng #{rec.id} «{title.strip()}» cho «{views.duty_title(plan, duty)}»."
        return plan_page(token, who, plan, ok=message)

    @app.post("/c/{token}/p/{plan_id}/waive", response_class=HTMLResponse)
    def coordinator_waive(
        token: str,
        plan_id: str,
        request: Request,
        csrf: Annotated[str, Form()] = "",
        occurrence: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "",
    ) -> HTMLResponse:
        who, plan, where = enter(token, plan_id, request, csrf, "miễn một kỳ")
        if plan is None:
            return who  # type: ignore[no-any-return]
        now = clock()
        try:
            duty, period, label = _choose(occurrence, choices(plan, now)["waivable"], "kỳ nhiệm vụ")
        except Forged as e:
            return refuse(who, plan.id, "miễn một kỳ", str(e), where)
        try:
            if not reason.strip():
                raise service.UserError("Cần ghi lý do miễn.")
            created = service.waive_occurrence(settings, plan, duty, period, reason, actor_of(who, where), now)
        except service.UserError as e:
            return plan_page(token, who, plan, 400, error=str(e))
        except submissions.Refused as e:
            return refused(e.reason)
        if created:  # the use case told Prefect (the listener cchc.portal.app registers)
            return plan_page(token, who, plan, ok=f"Đã miễn {label}: {reason.strip()}.")
        return plan_page(token, who, plan, ok=f"{label} đã được miễn từ trước; không đổi.")

    @app.post("/c/{token}/p/{plan_id}/reject", response_class=HTMLResponse)
    def coordinator_reject(
        token: str,
        plan_id: str,
        request: Request,
        csrf: Annotated[str, Form()] = "",
        evidence_id: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "",
    ) -> HTMLResponse:
        who, plan, where = enter(token, plan_id, request, csrf, "loại minh chứng")
        if plan is None:
            return who  # type: ignore[no-any-return]
        now = clock()
        if not evidence_id.strip().isdigit() or not 0 < int(evidence_id) < 2**31:
            return refuse(who, plan.id, "loại minh chứng", f"số minh chứng '{evidence_id[:40]}' không hợp lệ", where)
        number = int(evidence_id)
        with session_scope(service.engine_for(settings)) as s:
            owner = store.evidence_plan(s, number)
        if owner != plan.id:  # another plan's evidence (or none): never a typo, the page offers only hers
            return refuse(
                who, plan.id, f"loại minh chứng #{number}", f"minh chứng #{number} không thuộc kế hoạch này", where
            )
        try:
            if not reason.strip():
                raise service.UserError("Cần ghi lý do loại minh chứng.")
            duty = service.reject_evidence(settings, plan, number, reason, actor_of(who, where), now)
        except service.UserError as e:
            return plan_page(token, who, plan, 400, error=str(e))
        except submissions.Refused as e:
            return refused(e.reason)
        message = f"Đã loại minh chứng #{number} của «{views.duty_title(plan, duty)}»: {reason.strip()}; minh chứng vẫn lưu trong hồ sơ."
        return plan_page(token, who, plan, ok=message)

    @app.post("/c/{token}/p/{plan_id}/assumption", response_class=HTMLResponse)
    def coordinator_assumption(
        token: str,
        plan_id: str,
        request: Request,
        csrf: Annotated[str, Form()] = "",
        assumption: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "",
    ) -> HTMLResponse:
        who, plan, where = enter(token, plan_id, request, csrf, "xác nhận giả định")
        if plan is None:
            return who  # type: ignore[no-any-return]
        now = clock()
        try:
            item, aspect, a = _choose(assumption, choices(plan, now)["assumptions"], "giả định")
        except Forged as e:
            return refuse(who, plan.id, "xác nhận giả định", str(e), where)
        try:
            if not reason.strip():
                raise service.UserError("Cần ghi căn cứ (văn bản, quyết định) hoặc lý do xác nhận.")
            by = actor_of(who, where)
            decided = service.decide_assumption(settings, plan, item, aspect, "confirm", reason, by, now)
        except service.UserError as e:
            return plan_page(token, who, plan, 400, error=str(e))
        except submissions.Refused as e:
            return refused(e.reason)
        with session_scope(service.engine_for(settings)) as s:
            row = store.get(s, who.id)
            if row is not None:
                detail = f"{a.title}, {forms.ASPECT_VI.get(aspect, aspect)}: {a.rule} — {reason.strip()}"
                store.note(s, row, "assumption.confirm", plan.id, detail[:1000], where, now)
        return plan_page(token, who, decided, ok=f"Đã xác nhận giả định «{a.title}»: {a.rule}.")

    @app.post("/c/{token}/p/{plan_id}/report", response_class=HTMLResponse)
    def coordinator_report(
        token: str,
        plan_id: str,
        request: Request,
        csrf: Annotated[str, Form()] = "",
        report: Annotated[str, Form()] = "",
        version: Annotated[str, Form()] = "",
        decision: Annotated[str, Form()] = "",
        number: Annotated[str, Form()] = "",
        signer: Annotated[str, Form()] = "",
        note: Annotated[str, Form()] = "",
    ) -> HTMLResponse:
        who, plan, where = enter(token, plan_id, request, csrf, "duyệt báo cáo")
        if plan is None:
            return who  # type: ignore[no-any-return]
        now = clock()
        try:
            row = _choose(report, choices(plan, now)["reports"], "báo cáo")
            choice = _choose(decision, {d.value: d for d in workflow.Decision}, "quyết định")
        except Forged as e:
            return refuse(who, plan.id, "duyệt báo cáo", str(e), where)
        if not version.strip().isdigit():
            return refuse(who, plan.id, "duyệt báo cáo", f"bản dự thảo '{version[:20]}' không hợp lệ", where)
        tgt = workflow.target(plan, row["report"], row["period"], now)
        already = f"{tgt.report.title} kỳ {tgt.period} đã được quyết định trước đó"
        if row["approval"]["state"] != workflow.DRAFTED.value:  # decided (here or in Prefect) since her page
            return plan_page(token, who, plan, 409, error=f"{already} ({row['approval']['state_vi']}); không ghi lại.")
        try:
            if choice is workflow.Decision.approve and not number.strip():
                raise service.UserError("Cần nhập số văn bản khi duyệt, ví dụ 12/BC-UBND.")
            if choice is workflow.Decision.send_back and not note.strip():
                raise service.UserError("Cần ghi lý do trả lại để đơn vị tổng hợp biết sửa gì.")
            by = actor_of(who, where)
            state = workflow.decide(settings, plan, tgt, choice, now, number, signer, note, by, int(version))
        except service.UserError as e:  # StaleDraft included: a newer draft replaced the one she read
            return plan_page(token, who, plan, 409 if isinstance(e, workflow.StaleDraft) else 400, error=str(e))
        except submissions.Refused as e:
            return refused(e.reason)
        run = workflow.run_state(settings, plan, tgt.report.id, tgt.period)
        if run is None or run.decided_by != by:
            return plan_page(token, who, plan, 409, error=f"{already} ({state_label(state)}); không ghi lại.")
        # The report's own run delivers (the same step as after a decision in the Prefect UI): the run paused
        # for this draft is resumed, else the report's event starts one, else its next scheduled run does. The
        # decision is in the store (first wins), the outbox sends each message once.
        for warning in workflow.hand_to_run(plan, tgt, int(version), choice, number, signer, note):
            log.warning("%s", warning)
        if choice is workflow.Decision.approve:
            message = f"Đã duyệt {tgt.report.title} kỳ {tgt.period}, số {number.strip()}; hệ thống sẽ gửi bản trình ký hoặc gửi nơi nhận."
        else:
            message = f"Đã trả lại {tgt.report.title} kỳ {tgt.period} để sửa: {note.strip()}."
        return plan_page(token, who, plan, ok=message)


def _evidence_day(plan: Plan, text: str, today: dt.date) -> dt.date:
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise service.UserError(f"Ngày '{text[:40]}' không đúng dạng năm-tháng-ngày (vd. 2025-10-03).") from None
    if day > today:
        raise service.UserError(f"Ngày {day:%d/%m/%Y} ở tương lai; hôm nay là {today:%d/%m/%Y}.")
    first, last = service.evidence_span(plan)
    if not first <= day <= last:
        raise service.UserError(
            f"Ngày {day:%d/%m/%Y} ngoài thời gian kế hoạch ({first:%d/%m/%Y} – {last:%d/%m/%Y}); chọn lại ngày."
        )
    return day
