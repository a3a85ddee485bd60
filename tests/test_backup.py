"""`cchc backup` / `cchc restore` on real SQLite files (and PostgreSQL when CCHC_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pendulum
import pytest
from alembic import command
from sqlalchemy import create_engine, select, text
from typer.testing import CliRunner

from cchc.app import backup as bk
from cchc.app import service
from cchc.app.supervisor import Supervisor
from cchc.cli.main import app
from cchc.settings import Settings, get_settings
from cchc.store import db
from cchc.store.models import EvidenceRow
from tests.conftest import PLAN_DIR

PLAN = "phu-thong-2025"  # a seed plan from plan_specs/
FILE_DUTY = "vhxh-an-pham-bang-zon"  # counts photos and documents
NOW = pendulum.datetime(2025, 10, 28, 9, tz="Asia/Ho_Chi_Minh")
AT = "2025-10-28T09:00:00+07:00"
runner = CliRunner()


# --------------------------------------------------------------------------------------------- helpers


def cli(home: Path, *args: str, db_url: str | None = None) -> tuple[int, str, str]:
    """One `cchc` call on ``home`` (and ``db_url``), in this process; (exit code, stdout, stdout+stderr)."""
    env: dict[str, str | None] = {"CCHC_HOME": str(home), "CCHC_PLAN_DIR": str(PLAN_DIR), "CCHC_DATABASE_URL": db_url}
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, list(args), env=env)
    finally:
        get_settings.cache_clear()
    return result.exit_code, result.stdout, result.output


def cli_json(home: Path, *args: str, db_url: str | None = None) -> Any:
    code, out, both = cli(home, *args, "--json", db_url=db_url)
    assert code == 0, both
    return json.loads(out)


def settings_for(home: Path, db_url: str | None = None) -> Settings:
    return get_settings().model_copy(update={"home": home, "database_url": db_url})


def sqlite_url(home: Path) -> str:
    return f"sqlite:///{(home / 'cchc.db').resolve()}"


def evidence_rows(url: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return [tuple(r) for r in c.execute(select(*EvidenceRow.__table__.columns).order_by(EvidenceRow.id))]
    finally:
        engine.dispose()


def a_photo(folder: Path, i: int, size: int = 4096) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"anh-bang-zon-{i}.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(size) + str(i).encode())
    return path


def fill(home: Path, uploads: Path, db_url: str | None = None) -> None:
    """A plan in use: evidence with a file and with a link, one rejected, one occurrence waived."""
    photo = a_photo(uploads, 0)
    add = ("evidence", "add", PLAN, FILE_DUTY, "--kind", "photo", "--date", "2025-10-01", "--unit", "vhxh")
    first = cli_json(home, *add, "--title", "Băng zôn tuyên truyền CCHC", "--file", str(photo), db_url=db_url)
    cli_json(home, *add, "--title", "Ảnh thứ hai", "--file", str(a_photo(uploads, 1)), db_url=db_url)
    cli_json(
        home, "evidence", "add", PLAN, "ttdvth-tin-bai-website", "--kind", "post", "--title", "Tin CCHC tháng 10",
        "--date", "2025-10-02", "--url", "https://phuthong.example/tin/1", db_url=db_url,
    )  # fmt: skip
    code, _, both = cli(home, "evidence", "reject", PLAN, str(first["id"]), "--reason", "ảnh mờ", db_url=db_url)
    assert code == 0, both
    cli_json(home, "waive", PLAN, "vhxh-quy-tac-ung-xu", "2025-Q3", "--reason", "đã làm từ trước", db_url=db_url)


def picture(home: Path, db_url: str | None = None) -> dict[str, Any]:
    """What a coordinator sees: status, audit trail; and the evidence rows themselves."""
    url = db_url or sqlite_url(home)
    return {
        "status": cli_json(home, "status", PLAN, "--at", AT, db_url=db_url),
        "audit": cli_json(home, "audit", PLAN, db_url=db_url),
        "evidence": evidence_rows(url),
    }


def fake_prefect_db(settings: Settings) -> sqlite3.Connection:
    """A small SQLite database where `cchc up` keeps Prefect's, left open as a running server would."""
    path = bk.prefect_db_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE flow_run (id TEXT PRIMARY KEY, name TEXT)")
    conn.executemany("INSERT INTO flow_run VALUES (?, ?)", [("r1", "quota-posts"), ("r2", "báo cáo quý")])
    conn.commit()
    return conn


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        out = {}
        for m in tar:
            f = tar.extractfile(m)
            out[m.name] = f.read() if f else b""
        return out


