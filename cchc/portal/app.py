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
from urllib.parse import urlsplit

from fastapi import FastAPI, File, Form, UploadFile
from fastapi.responses import HTMLResponse, PlainTextResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from cchc.app import service
from cchc.core import links, views
from cchc.core.calendar import occurrences, to_local
from cchc.core.labels import EVIDENCE_KIND_VI
from cchc.core.spec import Plan
from cchc.io import events
from cchc.settings import Settings, get_settings
from cchc.store import repo

log = logging.getLogger("cchc.portal")
TEMPLATES = Path(__file__).parent / "templates"


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
            "period_label": views.period_label(c.period),
            "due": views.fmt_day(occ.last_day),
            "count": count,
            "required": occ.required,
            "state": state,
            "kinds": ", ".join(EVIDENCE_KIND_VI.get(k, k) for k in _accepted(plan, c.duty)),
            "today": to_local(now, plan.timezone).date().isoformat(),
            "max_size": size_label(self.settings.upload_max_bytes),
        }

    def check(self, c: links.Claims, plan: Plan, title: str, date: str, now: dt.datetime) -> dt.date:
        """Title present; a date inside the signed occurrence (from its start to its close) and not in the future."""
        service.check_duty(plan, c.duty)
        if not title.strip():
            raise service.UserError("Cần nhập tiêu đề minh chứng.")
        day = _parse_date(date)
        today = to_local(now, plan.timezone).date()
        if day > today:
            raise service.UserError(f"Ngày {day:%d/%m/%Y} ở tương lai; hôm nay là {today:%d/%m/%Y}.")
        occ = next((o for o in occurrences(plan, duties=[c.duty]) if o.period == c.period), None)
        if occ is None:
            raise service.UserError(GONE[1])
        if day < occ.start_day:
            raise service.UserError(
                f"Ngày {day:%d/%m/%Y} trước kỳ {views.period_label(c.period)} (từ {occ.start_day:%d/%m/%Y}); "
                "minh chứng của kỳ trước không gửi qua đường dẫn này."
            )
        if day >= occ.close_day:
            # Counted by date, it would fill a later period: that period's own link takes it.
            last = occ.close_day - dt.timedelta(days=1)
            raise service.UserError(
                f"Ngày {day:%d/%m/%Y} sau kỳ {views.period_label(c.period)} (đến {last:%d/%m/%Y}); "
                "minh chứng của kỳ sau gửi qua đường dẫn của kỳ đó."
            )
        return day


