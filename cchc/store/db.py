"""Engine, sessions and migrations; consistent copies of the store (for `cchc backup` and `cchc restore`).

SQLite runs in WAL mode with a busy timeout, and every transaction opens with
``BEGIN IMMEDIATE`` so concurrent writers queue for the lock instead of failing
half-way with "database is locked" (a deferred BEGIN upgrades too late).

Migrations run in one transaction (SQLite's DDL is transactional too, since we issue BEGIN
ourselves): a first start killed half-way leaves nothing, and the next start migrates from scratch.
A downgrade refuses to drop rows unless forced, and when forced copies the store first
(``guard_downgrade``, called first in every migration's ``downgrade()``). No cchc command downgrades.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
import shutil
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    Text,
    column,
    create_engine,
    event,
    func,
    inspect,
    select,
    table,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from cchc.settings import get_settings

# Alembic loads only when the store is not at the head (or for backup, restore, doctor): every cchc command
# opens the store, and importing alembic and its migration scripts costs more than the command itself.
if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext, MigrationInfo

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"
MIGRATION_LOCK = 0x63636863  # pg_advisory_xact_lock key ("cchc") held while a migration runs
_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_step_hooks: list[Callable[[str], None]] = []


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let us issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        _sqlite_setup(engine)
        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> frozenset[str]:
    """The heads of the migration graph: each feature's tables are a branch off the base."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return frozenset(script.get_heads())


def known_revisions() -> frozenset[str]:
    """Every revision this code can migrate from (a restored store must be at one of them)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return frozenset(r.revision for r in script.walk_revisions())


def current_revision(engine: Engine) -> frozenset[str]:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return frozenset(MigrationContext.configure(conn).get_current_heads())


_HEADER = re.compile(r"^(revision|down_revision|branch_labels|depends_on)\s*(?::[^=\n]*)?=\s*(.*?)\s*$", re.MULTILINE)


def declared_heads() -> frozenset[str] | None:
    """The heads as the version files declare them (``revision = '0009'``, ``down_revision = '0008'``), read as
    text without importing alembic or the scripts. None when any file states them otherwise (a computed value,
    a ``depends_on``): then only alembic may say. tests/test_cli_startup.py compares it with head_revision()."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for f in sorted((MIGRATIONS / "versions").iterdir()):
        # The files alembic reads as revisions: every .py but __init__ and editor lock files.
        if f.suffix != ".py" or f.name.startswith(("__init__", ".#")):
            continue
        found = [(m[1], m[2]) for m in _HEADER.finditer(f.read_text(encoding="utf-8"))]
        values: dict[str, str] = dict(found)
        if len(values) != len(found) or "revision" not in values or "down_revision" not in values:
            return None
        try:
            rev = ast.literal_eval(values["revision"])
            down = ast.literal_eval(values["down_revision"])
            depends = ast.literal_eval(values.get("depends_on", "None"))
        except (ValueError, SyntaxError):
            return None
        downs = (down,) if isinstance(down, str) else down if isinstance(down, tuple) else ()
        if not isinstance(rev, str) or depends is not None or (down is not None and not downs):
            return None
        if not all(isinstance(d, str) for d in downs):
            return None
        revisions.add(rev)
        parents.update(downs)
    return frozenset(revisions - parents) or None


def stored_revision(engine: Engine) -> frozenset[str]:
    """The revisions recorded in the store's alembic_version table (empty for a new store), by plain SQL."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return frozenset()
        rows = conn.execute(select(column("version_num", Text)).select_from(table(VERSION_TABLE))).scalars()
        return frozenset(rows)


def on_migration_step(hook: Callable[[str], None]) -> None:
    """Seam for tests: ``hook(revision)`` runs after each revision is applied, inside the migration's one
    transaction (the test of an interrupted first start pauses there and kills the process)."""
    if hook not in _step_hooks:
        _step_hooks.append(hook)


def _after_step(*, ctx: MigrationContext, step: MigrationInfo, heads: set[str], run_args: dict[str, Any]) -> None:
    for hook in list(_step_hooks):
        hook(step.up_revision_id or "")


def migrate(engine: Engine) -> None:
    """Create a fresh database or bring an older one forward to every head, in one transaction: a process
    killed half-way leaves the store as it was, and the next start does the whole migration again."""
    heads = declared_heads()
    if heads is not None and stored_revision(engine) == heads:
        return  # the usual case, decided without loading alembic
    if current_revision(engine) == head_revision():
        return
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Processes starting together on a fresh database (the portal and the runner of `cchc up`) take
            # turns; the second finds the head reached. On SQLite BEGIN IMMEDIATE already serialises them.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        cfg.attributes["on_version_apply"] = [_after_step]
        command.upgrade(cfg, "heads")


def get_engine(url: str) -> Engine:
    """One migrated engine per URL per process."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = make_engine(url)
            migrate(engine)
            _engines[url] = engine
        return engine


