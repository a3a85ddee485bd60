"""`cchc doctor`: is the installed system healthy? One verdict per check, with what to do about it.

The checks look from outside the runs (the Prefect API, the store, the mail server, the disk), because the
alarm must not depend on the runs that may have stopped. Every check catches its own faults: a wrong
PREFECT_API_URL or a missing database is a failing check, never a traceback. The moment is a parameter.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import ipaddress
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from cchc.app import plan_cache
from cchc.core import assumptions
from cchc.core.deployments import MANAGED_TAG, all_deployments, expected_runs
from cchc.core.health import Check, Verdict
from cchc.core.loader import spec_files
from cchc.core.spec import Plan
from cchc.settings import Settings
from cchc.store import assumptions as assumption_store
from cchc.store import outbox as ob
from cchc.store.db import current_revision, head_revision, make_engine, session_scope
from notifications.smtp import MailConfigError, SmtpTransport, is_loopback, parse_smtp_url

AHEAD = dt.timedelta(days=7)
LOOKBACK = dt.timedelta(hours=48)
POLL_STALE = dt.timedelta(minutes=3)  # a runner or worker polls every few seconds; minutes of silence is death
DISK_FAIL = 500 * 1024**2
DISK_WARN = 2 * 1024**3
OUTBOX_WARN = dt.timedelta(hours=1)
OUTBOX_FAIL = dt.timedelta(hours=24)
HTTP_TIMEOUT = 5.0
SCHEDULER_MIN_RUNS = 3  # Prefect's PREFECT_SERVER_SERVICES_SCHEDULER_MIN_RUNS default


def api_url(settings: Settings) -> str:
    return (settings.prefect_api_url or f"http://{settings.server_host}:{settings.server_port}/api").rstrip("/")


def _parse_ts(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _fmt(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone(dt.timedelta(hours=7))).strftime("%H:%M %d/%m/%Y")


class Api:
    """The Prefect REST API, read-only: plain HTTP so that the check works whatever client settings say."""

    def __init__(self, base: str, client: httpx.Client) -> None:
        self.base = base
        self.client = client

    def post(self, path: str, body: dict[str, Any]) -> Any:
        r = self.client.post(f"{self.base}{path}", json=body)
        r.raise_for_status()
        return r.json()

    def paged(self, path: str, body: dict[str, Any], page: int = 200) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            batch = self.post(path, {**body, "limit": page, "offset": len(out)})
            out.extend(batch)
            if len(batch) < page:
                return out


@dataclass
class Context:
    settings: Settings
    now: dt.datetime
    api: Api | None = None  # None when the API did not answer
    plans: list[Plan] = field(default_factory=list)
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> Prefect's deployment


# -- Prefect -------------------------------------------------------------------------------------


def check_api(ctx: Context, client: httpx.Client) -> Check:
    base = api_url(ctx.settings)
    try:
        r = client.get(f"{base}/health")
        r.raise_for_status()
        api = Api(base, client)
        deployments = api.paged("/deployments/filter", {})
    except (httpx.HTTPError, ValueError) as e:
        return Check(
            "prefect_api",
            "failing",
            f"Prefect API tại {base} không trả lời ({type(e).__name__}: {e}).",
            "Khởi động hệ thống (`cchc up`, hoặc `systemctl start cchc`); nếu máy chủ Prefect ở nơi khác, "
            "kiểm tra PREFECT_API_URL.",
            {"url": base},
        )
    ctx.api = api
    ctx.deployments = {d["name"]: d for d in deployments}
    return Check("prefect_api", "ok", f"Prefect API trả lời tại {base}.", details={"url": base})


def _no_api(name: str) -> Check:
    return Check(
        name, "warning", "Chưa kiểm tra được: Prefect API không trả lời.", "Xử lý lỗi prefect_api trước.", known=False
    )


def _count_runs(api: Api, dep_id: str, start: dt.datetime, end: dt.datetime) -> int:
    body = {
        "flow_runs": {
            "deployment_id": {"any_": [dep_id]},
            "expected_start_time": {"after_": start.isoformat(), "before_": end.isoformat()},
            "state": {"type": {"not_any_": ["CANCELLED", "CANCELLING"]}},
        }
    }
    return int(api.post("/flow_runs/count", body))


def _plan_schedule(ctx: Context, api: Api, plan: Plan) -> dict[str, Any]:
    start, end = ctx.now, ctx.now + AHEAD
    expected = actual = 0
    missing: list[str] = []
    paused: list[str] = []
    short: list[str] = []
    for spec in all_deployments([plan], ctx.settings.deployment_profile):
        if not spec.schedules:
            continue
        # Prefect keeps only the next few runs of each deployment made (at least 3, and an hour's worth),
        # topping them up every minute: that many of the calendar's next moments must exist.
        want = min(len(expected_runs(spec, start, end)), SCHEDULER_MIN_RUNS)
        dep = ctx.deployments.get(spec.name)
        if dep is None:
            if want:
                missing.append(spec.name)
            expected += want
            continue
        if dep.get("paused"):
            paused.append(spec.name)
        if not want:
            continue
        # Runs fall due at the boundary seconds late; one at the window's edge may not be made yet.
        have = _count_runs(api, dep["id"], start - dt.timedelta(minutes=1), end)
        expected += want
        actual += min(have, want)
        if have < want:
            short.append(spec.name)
    return {
        "plan": plan.id,
        "expected": expected,
        "scheduled": actual,
        "unregistered": missing,
        "paused": paused,
        "short": short,
    }


SETTLING = dt.timedelta(minutes=5)  # after (re)registration the scheduler and the runner need a few cycles


def _settling(ctx: Context) -> bool:
    """Some of our deployments were created or changed minutes ago (a fresh `cchc up`)."""
    stamps = [_parse_ts(d.get("created")) for d in ctx.deployments.values()]
    return any(t is not None and ctx.now - t < SETTLING for t in stamps)


def check_scheduler(ctx: Context) -> Check:
    if ctx.api is None:
        return _no_api("scheduler")
    if not ctx.plans:
        return Check("scheduler", "warning", "Không có kế hoạch nào hợp lệ để kiểm tra lịch chạy.", known=False)
    per_plan = [_plan_schedule(ctx, ctx.api, p) for p in ctx.plans]
    parts, status = [], "ok"
    for r in per_plan:
        if not r["expected"] and not r["paused"] and not r["unregistered"]:
            parts.append(f"{r['plan']}: không có lần chạy nào trong 7 ngày tới theo lịch của kế hoạch")
            continue
        line = f"{r['plan']}: {r['scheduled']}/{r['expected']} lần chạy sắp tới (trong 7 ngày) đã lên lịch"
        if r["paused"]:
            line += f", {len(r['paused'])} deployment bị tạm dừng"
        if r["unregistered"]:
            line += f", {len(r['unregistered'])} deployment chưa đăng ký"
        parts.append(line)
        if r["paused"] or r["unregistered"] or (r["expected"] and r["scheduled"] == 0):
            status = "failing"
        elif r["scheduled"] < r["expected"] and status == "ok":
            status = "warning"
    verdict: Verdict = "failing" if status == "failing" else ("warning" if status == "warning" else "ok")
    paused = any(r["paused"] for r in per_plan)  # a pause is someone's act, never "still starting"
    if verdict == "failing" and not paused and _settling(ctx):
        verdict = "warning"
        parts.append("các deployment vừa được đăng ký, bộ lập lịch chưa kịp tạo lần chạy (chờ vài phút)")
    action = ""
    if verdict != "ok":
        action = (
            "Bỏ tạm dừng các deployment (Prefect UI → Deployments, nút bật lịch) hoặc khởi động lại `cchc up` để "
            "đăng ký lại; nếu vẫn thiếu, xem CCHC_HOME/logs/server.log: bộ lập lịch ghi lỗi ở đó."
        )
    return Check("scheduler", verdict, "; ".join(parts) + ".", action, {"plans": per_plan})


def check_executor(ctx: Context) -> Check:
    """Whatever runs the flows (`serve` today, workers later) shows as Prefect's own READY and last_polled."""
    if ctx.api is None:
        return _no_api("executor")
    ours = [d for d in ctx.deployments.values() if MANAGED_TAG in (d.get("tags") or [])]
    if not ours:
        return Check(
            "executor",
            "failing",
            "Không có deployment nào của cchc được đăng ký.",
            "Khởi động `cchc up` (tự đăng ký), hoặc `prefect deploy --all` với cách chạy bằng worker.",
        )
    polled = [t for d in ours if (t := _parse_ts(d.get("last_polled"))) is not None]
    last = max(polled, default=None)
    ready = [d for d in ours if d.get("status") == "READY"]
    pools: list[dict[str, Any]] = []
    pool_names = sorted({d["work_pool_name"] for d in ours if d.get("work_pool_name")})
    if pool_names:
        pools = ctx.api.post("/work_pools/filter", {"work_pools": {"name": {"any_": pool_names}}})
    pools_ready = [p["name"] for p in pools if p.get("status") == "READY"]
    details = {
        "deployments": len(ours),
        "ready": len(ready),
        "last_polled": last.isoformat() if last else None,
        "work_pools": {p["name"]: p.get("status") for p in pools},
    }
    alive = (last is not None and ctx.now - last <= POLL_STALE) or bool(pools_ready)
    if alive:
        seen = f"lần hỏi việc gần nhất lúc {_fmt(last)}" if last else f"work pool sẵn sàng: {', '.join(pools_ready)}"
        return Check(
            "executor",
            "ok",
            f"Tiến trình chạy việc đang sống: {len(ready)}/{len(ours)} deployment sẵn sàng, {seen}.",
            details=details,
        )
    since = f"lần cuối hỏi việc lúc {_fmt(last)}" if last else "chưa từng hỏi việc"
    if last is None and _settling(ctx):
        return Check(
            "executor",
            "warning",
            "Các deployment vừa được đăng ký; tiến trình chạy việc chưa hỏi việc lần nào (chờ vài phút).",
            "Chạy lại `cchc doctor` sau vài phút.",
            details,
        )
    return Check(
        "executor",
        "failing",
        f"Không có tiến trình nào nhận chạy các lần chạy ({since}); lịch vẫn được tạo nhưng không ai chạy.",
        "Khởi động lại `cchc up` (`systemctl restart cchc`); với cách chạy bằng worker: "
        "`prefect worker start --pool cchc`. Xem CCHC_HOME/logs/serve.log.",
        details,
    )


