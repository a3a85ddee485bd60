"""Migrations never lose data: downgrades refuse to drop rows unless forced (and then copy the store first), no
cchc command downgrades, and a first start killed in the middle of its migration is recovered by the next."""

from __future__ import annotations

import argparse
import ast
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text

from cchc.store import db
from cchc.store.models import Base, EvidenceRow, PlanRow
from tests.conftest import FIXTURES, ROOT

VERSIONS = ROOT / "cchc" / "store" / "migrations" / "versions"


def with_rows(url: str) -> None:
    """A store at the head holding one evidence row and one run beat (rows that only 0001 and 0005 drop)."""
    engine = db.make_engine(url)
    db.migrate(engine)
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO evidence (plan_id, duty_id, kind, title, occurred_on, source, recorded_at, dedup_key)"
                " VALUES ('demo', 'posts', 'post', 'Bài 1', '2025-10-02', 'manual', '2025-10-28 02:00:00+00:00',"
                " 'url:https://a.example/1')"
            )
        )
        c.execute(text("INSERT INTO plan_beats (plan_id, last_run_at) VALUES ('demo', '2025-10-28 02:00:00+00:00')"))
    engine.dispose()


def revision_of(url: str) -> frozenset[str]:
    engine = db.make_engine(url)
    try:
        return db.current_revision(engine)
    finally:
        engine.dispose()


def evidence_titles(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return list(c.execute(select(EvidenceRow.title)).scalars())
    finally:
        engine.dispose()


def columns_of(url: str, table: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return {col["name"] for col in inspect(c).get_columns(table)}
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------------- the downgrades


def _literal_names(node: ast.expr | None) -> set[str | tuple[str, str]]:
    if node is None:
        return set()
    value = ast.literal_eval(node)
    return {tuple(v) if isinstance(v, list | tuple) else v for v in value}


def _drops(fn: ast.FunctionDef) -> tuple[set[str], set[tuple[str, str]]]:
    """The tables and columns a downgrade() drops: op.drop_table(t), and drop_column(c) in batch_alter_table(t)."""
    tables: set[str] = set()
    columns: set[tuple[str, str]] = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.With):
            call = node.items[0].context_expr
            if isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "batch_alter_table":
                table = ast.literal_eval(call.args[0])
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Call) and getattr(inner.func, "attr", "") == "drop_column":
                        columns.add((table, ast.literal_eval(inner.args[0])))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "drop_table":
            tables.add(ast.literal_eval(node.args[0]))
    return tables, columns


@pytest.mark.parametrize("path", sorted(VERSIONS.glob("*.py")), ids=lambda p: p.stem)
def test_every_downgrade_first_names_every_table_and_column_it_drops(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "downgrade")
    first = fn.body[0]
    assert isinstance(first, ast.Expr) and isinstance(first.value, ast.Call), f"{path.name}: guard_downgrade first"
    assert isinstance(first.value.func, ast.Name) and first.value.func.id == "guard_downgrade", path.name
    named = {k.arg: _literal_names(k.value) for k in first.value.keywords}
    tables, columns = _drops(fn)
    assert named.get("tables", set()) == tables, path.name
    assert named.get("columns", set()) == columns, path.name


def test_a_new_migration_starts_with_the_guard() -> None:
    template = (ROOT / "cchc" / "store" / "migrations" / "script.py.mako").read_text(encoding="utf-8")
    assert "from cchc.store.db import guard_downgrade" in template and "    guard_downgrade(" in template


def test_a_downgrade_that_would_drop_rows_refuses_and_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cchc.db'}"
    with_rows(url)
    # The later steps drop only empty columns; 0005 then meets plan_beats' row: the whole run is undone.
    with pytest.raises(db.DowngradeRefused, match=r"table plan_beats \(1 rows\).*nothing was changed"):
        db.downgrade(url, "0004")
    assert revision_of(url) == db.head_revision()
    assert "claimed_by" in columns_of(url, "outbox")  # the step before the refusal was rolled back too
    # The alembic command line (env.py opening its own connection) refuses the same way.
    with pytest.raises(db.DowngradeRefused, match=r"table plan_beats \(1 rows\)"):
        command.downgrade(db.alembic_config(url), "base")
    assert revision_of(url) == db.head_revision() and evidence_titles(url) == ["Bài 1"]
    assert not (tmp_path / "backups").exists()


