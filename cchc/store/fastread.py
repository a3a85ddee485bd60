"""The status read on the standard library's sqlite3: the store's own queries, without importing SQLAlchemy.

Importing SQLAlchemy (and the ORM and the models) costs a quick command such as `cchc status PLAN --json`
more than everything else it does. When the store is an SQLite file, the few statements of a status read
are run here on a plain ``sqlite3`` connection, in one read transaction:

- the store's revision (alembic_version), compared with the migrations' heads;
- the plan row's spec digest (is the stored calendar the plan's?);
- the plan's assumption decisions (``store.assumptions.decisions_query``), as a digest;
- the tally (``repo._tally_query``), whose rows ``cchc.store.judging`` judges exactly as ``repo.evaluate`` does.

There is no second copy of any of them: ``write_queries`` (on the slow path, SQLAlchemy loaded anyway) runs
each statement through the engine for two made-up plans and days, records the SQL text and the parameters
exactly as SQLAlchemy handed them to the driver, and notes which parameter is the plan id, which the day
(only when SQLAlchemy sent the day as its ISO text, ``date.isoformat()``, for both days), and which are
constants. That is kept as JSON under CCHC_HOME/cache/status/, named by the sha256 of the store's URL and of
the code that made it (cchc.store and its migrations, the SQLAlchemy installed, SQLite, Python): any change
is a new name, and a missing or damaged entry only means the slow path. Nothing here writes to the store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from cchc.store.judging import tally_day

if TYPE_CHECKING:
    from sqlalchemy import Engine, Executable

STORE = Path(__file__).resolve().parent  # cchc/store and its migrations
FORMAT = b"cchc-fastread-1"
# The made-up plans and days the statements are recorded with: no plan id holds a NUL, no plan runs in 1901.
PROBES = (("\x00cchc-probe-a", dt.date(1901, 2, 3)), ("\x00cchc-probe-b", dt.date(2099, 11, 29)))
NAMES = ("revision", "spec_digest", "decisions", "tally")


@lru_cache(maxsize=1)
def code_fingerprint() -> bytes:
    """The sha256 of what the recorded statements depend on: cchc.store's sources (the migrations too), the
    SQLAlchemy installed (reinstalling rewrites its files: a new mtime), SQLite and Python."""
    h = hashlib.sha256(FORMAT)
    h.update(f"{sys.version_info[:3]} {sqlite3.sqlite_version}\0".encode())
    for f in sorted(STORE.rglob("*.py")):
        h.update(f.relative_to(STORE).as_posix().encode() + b"\0")
        h.update(f.read_bytes())
    spec = importlib.util.find_spec("sqlalchemy")  # finds it without importing it
    origin = spec.origin if spec is not None else None
    st = os.stat(origin) if origin and os.path.exists(origin) else None
    h.update(f"sqlalchemy={origin}:{st.st_size if st else -1}:{st.st_mtime_ns if st else -1}\0".encode())
    return h.digest()


def cache_dir(home: Path) -> Path:
    return home / "cache" / "status"


def queries_path(home: Path, db_url: str) -> Path:
    h = hashlib.sha256(code_fingerprint())
    h.update(db_url.encode("utf-8", "surrogateescape"))
    return cache_dir(home) / f"sql-{h.hexdigest()}.json"


@dataclass(frozen=True)
class Statement:
    """One statement as SQLAlchemy sent it to sqlite3: its text, and each parameter a constant or a slot."""

    sql: str
    params: tuple[tuple[str, Any], ...]  # ("const", value) | ("plan", None) | ("day", None)

    def bind(self, plan_id: str, day: dt.date) -> tuple[Any, ...]:
        slots = {"plan": plan_id, "day": day.isoformat()}
        return tuple(value if kind == "const" else slots[kind] for kind, value in self.params)


@dataclass(frozen=True)
class Queries:
    """The statements of a status read for one SQLite store, and the revisions its schema must be at."""

    db_path: str
    heads: frozenset[str]
    statements: dict[str, Statement]


def load_queries(home: Path, db_url: str) -> Queries | None:
    """The recorded statements for this store and this code, or None (never recorded, or unreadable)."""
    try:
        data = json.loads(queries_path(home, db_url).read_text(encoding="utf-8"))
        statements = {
            name: Statement(s["sql"], tuple((p[0], p[1] if len(p) > 1 else None) for p in s["params"]))
            for name, s in data["statements"].items()
        }
        if set(statements) != set(NAMES) or data["format"] != FORMAT.decode():
            return None
        return Queries(str(data["db_path"]), frozenset(data["heads"]), statements)
    except (OSError, ValueError, KeyError, TypeError, IndexError):  # a damaged entry is only a miss
        return None


@dataclass(frozen=True)
class Snapshot:
    """What a status read checks before it trusts its cached plan."""

    revision: frozenset[str]
    spec_sha256: str | None  # None: the plan has no row
    decisions: str  # sha256 of the plan's decision rows as the driver returns them


class Reader:
    """One read transaction on the store's file (never created here: a missing file is an error)."""

    def __init__(self, queries: Queries) -> None:
        self.queries = queries
        uri = Path(queries.db_path).as_uri() + "?mode=rw"
        self.conn = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)

    def __enter__(self) -> Self:
        try:
            self.conn.execute("BEGIN")  # deferred: a reader in WAL mode takes no lock from the writers
        except BaseException:
            self.conn.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            self.conn.execute("ROLLBACK")  # nothing was written
        finally:
            self.conn.close()

    def _run(self, name: str, plan_id: str, day: dt.date) -> list[Any]:
        s = self.queries.statements[name]
        return self.conn.execute(s.sql, s.bind(plan_id, day)).fetchall()

    def snapshot(self, plan_id: str) -> Snapshot:
        day = PROBES[0][1]  # these statements take no day
        revision = frozenset(r[0] for r in self._run("revision", plan_id, day))
        digest = self._run("spec_digest", plan_id, day)
        decisions = hashlib.sha256(repr(self._run("decisions", plan_id, day)).encode()).hexdigest()
        return Snapshot(revision, digest[0][0] if digest else None, decisions)

    def tally(self, plan_id: str, at: dt.datetime, tz: str) -> list[Any]:
        """The rows of ``repo._tally_query([plan_id], at, tz)``, as SQLAlchemy's driver hands them back."""
        return self._run("tally", plan_id, tally_day(at, tz))


