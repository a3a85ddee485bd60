"""The layers, enforced by checks that fail on a violation: import-linter contracts and a clock-read ban.

Each check is also run against a copy of the code with a violation planted, so a check that silently
stopped working (a renamed folder, a contract that matches nothing) fails here too.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("cchc", "notifications", "flows", "tasks")
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))
CLOCK_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "monotonic"),
    ("pendulum", "now"),
    ("pendulum", "today"),
    ("pendulum", "yesterday"),
    ("pendulum", "tomorrow"),
}
CLOCK_MODULES = {"datetime", "time", "pendulum"}


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_import_contracts_hold() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


PLANTS = [
    ("cchc/core/evaluate.py", "from cchc.app import service", "Layers"),
    ("cchc/core/evaluate.py", "from notifications import messages", "Layers"),
    ("cchc/store/repo.py", "from cchc.app import service", "Layers"),
    ("cchc/core/views.py", "import httpx", "The core imports no Prefect"),
    ("cchc/core/calendar.py", "from cchc.settings import get_settings", "The core imports no Prefect"),
    ("cchc/store/db.py", "from cchc.store import outbox", "No import cycles"),
]


@pytest.mark.parametrize(("path", "line", "contract"), PLANTS, ids=[f"{p}:{c.split()[0]}" for p, _, c in PLANTS])
def test_each_contract_fails_when_a_violation_is_planted(tmp_path: Path, path: str, line: str, contract: str) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / path
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # planted\n", encoding="utf-8")
    result = _lint(tmp_path)
    assert result.returncode != 0, result.stdout
    broken = result.stdout.split("Broken contracts")[-1]
    assert contract in broken, result.stdout


def clock_reads(source: str) -> list[str]:
    """Calls that read the wall clock: datetime.now(), dt.datetime.now(), date.today(), time.time(), pendulum.now(),
    and the same functions imported by name (from time import time)."""
    tree = ast.parse(source)
    imported: dict[str, str] = {}  # local name -> "module.function"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in CLOCK_MODULES:
            for alias in node.names:
                imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Attribute):
            owner = f.value
            owner_name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if (owner_name, f.attr) in CLOCK_CALLS:
                found.append(f"line {node.lineno}: {owner_name}.{f.attr}()")
        elif isinstance(f, ast.Name) and f.id in imported:
            module, _, name = imported[f.id].partition(".")
            if (module, name) in CLOCK_CALLS:
                found.append(f"line {node.lineno}: {imported[f.id]}()")
    return found


def test_the_core_never_reads_the_clock() -> None:
    offenders = {
        str(p.relative_to(ROOT)): reads
        for p in sorted((ROOT / "cchc" / "core").rglob("*.py"))
        if (reads := clock_reads(p.read_text(encoding="utf-8")))
    }
    assert offenders == {}, "the core takes the moment as a parameter"


@pytest.mark.parametrize(
    "planted",
    [
        "import datetime\nx = datetime.datetime.now()",
        "import datetime as dt\nx = dt.datetime.now(dt.UTC)",
        "from datetime import datetime\nx = datetime.utcnow()",
        "from datetime import date\nx = date.today()",
        "import time\nx = time.time()",
        "from time import time\nx = time()",
        "import pendulum\nx = pendulum.now('Asia/Ho_Chi_Minh')",
        "from pendulum import today\nx = today()",
    ],
)
def test_the_clock_check_finds_a_planted_read(planted: str) -> None:
    source = (ROOT / "cchc" / "core" / "evaluate.py").read_text(encoding="utf-8") + "\n" + planted + "\n"
    assert clock_reads(source), planted


def test_only_the_settings_module_reads_the_environment() -> None:
    offenders = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "settings.py":
                continue
            text = path.read_text(encoding="utf-8")
            if "os.environ" in text or "os.getenv" in text:
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
