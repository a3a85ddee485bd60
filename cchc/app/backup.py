"""`cchc backup` and `cchc restore`: the store, Prefect's database and the stored files, in one archive.

A backup runs while the system runs. The store is copied first, in one consistent snapshot (SQLite's online
backup, or pg_dump inside an exported snapshot; see cchc.store.db.copy_store); Prefect's SQLite database the
same way; then the content files. A file is stored before the row that names it and is never rewritten
(it is named by its sha256), so every file the snapshot names is already there when the files are copied.
Each part is hashed into manifest.json, and the archive appears under its name only when complete.

A restore reads the whole archive and checks every hash before it writes anything; refuses while the system
runs on the target home, and refuses to replace a store that holds rows unless forced (what it replaces is
kept under <home>/backups/replaced-<time>/). The store goes last, then is migrated forward if it is older.
From its first check of the home to the end of that migration it holds the home's lock (CCHC_HOME/cchc.lock,
cchc.app.supervisor.home_lock), the one `cchc up` holds for its whole life: neither starts while the other runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import struct
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cchc import __version__
from cchc.app.supervisor import LOCK_FILE, RESTORE, UP, HomeBusy, home_lock
from cchc.settings import Settings
from cchc.store import db

FORMAT = "cchc-backup"
VERSION = 1
MANIFEST = "manifest.json"
MAX_MANIFEST = 64 * 1024 * 1024  # a manifest lists files; this is far beyond any real one
CHUNK = 1 << 20
SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Where each part lives in the archive; a restore extracts only names of these shapes, to paths it builds.
STORE_PATHS = {"sqlite": "store/cchc.db", "postgresql": "store/cchc.dump"}
PREFECT_PATHS = {"sqlite": "prefect/prefect.db"}


class BackupError(Exception):
    """The backup or the restore cannot go on; one line for the user. A refused restore has written nothing."""


class Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    sha256: str = Field(pattern=SHA256.pattern)
    bytes: int = Field(ge=0)


class DatabasePart(Part):
    kind: Literal["sqlite", "postgresql"]


class StorePart(DatabasePart):
    alembic_revision: list[str]


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["cchc-backup"]
    version: int
    created_at: dt.datetime
    cchc_version: str
    source_home: str
    store: StorePart
    prefect: DatabasePart | None
    files: list[Part]
    files_named: int  # content files the store's rows name
    files_missing: list[str]  # named but absent or damaged in the content store when the backup ran

    def parts(self) -> list[Part]:
        return [self.store, *([self.prefect] if self.prefect else []), *self.files]


@dataclass(frozen=True)
class BackupResult:
    path: Path
    sha256: str  # of the archive itself, to note down beside it
    bytes: int
    manifest: Manifest


@dataclass(frozen=True)
class RestoreResult:
    home: Path
    manifest: Manifest
    revision: tuple[str, ...]  # the store's revision after the restore (migrated forward when older)
    files_written: int
    files_present: int
    prefect: bool
    replaced: Path | None  # where the target's previous store and Prefect database were put
    notes: list[str] = field(default_factory=list)


def prefect_db_path(settings: Settings) -> Path:
    """Prefect's database under CCHC_HOME, where `cchc up` tells the server to keep it
    (Supervisor.prefect_env; a test holds the two together)."""
    return (settings.home / "prefect" / "prefect.db").resolve()


# ------------------------------------------------------------------------------------------------ backup


def default_archive(settings: Settings, now: dt.datetime) -> Path:
    return settings.home / "backups" / f"cchc-backup-{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}.tar.gz"


def create_backup(settings: Settings, now: dt.datetime, out: Path | None = None) -> BackupResult:
    """Write one .tar.gz holding the store, Prefect's database and the content files, with a manifest."""
    target = default_archive(settings, now) if out is None else out.resolve()
    if out is not None and target.is_dir():
        target = target / default_archive(settings, now).name
    if target.exists():
        raise BackupError(f"{target} already exists; choose another --out")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".cchc-backup-", dir=target.parent))
    partial = target.with_name(f".{target.name}.{secrets.token_hex(6)}.part")
    try:
        # The store first: every file its snapshot names was stored before its row, and stays as it is.
        kind = db.backend(settings.db_url)
        if kind not in STORE_PATHS:
            raise BackupError(f"cannot back up a {kind} store; SQLite and PostgreSQL are supported")
        store_file = staging / STORE_PATHS[kind]
        try:
            copy = db.copy_store(settings.db_url, store_file)
        except db.StoreCopyError as e:
            raise BackupError(f"the store: {e}") from None
        store = StorePart(
            path=STORE_PATHS[kind],
            sha256=_hash_file(store_file),
            bytes=store_file.stat().st_size,
            kind="sqlite" if copy.kind == "sqlite" else "postgresql",
            alembic_revision=list(copy.revision),
        )
        prefect = None
        source = prefect_db_path(settings)
        if source.is_file():
            prefect_file = staging / PREFECT_PATHS["sqlite"]
            try:
                db.copy_sqlite(source, prefect_file)
            except db.StoreCopyError as e:
                raise BackupError(f"Prefect's database: {e}") from None
            prefect = DatabasePart(
                path=PREFECT_PATHS["sqlite"],
                sha256=_hash_file(prefect_file),
                bytes=prefect_file.stat().st_size,
                kind="sqlite",
            )
        files, damaged = _content_files(settings.files_dir)
        have = {f.sha256 for f in files}
        manifest = Manifest(
            format=FORMAT,
            version=VERSION,
            created_at=now.astimezone(dt.UTC),
            cchc_version=__version__,
            source_home=str(settings.home.resolve()),
            store=store,
            prefect=prefect,
            files=files,
            files_named=len(copy.files),
            files_missing=sorted((copy.files - have) | (damaged & copy.files)),
        )
        _write_archive(partial, manifest, staging, settings.files_dir, now)
        partial.replace(target)  # appears whole or not at all
        _fsync_dir(target.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        partial.unlink(missing_ok=True)
    return BackupResult(target, _hash_file(target), target.stat().st_size, manifest)


def _content_files(files_dir: Path) -> tuple[list[Part], set[str]]:
    """Every stored file (files/<2>/<sha256>), read and checked against its name; the damaged ones apart.
    Temporary files of a writer (.<name>.<random>.part) are not content."""
    parts: list[Part] = []
    damaged: set[str] = set()
    if not files_dir.is_dir():
        return parts, damaged
    for path in sorted(files_dir.glob("??/*")):
        name = path.name
        if not SHA256.match(name) or path.parent.name != name[:2] or not path.is_file():
            continue
        digest = _hash_file(path)
        if digest != name:
            damaged.add(name)
            continue
        parts.append(Part(path=f"files/{name[:2]}/{name}", sha256=digest, bytes=path.stat().st_size))
    return parts, damaged


def _write_archive(path: Path, manifest: Manifest, staging: Path, files_dir: Path, now: dt.datetime) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # people's names and documents: owner only
    with os.fdopen(fd, "wb") as raw:
        with tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
            body = manifest.model_dump_json(indent=2).encode()
            _add(tar, MANIFEST, io.BytesIO(body), len(body), now)  # first, so a reader knows what follows
            for part in manifest.parts():
                inside = part.path.removeprefix("files/")
                source = files_dir / inside if inside != part.path else staging / part.path
                with source.open("rb") as f:
                    reader = _HashingReader(f)
                    _add(tar, part.path, reader, part.bytes, now)
                if reader.hexdigest() != part.sha256:
                    raise BackupError(f"{source} changed while it was being copied; run the backup again")
        raw.flush()
        os.fsync(raw.fileno())


def _add(tar: tarfile.TarFile, name: str, data: IO[bytes] | _HashingReader, size: int, now: dt.datetime) -> None:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(now.timestamp())
    info.mode = 0o600
    tar.addfile(info, data)


class _HashingReader:
    """Hashes what tarfile reads through it: the bytes archived are the bytes checked."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self._h = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._h.update(data)
        return data

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a directory be opened
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ----------------------------------------------------------------------------------------------- verify


def verify_archive(path: Path) -> Manifest:
    """Read the whole archive and check it against its manifest: every part present with its sha256, nothing
    else in it, every name of the expected shape. Writes nothing."""
    if not path.is_file():
        raise BackupError(f"{path} does not exist")
    seen: dict[str, str] = {}
    raw_manifest: bytes | None = None
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                if not member.isfile():
                    raise BackupError(f"{path} is refused: {member.name!r} is not a regular file")
                if member.name in seen or (member.name == MANIFEST and raw_manifest is not None):
                    raise BackupError(f"{path} is refused: {member.name!r} appears twice")
                f = tar.extractfile(member)
                assert f is not None  # a regular file always has a body
                if member.name == MANIFEST:
                    if member.size > MAX_MANIFEST:
                        raise BackupError(f"{path} is refused: its manifest is {member.size} bytes")
                    raw_manifest = f.read()
                else:
                    seen[member.name] = _hash_stream(f)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise BackupError(f"{path} is not a readable cchc backup ({e})") from None
    if raw_manifest is None:
        raise BackupError(f"{path} is not a cchc backup: it has no {MANIFEST}")
    try:
        data = json.loads(raw_manifest)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BackupError(f"{path} is not a cchc backup (its {MANIFEST} is not one)")
    if data.get("version") != VERSION:
        raise BackupError(f"{path} is a version {data.get('version')} backup; this cchc reads version {VERSION}")
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        where = ".".join(str(x) for x in first["loc"])
        raise BackupError(f"{path} is refused: its manifest is malformed ({where}: {first['msg']})") from None
    _check_layout(path, manifest)
    expected = {p.path: p.sha256 for p in manifest.parts()}
    problems = [f"{name} is missing" for name in expected if name not in seen]
    problems += [f"{name} was altered" for name, sha in expected.items() if name in seen and seen[name] != sha]
    problems += [f"{name} is not in the manifest" for name in seen if name not in expected]
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise BackupError(f"{path} failed verification, nothing was restored: {'; '.join(problems[:5])}{more}")
    return manifest


def _check_layout(path: Path, manifest: Manifest) -> None:
    bad = []
    if manifest.store.path != STORE_PATHS[manifest.store.kind]:
        bad.append(manifest.store.path)
    if manifest.prefect is not None and manifest.prefect.path != PREFECT_PATHS.get(manifest.prefect.kind):
        bad.append(manifest.prefect.path)
    bad += [f.path for f in manifest.files if f.path != f"files/{f.sha256[:2]}/{f.sha256}"]
    if len({p.path for p in manifest.parts()}) != len(manifest.parts()):
        bad.append("a part listed twice")
    if bad:
        raise BackupError(f"{path} is refused: unexpected entries in its manifest: {', '.join(bad[:5])}")


def _hash_stream(f: IO[bytes]) -> str:
    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(CHUNK), b""):
        h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------- restore


def restore_backup(
    settings: Settings, archive: Path, now: dt.datetime, home: Path | None = None, force: bool = False
) -> RestoreResult:
    """Put an archive back onto ``home`` (default CCHC_HOME): its store (into CCHC_DATABASE_URL when that is
    set), Prefect's database and the content files; then open the store and migrate it forward."""
    target = settings if home is None else settings.model_copy(update={"home": home.resolve()})
    manifest = verify_archive(archive)
    _check_fits(manifest, target)
    with contextlib.ExitStack() as held:
        # The home's lock, the one `cchc up` holds for its whole life: neither runs while the other does.
        try:
            held.enter_context(home_lock(target.home, RESTORE))
        except HomeBusy as e:
            raise BackupError(_busy_message(e)) from None
        _refuse_if_running(target)  # and what the lock cannot see: a system of an older cchc, another host
        try:
            rows = db.store_rows(target.db_url)
        except Exception as e:  # a store that cannot even be read: say so, change nothing
            raise BackupError(f"cannot read the store at {db.safe_url(target.db_url)}: {e}") from None
        if rows and not force:
            raise BackupError(
                f"{_where(target)} already holds a store with {rows} rows; nothing was restored. "
                "Restore onto a fresh home (--home), or add --force to replace it (the old one is kept under "
                f"{target.home / 'backups'}/)"
            )
        staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=target.home))
        try:
            staged = _extract(archive, manifest, staging)
            aside = target.home / "backups" / f"replaced-{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}"
            written, present = _place_files(manifest, staged, target.files_dir)
            replaced = False
            if manifest.prefect is not None:
                replaced |= _place_sqlite(staged[manifest.prefect.path], prefect_db_path(target), aside / "prefect")
            replaced |= _place_store(manifest, staged[manifest.store.path], target, aside, bool(rows))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        engine = db.make_engine(target.db_url)
        try:
            db.migrate(engine)  # an older archive is brought forward here
            revision = tuple(sorted(db.current_revision(engine)))
        finally:
            engine.dispose()
    notes = []  # shown to the operator, in Vietnamese
    if manifest.prefect is None:
        notes.append("bản sao lưu không có cơ sở dữ liệu Prefect; cơ sở dữ liệu Prefect ở đích được giữ nguyên")
    if manifest.files_missing:
        notes.append(f"{len(manifest.files_missing)} tệp mà kho dữ liệu nhắc tới đã bị thiếu từ lúc sao lưu")
    return RestoreResult(
        home=target.home,
        manifest=manifest,
        revision=revision,
        files_written=written,
        files_present=present,
        prefect=manifest.prefect is not None,
        replaced=aside if replaced else None,
        notes=notes,
    )