def check_runs(ctx: Context) -> Check:
    """Runs that never started within the allowed minutes, and Crashed or Failed runs of the last 48 hours."""
    if ctx.api is None:
        return _no_api("runs")
    late_after = dt.timedelta(minutes=ctx.settings.late_start_minutes)
    ids = [d["id"] for d in ctx.deployments.values() if MANAGED_TAG in (d.get("tags") or [])]
    if not ids:
        return Check("runs", "ok", "Chưa có lần chạy nào để kiểm tra.")
    since = (ctx.now - LOOKBACK).isoformat()
    stuck = ctx.api.paged(
        "/flow_runs/filter",
        {
            "flow_runs": {
                "deployment_id": {"any_": ids},
                "state": {"type": {"any_": ["SCHEDULED", "PENDING"]}},
                "expected_start_time": {"after_": since, "before_": (ctx.now - late_after).isoformat()},
            }
        },
    )
    # A report run waiting for approval is PAUSED-typed and not matched above; a retry waits on purpose.
    stuck = [r for r in stuck if r.get("state_name") != "AwaitingRetry"]
    broken = ctx.api.paged(
        "/flow_runs/filter",
        {
            "flow_runs": {
                "deployment_id": {"any_": ids},
                "state": {"type": {"any_": ["CRASHED", "FAILED"]}},
                "expected_start_time": {"after_": since},
            }
        },
    )
    details = {
        "not_started": [{"name": r["name"], "expected": r["expected_start_time"]} for r in stuck[:20]],
        "failed": [
            {"name": r["name"], "state": r["state_type"], "expected": r["expected_start_time"]} for r in broken[:20]
        ],
        "late_start_minutes": ctx.settings.late_start_minutes,
    }
    if stuck:
        oldest = min(_parse_ts(r["expected_start_time"]) or ctx.now for r in stuck)
        return Check(
            "runs",
            "failing",
            f"{len(stuck)} lần chạy chưa bắt đầu quá {ctx.settings.late_start_minutes} phút sau giờ hẹn "
            f"(sớm nhất: {_fmt(oldest)}); {len(broken)} lần lỗi hoặc sập trong 48 giờ qua.",
            "Kiểm tra tiến trình chạy việc (mục executor); nếu nó sống mà không theo kịp, giãn giờ chạy của các "
            "kế hoạch (run_time trong tệp kế hoạch) để không dồn vào cùng một phút.",
            details,
        )
    if broken:
        names = ", ".join(sorted({r["name"] for r in broken})[:5])
        return Check(
            "runs",
            "warning",
            f"{len(broken)} lần chạy lỗi hoặc sập trong 48 giờ qua: {names}.",
            "Mở Prefect UI → Runs, lọc trạng thái Failed/Crashed, đọc nhật ký của lần chạy; chạy lại khi đã sửa.",
            details,
        )
    return Check("runs", "ok", "Không có lần chạy nào bị trễ, lỗi hay sập trong 48 giờ qua.", details=details)


