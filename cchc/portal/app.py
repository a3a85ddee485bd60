"""`cchc portal`: the page a unit opens from its reminder email to send evidence, without an account.

Every request carries a signed link (cchc.links) naming the plan, duty, period and unit; a forged,
altered or expired link gets a clear page and records nothing. Files are checked by their content
(JPEG, PNG, PDF, DOCX), limited in size, and stored by sha256 under a generated name.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import logging
import re
import struct
import zipfile
import zlib
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
from cchc.core.loader import find_spec, load_plan
from cchc.core.spec import Plan
from cchc.io import events
from cchc.portal import coordinator
from cchc.settings import Settings, get_settings
from cchc.store import repo

log = logging.getLogger("cchc.portal")
TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class FileType:
    ext: str
    media: str
    label: str


JPEG = FileType("jpg", "image/jpeg", "ảnh JPEG")
PNG = FileType("png", "image/png", "ảnh PNG")
PDF = FileType("pdf", "application/pdf", "PDF")
DOCX = FileType("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "DOCX")


def sniff(data: bytes) -> FileType | None:
    """The file's real type from its structure, never from its name nor only its first bytes: a file that
    starts like a PDF or a PNG but is something else (HTML after '%PDF-', say) is refused."""
    if data.startswith(b"\xff\xd8") and _is_jpeg(data):
        return JPEG
    if data.startswith(PNG_SIGNATURE) and _is_png(data):
        return PNG
    if data.startswith(b"%PDF-") and _is_pdf(data):
        return PDF
    if data.startswith(b"PK\x03\x04") and _is_docx(data):
        return DOCX
    return None


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}  # colour type -> depths


def _is_png(data: bytes) -> bool:
    """Signature, then an IHDR chunk of 13 bytes with a correct CRC and legal fields, and an IEND chunk."""
    if len(data) < 8 + 25 + 12:
        return False
    length, ctype = struct.unpack(">I4s", data[8:16])
    if length != 13 or ctype != b"IHDR":
        return False
    ihdr = data[16:29]
    (crc,) = struct.unpack(">I", data[29:33])
    if zlib.crc32(b"IHDR" + ihdr) != crc:
        return False
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", ihdr)
    return (
        0 < width < 2**31
        and 0 < height < 2**31
        and depth in _PNG_DEPTHS.get(colour, set())
        and compression == 0
        and filtering == 0
        and interlace in (0, 1)
        and b"IEND\xaeB`\x82" in data[-64:]
    )


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _is_jpeg(data: bytes) -> bool:
    """SOI, then well-formed segments (each a marker and a length inside the file) up to the start of scan,
    a frame header with a width seen before it, and an EOI after it."""
    pos, frame = 2, False
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return False
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0xD9) or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            return False  # no second SOI, no EOI or restart before the scan
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2 or pos + 2 + length > len(data):
            return False
        if marker in _SOF:
            if length < 8:
                return False
            (width,) = struct.unpack(">H", data[pos + 7 : pos + 9])
            frame = width > 0
        if marker == 0xDA:  # start of scan: entropy-coded data follows, ended by EOI
            return frame and b"\xff\xd9" in data[pos + 2 + length :]
        pos += 2 + length
    return False


_STARTXREF = re.compile(rb"startxref\s+(\d{1,12})\s+%%EOF\s*$")
_OBJ = re.compile(rb"\d+\s+\d+\s+obj\b")


def _is_pdf(data: bytes) -> bool:
    """A version header, then 'startxref <offset> %%EOF' at the end whose offset points inside the file at a
    cross-reference table ('xref') or a cross-reference stream object ('N G obj'); no HTML up front."""
    if re.match(rb"%PDF-[12]\.\d\s", data) is None:
        return False
    head = data[:1024].lower()
    if b"<html" in head or b"<script" in head or b"<!doctype" in head or b"<body" in head:
        return False
    m = _STARTXREF.search(data[-1024:])
    if m is None:
        return False
    offset = int(m.group(1))
    if not 8 < offset < len(data):
        return False
    at = data[offset : offset + 64]
    return at.startswith(b"xref") or _OBJ.match(at) is not None


_CONTENT_TYPES_MAX = 1024 * 1024


def _is_docx(data: bytes) -> bool:
    """A zip that opens, with [Content_Types].xml declaring a Word main document and word/document.xml."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = set(z.namelist())
            if "[Content_Types].xml" not in names or "word/document.xml" not in names:
                return False
            info = z.getinfo("[Content_Types].xml")
            if info.file_size > _CONTENT_TYPES_MAX:  # read only a small part, never a zip bomb
                return False
            types = z.read(info)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError):
        return False
    return b"wordprocessingml.document.main+xml" in types


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

    def plan(self, c: links.Claims) -> Plan:
        """The claim's plan, looked up by id in the plan folder only; never service.resolve_plan, which also
        takes a path. links.verify already refuses a non-id; checked again here so no path is ever opened."""
        if not links.is_id(c.plan):
            raise links.MalformedLink("the plan of this link is not an id")
        path = find_spec(self.settings.plan_dir, c.plan)  # flat or in its province/commune folder
        if path is None:
            raise service.UserError(GONE[1])
        return service.with_decisions(self.settings, load_plan(path))  # the dates the coordinator confirmed

    def context(self, c: links.Claims, now: dt.datetime) -> dict[str, Any]:
        plan = self.plan(c)
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