def _where(settings: Settings) -> str:
    url = settings.db_url
    return str(db.sqlite_path(url)) if db.backend(url) == "sqlite" else db.safe_url(url)


def _check_fits(manifest: Manifest, target: Settings) -> None:
    kind = db.backend(target.db_url)
    if manifest.store.kind != kind:
        hint = (
            "set CCHC_DATABASE_URL to an empty PostgreSQL database"
            if manifest.store.kind == "postgresql"
            else "unset CCHC_DATABASE_URL to restore into <home>/cchc.db"
        )
        raise BackupError(f"the archive holds a {manifest.store.kind} store but the target store is {kind}: {hint}")
    unknown = set(manifest.store.alembic_revision) - db.known_revisions()
    if unknown:
        raise BackupError(
            f"the archive's store is at revision {', '.join(sorted(unknown))}, newer than this cchc knows "
            f"(head {', '.join(sorted(db.head_revision()))}): upgrade cchc, then restore"
        )


def _refuse_if_running(target: Settings) -> None:
    busy = []
    url = target.db_url
    if db.backend(url) == "sqlite":
        if sqlite_in_use(db.sqlite_path(url)):
            busy.append(str(db.sqlite_path(url)))
    else:
        try:
            n = db.other_sessions(url)
        except Exception as e:  # an unreachable server or a missing database: nothing can be restored there
            raise BackupError(f"cannot reach the store {db.safe_url(url)}: {e}") from None
        if n:
            busy.append(f"{db.safe_url(url)} ({n} other connections)")
    if sqlite_in_use(prefect_db_path(target)):
        busy.append(str(prefect_db_path(target)))
    if busy:
        raise BackupError(
            f"the system is running on {target.home}: {'; '.join(busy)} in use. "
            "Stop `cchc up` (or its systemd service) and run the restore again; nothing was restored"
        )