def dispose_all() -> None:
    with _lock:
        for e in _engines.values():
            e.dispose()
        _engines.clear()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A transaction: committed on success, rolled back on any error (never half-written)."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session


# ---------------------------------------------------------------------------------------------- downgrades


class DowngradeRefused(RuntimeError):
    """A downgrade step would drop rows and was not forced; the transaction is rolled back, nothing changed."""


def downgrade(url: str, target: str, *, force: bool = False, backup_dir: Path | None = None) -> Path | None:
    """Take the store back to revision ``target``. For developers: no cchc command calls it.

    A step that would drop a table or a column holding rows refuses (DowngradeRefused) unless ``force``;
    forced, the store is first copied into ``backup_dir`` (default: ``backups/`` beside a SQLite file,
    else CCHC_HOME/backups). Returns that copy, if one was taken. One transaction throughout.
    The alembic command line gets the same with ``-x force=1`` (and ``-x backup_dir=...``).
    """
    from alembic import command

    engine = make_engine(url)
    cfg = alembic_config(url)
    cfg.attributes["force_downgrade"] = force
    if backup_dir is not None:
        cfg.attributes["backup_dir"] = backup_dir
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, target)
    finally:
        engine.dispose()
    taken = cfg.attributes.get("downgrade_backup")
    return taken if isinstance(taken, Path) else None


def guard_downgrade(*, tables: Sequence[str] = (), columns: Sequence[tuple[str, str]] = ()) -> None:
    """The first call of every migration's ``downgrade()``, naming what it drops.

    Not forced: refuses when any of ``tables`` holds a row or any ``(table, column)`` a value. Forced: copies
    the store once per run, at the first step, before anything has changed (a copy taken later would have to
    wait for the locks this transaction already holds on PostgreSQL).
    """
    from alembic import context, op

    cfg = context.config
    x = context.get_x_argument(as_dictionary=True)
    conn = op.get_bind()
    if bool(cfg.attributes.get("force_downgrade")) or x.get("force", "").lower() in ("1", "true", "yes"):
        if "downgrade_backup" not in cfg.attributes:
            where = cfg.attributes.get("backup_dir") or x.get("backup_dir")
            cfg.attributes["downgrade_backup"] = _copy_before_downgrade(conn, Path(where) if where else None)
        return
    held = rows_held(conn, tables, columns)
    if held:
        raise DowngradeRefused(
            f"downgrade refused: it would drop {', '.join(held)}; nothing was changed. "
            "Keep a copy first (`cchc backup`), then force it: cchc.store.db.downgrade(url, target, force=True), "
            "or alembic's `-x force=1`; a forced downgrade copies the store before its first step."
        )


def rows_held(conn: Connection, tables: Sequence[str], columns: Sequence[tuple[str, str]]) -> list[str]:
    """What a downgrade would lose: each named table with rows, each named column with values."""
    insp = inspect(conn)
    present = set(insp.get_table_names())
    held = []
    for name in tables:
        if name in present and (n := conn.execute(select(func.count()).select_from(table(name))).scalar_one()):
            held.append(f"table {name} ({n} rows)")
    for name, col in columns:
        if name not in present or col not in {c["name"] for c in insp.get_columns(name)}:
            continue
        query = select(func.count()).select_from(table(name, column(col))).where(column(col).is_not(None))
        if n := conn.execute(query).scalar_one():
            held.append(f"column {name}.{col} ({n} values)")
    return held