def rewrite(archive: Path, dest: Path, change: Callable[[dict[str, bytes]], None], symlink: str | None = None) -> Path:
    """A copy of ``archive`` with its members changed by ``change`` (optionally with a symlink added)."""
    parts = members(archive)
    change(parts)
    with tarfile.open(dest, "w:gz") as tar:
        for name, body in parts.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        if symlink:
            info = tarfile.TarInfo(symlink)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)
    return dest


def manifest_of(parts: dict[str, bytes]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(parts[bk.MANIFEST])
    return data


def store_db_from(archive: Path, into: Path) -> Path:
    """The SQLite store inside an archive, written out to read it."""
    path = into / f"store-{uuid.uuid4().hex[:6]}.db"
    path.write_bytes(members(archive)["store/cchc.db"])
    return path


# ----------------------------------------------------------------------------------------------- tests


def test_the_prefect_database_backed_up_is_the_one_cchc_up_gives_prefect(cchc_env: Settings) -> None:
    url = Supervisor(cchc_env, "127.0.0.1", 4200).prefect_env()["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert url == f"sqlite+aiosqlite:///{bk.prefect_db_path(cchc_env)}"


def test_restore_onto_a_fresh_home_gives_the_same_status_evidence_audit_and_prefect_database(
    cchc_env: Settings, tmp_path: Path
) -> None:
    home = cchc_env.home
    fill(home, tmp_path / "uploads")
    prefect = fake_prefect_db(cchc_env)  # open during the backup, as under a running server
    try:
        made = cli_json(home, "backup")
    finally:
        prefect.close()
    archive = Path(made["path"])
    assert archive.parent == home / "backups" and archive.name.endswith(".tar.gz")
    assert made["prefect"] is True and made["files"] == 2 and made["files_missing"] == []
    assert made["store"] == {"kind": "sqlite", "alembic_revision": sorted(db.head_revision())}
    assert not [p for p in archive.parent.iterdir() if p.name.startswith(".")]  # no temporary left beside it
    assert archive.stat().st_mode & 0o077 == 0  # people's documents: readable by the owner only

    manifest = bk.verify_archive(archive)
    assert manifest.created_at.tzinfo is not None and manifest.created_at.utcoffset() == dt.timedelta(0)
    assert {p.path for p in manifest.parts()} == set(members(archive)) - {bk.MANIFEST}

    fresh = tmp_path / "fresh"
    restored = cli_json(home, "restore", str(archive), "--home", str(fresh))
    assert restored["files_written"] == 2 and restored["prefect"] is True and restored["replaced"] is None
    db.dispose_all()
    assert picture(fresh) == picture(home)
    for sha in {r[6] for r in evidence_rows(sqlite_url(fresh)) if r[6]}:
        assert (fresh / "files" / sha[:2] / sha).read_bytes() == (home / "files" / sha[:2] / sha).read_bytes()
    back = sqlite3.connect(bk.prefect_db_path(settings_for(fresh)))
    try:
        assert back.execute("SELECT id, name FROM flow_run ORDER BY id").fetchall() == [
            ("r1", "quota-posts"),
            ("r2", "báo cáo quý"),
        ]
    finally:
        back.close()


def test_a_backup_taken_while_evidence_is_added_holds_every_file_its_store_names(
    cchc_env: Settings, tmp_path: Path
) -> None:
    plan = service.resolve_plan(PLAN, cchc_env)
    written: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer() -> None:
        try:
            for i in range(3000):  # bounded: the test ends even if the main thread fails to stop it
                if stop.is_set():
                    return
                item = service.EvidenceInput(
                    duty=FILE_DUTY, kind="photo", title=f"Ảnh {i}", occurred_on=dt.date(2025, 10, 1),
                    file=a_photo(tmp_path / "uploads", i, 16384), unit="vhxh",
                )  # fmt: skip
                written.append(service.record_evidence(cchc_env, plan, item, NOW).id)
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while len(written) < 40 and time.monotonic() < deadline and not errors:
        time.sleep(0.02)
    results: list[tuple[int, int, bk.BackupResult]] = []
    try:
        for n in range(10):
            before = len(written)
            result = bk.create_backup(cchc_env, NOW.add(seconds=n), tmp_path / "archives" / f"b{n}.tar.gz")
            results.append((before, len(written), result))
            if len(written) > before and n >= 1:
                break
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not errors, errors
    assert any(after > before for before, after, _ in results), "no evidence was added while a backup ran"

    for before, after, result in results:
        manifest = bk.verify_archive(result.path)
        assert manifest.files_missing == []
        snapshot = store_db_from(result.path, tmp_path)
        rows = evidence_rows(f"sqlite:///{snapshot}")
        assert before <= len(rows) <= after + 1  # one snapshot, taken between the two counts
        names = set(members(result.path))
        for row in rows:
            sha = row[6]
            assert f"files/{sha[:2]}/{sha}" in names, f"evidence #{row[0]}: its file is not in {result.path.name}"

    last = results[-1][2]
    fresh = tmp_path / "fresh"
    bk.restore_backup(settings_for(fresh), last.path, NOW, home=fresh)
    rows = evidence_rows(sqlite_url(fresh))
    assert len(rows) == len(evidence_rows(f"sqlite:///{store_db_from(last.path, tmp_path)}"))
    assert all((fresh / "files" / r[6][:2] / r[6]).is_file() for r in rows)


def _alter_a_file(parts: dict[str, bytes]) -> None:
    name = next(n for n in parts if n.startswith("files/"))
    parts[name] = parts[name][:-1] + b"!"


def _alter_the_store(parts: dict[str, bytes]) -> None:
    body = bytearray(parts["store/cchc.db"])
    body[len(body) // 2] ^= 0xFF
    parts["store/cchc.db"] = bytes(body)


def _drop_a_file(parts: dict[str, bytes]) -> None:
    del parts[next(n for n in parts if n.startswith("files/"))]


def _add_an_entry(parts: dict[str, bytes]) -> None:
    parts["../../outside.txt"] = b"x"


def _alter_a_file_and_its_hash(parts: dict[str, bytes]) -> None:
    import hashlib

    name = next(n for n in parts if n.startswith("files/"))
    parts[name] = b"something else"
    manifest = manifest_of(parts)
    for f in manifest["files"]:
        if f["path"] == name:
            f["sha256"], f["bytes"] = hashlib.sha256(b"something else").hexdigest(), len(b"something else")
    parts[bk.MANIFEST] = json.dumps(manifest).encode()


def _point_outside(parts: dict[str, bytes]) -> None:
    manifest = manifest_of(parts)
    name = manifest["files"][0]["path"]
    manifest["files"][0]["path"] = "../" + name
    parts["../" + name] = parts.pop(name)
    parts[bk.MANIFEST] = json.dumps(manifest).encode()


def _no_manifest(parts: dict[str, bytes]) -> None:
    del parts[bk.MANIFEST]


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (_alter_a_file, "was altered"),
        (_alter_the_store, "store/cchc.db was altered"),
        (_drop_a_file, "is missing"),
        (_add_an_entry, "../../outside.txt is not in the manifest"),
        (_alter_a_file_and_its_hash, "unexpected entries in its manifest"),
        (_point_outside, "unexpected entries in its manifest"),
        (_no_manifest, "has no manifest.json"),
    ],
)
def test_a_tampered_archive_is_refused_with_nothing_written(
    cchc_env: Settings, tmp_path: Path, tamper: Callable[[dict[str, bytes]], None], message: str
) -> None:
    fill(cchc_env.home, tmp_path / "uploads")
    archive = Path(cli_json(cchc_env.home, "backup", "--out", str(tmp_path))["path"])
    bad = rewrite(archive, tmp_path / "bad.tar.gz", tamper)
    fresh = tmp_path / "fresh"
    code, _, both = cli(cchc_env.home, "restore", str(bad), "--home", str(fresh))
    assert code == 2 and message in both, both
    assert not fresh.exists()


def test_an_archive_with_a_link_or_garbage_is_refused(cchc_env: Settings, tmp_path: Path) -> None:
    fill(cchc_env.home, tmp_path / "uploads")
    archive = Path(cli_json(cchc_env.home, "backup", "--out", str(tmp_path))["path"])
    linked = rewrite(archive, tmp_path / "linked.tar.gz", lambda parts: None, symlink="files/ab/link")
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"\x1f\x8b not really gzip")
    fresh = tmp_path / "fresh"
    for bad, message in [(linked, "is not a regular file"), (garbage, "is not a readable cchc backup")]:
        code, _, both = cli(cchc_env.home, "restore", str(bad), "--home", str(fresh))
        assert code == 2 and message in both, both
    assert not fresh.exists()