def _style_hash() -> str:
    """The CSP hash of _base.html's one inline <style> (static text, rendered as is): styles apply, yet no
    injected <style> or style attribute would."""
    m = re.search(r"<style>(.*?)</style>", (TEMPLATES / "_base.html").read_text(encoding="utf-8"), re.S)
    assert m is not None, "_base.html has its <style> block"
    return "'sha256-" + base64.b64encode(hashlib.sha256(m.group(1).encode()).digest()).decode() + "'"


def security_headers() -> list[tuple[bytes, bytes]]:
    csp = (
        f"default-src 'self'; style-src {_style_hash()}; script-src 'none'; img-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    return [
        (b"content-security-policy", csp.encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        # The signed link is in the URL: it must never leave in a Referer. 'no-referrer' would do that too,
        # but then browsers send 'Origin: null' on the portal's own form posts (Fetch spec), which SameOrigin
        # could only accept by also accepting what any hostile page can send. 'same-origin' sends the Referer
        # to the portal itself only, and keeps the Origin header meaningful.
        (b"referrer-policy", REFERRER_POLICY.encode()),
        (b"cache-control", b"no-store"),  # signed pages and their answers hold the token: never cached
    ]


REFERRER_POLICY = "same-origin"


class SecurityHeaders:
    """Adds the security headers to every HTTP answer (replacing any the app set)."""

    def __init__(self, app: Any):
        self.app = app
        self.headers = security_headers()
        self.names = {name for name, _ in self.headers}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in self.names]
                message = {**message, "headers": kept + self.headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _origin(url: str) -> str:
    """scheme://host[:port], lower-case, the default port dropped: how browsers write the Origin header."""
    try:
        parts = urlsplit(url.strip())
        host, port, scheme = parts.hostname, parts.port, parts.scheme.lower()
    except ValueError:
        return ""
    if not host or scheme not in ("http", "https"):
        return ""
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


class SameOrigin:
    """Refuses (403, before the body is read) a POST whose Origin header, or Referer when there is no Origin,
    is not CCHC_PORTAL_URL's origin; 'Origin: null' (sandboxed frames, privacy redirects) is refused too.

    A POST with neither header is accepted: curl and old clients send none, and a browser form post from
    another site always carries Origin. The capability is the signed token in the URL anyway: whoever can
    post to it holds the link, so this check only stops a page elsewhere from making a visitor's browser post.
    """

    def __init__(self, app: Any, origin: str, page: Callable[[], HTMLResponse]):
        self.app, self.origin, self.page = app, origin, page

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("method") == "POST" and not self.allowed(scope):
            await self.page()(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def allowed(self, scope: Any) -> bool:
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin")
        if origin is not None:
            return _origin(origin.decode("latin-1")) == self.origin != ""
        referer = headers.get(b"referer")
        if referer is not None:
            return _origin(referer.decode("latin-1")) == self.origin != ""
        return True


def cross_origin() -> HTMLResponse:
    return _page(
        "refused.html",
        403,
        title="Yêu cầu không hợp lệ",
        message="Biểu mẫu này chỉ nhận minh chứng gửi từ chính trang gửi minh chứng của hệ thống. "
        "Đề nghị mở lại đúng đường dẫn trong thư nhắc việc rồi gửi lại.",
    )


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

    app.add_middleware(SameOrigin, origin=_origin(settings.portal_url), page=cross_origin)
    app.add_middleware(SecurityHeaders)  # outermost: every answer, the middlewares' own pages included

    def page(token: str, c: links.Claims, name: str, status: int = 200, **extra: Any) -> HTMLResponse:
        try:
            ctx = portal.context(c, portal.clock())
        except links.LinkError as e:
            return _refused(e)
        except (service.UserError, service.SpecError, StopIteration):
            return _page("refused.html", 404, title=GONE[0], message=GONE[1])
        return _page(name, status, token=token, base=base, **ctx, **extra)

    # The coordinators' pages (/c/{token}): plans, and her actions on them (her evidence files sniffed as here).
    coordinator.add_routes(app, settings, clock, base, sniff)

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
            plan = portal.plan(c)
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
            plan = portal.plan(c)
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