def _copy_before_downgrade(conn: Connection, folder: Path | None) -> Path:
    url = conn.engine.url
    if folder is None:
        if url.get_backend_name() == "sqlite" and url.database:
            folder = Path(url.database).resolve().parent / "backups"
        else:
            folder = get_settings().home / "backups"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    suffix = ".db" if url.get_backend_name() == "sqlite" else ".dump"
    dest = folder / f"store-before-downgrade-{stamp}{suffix}"
    copy_store(url.render_as_string(hide_password=False), dest)
    return dest


# -------------------------------------------------------------------------------- copies of the store


class StoreCopyError(RuntimeError):
    """A copy of the store could not be taken or loaded; one line for the user."""


@dataclass(frozen=True)
class StoreCopy:
    kind: str  # "sqlite" or "postgresql"
    path: Path
    revision: tuple[str, ...]  # alembic heads of the copy; () for a store never migrated
    files: frozenset[str]  # sha256 of every content file the copy's rows name


def backend(url: str) -> str:
    return make_url(url).get_backend_name()


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise StoreCopyError(f"{url} is not a SQLite file")
    return Path(database)


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def copy_store(url: str, dest: Path) -> StoreCopy:
    """A consistent copy of the store while it is in use, with the facts read from that same copy.

    SQLite: the online backup API in one step (one read transaction; never a file copy of a live database).
    PostgreSQL: pg_dump (custom format) of the store's tables inside a snapshot exported by a transaction that
    reads the revision and the files named in the same snapshot.
    """
    if backend(url) == "sqlite":
        copy_sqlite(sqlite_path(url), dest)
        engine = create_engine(f"sqlite:///{dest.resolve()}")
        try:
            with engine.connect() as conn:
                revision, files = _facts(conn)
        finally:
            engine.dispose()
        return StoreCopy("sqlite", dest, revision, files)
    if backend(url) != "postgresql":
        raise StoreCopyError(f"cannot copy a {backend(url)} store; SQLite and PostgreSQL are supported")
    revision, files = _dump_postgres(url, dest)
    return StoreCopy("postgresql", dest, revision, files)


def copy_sqlite(source: Path, dest: Path) -> None:
    """SQLite's online backup of ``source`` (any SQLite database, the store or Prefect's) into one file."""
    if not source.is_file():
        raise StoreCopyError(f"no database at {source}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(source, timeout=30)  # read-write: a read-only open of a WAL database needs its -shm
    try:
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)  # pages=-1: every page in one step, one read transaction, a consistent snapshot
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            check = dst.execute("PRAGMA quick_check").fetchone()
        finally:
            dst.close()
    except sqlite3.Error as e:
        raise StoreCopyError(f"cannot copy {source}: {e}") from None
    finally:
        src.close()
    if not check or check[0] != "ok":
        raise StoreCopyError(f"the copy of {source} fails SQLite's check: {check}")


def _facts(conn: Connection) -> tuple[tuple[str, ...], frozenset[str]]:
    """The alembic revision and the content files named by the rows, at any revision of the store."""
    insp = inspect(conn)
    present = set(insp.get_table_names())
    revision: tuple[str, ...] = ()
    if VERSION_TABLE in present:
        revision = tuple(
            sorted(conn.execute(select(column("version_num")).select_from(table(VERSION_TABLE))).scalars())
        )
    named: set[str] = set()
    for name, col in (("evidence", "file_sha256"), ("report_runs", "draft_sha256"), ("report_runs", "final_sha256")):
        if name in present:
            named.update(
                conn.execute(select(column(col)).select_from(table(name)).where(column(col).is_not(None))).scalars()
            )
    if "outbox" in present and "attachments" in {c["name"] for c in insp.get_columns("outbox")}:
        attachments = column("attachments", Text)
        for raw in conn.execute(
            select(attachments).select_from(table("outbox")).where(attachments.is_not(None))
        ).scalars():
            named.update(str(a["sha256"]) for a in json.loads(raw) if isinstance(a, dict) and "sha256" in a)
    return revision, frozenset(named)


def store_tables(conn: Connection) -> list[str]:
    """The store's tables present in this database (the models' and alembic's), nothing else of it."""
    from cchc.store.models import Base

    ours = {*Base.metadata.tables, VERSION_TABLE}
    return sorted(t for t in inspect(conn).get_table_names() if t in ours)