def test_an_archive_from_a_newer_cchc_is_refused(cchc_env: Settings, tmp_path: Path) -> None:
    fill(cchc_env.home, tmp_path / "uploads")
    archive = Path(cli_json(cchc_env.home, "backup", "--out", str(tmp_path))["path"])

    def newer(parts: dict[str, bytes]) -> None:
        manifest = manifest_of(parts)
        manifest["store"]["alembic_revision"] = ["0999"]
        parts[bk.MANIFEST] = json.dumps(manifest).encode()

    fresh = tmp_path / "fresh"
    code, _, both = cli(
        cchc_env.home, "restore", str(rewrite(archive, tmp_path / "n.tar.gz", newer)), "--home", str(fresh)
    )
    assert code == 2 and "revision 0999, newer than this cchc" in both, both
    assert not fresh.exists()


def test_restore_refuses_a_home_whose_store_holds_data_unless_forced(cchc_env: Settings, tmp_path: Path) -> None:
    home = cchc_env.home
    fill(home, tmp_path / "uploads")
    archive = Path(cli_json(home, "backup", "--out", str(tmp_path))["path"])
    cli_json(
        home, "evidence", "add", PLAN, "ttdvth-tin-bai-website", "--kind", "post", "--title", "Tin sau sao lưu",
        "--date", "2025-10-03", "--url", "https://phuthong.example/tin/2",
    )  # fmt: skip
    db.dispose_all()  # this process lets go of the store, as a stopped system would
    after = evidence_rows(sqlite_url(home))
    code, _, both = cli(home, "restore", str(archive))
    assert code == 2 and "already holds a store with" in both and "--force" in both, both
    assert evidence_rows(sqlite_url(home)) == after  # untouched
    assert not [p for p in home.iterdir() if p.name.startswith(".restore-")]

    forced = cli_json(home, "restore", str(archive), "--force")
    db.dispose_all()
    assert len(evidence_rows(sqlite_url(home))) == len(after) - 1  # back to the archive's
    kept = Path(forced["replaced"]) / "store" / "cchc.db"
    assert evidence_rows(f"sqlite:///{kept}") == after  # what was replaced is kept


