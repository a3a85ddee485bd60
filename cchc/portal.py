"""`cchc portal`: the page a unit opens from its reminder email to send evidence, without an account.

Every request carries a signed link (cchc.links) naming the plan, duty, period and unit; a forged,
altered or expired link gets a clear page and records nothing. Files are checked by their content
(JPEG, PNG, PDF, DOCX), limited in size, and stored by sha256 under a generated name.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, PlainTextResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from cchc import events, links, service, views
from cchc.calendar import occurrences, to_local
from cchc.settings import Settings, get_settings
from cchc.spec import Plan
from cchc.store import repo

log = logging.getLogger("cchc.portal")
TEMPLATES = Path(__file__).parent / "portal_templates"
KIND_VI = {
    "post": "bài đăng",
    "broadcast": "chương trình phát thanh",
    "document": "văn bản",
    "photo": "ảnh",
    "event": "sự kiện",
    "survey": "khảo sát",
    "report_delivery": "báo cáo",
}


@dataclass(frozen=True)
class FileType:
    ext: str
    media: str
    label: str


def sniff(data: bytes) -> FileType | None:
    """The file's real type from its first bytes (and, for DOCX, its parts); never from its name."""
    if data.startswith(b"\xff\xd8\xff"):
        return FileType("jpg", "image/jpeg", "ảnh JPEG")
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return FileType("png", "image/png", "ảnh PNG")
    if data.startswith(b"%PDF-"):
        return FileType("pdf", "application/pdf", "PDF")
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                if "word/document.xml" in z.namelist():
                    return FileType(
                        "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "DOCX"
                    )
        except zipfile.BadZipFile:
            return None
    return None


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))


def _page(name: str, http_status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_env().get_template(name).render(**context), status_code=http_status)


def _refused(e: links.LinkError) -> HTMLResponse:
    if e.reason == "expired":
        return _page(
            "refused.html",
            410,
            title="Đường dẫn đã hết hạn",
            message="Đường dẫn gửi minh chứng này đã hết hạn. Đề nghị liên hệ cơ quan thường trực "
            "cải cách hành chính để được ghi nhận, hoặc dùng đường dẫn trong thư nhắc việc mới nhất.",
        )
    return _page(
        "refused.html",
        403,
        title="Đường dẫn không hợp lệ",
        message="Đường dẫn này không do hệ thống cấp hoặc đã bị sửa đổi, nên không dùng được. "
        "Đề nghị mở lại đúng đường dẫn trong thư nhắc việc.",
    )


def _accepted(plan: Plan, duty_id: str) -> list[str]:
    return service.accepted_kinds(plan, duty_id)


def _kind_for(plan: Plan, duty_id: str, preferred: tuple[str, ...]) -> str:
    accepted = _accepted(plan, duty_id)
    return next((k for k in preferred if k in accepted), accepted[0])


Clock = Callable[[], dt.datetime]


def wall_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Portal:
    def __init__(self, settings: Settings, clock: Clock = wall_clock):
        self.settings = settings
        self.clock = clock  # a replay or a test passes its simulated moment

    def claims(self, token: str) -> links.Claims:
        return links.verify(self.settings.link_secret(), token, self.clock())

    def context(self, c: links.Claims, now: dt.datetime) -> dict[str, Any]:
        plan = service.resolve_plan(c.plan, self.settings)
        occ = next(o for o in occurrences(plan, duties=[c.duty]) if o.period == c.period)
        judged = [
            j
            for j in service.judge_plan(self.settings, plan, now)
            if j.occurrence.duty == c.duty and j.occurrence.period == c.period
        ]
        count = judged[0].count if judged else 0
        state = views.STATUS_VI[judged[0].status] if judged else ""
        return {
            "plan": plan,
            "unit": views.unit_name(plan, c.unit),
            "duty": views.duty_title(plan, c.duty),
            "period": c.period,
            "period_label": _period_label(c.period),
            "due": views.fmt_day(occ.last_day),
            "count": count,
            "required": occ.required,
            "state": state,
            "kinds": ", ".join(KIND_VI.get(k, k) for k in _accepted(plan, c.duty)),
            "today": to_local(now, plan.timezone).date().isoformat(),
            "max_size": size_label(self.settings.upload_max_bytes),
        }

    def record(self, c: links.Claims, item: service.EvidenceInput, now: dt.datetime) -> repo.Recorded:
        plan = service.resolve_plan(c.plan, self.settings)
        rec = service.record_evidence(self.settings, plan, item, now)
        if not rec.duplicate:
            warning = events.post_evidence_event(plan, c.duty, rec, f"{views.unit_name(plan, c.unit)} gửi minh chứng")
            if warning:
                log.warning(warning)
        return rec