# -- Local state ----------------------------------------------------------------------------------


def check_specs(ctx: Context) -> Check:
    folder = ctx.settings.plan_dir
    files = spec_files([folder]) if folder.is_dir() else []
    if not files:
        return Check(
            "specs", "failing", f"Không có tệp kế hoạch nào trong {folder}.", "Đặt CCHC_PLAN_DIR đúng thư mục kế hoạch."
        )
    found = plan_cache.read_folder(folder, None)  # as `cchc up` reads it: no id twice, each in its folder
    problems: list[str] = [str(i) for i in found.issues]
    for path, plan in found.plans:
        try:
            ctx.plans.append(_decided(ctx.settings, plan))
        except ValueError as e:  # a recorded decision the edited spec no longer admits
            problems.append(f"{path}: a recorded decision on its assumptions no longer fits the spec: {e}")
    if problems:
        return Check(
            "specs",
            "failing",
            f"{len(problems)} lỗi trong tệp kế hoạch: " + "; ".join(problems[:3]),
            "Sửa theo từng dòng báo lỗi (tệp:dòng: trường), rồi chạy `cchc validate`.",
            {"errors": problems},
        )
    return Check("specs", "ok", f"{len(files)} tệp kế hoạch hợp lệ.", details={"plans": [p.id for p in ctx.plans]})