@pytest.mark.parametrize("held", ["cchc.db", "prefect/prefect.db"])
def test_restore_refuses_while_the_system_runs_on_the_home(cchc_env: Settings, tmp_path: Path, held: str) -> None:
    home = cchc_env.home
    fill(home, tmp_path / "uploads")
    fake_prefect_db(cchc_env).close()
    archive = Path(cli_json(home, "backup", "--out", str(tmp_path))["path"])
    db.dispose_all()
    marker = tmp_path / "holding"
    holder = subprocess.Popen(
        [
            sys.executable, "-c",
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA journal_mode=WAL')\n"
            "c.execute('SELECT count(*) FROM sqlite_master').fetchall()\n"
            "open(sys.argv[2], 'w').close(); time.sleep(120)",
            str(home / held), str(marker),
        ]
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        code, _, both = cli(home, "restore", str(archive), "--force")
        assert code == 2 and "the system is running on" in both and held.split("/")[-1] in both, both
        assert not (home / "backups").exists() or not list((home / "backups").glob("replaced-*"))
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert cli(home, "restore", str(archive), "--force")[0] == 0


def test_an_older_archive_is_restored_and_migrated_forward(cchc_env: Settings, tmp_path: Path) -> None:
    url = cchc_env.db_url
    command.upgrade(db.alembic_config(url), "0004")
    sha, _ = service.store_file(cchc_env, a_photo(tmp_path / "uploads", 7))
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO evidence (plan_id, duty_id, kind, title, occurred_on, source, recorded_at, dedup_key,"
                " file_sha256, file_name) VALUES ('phu-thong-2025', :duty, 'photo', 'cũ', '2025-10-01', 'manual',"
                " '2025-10-01 00:00:00', :key, :sha, 'anh.jpg')"
            ),
            {"duty": FILE_DUTY, "key": f"sha256:{sha}", "sha": sha},
        )
    engine.dispose()
    result = bk.create_backup(cchc_env, NOW, tmp_path / "old.tar.gz")
    assert result.manifest.store.alembic_revision == ["0004"]
    assert db.current_revision(db.make_engine(url)) == frozenset({"0004"})  # the backup changed nothing

    fresh = tmp_path / "fresh"
    restored = bk.restore_backup(cchc_env, result.path, NOW, home=fresh)
    assert frozenset(restored.revision) == db.head_revision()
    code, out, both = cli(fresh, "status", PLAN, "--at", AT, "--json")
    assert code == 0, both
    row = next(r for r in json.loads(out) if r["duty"] == FILE_DUTY and r["period"] == "2025-Q4")
    assert row["count"] == 1
    assert (fresh / "files" / sha[:2] / sha).is_file()


