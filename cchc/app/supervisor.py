"""`cchc up`: a Prefect server with its UI, and a runner serving every plan's deployments.

Both run as child processes in their own process groups, so that stopping `cchc up`
(Ctrl-C or SIGTERM) stops them and everything they started. The runner is told not to
pause schedules on shutdown. State lives under CCHC_HOME.

`cchc up --scale` runs Prefect's distributed engine on the same machine instead of the in-process runner: the
server and the store on PostgreSQL (a cluster under CCHC_HOME/pg unless URLs are given), every deployment
registered into the ``process`` work pool `cchc`, and N `cchc worker` processes taking runs from it, each as if on
its own machine. The cluster is stopped last, after everything that uses it.

One `cchc up` per home: it holds CCHC_HOME/cchc.lock (``home_lock``, an flock with its pid written in it)
for its whole life, and `cchc restore` takes the same lock, so neither starts while the other runs there.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO
from urllib.parse import urlsplit

import httpx
from sqlalchemy.exc import SQLAlchemyError

from cchc.app import pgcluster
from cchc.app.logfiles import rotate_all
from cchc.app.server_env import compile_sources, installed_bytecode, process_env
from cchc.settings import Settings
from cchc.store.db import get_engine

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the checkout: cchc/app/supervisor.py -> ./
HEALTH_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
FIRST_WATCH = 600.0  # the first health pass waits until registration and the first runs are done
ROTATE_EVERY = 60.0
WATCH_TIMEOUT = 900.0  # a watchdog pass that hangs longer is killed, so the next one can run
POOL = "cchc"
WORKER_SHORT_LIFE = 30.0  # a worker that dies sooner than this after its start counts as failing to start
WORKER_FAILED_STARTS = 3  # that many in a row: its settings are wrong, `cchc up` stops
REGISTER_TIMEOUT = 3600.0  # a province's deployments take minutes; a hung registration must still end
REGISTER_CONCURRENCY = "8"  # PostgreSQL takes concurrent writers (SQLite's server answers 503 past a few)


class SupervisorError(RuntimeError):
    pass


# ------------------------------------------------------------------------------------------- the home lock

LOCK_FILE = "cchc.lock"
UP = "cchc up"
RESTORE = "cchc restore"


class HomeBusy(RuntimeError):
    """Another process holds the home's lock; ``holder`` is what it wrote there (`cchc up`, `cchc restore`)."""

    def __init__(self, home: Path, pid: int | None, holder: str) -> None:
        self.home, self.pid, self.holder = home, pid, holder
        super().__init__(f"{home / LOCK_FILE} is held by {holder or 'another process'} (pid {pid or 'unknown'})")