def _decided(settings: Settings, plan: Plan) -> Plan:
    """The plan as `cchc up` serves it (the coordinator's decisions applied), read without creating or migrating
    the store: the doctor only looks. No store yet, or one without the table: no decisions."""
    path = _sqlite_file(settings.db_url)
    if path is not None and not path.exists():
        return plan
    try:
        engine = make_engine(settings.db_url)
        try:
            with session_scope(engine) as s:
                decided = assumption_store.decisions(s, plan.id)
        finally:
            engine.dispose()
    except SQLAlchemyError:
        return plan
    return assumptions.apply(plan, decided)


def _sqlite_file(url: str) -> Path | None:
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        return Path(u.database)
    return None


def check_migrations(ctx: Context) -> Check:
    url = ctx.settings.db_url
    shown = url.split("@")[-1]
    path = _sqlite_file(url)
    if path is not None and not path.exists():
        return Check(
            "migrations",
            "failing",
            f"Chưa có cơ sở dữ liệu tại {path}.",
            "Khởi động `cchc up` hoặc chạy một lệnh bất kỳ có ghi dữ liệu (vd. `cchc status <kế hoạch>`): "
            "cơ sở dữ liệu được tạo và nâng cấp tự động.",
        )
    try:
        engine = make_engine(url)
        try:
            current, head = current_revision(engine), head_revision()
        finally:
            engine.dispose()
    except SQLAlchemyError as e:
        return Check(
            "migrations",
            "failing",
            f"Không mở được cơ sở dữ liệu {shown}: {type(e).__name__}: {str(e).splitlines()[0]}",
            "Kiểm tra CCHC_DATABASE_URL và máy chủ cơ sở dữ liệu.",
        )
    details = {"current": sorted(current), "head": sorted(head)}
    if current != head:
        return Check(
            "migrations",
            "failing",
            f"Cơ sở dữ liệu chưa ở phiên bản mới nhất (đang {sorted(current) or 'trống'}, cần {sorted(head)}).",
            "Khởi động lại `cchc up`: cơ sở dữ liệu được nâng cấp khi mở.",
            details,
        )
    return Check("migrations", "ok", "Cơ sở dữ liệu ở phiên bản mới nhất.", details=details)


