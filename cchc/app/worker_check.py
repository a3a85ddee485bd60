"""What `cchc worker` checks before it starts `prefect worker start`, which never reads a CCHC_* variable.

A process worker runs each flow in a child process with the worker's environment. A worker missing the
store's URL, or pointed at an old store, would take runs from the pool and fail every one of them; so it
refuses to start instead, naming the variable and what to set. Each problem is one line, Vietnamese then
English, and checks go on after a failure so one start shows everything that is wrong.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine
from sqlalchemy.exc import SQLAlchemyError

from cchc.settings import Settings
from cchc.store.db import declared_heads, head_revision, stored_revision
from notifications.smtp import MailConfigError, parse_smtp_url

CHECKOUT = Path(__file__).resolve().parents[2]  # cchc/app/worker_check.py -> the checkout
CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class WorkerSetup:
    """What the worker's flow runs need, once every check passed."""

    api_url: str
    database_url: str
    project_dir: Path
    plan_dir: Path
    mail_to_files: bool  # no SMTP: messages are .eml files under CCHC_HOME (one machine only)


class WorkerCheckError(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def _api(settings: Settings, problems: list[str]) -> str:
    url = settings.prefect_api_url
    if not url:
        problems.append(
            "PREFECT_API_URL chưa đặt: đặt địa chỉ API của Prefect server, ví dụ http://prefect-host:4200/api "
            "(PREFECT_API_URL is not set: set it to the Prefect server's API address)."
        )
        return ""
    auth = settings.prefect_api_auth_string
    user, _, password = auth.get_secret_value().partition(":") if auth else ("", "", "")
    try:
        r = httpx.get(f"{url.rstrip('/')}/health", timeout=CONNECT_TIMEOUT, auth=(user, password) if auth else None)
        if r.status_code != 200:
            problems.append(
                f"PREFECT_API_URL={url} trả lời HTTP {r.status_code} ở /health: kiểm tra địa chỉ và "
                f"PREFECT_API_AUTH_STRING (the Prefect server answered HTTP {r.status_code})."
            )
    except httpx.HTTPError as e:
        problems.append(
            f"không kết nối được Prefect server PREFECT_API_URL={url} ({type(e).__name__}): kiểm tra server đã chạy "
            f"và địa chỉ đúng (cannot reach the Prefect server)."
        )
    return url


def _store(settings: Settings, problems: list[str]) -> str:
    url = settings.database_url
    if not url:
        problems.append(
            "CCHC_DATABASE_URL chưa đặt: mọi worker phải dùng chung một cơ sở dữ liệu, ví dụ "
            "postgresql+psycopg://cchc@db-host/cchc (CCHC_DATABASE_URL is not set: workers share one database)."
        )
        return ""
    if url.startswith("sqlite"):
        problems.append(
            "CCHC_DATABASE_URL trỏ tới SQLite: các worker (có thể trên máy khác) cần một PostgreSQL chung, "
            "ví dụ postgresql+psycopg://cchc@db-host/cchc (workers need a shared PostgreSQL, not SQLite)."
        )
        return url
    shown = url.split("@")[-1]  # never the password
    engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": int(CONNECT_TIMEOUT)})
    try:
        stored = stored_revision(engine)
    except SQLAlchemyError as e:
        problems.append(
            f"không kết nối được CCHC_DATABASE_URL (…@{shown}): {str(e).splitlines()[0]} "
            "(cannot reach the store: check the URL, the password and that PostgreSQL is running)."
        )
        return url
    finally:
        engine.dispose()
    heads = declared_heads() or head_revision()
    if stored != heads:
        problems.append(
            f"cơ sở dữ liệu …@{shown} ở phiên bản {sorted(stored) or 'trống'}, mã nguồn cần {sorted(heads)}: "
            "chạy `cchc up --scale` (hoặc `cchc doctor`) một lần trên máy chủ để nâng cấp, rồi mới chạy worker "
            "(the store is not at the migration head: start `cchc up --scale` once to migrate it)."
        )
    return url


def _project(settings: Settings, problems: list[str]) -> tuple[Path, Path]:
    project = (settings.project_dir or CHECKOUT).resolve()
    if not (project / "flows" / "common.py").is_file():
        problems.append(
            f"CCHC_PROJECT_DIR={project} không phải bản sao mã nguồn cchc (thiếu flows/): đặt CCHC_PROJECT_DIR tới "
            "thư mục mã nguồn trên máy này (CCHC_PROJECT_DIR must be this machine's cchc checkout)."
        )
    plans = settings.plan_dir if settings.plan_dir.is_absolute() else project / settings.plan_dir
    if not plans.is_dir():
        problems.append(
            f"không có thư mục kế hoạch {plans}: đặt CCHC_PLAN_DIR tới thư mục plan_specs của bản sao mã nguồn "
            "(CCHC_PLAN_DIR: no plan folder there)."
        )
    return project, plans


def _mail(settings: Settings, mail_to_files: bool, problems: list[str]) -> None:
    if settings.smtp_url is None or not settings.smtp_url.get_secret_value():
        if not mail_to_files:
            problems.append(
                "CCHC_SMTP_URL chưa đặt: lượt gửi thư của worker cần máy chủ thư, ví dụ smtp://user:pass@mail:587; "
                "chỉ khi mọi worker chạy trên cùng một máy mới dùng --mail-to-files (thư thành tệp .eml trong "
                "CCHC_HOME) (CCHC_SMTP_URL is not set: the mail pass needs an SMTP server)."
            )
        return
    try:
        config = parse_smtp_url(settings.smtp_url.get_secret_value(), settings.smtp_timeout)
    except MailConfigError as e:
        problems.append(f"CCHC_SMTP_URL không dùng được: {e}")
        return
    try:
        with socket.create_connection((config.host, config.port), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as e:
        problems.append(
            f"không kết nối được máy chủ thư CCHC_SMTP_URL ({config.host}:{config.port}): {e} "
            "(cannot reach the SMTP server)."
        )


def interpreter_path(path: str | None, executable: str = sys.executable) -> str:
    """PATH with this interpreter's folder first. The pool's run command (flows/serve.py DIRECT_COMMAND) names
    `python`, which the worker finds through its PATH: every run on this host uses the worker's own venv."""
    folder = str(Path(executable).parent)
    return os.pathsep.join([folder, *(p for p in (path or "").split(os.pathsep) if p and p != folder)])


def _interpreter(settings: Settings, problems: list[str], executable: str = sys.executable) -> None:
    if not settings.worker_direct_command:
        return
    found = shutil.which("python", path=str(Path(executable).parent))
    if found is None or not os.path.samefile(found, executable):
        problems.append(
            f"không có lệnh `python` cạnh trình thông dịch {executable}: chạy cchc worker từ môi trường ảo (venv) "
            "của bản sao mã nguồn, hoặc đặt CCHC_WORKER_DIRECT_COMMAND=false cho `cchc up --scale` và mọi worker "
            "(the pool's run command `python -m prefect.engine` would not find this interpreter)."
        )


def check(settings: Settings, mail_to_files: bool = False) -> WorkerSetup:
    """Every setting a worker's runs need, checked against the real services; WorkerCheckError lists the rest."""
    problems: list[str] = []
    api = _api(settings, problems)
    store = _store(settings, problems)
    project, plans = _project(settings, problems)
    _mail(settings, mail_to_files, problems)
    _interpreter(settings, problems)
    if problems:
        raise WorkerCheckError(problems)
    return WorkerSetup(api, store, project, plans, mail_to_files)