def test_a_forced_downgrade_copies_the_store_first(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cchc.db'}"
    with_rows(url)
    copy = db.downgrade(url, "0004", force=True, backup_dir=tmp_path / "kept")
    assert copy is not None and copy.parent == tmp_path / "kept"
    assert revision_of(url) == frozenset({"0004"})
    assert revision_of(f"sqlite:///{copy}") == db.head_revision()  # taken before the first step
    kept = sqlite3.connect(copy)
    try:
        assert kept.execute("SELECT plan_id FROM plan_beats").fetchall() == [("demo",)]
    finally:
        kept.close()
    assert evidence_titles(url) == ["Bài 1"]  # what 0004 still has is untouched
    assert db.get_engine(url) is not None and revision_of(url) == db.head_revision()  # and forward again
    db.dispose_all()


def test_the_alembic_command_line_forces_with_x_force_and_keeps_a_copy_beside_the_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cchc.db'}"
    with_rows(url)
    cfg = db.alembic_config(url)
    cfg.cmd_opts = argparse.Namespace(x=["force=1"])
    command.downgrade(cfg, "base")
    assert revision_of(url) == frozenset()
    (copy,) = (tmp_path / "backups").glob("store-before-downgrade-*.db")
    assert revision_of(f"sqlite:///{copy}") == db.head_revision() and evidence_titles(f"sqlite:///{copy}") == ["Bài 1"]


def test_a_downgrade_of_an_empty_store_needs_no_force(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cchc.db'}"
    db.migrate(db.make_engine(url))
    assert db.downgrade(url, "base") is None
    assert revision_of(url) == frozenset()


def _names_used(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    out |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    out |= {a.name.rsplit(".", 1)[-1] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    return out


def test_no_cchc_command_or_flow_downgrades() -> None:
    store = ROOT / "cchc" / "store"
    offenders = []
    for package in ("cchc", "flows", "tasks", "notifications"):
        for path in (ROOT / package).rglob("*.py"):
            if path == store / "db.py" or store / "migrations" in path.parents:
                continue
            if {"downgrade", "guard_downgrade"} & _names_used(path):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
    # db.py itself calls alembic's downgrade only inside db.downgrade, which nothing above the store calls.
    tree = ast.parse((store / "db.py").read_text(encoding="utf-8"))
    callers = {
        fn.name
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef)
        for n in ast.walk(fn)
        if isinstance(n, ast.Attribute) and n.attr == "downgrade"
    }
    assert callers == {"downgrade"}


# ------------------------------------------------------------------------- an interrupted first start

CHILD = """
import sys, time
from pathlib import Path
from cchc.store import db

marker, stop_at = Path(sys.argv[1]), sys.argv[2]

def pause(revision: str) -> None:
    if revision == stop_at:
        marker.write_text(revision)  # the parent kills this process now: inside the migration's transaction
        time.sleep(600)

db.on_migration_step(pause)
from cchc.cli.main import main
sys.argv = ["cchc", *sys.argv[3:]]
main()
"""


def first_start(env: dict[str, str], marker: Path, stop_at: str) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-c", CHILD, str(marker), stop_at, "status", "demo", "--at", "2025-10-28", "--json"]
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def kill_at_the_hook(proc: subprocess.Popen[bytes], marker: Path) -> None:
    deadline = time.monotonic() + 90
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the migration never reached the hook"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def the_next_start_recovers(env: dict[str, str], url: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cchc.cli", "status", "demo", "--at", "2025-10-28", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert '"duty": "posts"' in proc.stdout
    engine = create_engine(url)
    try:
        assert db.current_revision(engine) == db.head_revision()
        with engine.connect() as c:
            assert compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata) == []
            assert c.execute(select(PlanRow.id)).scalars().all() == ["demo"]  # the plan loaded
    finally:
        engine.dispose()


def child_env(home: Path, db_url: str | None = None) -> dict[str, str]:
    env = {**os.environ, "CCHC_HOME": str(home), "CCHC_PLAN_DIR": str(FIXTURES)}
    env.pop("CCHC_DATABASE_URL", None)
    env.pop("PREFECT_API_URL", None)
    if db_url:
        env["CCHC_DATABASE_URL"] = db_url
    return env


@pytest.mark.parametrize("stop_at", ["0001", "0003", "head"])
def test_a_first_start_killed_during_its_migration_leaves_nothing_and_the_next_start_recovers(
    tmp_path: Path, stop_at: str
) -> None:
    if stop_at == "head":  # the last step, just before the commit
        (stop_at,) = db.head_revision()
    home = tmp_path / "var"
    env = child_env(home)
    kill_at_the_hook(first_start(env, tmp_path / "marker", stop_at), tmp_path / "marker")
    url = f"sqlite:///{home / 'cchc.db'}"
    killed = sqlite3.connect(home / "cchc.db")  # opening it rolls back what the killed process left in the WAL
    try:
        assert killed.execute("SELECT name FROM sqlite_master").fetchall() == []  # no table, no half revision
    finally:
        killed.close()
    the_next_start_recovers(env, url)


@pytest.mark.postgres
def test_a_first_start_killed_during_its_migration_recovers_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    env = child_env(tmp_path / "var", pg_url)
    kill_at_the_hook(first_start(env, tmp_path / "marker", "0003"), tmp_path / "marker")
    engine = create_engine(pg_url)
    try:
        with engine.connect() as c:
            assert inspect(c).get_table_names() == []
    finally:
        engine.dispose()
    the_next_start_recovers(env, pg_url)


HOLD = """
import sys, time
from pathlib import Path
from cchc.store import db

marker, go, url = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

def hold(revision: str) -> None:
    if revision == "0001":
        marker.write_text(revision)  # inside the migration: tables created, not yet committed
        deadline = time.monotonic() + 120
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

db.on_migration_step(hold)
db.get_engine(url)
"""


@pytest.mark.postgres
def test_two_first_starts_at_once_on_postgresql_both_succeed(tmp_path: Path, pg_url: str) -> None:
    """`cchc up` starts its portal and its runner together on a fresh store: the second waits for the first's
    migration, then finds the head reached (without the lock it would fail on a table the first created)."""
    env = child_env(tmp_path / "var", pg_url)
    marker, go = tmp_path / "marker", tmp_path / "go"
    first = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(marker), str(go), pg_url], cwd=ROOT, env=env, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 90
    while not marker.exists():
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.02)
    args = [sys.executable, "-c", "import sys; from cchc.store import db; db.get_engine(sys.argv[1])", pg_url]
    second = subprocess.Popen(args, cwd=ROOT, env=env, stderr=subprocess.PIPE)
    watcher = create_engine(pg_url)
    try:
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        while True:  # the second start is blocked behind the first one's transaction
            with watcher.connect() as c:
                if c.execute(waiting).scalar_one():
                    break
            assert second.poll() is None and time.monotonic() < deadline, second.communicate()
            time.sleep(0.05)
    finally:
        watcher.dispose()
    go.touch()
    for proc in (first, second):
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    assert revision_of(pg_url) == db.head_revision()


@pytest.mark.postgres
def test_a_downgrade_refuses_and_a_forced_one_dumps_first_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    with_rows(pg_url)
    with pytest.raises(db.DowngradeRefused, match=r"table plan_beats \(1 rows\)"):
        db.downgrade(pg_url, "0004")
    assert revision_of(pg_url) == db.head_revision() and "claimed_by" in columns_of(pg_url, "outbox")
    copy = db.downgrade(pg_url, "0004", force=True, backup_dir=tmp_path)
    assert copy is not None and copy.suffix == ".dump" and copy.stat().st_size > 0
    assert revision_of(pg_url) == frozenset({"0004"}) and evidence_titles(pg_url) == ["Bài 1"]