def check_outbox(ctx: Context) -> Check:
    path = _sqlite_file(ctx.settings.db_url)
    if path is not None and not path.exists():
        return Check("outbox", "warning", "Chưa có cơ sở dữ liệu, chưa có thư nào.")
    try:
        engine = make_engine(ctx.settings.db_url)
        try:
            with session_scope(engine) as s:
                queued, oldest, failed = ob.backlog(s, ctx.now - LOOKBACK)
        finally:
            engine.dispose()
    except SQLAlchemyError as e:
        return Check("outbox", "failing", f"Không đọc được hàng đợi thư: {type(e).__name__}.", "Xem mục migrations.")
    details = {"queued": queued, "oldest_queued": oldest.isoformat() if oldest else None, "failed_48h": failed}
    age = ctx.now - oldest if oldest is not None else dt.timedelta(0)
    if queued and oldest is not None and age > OUTBOX_WARN:
        verdict: Verdict = "failing" if age > OUTBOX_FAIL else "warning"
        return Check(
            "outbox",
            verdict,
            f"{queued} thư đang chờ gửi, thư cũ nhất chờ từ {_fmt(oldest)}; {failed} thư lỗi trong 48 giờ qua.",
            "Xem mục mail; khi máy chủ thư hoạt động lại, `cchc mail flush` gửi ngay (mỗi thư một lần).",
            details,
        )
    if failed:
        return Check(
            "outbox",
            "warning",
            f"{failed} thư không gửi được trong 48 giờ qua; {queued} thư đang chờ.",
            "Xem `cchc outbox --status failed`: địa chỉ sai hoặc bị máy chủ thư từ chối.",
            details,
        )
    return Check("outbox", "ok", f"Hàng đợi thư bình thường ({queued} thư đang chờ).", details=details)


def _real_mail(settings: Settings) -> bool:
    """Mail goes to people (not .eml files, not a loopback catcher)."""
    if settings.smtp_url is None or not settings.smtp_url.get_secret_value().strip():
        return False
    try:
        config = parse_smtp_url(settings.smtp_url.get_secret_value())
    except Exception:  # check_mail reports the bad URL
        return True
    return not is_loopback(config.host)


