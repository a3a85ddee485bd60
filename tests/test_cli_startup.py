"""An instant CLI (#18 item 2): `cchc --help` loads none of the heavy libraries, and the shortcuts that make
`cchc status --json` quick (the parsed plan kept on disk, the store's revision read without alembic) answer
exactly as the slow path does."""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cchc.app import plan_cache, service
from cchc.cli import mail
from cchc.cli.main import COMMAND_MODULES
from cchc.core.loader import SpecError, load_plan
from cchc.settings import Settings
from cchc.store import db
from cchc.store import outbox as ob
from tests.conftest import FIXTURES, ROOT

# What `cchc --help` and `cchc CMD --help` must not load: the libraries of issue #18, the project's own layers
# that pull them in, and Rich (Typer's help formatter, which is switched off).
HEAVY = (
    "sqlalchemy",
    "alembic",
    "httpx",
    "jinja2",
    "docx",
    "docxtpl",
    "prefect",
    "openpyxl",
    "matplotlib",
    "fastapi",
    "starlette",
    "uvicorn",
    "aiosmtplib",
    "aiosmtpd",
    "feedparser",
    "holidays",
    "psycopg",
    "rich",
    "pydantic_settings",
    "cchc.settings",
    "cchc.store",
    "cchc.app",
    "cchc.io",
    "cchc.portal",
    "notifications",
    "flows",
    "tasks",
)
# `cchc --help` also stays clear of these; a command's own --help loads pydantic (Typer 0.29 checks option
# values with pydantic TypeAdapters), so only the top-level help is held to them.
TOP_HELP_HEAVY = (*HEAVY, "pydantic", "pendulum", "yaml")
AT = "2025-10-21T09:00:00+07:00"


def loaded(modules: list[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden))


def importtime_modules(stderr: str) -> list[str]:
    """The modules a `python -X importtime` run imported, from its report on stderr."""
    out = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                out.append(name)
    return out


