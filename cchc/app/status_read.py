"""`cchc status PLAN` without SQLAlchemy, the loader or the use cases, when nothing has changed since last time.

The slow path (``service``: the store migrated, the coordinator's decisions applied to the plan, the plan
synced into the store, ``repo.evaluate``) costs most of its time importing what it needs. Its answer depends
on the spec file's bytes, the code, the store's revision, the plan's decisions and its synced row, and the
evidence. So once the slow path has answered, ``remember`` keeps the plan as it judged it (decisions applied)
with the digests of what it depended on, under CCHC_HOME/cache/status/ (named by the sha256 of the code, the
store's URL and the plan cache's entry for these spec bytes). ``fast`` then answers when the store is an SQLite
file and, in one read transaction on stdlib sqlite3 (``cchc.store.fastread``), the store is at the migrations'
heads, the plan's row holds this plan's digest, and its decisions are the same rows: it runs the tally query
recorded from ``repo._tally_query`` and judges the rows with ``repo.evaluate``'s own code
(``cchc.store.judging``). Anything else (PostgreSQL, no entry, a spec edited, a migration pending, the plan row
stale or missing, a decision added) is None: the caller takes the slow path, which writes the entry again.

Entries are read back only from CCHC_HOME, as the plan cache's are (see its note); `cache/` may be deleted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import pickle
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cchc.app import plan_cache
from cchc.core.spec import Plan
from cchc.core.specfiles import MAX_SPEC_BYTES, SpecError, find_spec
from cchc.settings import Settings
from cchc.store import fastread
from cchc.store.judging import Judged, gc_paused, judge_rows

FORMAT = b"cchc-status-read-1"
APP = Path(__file__).resolve().parent
# The app code the kept plan depends on besides cchc.core (the plan cache's fingerprint) and cchc.store.
APP_FILES = ("service.py", "status_read.py", "plan_cache.py")


@lru_cache(maxsize=1)
def code_fingerprint() -> bytes:
    h = hashlib.sha256(FORMAT)
    h.update(fastread.code_fingerprint())
    for name in APP_FILES:
        h.update(name.encode() + b"\0" + (APP / name).read_bytes())
    return h.digest()


@dataclass(frozen=True)
class Key:
    """A plan reference resolved to its spec file, and where its status entry is kept."""

    plan_id: str
    entry: Path


@dataclass(frozen=True)
class Kept:
    """What ``remember`` keeps: the plan as the slow path judged it, and what that depended on."""

    plan: Plan
    spec_sha256: str
    decisions: str


def resolve(ref: str, settings: Settings) -> Key | None:
    """As ``service.spec_path`` and ``get_plan`` read ``ref`` (a spec path, or a plan id in the plan folder),
    when it names a spec file whose bytes the plan cache holds; None otherwise (the slow path says why)."""
    path = Path(ref)
    if not (ref.endswith((".yaml", ".yml")) or path.is_file()):
        try:
            found = find_spec(settings.plan_dir, ref)
        except SpecError:
            return None
        if found is None:
            return None
        path = found
    try:
        if not path.is_file() or path.stat().st_size > MAX_SPEC_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    parsed = plan_cache.entry(path, data, settings.home)
    if not parsed.is_file():  # the plan cache holds what status reads (a command keeps it on every read)
        return None
    h = hashlib.sha256(code_fingerprint())
    h.update(settings.db_url.encode("utf-8", "surrogateescape") + b"\0" + parsed.name.encode())
    # The loader only accepts a spec named by its plan id, and these bytes were loaded from this path.
    return Key(path.stem, fastread.cache_dir(settings.home) / f"{h.hexdigest()}.pickle")


def fast(ref: str, settings: Settings, moment: Callable[[str], dt.datetime]) -> tuple[Plan, list[Judged]] | None:
    """The plan and its judged occurrences at ``moment(plan's time zone)``, exactly as the slow path would give
    them, or None when that cannot be known without it (see the module's note)."""
    key = resolve(ref, settings)
    if key is None:
        return None
    queries = fastread.load_queries(settings.home, settings.db_url)
    kept = _read(key)
    if queries is None or kept is None:
        return None
    tz = kept.plan.timezone
    try:
        with fastread.Reader(queries) as store:
            now = store.snapshot(key.plan_id)
            if now != fastread.Snapshot(queries.heads, kept.spec_sha256, kept.decisions):
                return None
            at = moment(tz)
            rows = store.tally(key.plan_id, at, tz)
    except sqlite3.Error:  # no such file or table, locked past the timeout: the slow path knows what to do
        return None
    with gc_paused():
        return kept.plan, judge_rows(rows, at, tz)


@dataclass(frozen=True)
class Pending:
    """Taken on the slow path before the plan is read with its decisions; ``remember`` completes it."""

    key: Key
    queries: fastread.Queries
    before: fastread.Snapshot


def prepare(ref: str, settings: Settings) -> Pending | None:
    """Before the slow path reads the plan's decisions (call it after the store is open: it records the
    statements if this code has not yet): None when no quick read can follow (PostgreSQL, a store in memory)."""
    from cchc.app import service

    key = resolve(ref, settings)
    if key is None:
        return None
    queries = fastread.load_queries(settings.home, settings.db_url) or fastread.write_queries(
        settings.home, settings.db_url, service.engine_for(settings)
    )
    if queries is None:
        return None
    try:
        with fastread.Reader(queries) as store:
            return Pending(key, queries, store.snapshot(key.plan_id))
    except sqlite3.Error:
        return None


def remember(pending: Pending, plan: Plan) -> bool:
    """Keep ``plan`` (read with its decisions and synced into the store after ``prepare``) for ``fast``, if the
    store still holds what it was judged from: the same decisions as before it was read (so they are the ones
    it carries), its digest in the plan's row, the schema at the heads."""
    from cchc.store.repo import spec_fingerprint

    if plan.id != pending.key.plan_id:
        return False
    try:
        with fastread.Reader(pending.queries) as store:
            after = store.snapshot(plan.id)
    except sqlite3.Error:
        return False
    digest = spec_fingerprint(plan)[0]
    if after.decisions != pending.before.decisions:
        return False
    if after != fastread.Snapshot(pending.queries.heads, digest, after.decisions):
        return False
    blob = pickle.dumps(Kept(plan, digest, after.decisions), protocol=pickle.HIGHEST_PROTOCOL)
    fastread.keep(pending.key.entry, blob)
    return True


def _read(key: Key) -> Kept | None:
    try:
        blob = key.entry.read_bytes()
    except OSError:
        return None
    try:
        kept = pickle.loads(blob)  # noqa: S301 - written by this module under CCHC_HOME (see the module's note)
    except Exception:  # a damaged entry is only a miss
        return None
    return kept if isinstance(kept, Kept) and kept.plan.id == key.plan_id else None