def check_mail(ctx: Context) -> Check:
    s = ctx.settings
    if s.smtp_url is None or not s.smtp_url.get_secret_value().strip():
        return Check(
            "mail",
            "warning",
            f"Chưa cấu hình máy chủ thư: thư được ghi thành tệp .eml trong {s.mail_dir}, không đến tay ai.",
            "Đặt CCHC_SMTP_URL (vd. smtp://tai-khoan:mat-khau@mail.example.vn:587) để gửi thư thật.",
            {"transport": "eml", "folder": str(s.mail_dir)},
        )
    try:
        config = parse_smtp_url(
            s.smtp_url.get_secret_value(), s.smtp_timeout, str(s.smtp_ca_file) if s.smtp_ca_file else None
        )
    except MailConfigError as e:
        return Check("mail", "failing", f"CCHC_SMTP_URL sai: {e}", "Sửa CCHC_SMTP_URL theo ví dụ trong README.")
    transport = SmtpTransport(config)

    async def probe() -> None:
        try:
            await asyncio.wait_for(transport.open(), timeout=min(s.smtp_timeout, 15.0))
        finally:
            await transport.close()

    try:
        asyncio.run(probe())
    except MailConfigError as e:
        return Check(
            "mail", "failing", str(e), "Sửa CCHC_SMTP_URL hoặc cấu hình máy chủ thư.", {"server": config.label}
        )
    except Exception as e:  # any connection fault is the verdict, not a crash
        return Check(
            "mail",
            "failing",
            f"Không kết nối được máy chủ thư {config.label}: {type(e).__name__}: {e}",
            "Kiểm tra máy chủ thư và tường lửa; thư vẫn nằm trong hàng đợi và sẽ được gửi (mỗi thư một lần) khi kết nối lại.",
            {"server": config.label},
        )
    return Check("mail", "ok", f"Máy chủ thư {config.label} nhận kết nối.", details={"server": config.label})


def _private(host: str) -> bool:
    try:
        addrs = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    for a in addrs:
        ip = ipaddress.ip_address(a.split("%")[0])
        if ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_unspecified:
            return True
    return False


def check_portal(ctx: Context) -> Check:
    s = ctx.settings
    url = s.portal_url.rstrip("/")
    parts = urlsplit(url)
    host = parts.hostname or ""
    caveat = (
        " (Kiểm tra này chỉ chứng minh máy chủ tự mở được địa chỉ đó; không chứng minh đơn vị mở được từ mạng của họ.)"
    )
    problems: list[str] = []
    if _real_mail(s):
        if parts.scheme != "https":
            problems.append("thư gửi ra ngoài nhưng liên kết không dùng HTTPS")
        if _private(host):
            problems.append(f"thư gửi ra ngoài nhưng {host} là địa chỉ nội bộ, đơn vị không mở được")
    # A public address goes the way this machine reaches the outside (its proxy settings); a local one directly.
    with httpx.Client(timeout=HTTP_TIMEOUT, trust_env=not _private(host)) as client:
        try:
            answer = client.get(f"{url}/healthz")
            reachable = answer.status_code == 200
            why = f"HTTP {answer.status_code}"
        except httpx.HTTPError as e:
            reachable, why = False, type(e).__name__
    details = {"url": url, "reachable": reachable}
    if not reachable and not _private(host) and not problems:
        # Behind NAT a server often cannot reach its own public address (no hairpin): not proof of a fault.
        return Check(
            "portal",
            "warning",
            f"{url}/healthz không trả lời khi mở từ chính máy chủ ({why}); có thể do mạng không cho máy tự gọi "
            f"địa chỉ công khai của mình.{caveat}",
            "Mở thử địa chỉ này từ một máy bên ngoài; kiểm tra reverse proxy và CCHC_PORTAL_BIND.",
            details,
        )
    if not reachable:
        problems.append(f"{url}/healthz không trả lời từ chính máy chủ ({why})")
    if problems:
        if reachable or _real_mail(s):
            action = (
                "Đặt CCHC_PORTAL_URL là địa chỉ HTTPS công khai (qua reverse proxy) và CCHC_PORTAL_BIND là nơi "
                "trang chạy; khởi động lại `cchc up`."
            )
        else:
            action = "Khởi động `cchc up` (trang chạy cùng hệ thống) hoặc `cchc portal`; kiểm tra CCHC_PORTAL_URL."
        return Check(
            "portal", "failing", f"Trang gửi minh chứng {url}: " + "; ".join(problems) + "." + caveat, action, details
        )
    if _private(host):
        return Check(
            "portal",
            "warning",
            f"Trang gửi minh chứng {url} trả lời, nhưng chỉ mở được trong mạng nội bộ.{caveat}",
            "Khi gửi thư thật, đặt CCHC_PORTAL_URL là địa chỉ HTTPS công khai.",
            details,
        )
    return Check("portal", "ok", f"Trang gửi minh chứng {url} trả lời.{caveat}", details=details)


