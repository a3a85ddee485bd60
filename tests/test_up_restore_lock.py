"""One `cchc up` per home, and no restore under it: both hold the home's lock (CCHC_HOME/cchc.lock).

A real `cchc up`: a restore onto its home is refused and changes nothing, a second `cchc up` there refuses and
names the first one's pid, and once it has stopped the restore goes through. A restore holding the lock: `cchc
up` refuses to start, and so does another restore.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import pendulum
import pytest

from cchc.app import backup as bk
from cchc.app.supervisor import LOCK_FILE, RESTORE, home_lock
from cchc.core.loader import load_plan
from cchc.settings import Settings
from cchc.store import repo
from cchc.store.db import dispose_all, get_engine, session_scope
from tests.conftest import FIXTURES, ROOT
from tests.running import CCHC, System, free_port, get_ok, processes_of, wait_for

NOW = pendulum.datetime(2025, 10, 20, 9, tz="Asia/Ho_Chi_Minh")


def _plans(tmp_path: Path) -> Path:
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "demo.yaml").write_text((FIXTURES / "demo.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return plans


def _archive(settings: Settings, tmp_path: Path) -> Path:
    """A backup of another home: an empty store at the head revision."""
    get_engine(settings.db_url)
    dispose_all()
    return bk.create_backup(settings, NOW, tmp_path / "other.tar.gz").path


def _start(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CCHC, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _up(env: dict[str, str]) -> subprocess.Popen[str]:
    """Another `cchc up`, on free ports of its own."""
    return _start("up", "--port", str(free_port()), env={**env, "CCHC_PORTAL_URL": f"http://127.0.0.1:{free_port()}"})


def _restore(archive: Path, home: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return _start("restore", str(archive), "--home", str(home), "--force", env=env)


def _finish(proc: subprocess.Popen[str], expect_refusal: bool = True) -> tuple[int, str]:
    """Its exit status and output, within bounds. A command expected to refuse that starts instead is stopped
    (SIGTERM: `cchc up` takes its server and runner down with it) and fails the test."""
    try:
        out, _ = proc.communicate(timeout=30 if expect_refusal else 120)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=90)
        pytest.fail(f"{proc.args!r} did not finish in time:\n{out}")
    return proc.returncode, out


def _plan_ids(database: Path) -> list[str]:
    conn = sqlite3.connect(database, timeout=30)
    try:
        return [r[0] for r in conn.execute("SELECT id FROM plans ORDER BY id")]
    finally:
        conn.close()


@pytest.mark.timeout_slow
def test_a_running_cchc_up_refuses_a_restore_and_a_second_cchc_up(cchc_env: Settings, tmp_path: Path) -> None:
    archive = _archive(cchc_env, tmp_path)
    system = System(home=(tmp_path / "up").resolve(), plan_dir=_plans(tmp_path))
    home = system.home
    with session_scope(get_engine(f"sqlite:///{home / 'cchc.db'}")) as s:  # the running system's data
        repo.sync_plan(s, load_plan(system.plan_dir / "demo.yaml"), NOW)
    dispose_all()
    system.start()
    assert system.proc is not None
    pid = system.proc.pid
    try:
        wait_for("the units' portal", lambda: get_ok(f"http://127.0.0.1:{system.portal_port}/healthz"), 120, 0.5)
        system.alive()
        assert (home / LOCK_FILE).read_text().split() == [str(pid), "cchc", "up"]
        databases = [home / "cchc.db", home / "prefect" / "prefect.db"]
        before = [d.stat().st_ino for d in databases]

        restore, second = _restore(archive, home, system.env), _up(system.env)  # both at once
        code, out = _finish(restore)
        assert code == 2, out
        assert f"the system is running on {home}: `cchc up` (pid {pid}) holds {home / LOCK_FILE}" in out, out
        assert "nothing was restored" in out
        code, out = _finish(second)
        assert code == 2, out
        assert f"không khởi động được: `cchc up` đã đang chạy trên {home} (pid {pid})" in out, out
        # Nothing changed: the same store and Prefect database files, its rows, nothing staged or set aside.
        assert [d.stat().st_ino for d in databases] == before
        assert _plan_ids(home / "cchc.db") == ["demo"]
        assert not (home / "backups").exists() and not list(home.glob(".restore-*"))
        system.alive()
        assert (home / LOCK_FILE).read_text().split() == [str(pid), "cchc", "up"]  # still the first one's
    finally:
        code = system.stop(signal.SIGINT)
    assert code == 0, system.output()
    wait_for("every child process to be gone", lambda: not processes_of(home), 30, 0.5)
    assert (home / LOCK_FILE).read_text() == ""  # let go: it names nobody

    code, out = _finish(_restore(archive, home, system.env), expect_refusal=False)  # stopped: now it goes through
    assert code == 0, out
    assert _plan_ids(home / "cchc.db") == []  # the archive's store


def test_cchc_up_and_another_restore_refuse_while_a_restore_holds_the_home(cchc_env: Settings, tmp_path: Path) -> None:
    archive = _archive(cchc_env, tmp_path)
    system = System(home=(tmp_path / "target").resolve(), plan_dir=_plans(tmp_path))
    home = system.home
    with home_lock(home, RESTORE):  # as `cchc restore` holds it from its first check to its end
        assert (home / LOCK_FILE).read_text().split() == [str(os.getpid()), "cchc", "restore"]
        up, other = _up(system.env), _restore(archive, home, system.env)  # both at once
        code, out = _finish(up)
        assert code == 2, out
        assert (
            f"không khởi động được: đang khôi phục bản sao lưu vào {home} (`cchc restore`, pid {os.getpid()}); "
            "chờ lệnh khôi phục chạy xong rồi chạy lại `cchc up`." in out
        ), out
        code, out = _finish(other)
        assert code == 2, out
        assert f"another restore is running on {home} (pid {os.getpid()}); nothing was restored" in out, out
        assert not (home / "prefect").exists() and not (home / "logs").exists()  # no system started
        assert not (home / "cchc.db").exists()  # `cchc up` took the lock before it opened the store
        assert not (home / "backups").exists() and not list(home.glob(".restore-*"))  # nothing restored
    assert (home / LOCK_FILE).read_text() == ""