@contextlib.contextmanager
def home_lock(home: Path, holder: str) -> Iterator[Path]:
    """Hold ``home``'s lock, or raise HomeBusy at once (never waits). An flock on CCHC_HOME/cchc.lock, which
    names the holder's pid while it is held. The kernel drops it when the process ends, however it ends (a
    kill -9 leaves no stale lock); children never inherit it (Python's descriptors are not inheritable)."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise HomeBusy(home, *_lock_holder(fd)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {holder}\n".encode(), 0)
        try:
            yield path
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # the file stays (removing it would race the next taker); it names nobody
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _lock_holder(fd: int) -> tuple[int | None, str]:
    """The pid and command written in the lock file (none yet if its holder took it an instant ago)."""
    try:
        pid, _, holder = os.pread(fd, 200, 0).decode(errors="replace").strip().partition(" ")
        return int(pid), holder
    except (OSError, ValueError):
        return None, ""


def busy_message(e: HomeBusy) -> str:
    """Why `cchc up` does not start, for the coordinator (in Vietnamese)."""
    pid = f"pid {e.pid}" if e.pid else "pid không rõ"
    if e.holder == RESTORE:
        return (
            f"đang khôi phục bản sao lưu vào {e.home} (`cchc restore`, {pid}); "
            "chờ lệnh khôi phục chạy xong rồi chạy lại `cchc up`."
        )
    if e.holder == UP:
        return (
            f"`cchc up` đã đang chạy trên {e.home} ({pid}); không khởi động thêm lần nữa. "
            "Muốn khởi động lại thì dừng nó trước (Ctrl-C, hoặc dừng dịch vụ systemd của nó)."
        )
    return f"{e.home / LOCK_FILE} đang bị một tiến trình khác giữ ({pid}); chờ nó xong rồi chạy lại `cchc up`."


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: IO[bytes]
    args: list[str] = field(default_factory=list)
    started: float = 0.0  # time.monotonic() at spawn


@dataclass
class Supervisor:
    settings: Settings
    host: str
    port: int
    echo: Callable[[str], None] = print
    serve_args: list[str] = field(default_factory=list)  # for flows.serve (bench/bench_up.py's baseline)
    scale: bool = False  # work pool and workers on PostgreSQL instead of the in-process runner
    workers: int = 2
    worker_limit: int = 4  # flow runs at once per worker: each is a process (about 1 s of CPU to start)
    cluster: pgcluster.Cluster | None = None  # the one under CCHC_HOME/pg, when --scale started or reused it
    prefect_db_url: str | None = None  # --scale: the server's PostgreSQL
    store_url: str | None = None  # --scale: the store's PostgreSQL
    failed_starts: dict[str, int] = field(default_factory=dict)  # worker name -> short lives in a row
    children: list[Child] = field(default_factory=list)
    stopping: bool = False
    watch: subprocess.Popen[bytes] | None = None
    watch_started: float = 0.0
    next_watch: float = 0.0
    next_rotate: float = 0.0

    @property
    def api_url(self) -> str:
        return self.settings.prefect_api_url or f"http://{self.host}:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return self.api_url.removesuffix("/api")

    def prefect_env(self) -> dict[str, str]:
        prefect_home = (self.settings.home / "prefect").resolve()
        prefect_home.mkdir(parents=True, exist_ok=True)
        scaled = {"CCHC_DATABASE_URL": self.store_url} if self.store_url else {}
        return self.settings.child_env(
            {
                **process_env(
                    self.settings.home, self.settings.child_env({}), installed_bytecode()
                ),  # bytecode kept, telemetry off
                **scaled,
                "PREFECT_HOME": str(prefect_home),
                "PREFECT_API_DATABASE_CONNECTION_URL": self.prefect_db_url
                or f"sqlite+aiosqlite:///{prefect_home / 'prefect.db'}",
                "PREFECT_SERVER_API_HOST": self.host,
                "PREFECT_SERVER_API_PORT": str(self.port),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_API_URL": self.api_url,
                "PREFECT_UI_API_URL": self.api_url,
                "PREFECT_LOGGING_LEVEL": "INFO",
                "DO_NOT_TRACK": "1",
            }
        )

    def _spawn(self, name: str, args: list[str]) -> Child:
        logs = (self.settings.home / "logs").resolve()
        logs.mkdir(parents=True, exist_ok=True)
        log = (logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            args, cwd=PROJECT_ROOT, env=self.prefect_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        child = Child(name, proc, log, args, time.monotonic())
        self.children.append(child)
        return child

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for c in self.children:
                if c.proc.poll() is not None:
                    raise SupervisorError(f"{c.name} exited with {c.proc.returncode}; see {c.log.name}")
            try:
                r = httpx.get(f"{self.api_url}/health", timeout=2.0)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}"
            except httpx.HTTPError as e:
                last = type(e).__name__
            time.sleep(0.5)
        raise SupervisorError(f"Prefect server at {self.api_url} not healthy after {timeout:.0f} s ({last})")

    def _databases(self) -> None:
        """--scale: the server and the store on PostgreSQL; the home's cluster for whichever has no URL."""
        prefect_url, store_url = self.settings.prefect_database_url, self.settings.database_url
        for var, url in (("PREFECT_API_DATABASE_CONNECTION_URL", prefect_url), ("CCHC_DATABASE_URL", store_url)):
            if url and not url.startswith("postgresql"):
                raise SupervisorError(
                    f"`cchc up --scale` cần PostgreSQL: {var} đang trỏ tới {url.split(':')[0]}; "
                    "bỏ biến đó đi (dùng cụm PostgreSQL trong CCHC_HOME/pg) hoặc đặt một URL postgresql+..."
                )
        if not (prefect_url and store_url):
            self.echo(f"khởi động PostgreSQL trong {self.settings.home / 'pg'} ...")
            try:
                self.cluster = pgcluster.ensure(self.settings.home)
            except pgcluster.ClusterError as e:
                raise SupervisorError(str(e)) from None
            prefect_url = prefect_url or self.cluster.prefect_url
            store_url = store_url or self.cluster.store_url
        self.prefect_db_url, self.store_url = prefect_url, store_url

    def _register_pool(self) -> Child:
        """Every deployment into the work pool, in one process that exits (`python -m flows.serve --pool`)."""
        args = ["--pool", POOL, "--concurrency", REGISTER_CONCURRENCY]
        args += ["--heartbeat-within", str(self.settings.requeue_after)]
        return self._spawn("register", [sys.executable, "-m", "flows.serve", *args])

    def _wait_registered(self, reg: Child) -> None:
        deadline = time.monotonic() + REGISTER_TIMEOUT
        while reg.proc.poll() is None:
            for c in self.children:
                if c is not reg and c.proc.poll() is not None:
                    raise SupervisorError(f"{c.name} exited with {c.proc.returncode}; see {c.log.name}")
            if time.monotonic() > deadline:
                raise SupervisorError(
                    f"registering the deployments took over {REGISTER_TIMEOUT:.0f} s; see {reg.log.name}"
                )
            time.sleep(0.5)
        self.children.remove(reg)
        reg.log.close()
        if reg.proc.returncode != 0:
            raise SupervisorError(f"registering the deployments failed ({reg.proc.returncode}); see {reg.log.name}")

    def _start_workers(self) -> None:
        no_smtp = self.settings.smtp_url is None or not self.settings.smtp_url.get_secret_value()
        for i in range(1, self.workers + 1):
            args = [sys.executable, "-m", "cchc.cli", "worker", "--pool", POOL, "--name", f"cchc-worker-{i}"]
            args += ["--limit", str(self.worker_limit)]
            # All on this machine: without SMTP the messages are .eml files in the one CCHC_HOME.
            self._spawn(f"worker-{i}", args + (["--mail-to-files"] if no_smtp else []))

    def _restart_worker(self, dead: Child) -> bool:
        """A worker that died (killed, out of memory) is started again, as systemd would; its runs were re-queued
        by the server's automations. One that keeps dying at start has a setting wrong: False, `cchc up` stops."""
        short = time.monotonic() - dead.started < WORKER_SHORT_LIFE
        self.failed_starts[dead.name] = self.failed_starts.get(dead.name, 0) + 1 if short else 0
        if self.failed_starts[dead.name] >= WORKER_FAILED_STARTS:
            return False
        self.echo(f"{dead.name} dừng bất thường ({dead.proc.returncode}); khởi động lại; xem {dead.log.name}")
        # Whatever it left in its group goes with it (its flow runs have their own sessions and heartbeats).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(dead.proc.pid, signal.SIGKILL)
        self.children.remove(dead)
        dead.log.close()
        self._spawn(dead.name, dead.args)
        return True

    def start(self) -> None:
        if self.scale:
            self._databases()
        db_url = self.store_url or self.settings.db_url
        # The store exists and is at the migration head before anything runs (and a wrong
        # CCHC_DATABASE_URL stops `cchc up` here, with its reason, instead of failing every run).
        try:
            get_engine(db_url)
        except SQLAlchemyError as e:
            raise SupervisorError(f"cannot open the store {db_url.split('@')[-1]}: {e}") from None
        if self.settings.prefect_api_url:
            self.echo(f"dùng Prefect server có sẵn: {self.api_url}")
        else:
            self.echo(f"khởi động Prefect server tại {self.ui_url} ...")
            self._spawn("server", [sys.executable, "-m", "prefect", "server", "start"])
        if installed_bytecode():  # the installation's bytecode is used, not a prefix: ours too, for every run
            compile_sources(PROJECT_ROOT)
        if self.scale:
            self.wait_healthy()
            reg = self._register_pool()
            self._start_workers()  # they poll the pool while it fills
            self._wait_registered(reg)
            self.echo(f"{self.workers} worker chạy các lượt của work pool {POOL!r}")
        else:
            # The runner starts with the server, not after it: its imports and the plans' deployments (seconds
            # each) overlap the server's start, and it waits for the server itself before registering.
            self._spawn("serve", [sys.executable, "-m", "flows.serve", *self.serve_args])
            self.wait_healthy()
        # The units' answer page. Behind a reverse proxy CCHC_PORTAL_URL is the public address and
        # CCHC_PORTAL_BIND (default 127.0.0.1:8700) is where it listens.
        portal = urlsplit(self.settings.portal_url)
        local = portal.hostname in ("127.0.0.1", "localhost")
        bind = self.settings.portal_bind or (f"{portal.hostname}:{portal.port or 80}" if local else "127.0.0.1:8700")
        host, _, port = bind.rpartition(":")
        self._spawn("portal", [sys.executable, "-m", "cchc.cli", "portal", "--host", host, "--port", port])
        self.echo(f"trang gửi minh chứng của đơn vị: {self.settings.portal_url}")
        self.echo(f"giao diện Prefect: {self.ui_url}")
        self.echo("Ctrl-C để dừng.")

    def stop(self) -> None:
        """Runner first (so it deregisters cleanly), then the server; whole process groups."""
        self.stopping = True
        # A second Ctrl-C or SIGTERM must not cut the shutdown short and orphan the server.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if self.watch is not None:
            _stop_group(self.watch)
            self.watch = None
        for c in reversed(self.children):
            _stop_group(c.proc)
            c.log.close()
        self.children.clear()
        if self.cluster is not None:  # last: everything above used it
            try:
                pgcluster.stop(self.cluster)
            except pgcluster.ClusterError as e:
                self.echo(f"PostgreSQL không dừng được: {e}")
            self.cluster = None

    def housekeeping(self, now: float) -> None:
        """Rotate the logs; run the watchdog (the doctor's checks, mail on a change) outside Prefect's scheduler."""
        if now >= self.next_rotate:
            self.next_rotate = now + ROTATE_EVERY
            rotate_all(self.settings.home / "logs", self.settings.log_max_bytes, self.settings.log_backups)
        if self.watch is not None and self.watch.poll() is None:
            if now - self.watch_started < WATCH_TIMEOUT:
                return  # one pass at a time
            _stop_group(self.watch)  # hung (a lock, a silent server): it must not silence every later pass
        if now >= self.next_watch:
            self.next_watch = now + self.settings.watchdog_interval
            self.watch, self.watch_started = self._watchdog_pass(), now

    def _watchdog_pass(self) -> subprocess.Popen[bytes]:
        logs = (self.settings.home / "logs").resolve()
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / "watchdog.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "cchc.cli", "watchdog", "--once"],
                cwd=PROJECT_ROOT,
                env=self.prefect_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def last_alarm(self) -> None:
        """`cchc up` is giving up: one watchdog pass now, so someone hears before systemd restarts it."""
        try:
            self._watchdog_pass().wait(timeout=120)
        except (OSError, subprocess.TimeoutExpired) as e:
            self.echo(f"watchdog pass failed: {e}")

    def run_forever(self) -> int:
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(home_lock(self.settings.home, UP))
            except HomeBusy as e:
                self.echo(f"không khởi động được: {busy_message(e)}")
                return 2
            return self.serve_locked()  # the lock goes only after stop(): every child is gone by then

    def serve_locked(self) -> int:
        """Run until stopped; the caller holds the home's lock (``home_lock``) for the whole call."""

        def _on_signal(signum: int, _frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, _on_signal)
        try:
            self.start()
            self.next_watch = time.monotonic() + min(FIRST_WATCH, self.settings.watchdog_interval)
            while True:
                for c in list(self.children):
                    if c.proc.poll() is not None:
                        if self.scale and c.name.startswith("worker-") and self._restart_worker(c):
                            continue
                        self.echo(f"{c.name} exited with {c.proc.returncode}; see {c.log.name}")
                        self.last_alarm()
                        return 1
                self.housekeeping(time.monotonic())
                time.sleep(0.5)
        except KeyboardInterrupt:
            self.echo("đang dừng ...")
            return 0
        except SupervisorError as e:
            self.echo(f"error: {e}")
            self.last_alarm()
            return 1
        finally:
            self.stop()


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass
    # Anything the child left in its group (flow-run subprocesses) goes too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