# The byte of the -shm file each SQLite connection to a WAL database holds a read lock on while it is open
# (SQLite's "dead man switch", UNIX_SHM_DMS in os_unix.c): a write lock on it is refused while any is open.
_SHM_DMS = 128


def sqlite_in_use(database: Path) -> bool:
    """Whether some connection (any process, this one too) has this WAL database open. SQLite removes the
    -shm file with the last connection, so no -shm means nobody."""
    shm = database.with_name(database.name + "-shm")
    try:
        fd = os.open(shm, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        return not _try_write_lock(fd, _SHM_DMS)
    finally:
        os.close(fd)


def _try_write_lock(fd: int, offset: int) -> bool:
    if hasattr(fcntl, "F_OFD_SETLK"):
        # An open-file-description lock (Linux): it conflicts with SQLite's own locks in this process too, and
        # closing our descriptor cannot drop them (a POSIX lock's close would).
        def flock(kind: int) -> bytes:
            return struct.pack("hhqqi4x", kind, os.SEEK_SET, offset, 1, 0)  # struct flock, l_pid 0

        try:
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, flock(fcntl.F_WRLCK))
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, flock(fcntl.F_UNLCK))
        return True
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset, os.SEEK_SET)
    except OSError:
        return False
    fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset, os.SEEK_SET)
    return True