def test_a_backup_never_overwrites_and_says_what_is_missing(cchc_env: Settings, tmp_path: Path) -> None:
    code, _, both = cli(cchc_env.home, "backup")
    assert code == 2 and "no database at" in both, both  # nothing to back up on a home never used
    assert not (cchc_env.home / "backups").exists() or not list((cchc_env.home / "backups").iterdir())

    fill(cchc_env.home, tmp_path / "uploads")
    out = tmp_path / "one.tar.gz"
    assert cli(cchc_env.home, "backup", "--out", str(out))[0] == 0
    code, _, both = cli(cchc_env.home, "backup", "--out", str(out))
    assert code == 2 and "already exists" in both, both

    victim = next(p for p in (cchc_env.home / "files").rglob("*") if p.is_file())
    victim.unlink()  # a file the store names, lost from the content store
    code, out_text, both = cli(cchc_env.home, "backup", "--out", str(tmp_path / "two.tar.gz"), "--json")
    assert code == 1 and json.loads(out_text)["files_missing"] == [victim.name], both
    assert bk.verify_archive(tmp_path / "two.tar.gz").files_missing == [victim.name]


def test_the_commands_speak_to_people_in_vietnamese(cchc_env: Settings, tmp_path: Path) -> None:
    fill(cchc_env.home, tmp_path / "uploads")
    code, out, both = cli(cchc_env.home, "backup", "--out", str(tmp_path / "a.tar.gz"))
    assert code == 0 and out.startswith("đã sao lưu: ") and "tệp minh chứng và báo cáo: 2" in out, both
    code, out, both = cli(cchc_env.home, "restore", str(tmp_path / "a.tar.gz"), "--home", str(tmp_path / "h"))
    assert code == 0 and out.startswith("đã khôi phục bản sao lưu lúc ") and "2 ghi mới" in out, both


