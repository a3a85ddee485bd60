"""A persistent PostgreSQL cluster under CCHC_HOME/pg, for `cchc up --scale` when no database URL is given.

initdb refuses to run as root, so as root every PostgreSQL binary runs as the ``postgres`` user (runuser), and the
cluster's folder belongs to it. The port is chosen once, at initdb, and kept in CCHC_HOME/pg/port: the database
URLs stay the same from one start to the next. The server listens on 127.0.0.1 only, with ``trust``
authentication: it is the single machine's own database; a multi-machine setup gives real URLs instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

DATABASES = ("prefect", "cchc")
START_TIMEOUT = 60


class ClusterError(RuntimeError):
    """The cluster cannot be created or started; the message says what to do."""


@dataclass(frozen=True)
class Cluster:
    root: Path  # CCHC_HOME/pg
    port: int
    started: bool  # by us (False: it was already running, left over from an earlier start)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str, driver: str) -> str:
        return f"postgresql+{driver}://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def prefect_url(self) -> str:
        return self.url("prefect", "asyncpg")

    @property
    def store_url(self) -> str:
        return self.url("cchc", "psycopg")


def pg_bin() -> Path:
    """The newest PostgreSQL's binaries (Debian's /usr/lib/postgresql/N/bin), else those on PATH."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3].split(".")[0]))
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise ClusterError(
        "không tìm thấy PostgreSQL (initdb) để tạo cơ sở dữ liệu cho `cchc up --scale`: cài gói postgresql, "
        "hoặc đặt PREFECT_API_DATABASE_CONNECTION_URL và CCHC_DATABASE_URL tới một PostgreSQL có sẵn."
    )


def _as_owner(args: list[str]) -> list[str]:
    # initdb and postgres refuse root; the cluster belongs to the postgres user.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _run(args: list[str], what: str) -> str:
    done = subprocess.run(_as_owner(args), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ClusterError(f"{what} thất bại ({done.returncode}): {(done.stderr or done.stdout).strip()[-800:]}")
    return done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _reachable_by_owner(path: Path) -> None:
    """As root the postgres user must be able to walk down to the cluster (a 0700 home stops it)."""
    if os.geteuid() != 0:
        return
    done = subprocess.run(_as_owner(["test", "-x", str(path)]), capture_output=True, check=False)
    if done.returncode != 0:
        raise ClusterError(
            f"người dùng postgres không vào được {path}: cho phép đi qua các thư mục cha "
            f"(ví dụ `chmod o+x` từng thư mục), hoặc đặt CCHC_HOME ở nơi khác."
        )


def _init(root: Path, bin_dir: Path) -> int:
    root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    _reachable_by_owner(root)
    port = _free_port()
    _run(
        [str(bin_dir / "initdb"), "-D", str(root / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8"],
        "initdb",
    )
    (root / "port").write_text(f"{port}\n")
    return port


def _running(root: Path, bin_dir: Path) -> bool:
    done = subprocess.run(
        _as_owner([str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "status"]), capture_output=True, check=False
    )
    return done.returncode == 0


def _create_databases(port: int) -> None:
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as conn:
        have = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        for name in DATABASES:
            if name not in have:
                conn.execute(f'CREATE DATABASE "{name}"')


def ensure(home: Path) -> Cluster:
    """Start (creating it the first time) the cluster under ``home``/pg, with its databases; reuse a running one."""
    root = (home / "pg").resolve()
    bin_dir = pg_bin()
    if (root / "data" / "PG_VERSION").exists():
        try:
            port = int((root / "port").read_text().strip())
        except (OSError, ValueError):
            raise ClusterError(
                f"{root / 'port'} hỏng hoặc mất: ghi vào đó cổng của cụm PostgreSQL (ví dụ 55432)"
            ) from None
    else:
        port = _init(root, bin_dir)
    started = False
    if not _running(root, bin_dir):
        _reachable_by_owner(root)
        _run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(root / "data"),
                "-l",
                str(root / "postgres.log"),
                "-w",
                "-t",
                str(START_TIMEOUT),
                "-o",
                f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200",
                "start",
            ],
            f"khởi động PostgreSQL ({root / 'postgres.log'})",
        )
        started = True
    _create_databases(port)
    return Cluster(root, port, started)


def stop(cluster: Cluster) -> None:
    """A fast shutdown: open sessions are ended, committed work is on disk."""
    _run([str(pg_bin() / "pg_ctl"), "-D", str(cluster.data), "-m", "fast", "-w", "stop"], "dừng PostgreSQL")