def cli(*args: str, importtime: bool = False, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run(
        [sys.executable, *flags, "-m", "cchc", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def test_cchc_help_imports_no_heavy_library(cchc_env: Settings) -> None:
    run = cli("--help", importtime=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Usage:" in run.stdout and "status" in run.stdout and "validate" in run.stdout
    modules = importtime_modules(run.stderr)
    assert loaded(modules, TOP_HELP_HEAVY) == []
    # Every registered command module was imported, so each one was held to the rule.
    assert {m.__name__ for m in COMMAND_MODULES} <= set(modules)
    assert len(COMMAND_MODULES) >= 9


def test_status_help_imports_no_heavy_library(cchc_env: Settings) -> None:
    run = cli("status", "--help", importtime=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "--json" in run.stdout and "--at" in run.stdout
    assert loaded(importtime_modules(run.stderr), HEAVY) == []


HELP_EVERY_COMMAND = """
import importlib, json, pkgutil, sys
import typer.main
import cchc.cli
from cchc.cli.main import COMMAND_MODULES, app

# Every module of the package too, registered or not: a helper module is held to the same rule.
for info in pkgutil.iter_modules(cchc.cli.__path__):
    if info.name != "__main__":
        importlib.import_module(f"cchc.cli.{info.name}")
group = typer.main.get_command(app)

def paths(cmd, prefix):
    subs = getattr(cmd, "commands", None)
    if not subs:
        return [prefix]
    out = [prefix] if prefix else []
    for name, sub in sorted(subs.items()):
        out += paths(sub, [*prefix, name])
    return out

shown = []
for path in paths(group, []):
    try:
        group.main(args=[*path, "--help"], prog_name="cchc", standalone_mode=False)
    except SystemExit:
        pass
    shown.append(" ".join(path))
with open(sys.argv[1], "w") as f:
    json.dump({"shown": shown, "modules": sorted(sys.modules),
               "registered": [m.__name__ for m in COMMAND_MODULES]}, f)
"""


def test_every_command_help_imports_no_heavy_library(cchc_env: Settings, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    run = subprocess.run(
        [sys.executable, "-c", HELP_EVERY_COMMAND, str(report)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(report.read_text(encoding="utf-8"))
    assert {"status", "evidence add", "mail flush", "report", "up", "backup", "plan"} <= set(got["shown"])
    assert run.stdout.count("Usage: cchc") == len(got["shown"])
    assert set(got["registered"]) <= set(got["modules"])
    assert loaded(got["modules"], HEAVY) == []


def test_outbox_states_in_the_help_are_the_stores() -> None:
    assert mail.OUTBOX_STATUSES == ob.STATUSES


def test_status_json_is_what_the_use_cases_give_with_or_without_the_plan_cache(cchc_env: Settings) -> None:
    added = cli(
        "evidence", "add", "phu-thong-2025", "ttdvth-tin-bai-website", "--kind", "post", "--title", "Bài 1",
        "--date", "2025-10-02",
        "--url", "https://example.org/bai-1",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    cache = plan_cache.cache_dir(cchc_env.home)
    assert len(list(cache.glob("*.pickle"))) == 1  # evidence add kept the parsed plan

    first = cli("status", "phu-thong-2025", "--json", "--at", AT)
    second = cli("status", "phu-thong-2025", "--json", "--at", AT)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout == second.stdout

    # The slow path: the spec parsed afresh (no cache), judged by the same use cases.
    plan = service.resolve_plan("phu-thong-2025", cchc_env)
    at = dt.datetime.fromisoformat(AT)
    expected = service.status_json(plan, service.judge_plan(cchc_env, plan, at, dt.datetime.now(dt.UTC)))
    assert json.loads(first.stdout) == json.loads(json.dumps(expected, ensure_ascii=False))
    posts = [r for r in expected if r["duty"] == "ttdvth-tin-bai-website" and r["period"] == "2025-10"]
    assert posts and posts[0]["count"] == 1

    # Without any cache entry the command answers the same, and keeps the plan again.
    shutil.rmtree(cache)
    third = cli("status", "phu-thong-2025", "--json", "--at", AT)
    assert third.stdout == first.stdout
    assert len(list(cache.glob("*.pickle"))) == 1


def test_plans_json_is_the_same_from_the_cache(cchc_env: Settings) -> None:
    first = cli("plans", "--json")
    second = cli("plans", "--json")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert len(list(plan_cache.cache_dir(cchc_env.home).glob("*.pickle"))) == len(json.loads(first.stdout))


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "plans" / "demo.yaml"
    path.parent.mkdir()
    path.write_text((FIXTURES / "demo.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return path


def test_plan_cache_reads_what_it_kept_and_follows_every_edit(spec: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    plan = plan_cache.load(spec, home)
    assert plan == load_plan(spec)
    entry = plan_cache.entry(spec, spec.read_bytes(), home)
    assert entry.is_file()

    # The entry is what a second load returns (a planted plan proves it was not parsed again) ...
    planted = plan.model_copy(update={"title": "đã lấy từ bộ nhớ đệm"})
    entry.write_bytes(pickle.dumps(planted))
    assert plan_cache.load(spec, home).title == "đã lấy từ bộ nhớ đệm"

    # ... until the file changes by one byte: a new entry, parsed from the new text.
    spec.write_text(spec.read_text(encoding="utf-8").replace("demo", "demo", 1) + "\n", encoding="utf-8")
    assert plan_cache.load(spec, home).title == plan.title
    edited = spec.read_text(encoding="utf-8").replace(f"title: {plan.title}", "title: Kế hoạch đã sửa", 1)
    assert edited != spec.read_text(encoding="utf-8")
    spec.write_text(edited, encoding="utf-8")
    assert plan_cache.load(spec, home).title == "Kế hoạch đã sửa"
    assert len(list(plan_cache.cache_dir(home).glob("*.pickle"))) == 3


def test_plan_cache_never_keeps_an_error_and_survives_a_damaged_entry(spec: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    good = spec.read_text(encoding="utf-8")
    spec.write_text(good.replace("cadence: month", "cadence: monthly"), encoding="utf-8")
    for _ in range(2):
        with pytest.raises(SpecError, match="unknown value 'monthly'"):
            plan_cache.load(spec, home)
    assert not plan_cache.cache_dir(home).exists()

    spec.write_text(good, encoding="utf-8")
    entry = plan_cache.entry(spec, spec.read_bytes(), home)
    entry.parent.mkdir(parents=True)
    entry.write_bytes(b"half a pickle")
    assert plan_cache.load(spec, home) == load_plan(spec)
    assert pickle.loads(entry.read_bytes()) == load_plan(spec)  # written whole again

    # The same bytes under another name are another entry: the loader's id-matches-file-name rule still holds.
    other = spec.with_name("khac.yaml")
    other.write_bytes(spec.read_bytes())
    with pytest.raises(SpecError, match="must match the file name 'khac'"):
        plan_cache.load(other, home)


def test_plan_cache_without_a_writable_home_still_loads(spec: Path, tmp_path: Path) -> None:
    home = tmp_path / "not-a-folder"
    home.write_text("a file where the home should be", encoding="utf-8")
    assert plan_cache.load(spec, home) == load_plan(spec)


def test_declared_heads_are_alembics_heads() -> None:
    assert db.declared_heads() == db.head_revision()


def test_declared_heads_defer_to_alembic_on_anything_unusual(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    versions = tmp_path / "migrations" / "versions"
    shutil.copytree(db.MIGRATIONS / "versions", versions, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(db, "MIGRATIONS", tmp_path / "migrations")
    (head,) = sorted(db.declared_heads() or ())
    nxt = versions / "9998_next.py"
    nxt.write_text(
        f'"""next"""\nrevision: str = "9998"\ndown_revision: str | None = {head!r}\nbranch_labels = None\n'
        "depends_on = None\n",
        encoding="utf-8",
    )
    assert db.declared_heads() == frozenset({"9998"})
    branch = versions / "9999_branch.py"
    branch.write_text('revision = "9999"\ndown_revision = ("9998", "0001")\ndepends_on = None\n', encoding="utf-8")
    assert db.declared_heads() == frozenset({"9999"})
    for text in (
        'revision = make_id()\ndown_revision = "9999"\n',  # computed: only alembic can tell
        'revision = "a"\ndown_revision = "9999"\ndepends_on = "0003"\n',  # a dependency
        'down_revision = "9999"\n',  # no revision at all
        'revision = "a"\nrevision = "b"\ndown_revision = "9999"\n',  # stated twice
    ):
        (versions / "9999_z.py").write_text(text, encoding="utf-8")
        assert db.declared_heads() is None, text


OPEN_STORE = """
import sys
from cchc.store import db
engine = db.get_engine(sys.argv[1])
print(sorted(db.stored_revision(engine)), "alembic" in sys.modules)
"""


def open_store(url: str) -> tuple[str, bool]:
    run = subprocess.run(
        [sys.executable, "-c", OPEN_STORE, url], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr[-2000:]
    revision, alembic = run.stdout.rsplit(" ", 1)
    return revision, alembic.strip() == "True"


def test_a_store_at_the_head_opens_without_alembic_and_one_behind_is_migrated(tmp_path: Path) -> None:
    from alembic import command

    head = str(sorted(db.head_revision()))
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert open_store(fresh) == (head, True)  # created: alembic ran
    assert open_store(fresh) == (head, False)  # at the head: decided by plain SQL

    behind = f"sqlite:///{tmp_path / 'behind.db'}"
    engine = db.make_engine(behind)
    with engine.begin() as conn:
        cfg = db.alembic_config(behind)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
    engine.dispose()
    assert open_store(behind) == (head, True)
    assert open_store(behind) == (head, False)


class Events:
    """A loopback stand-in for Prefect's API: records every POST (events, artifacts) and answers 200."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, Any]] = []
        seen = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                seen.append((self.path, json.loads(body or b"null")))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.api = f"http://127.0.0.1:{self.server.server_address[1]}/api"


@pytest.fixture
def prefect_api() -> Iterator[Events]:
    events = Events()
    thread = threading.Thread(target=events.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield events
    events.server.shutdown()
    events.server.server_close()


def test_evidence_add_still_tells_prefect(demo_env: Settings, prefect_api: Events) -> None:
    """The listener is no longer registered at import (it loads httpx); `evidence add` registers it."""
    run = cli(
        "evidence", "add", "demo", "posts", "--kind", "post", "--title", "Bài mới", "--date", "2025-10-02",
        "--url", "https://example.org/bai-moi", env={"PREFECT_API_URL": prefect_api.api},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    events = [body for path, body in prefect_api.posts if path == "/api/events"]
    assert len(events) == 1
    (event,) = events[0]
    assert event["event"] == "cchc.evidence.recorded"
    assert event["payload"]["duty"] == "posts" and event["payload"]["evidence_id"] == int(run.stdout.strip())

    # And Prefect out of reach is a warning on stderr, the evidence recorded all the same.
    prefect_api.server.shutdown()
    prefect_api.server.server_close()
    down = cli(
        "evidence", "add", "demo", "posts", "--kind", "post", "--title", "Bài nữa", "--date", "2025-10-03",
        "--url", "https://example.org/bai-nua", env={"PREFECT_API_URL": prefect_api.api},
    )  # fmt: skip
    assert down.returncode == 0, down.stderr
    assert "warning: could not notify Prefect" in down.stderr