def _busy_message(e: HomeBusy) -> str:
    pid = f"pid {e.pid}" if e.pid else "pid unknown"
    if e.holder == RESTORE:
        return f"another restore is running on {e.home} ({pid}); nothing was restored"
    who = "`cchc up`" if e.holder == UP else "another process"
    return (
        f"the system is running on {e.home}: {who} ({pid}) holds {e.home / LOCK_FILE}. "
        "Stop `cchc up` (or its systemd service) and run the restore again; nothing was restored"
    )


def _extract(archive: Path, manifest: Manifest, staging: Path) -> dict[str, Path]:
    """The parts, written under ``staging`` and hashed as written (the archive could change after it was
    verified). Only the manifest's names are written, to paths built here."""
    expected = {p.path: p.sha256 for p in manifest.parts()}
    staged: dict[str, Path] = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            if member.name not in expected:
                continue
            f = tar.extractfile(member)
            assert f is not None
            dest = staging.joinpath(*member.name.split("/"))
            dest.parent.mkdir(parents=True, exist_ok=True)
            h = hashlib.sha256()
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # as the content store keeps them
            with os.fdopen(fd, "wb") as out:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if h.hexdigest() != expected[member.name]:
                raise BackupError(f"{archive} changed while it was being restored ({member.name}); run it again")
            staged[member.name] = dest
    if set(staged) != set(expected):
        raise BackupError(f"{archive} changed while it was being restored; run it again")
    return staged