# ------------------------------------------------------------------------ recording (SQLAlchemy loaded)


def write_queries(home: Path, db_url: str, engine: Engine) -> Queries | None:
    """Record the status read's statements as this engine runs them (see the module's note); None, and nothing
    kept, when the store is not an SQLite file named by an absolute path or a statement does not fit."""
    from cchc.store.db import declared_heads, head_revision

    url = engine.url
    if engine.dialect.name != "sqlite" or url.query or not url.database or not Path(url.database).is_absolute():
        return None
    statements: dict[str, Statement] = {}
    for name, build in _builders().items():
        recorded = _record(engine, name, build)
        if recorded is None:
            return None
        statements[name] = recorded
    queries = Queries(url.database, declared_heads() or head_revision(), statements)
    data = {
        "format": FORMAT.decode(),
        "db_path": queries.db_path,
        "heads": sorted(queries.heads),
        "statements": {n: {"sql": s.sql, "params": [list(p) for p in s.params]} for n, s in statements.items()},
    }
    keep(queries_path(home, db_url), json.dumps(data, ensure_ascii=False).encode())
    return queries


def _builders() -> dict[str, Callable[[str, dt.date], Executable]]:
    from sqlalchemy import Text, column, select, table

    from cchc.store import repo
    from cchc.store.assumptions import decisions_query
    from cchc.store.db import VERSION_TABLE
    from cchc.store.models import PlanRow

    def tally(plan_id: str, day: dt.date) -> Executable:
        noon = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)  # its day in UTC is ``day``
        return repo._tally_query([plan_id], noon, "UTC")  # type: ignore[no-any-return]

    return {
        "revision": lambda _p, _d: select(column("version_num", Text)).select_from(table(VERSION_TABLE)),
        "spec_digest": lambda p, _d: select(PlanRow.spec_sha256).where(PlanRow.id == p),
        "decisions": lambda p, _d: decisions_query(p),
        "tally": tally,
    }


def _record(engine: Engine, name: str, build: Callable[[str, dt.date], Executable]) -> Statement | None:
    from sqlalchemy import event

    sent: list[tuple[str, Sequence[Any]]] = []

    def grab(_c: Any, _cursor: Any, statement: str, parameters: Sequence[Any], _ctx: Any, _many: bool) -> None:
        sent.append((statement, parameters))

    runs: list[tuple[str, Sequence[Any]]] = []
    for plan_id, day in PROBES:
        with engine.connect() as conn:
            trans = conn.begin()  # its BEGIN IMMEDIATE sent before listening
            event.listen(conn, "before_cursor_execute", grab)
            sent.clear()
            try:
                conn.execute(build(plan_id, day)).all()
            finally:
                event.remove(conn, "before_cursor_execute", grab)
                trans.rollback()
        if len(sent) != 1:
            return None
        runs.append(sent[0])
    (sql_a, params_a), (sql_b, params_b) = runs
    if sql_a != sql_b or not isinstance(params_a, tuple | list) or len(params_a) != len(params_b):
        return None
    params: list[tuple[str, Any]] = []
    (plan_a, day_a), (plan_b, day_b) = PROBES
    for a, b in zip(params_a, params_b, strict=True):
        if (a, b) == (plan_a, plan_b):
            params.append(("plan", None))
        elif (a, b) == (day_a.isoformat(), day_b.isoformat()):
            params.append(("day", None))  # SQLAlchemy's Date on SQLite sends the ISO text: so do we
        elif a == b and (a is None or type(a) in (int, str, float)):
            params.append(("const", a))
        else:  # a parameter processed some other way: no quick read rather than a wrong one
            return None
    if name == "tally" and not any(k == "day" for k, _ in params):
        return None
    return Statement(sql_a, tuple(params))


def keep(target: Path, blob: bytes) -> None:
    """Written whole or not at all (a temporary file and a rename); a home that cannot be written is no error."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(blob)
        tmp.replace(target)
    except OSError:
        return