def size_label(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{max(1, n // 1024)} KB"


def _parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise service.UserError(f"ngày '{text}' không đúng dạng năm-tháng-ngày (vd. 2025-10-03)") from None


GONE = (
    "Nhiệm vụ không còn trong kế hoạch",
    "Kế hoạch hoặc nhiệm vụ của đường dẫn này đã thay đổi. Đề nghị dùng đường dẫn trong thư nhắc việc mới nhất "
    "hoặc liên hệ cơ quan thường trực cải cách hành chính.",
)


class BodyLimit:
    """Counts the bytes of every request body as they arrive (declared or chunked) and answers 413 past
    the limit, so an upload is never spooled to disk in full before it is refused."""

    def __init__(self, app: Any, limit: int, page: Callable[[], HTMLResponse]):
        self.app, self.limit, self.page = app, limit, page

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self.page()(scope, receive, send)
            return
        seen = 0
        over = False

        async def counting_receive() -> Any:
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    over = True  # stop reading: the app sees a client that went away
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Any) -> None:
            if not over:  # once over the limit, the app's own answer (a parse error) is replaced by ours
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not over:
                raise
        if over:
            await self.page()(scope, receive, send)


def create_app(settings: Settings | None = None, clock: Clock = wall_clock) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(title="cchc — gửi minh chứng", docs_url=None, redoc_url=None, openapi_url=None)
    portal = Portal(settings, clock)
    base = urlsplit(settings.portal_url).path.rstrip("/")  # behind a proxy under a prefix, forms post there
    # One listener for the evidence event, the same the CLI registers: a submission triggers one re-run.
    service.on_evidence_recorded(events.evidence_listener)
    events.add_warning_sink(log.warning)

    def too_large() -> HTMLResponse:
        message = f"Tệp lớn hơn {size_label(settings.upload_max_bytes)} nên không nhận; đề nghị nén hoặc gửi đường dẫn."
        return _page("refused.html", 413, title="Tệp quá lớn", message=message)

    app.add_middleware(BodyLimit, limit=settings.upload_max_bytes + 64 * 1024, page=too_large)

    def page(token: str, c: links.Claims, name: str, status: int = 200, **extra: Any) -> HTMLResponse:
        try:
            ctx = portal.context(c, portal.clock())
        except (service.UserError, service.SpecError, StopIteration):
            return _page("refused.html", 404, title=GONE[0], message=GONE[1])
        return _page(name, status, token=token, base=base, **ctx, **extra)

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok"

    @app.get("/n/{token}", response_class=HTMLResponse)
    def form(token: str) -> HTMLResponse:
        try:
            c = portal.claims(token)
        except links.LinkError as e:
            return _refused(e)
        return page(token, c, "form.html")

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
            day = portal.check(c, plan, title, date, now)
            try:
                repo.normalize_url(url)
            except repo.StoreError:
                raise service.UserError(f"'{url.strip()}' không phải đường dẫn http/https.") from None
            item = service.EvidenceInput(
                duty=c.duty,
                kind=_kind_for(plan, c.duty, ("post", "broadcast", "event", "document")),
                title=title,
                occurred_on=day,
                url=url.strip(),
                unit=c.unit,
                origin="portal",
                actor=f"unit:{c.unit}",
            )
            rec = service.record_evidence(portal.settings, plan, item, now)
        except (service.UserError, service.SpecError) as e:
            return page(token, c, "form.html", 400, error=str(e))
        return page(token, c, "done.html", duplicate=rec.duplicate, what=f"đường dẫn {url.strip()}")

    @app.post("/n/{token}/file", response_class=HTMLResponse)
    def send_file(  # sync: runs in the thread pool, so storing and recording never block other requests
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
        data = file.file.read(limit + 1)
        if len(data) > limit:
            message = f"Tệp lớn hơn {size_label(limit)} nên không nhận; đề nghị nén hoặc gửi đường dẫn."
            return page(token, c, "form.html", 413, error=message)
        kind = sniff(data)
        if kind is None:
            message = "Loại tệp này không được nhận: chỉ nhận ảnh JPEG/PNG, tệp PDF hoặc DOCX."
            return page(token, c, "form.html", 415, error=message)
        now = portal.clock()
        try:
            plan = service.resolve_plan(c.plan, portal.settings)
            day = portal.check(c, plan, title, date, now)  # before storing: a refused file leaves nothing behind
            preferred = (
                ("photo", "document", "event")
                if kind.media.startswith("image/")
                else ("document", "report_delivery", "survey")
            )
            sha = service.store_bytes(portal.settings, data)
            item = service.EvidenceInput(
                duty=c.duty,
                kind=_kind_for(plan, c.duty, preferred),
                title=title,
                occurred_on=day,
                unit=c.unit,
                origin="portal",
                file_sha256=sha,
                file_name=f"{sha[:16]}.{kind.ext}",
                actor=f"unit:{c.unit}",
            )
            rec = service.record_evidence(portal.settings, plan, item, now)
        except (service.UserError, service.SpecError) as e:
            return page(token, c, "form.html", 400, error=str(e))
        return page(token, c, "done.html", duplicate=rec.duplicate, what=f"tệp {kind.label}")

    return app


def serve(host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(create_app(), host=host, port=port, log_level="info")