@pytest.mark.timeout_slow
def test_a_running_system_is_backed_up_with_prefects_database_and_a_restore_onto_it_is_refused(
    tmp_path: Path,
) -> None:
    from cchc.core.deployments import all_deployments
    from cchc.core.loader import load_plan
    from tests.conftest import FIXTURES
    from tests.running import CCHC, System, processes_of, wait_for

    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "demo.yaml").write_text((FIXTURES / "demo.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    expected = len(all_deployments([load_plan(plans / "demo.yaml")]))
    system = System(home=(tmp_path / "var").resolve(), plan_dir=plans)
    system.start()
    try:
        wait_for("the deployments to be registered", lambda: system.count_deployments() == expected, 240)
        photo = a_photo(tmp_path / "uploads", 0)
        added = system.cli(
            "evidence", "add", "demo", "contest", "--kind", "event", "--title", "Hội thi", "--date", "2025-09-12",
            "--file", str(photo), "--json",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        made = system.cli("backup", "--json")
        assert made.returncode == 0, made.stderr
        archive = json.loads(made.stdout)["path"]
        refused = system.cli("restore", archive, "--force")
        assert refused.returncode == 2 and "the system is running on" in refused.stderr, refused.stderr
    finally:
        system.stop(signal.SIGINT)
    wait_for("every child process to be gone", lambda: not processes_of(system.home), 30)

    fresh = tmp_path / "fresh"
    env = {**system.env, "CCHC_HOME": str(fresh)}
    back = subprocess.run(
        [CCHC, "restore", archive, "--json"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["prefect"] is True
    prefect = sqlite3.connect(fresh / "prefect" / "prefect.db")
    try:
        assert prefect.execute("SELECT count(*) FROM deployment").fetchone()[0] == expected
    finally:
        prefect.close()


# ------------------------------------------------------------------------------------------ PostgreSQL


@pytest.mark.postgres
def test_postgresql_backup_with_pg_dump_restores_into_a_fresh_database(
    cchc_env: Settings, tmp_path: Path, pg_databases: Callable[..., str]
) -> None:
    source, target = pg_databases(), pg_databases()
    home, fresh = tmp_path / "source", tmp_path / "fresh"
    fill(home, tmp_path / "uploads", db_url=source)
    made = cli_json(home, "backup", "--out", str(tmp_path), db_url=source)
    assert made["store"]["kind"] == "postgresql" and made["files"] == 2
    assert "store/cchc.dump" in members(Path(made["path"]))

    db.dispose_all()
    restored = cli_json(home, "restore", made["path"], "--home", str(fresh), db_url=target)
    assert restored["store"]["alembic_revision"] == sorted(db.head_revision())
    db.dispose_all()
    assert picture(fresh, db_url=target) == picture(home, db_url=source)

    db.dispose_all()
    code, _, both = cli(home, "restore", made["path"], "--home", str(fresh), db_url=target)
    assert code == 2 and "already holds a store with" in both, both
    forced = cli_json(home, "restore", made["path"], "--home", str(fresh), "--force", db_url=target)
    assert (Path(forced["replaced"]) / "store" / "cchc.dump").stat().st_size > 0
    db.dispose_all()
    assert evidence_rows(target) == evidence_rows(source)
    # The sequences came along: the next row gets the next id, not a clash with a restored one.
    added = cli_json(
        fresh, "evidence", "add", PLAN, "ttdvth-tin-bai-website", "--kind", "post", "--title", "Tin sau khôi phục",
        "--date", "2025-10-05", "--url", "https://phuthong.example/tin/3", db_url=target,
    )  # fmt: skip
    assert added["id"] == max(r[0] for r in evidence_rows(source)) + 1


@pytest.mark.postgres
def test_pg_dump_is_the_servers_own_version(pg_databases: Callable[..., str]) -> None:
    engine = create_engine(pg_databases())
    with engine.connect() as c:
        major = int(c.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    engine.dispose()
    tool = db.pg_tool("pg_dump", major)
    version = subprocess.run([str(tool), "--version"], capture_output=True, text=True, check=True).stdout
    assert f"(PostgreSQL) {major}." in version
    if (db.PG_LIB / str(major) / "bin" / "pg_dump").is_file():
        assert tool == db.PG_LIB / str(major) / "bin" / "pg_dump"


def test_a_missing_pg_dump_is_named_with_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(db, "PG_LIB", tmp_path)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(db.StoreCopyError, match=r"pg_dump for PostgreSQL 15 not found .* postgresql-client-15"):
        db.pg_tool("pg_dump", 15)