def check_secret_key(ctx: Context) -> Check:
    s = ctx.settings
    if s.secret_key is not None and s.secret_key.get_secret_value():
        return Check("secret_key", "ok", "Khóa ký liên kết lấy từ CCHC_SECRET_KEY.")
    path = s.home / "secret.key"
    if not path.exists():
        return Check("secret_key", "ok", f"Chưa có {path}; khóa được tạo (quyền 600) khi gửi liên kết đầu tiên.")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        return Check(
            "secret_key",
            "failing",
            f"{path} có quyền {mode:o}: người khác trên máy đọc được và giả mạo được liên kết của đơn vị.",
            f"chmod 600 {path}",
            {"mode": f"{mode:o}"},
        )
    return Check("secret_key", "ok", f"{path} chỉ chủ sở hữu đọc được ({mode:o}).", details={"mode": f"{mode:o}"})


def check_disk(ctx: Context) -> Check:
    home = ctx.settings.home
    probe = home if home.exists() else home.parent
    usage = shutil.disk_usage(probe)
    free_gb = usage.free / 1024**3
    details = {"path": str(home), "free_bytes": usage.free}
    if usage.free < DISK_FAIL:
        return Check(
            "disk",
            "failing",
            f"Ổ đĩa của {home} chỉ còn {free_gb:.2f} GB.",
            "Giải phóng dung lượng hoặc chuyển CCHC_HOME.",
            details,
        )
    if usage.free < DISK_WARN:
        return Check(
            "disk",
            "warning",
            f"Ổ đĩa của {home} còn {free_gb:.2f} GB.",
            "Sắp hết chỗ: dọn tệp cũ trong CCHC_HOME/logs.",
            details,
        )
    return Check("disk", "ok", f"Ổ đĩa của {home} còn {free_gb:.1f} GB.", details=details)


def _auth_headers(settings: Settings) -> dict[str, str]:
    """What Prefect's own client sends to a server behind an API key or basic auth."""
    if settings.prefect_api_key is not None and settings.prefect_api_key.get_secret_value():
        return {"Authorization": f"Bearer {settings.prefect_api_key.get_secret_value()}"}
    if settings.prefect_api_auth_string is not None and settings.prefect_api_auth_string.get_secret_value():
        token = base64.b64encode(settings.prefect_api_auth_string.get_secret_value().encode()).decode()
        return {"Authorization": f"Basic {token}"}
    return {}


def run_checks(settings: Settings, now: dt.datetime, client: httpx.Client | None = None) -> list[Check]:
    """Every check, in an order where each may use what an earlier one learned (the API, the plans)."""
    ctx = Context(settings, now)
    own = client is None
    http = client or httpx.Client(timeout=HTTP_TIMEOUT, trust_env=False, headers=_auth_headers(settings))
    steps: list[tuple[str, Callable[[], Check]]] = [
        ("specs", lambda: check_specs(ctx)),
        ("prefect_api", lambda: check_api(ctx, http)),
        ("scheduler", lambda: check_scheduler(ctx)),
        ("executor", lambda: check_executor(ctx)),
        ("runs", lambda: check_runs(ctx)),
        ("migrations", lambda: check_migrations(ctx)),
        ("mail", lambda: check_mail(ctx)),
        ("portal", lambda: check_portal(ctx)),
        ("outbox", lambda: check_outbox(ctx)),
        ("secret_key", lambda: check_secret_key(ctx)),
        ("disk", lambda: check_disk(ctx)),
    ]
    out: list[Check] = []
    try:
        for name, step in steps:
            try:
                out.append(step())
            except Exception as e:  # a check that breaks is a failing check, not a crash
                out.append(
                    Check(name, "failing", f"Kiểm tra bị lỗi: {type(e).__name__}: {e}", "Xem chi tiết với --json.")
                )
    finally:
        if own:
            http.close()
    return out