def _place_files(manifest: Manifest, staged: dict[str, Path], files_dir: Path) -> tuple[int, int]:
    """Content files go in first (the store names them); one already there with the right content stays."""
    written = present = 0
    for part in manifest.files:
        dest = files_dir / part.sha256[:2] / part.sha256
        if dest.is_file() and _hash_file(dest) == part.sha256:
            present += 1
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        staged[part.path].replace(dest)
        written += 1
    return written, present


def _move_aside(database: Path, aside: Path) -> bool:
    """A SQLite database and its -wal/-shm, moved together (a -wal left beside another database would be
    replayed into it)."""
    moved = False
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = database.with_name(database.name + suffix)
        if path.exists():
            aside.mkdir(parents=True, exist_ok=True)
            path.replace(aside / path.name)
            moved = True
    return moved


def _place_sqlite(staged: Path, dest: Path, aside: Path) -> bool:
    dest.parent.mkdir(parents=True, exist_ok=True)
    moved = _move_aside(dest, aside)
    staged.replace(dest)
    _fsync_dir(dest.parent)
    return moved


def _place_store(manifest: Manifest, staged: Path, target: Settings, aside: Path, has_rows: bool) -> bool:
    url = target.db_url
    if manifest.store.kind == "sqlite":
        return _place_sqlite(staged, db.sqlite_path(url).resolve(), aside / "store")
    kept = False
    try:
        if has_rows:  # forced: keep what is there before it is dropped
            db.copy_store(url, aside / "store" / "cchc.dump")
            kept = True
        db.restore_postgres(url, staged)
    except db.StoreCopyError as e:
        where = f"; the previous store is kept in {aside / 'store' / 'cchc.dump'}" if kept else ""
        raise BackupError(f"the store: {e}{where}") from None
    return kept