def size_label(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{max(1, n // 1024)} KB"


def _period_label(key: str) -> str:
    from notifications.compose import period_label

    return period_label(key)


def _check_title_and_date(title: str, date: str, plan: Plan, now: dt.datetime) -> dt.date:
    if not title.strip():
        raise service.UserError("Cần nhập tiêu đề minh chứng.")
    day = _parse_date(date)
    today = to_local(now, plan.timezone).date()
    if day > today:
        raise service.UserError(f"Ngày {day:%d/%m/%Y} ở tương lai; hôm nay là {today:%d/%m/%Y}.")
    return day


def _parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise service.UserError(f"ngày '{text}' không đúng dạng năm-tháng-ngày (vd. 2025-10-03)") from None


def create_app(settings: Settings | None = None, clock: Clock = wall_clock) -> FastAPI:
    app = FastAPI(title="cchc — gửi minh chứng", docs_url=None, redoc_url=None, openapi_url=None)
    portal = Portal(settings or get_settings(), clock)

    @app.middleware("http")
    async def refuse_oversized_bodies(request: Request, call_next: Any) -> Any:
        """Refuse a body larger than the upload limit before it is read, not after it is spooled to disk."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > portal.settings.upload_max_bytes + 64 * 1024:
            title = "Tệp quá lớn"
            message = (
                f"Tệp lớn hơn {size_label(portal.settings.upload_max_bytes)} nên không nhận; "
                "đề nghị nén hoặc gửi đường dẫn."
            )
            return _page("refused.html", 413, title=title, message=message)
        return await call_next(request)

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok"

    @app.get("/n/{token}", response_class=HTMLResponse)
    def form(token: str) -> HTMLResponse:
        try:
            c = portal.claims(token)
        except links.LinkError as e:
            return _refused(e)
        try:
            ctx = portal.context(c, portal.clock())
        except (service.UserError, service.SpecError, StopIteration):
            return _page(
                "refused.html", 404, title="Nhiệm vụ không còn trong kế hoạch",
                message="Kế hoạch hoặc nhiệm vụ của đường dẫn này đã thay đổi. Đề nghị dùng đường dẫn trong thư "
                "nhắc việc mới nhất hoặc liên hệ cơ quan thường trực cải cách hành chính.",
            )  # fmt: skip
        return _page("form.html", token=token, **ctx)

    def _done(token: str, c: links.Claims, rec: repo.Recorded, what: str) -> HTMLResponse:
        ctx = portal.context(c, portal.clock())
        return _page("done.html", token=token, duplicate=rec.duplicate, what=what, **ctx)

    def _error(token: str, c: links.Claims, message: str, status: int) -> HTMLResponse:
        return _page("form.html", status, token=token, error=message, **portal.context(c, portal.clock()))

    @app.post("/n/{token}/link", response_class=HTMLResponse)
    def send_link(
        token: str,
        url: Annotated[str, Form()],
        title: Annotated[str, Form()],
        date: Annotated[str, Form()],
    ) -> HTMLResponse:
        try:
            c = portal.claims(token)
        except links.LinkError as e:
            return _refused(e)
        now = portal.clock()
        try:
            plan = service.resolve_plan(c.plan, portal.settings)
            day = _check_title_and_date(title, date, plan, now)
            try:
                repo.normalize_url(url)
            except repo.StoreError:
                raise service.UserError(f"'{url.strip()}' không phải đường dẫn http/https") from None
            item = service.EvidenceInput(
                duty=c.duty,
                kind=_kind_for(plan, c.duty, ("post", "broadcast", "event", "document")),
                title=title,
                occurred_on=day,
                url=url.strip(),
                unit=c.unit,
                source="portal",
                actor=f"unit:{c.unit}",
            )
            rec = portal.record(c, item, now)
        except service.UserError as e:
            return _error(token, c, str(e), 400)
        return _done(token, c, rec, f"đường dẫn {url.strip()}")

    @app.post("/n/{token}/file", response_class=HTMLResponse)
    async def send_file(
        token: str,
        file: Annotated[UploadFile, File()],
        title: Annotated[str, Form()],
        date: Annotated[str, Form()],
    ) -> HTMLResponse:
        try:
            c = portal.claims(token)
        except links.LinkError as e:
            return _refused(e)
        limit = portal.settings.upload_max_bytes
        data = await file.read(limit + 1)
        await file.close()
        if len(data) > limit:
            return _error(
                token,
                c,
                f"Tệp lớn hơn {size_label(limit)} nên không nhận; đề nghị nén hoặc gửi đường dẫn.",
                413,
            )
        kind = sniff(data)
        if kind is None:
            return _error(token, c, "Loại tệp này không được nhận: chỉ nhận ảnh JPEG/PNG, tệp PDF hoặc DOCX.", 415)
        now = portal.clock()
        try:
            plan = service.resolve_plan(c.plan, portal.settings)
            day = _check_title_and_date(title, date, plan, now)
            preferred = (
                ("photo", "document", "event")
                if kind.media.startswith("image/")
                else ("document", "report_delivery", "survey")
            )
            # Validated before storing: a refused submission leaves no file behind.
            service.check_duty(plan, c.duty)
            sha = service.store_bytes(portal.settings, data)
            item = service.EvidenceInput(
                duty=c.duty,
                kind=_kind_for(plan, c.duty, preferred),
                title=title,
                occurred_on=day,
                unit=c.unit,
                source="portal",
                file_sha256=sha,
                file_name=f"{sha[:16]}.{kind.ext}",
                actor=f"unit:{c.unit}",
            )
            rec = portal.record(c, item, now)
        except service.UserError as e:
            return _error(token, c, str(e), 400)
        return _done(token, c, rec, f"tệp {kind.label}")

    return app


def serve(host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(create_app(), host=host, port=port, log_level="info")