def store_rows(url: str) -> int | None:
    """Rows in the store at ``url`` (alembic's table aside); None where there is no store at all.
    Reads only: never creates the database nor migrates it."""
    if backend(url) == "sqlite" and not sqlite_path(url).is_file():
        return None
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = [t for t in store_tables(conn) if t != VERSION_TABLE]
            if not names and VERSION_TABLE not in store_tables(conn):
                return None
            return sum(conn.execute(select(func.count()).select_from(table(t))).scalar_one() for t in names)
    finally:
        engine.dispose()


def other_sessions(url: str) -> int:
    """PostgreSQL: client connections to the store's database other than this one (a running system)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


PG_LIB = Path("/usr/lib/postgresql")  # Debian keeps each major version's tools under <major>/bin


def pg_tool(name: str, server_major: int) -> Path:
    """pg_dump or pg_restore for a server: its own major version, else the nearest newer one (an older
    pg_dump refuses a newer server). Looked for under /usr/lib/postgresql/*/bin and on PATH."""
    found: dict[int, Path] = {}
    on_path = shutil.which(name)
    for candidate in [*sorted(PG_LIB.glob(f"*/bin/{name}")), *([Path(on_path)] if on_path else [])]:
        major = _tool_major(candidate)
        if major is not None:
            found.setdefault(major, candidate)
    if server_major in found:
        return found[server_major]
    newer = sorted(m for m in found if m > server_major)
    if newer:
        return found[newer[0]]
    have = f"; found only PostgreSQL {', '.join(str(m) for m in sorted(found))}" if found else ""
    raise StoreCopyError(
        f"{name} for PostgreSQL {server_major} not found on PATH nor under {PG_LIB}/*/bin{have}: "
        f"install the client tools (Debian: apt install postgresql-client-{server_major})"
    )


def _tool_major(path: Path) -> int | None:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    except OSError:
        return None
    m = re.search(r"\(PostgreSQL\) (\d+)", out)
    return int(m.group(1)) if m else None


def _server_major(conn: Connection) -> int:
    return int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq address for the tools, and their environment: the password goes in PGPASSWORD, never in
    the command line (which any local user can read)."""
    u: URL = make_url(url)
    extra = {"PGPASSWORD": u.password} if u.password else {}
    conninfo = u.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return conninfo, get_settings().child_env({**extra})


def _run_tool(args: list[str], env: Mapping[str, str]) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, env=dict(env), timeout=3600, check=False)
    if proc.returncode != 0:
        last = " ".join(proc.stderr.strip().splitlines()[-3:]) or f"exit status {proc.returncode}"
        raise StoreCopyError(f"{Path(args[0]).name} failed: {last}")


def _dump_postgres(url: str, dest: Path) -> tuple[tuple[str, ...], frozenset[str]]:
    dest.parent.mkdir(parents=True, exist_ok=True)
    conninfo, env = _libpq(url)
    engine = create_engine(url, isolation_level="REPEATABLE READ")
    try:
        with engine.connect() as conn, conn.begin():
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            revision, files = _facts(conn)
            names = store_tables(conn)
            if not names:
                raise StoreCopyError(f"no store in {safe_url(url)}: nothing to copy")
            schema = inspect(conn).default_schema_name or "public"
            tool = pg_tool("pg_dump", _server_major(conn))
            # The exported snapshot lives as long as this transaction: pg_dump sees what _facts saw.
            _run_tool(
                [
                    str(tool),
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--snapshot={snapshot}",
                    "--lock-wait-timeout=60000",
                    *(f"--table={schema}.{t}" for t in names),
                    f"--file={dest}",
                    f"--dbname={conninfo}",
                ],
                env,
            )
    finally:
        engine.dispose()
    return revision, files


def restore_postgres(url: str, dump: Path) -> None:
    """Load a pg_dump of the store into ``url`` in one transaction, after dropping the store's tables there
    (the caller has checked that they are empty, or kept a copy)."""
    conninfo, env = _libpq(url)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            tool = pg_tool("pg_restore", _server_major(conn))
            old = MetaData()
            old.reflect(conn, only=store_tables(conn))
            old.drop_all(conn)  # in dependency order
    finally:
        engine.dispose()
    _run_tool(
        [
            str(tool),
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
            f"--dbname={conninfo}",
            str(dump),
        ],
        env,
    )
