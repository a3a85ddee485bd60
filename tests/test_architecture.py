"""Boundaries: the pure core imports no Prefect, database, SMTP or HTTP client."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PURE = [
    "spec",
    "loader",
    "calendar",
    "workdays",
    "evaluate",
    "communes",
    "escalation",
    "vndates",
    "links",
    "deployments",
    "runs",
]
FORBIDDEN = (
    "prefect",
    "sqlalchemy",
    "alembic",
    "aiosmtplib",
    "aiosmtpd",
    "smtplib",
    "httpx",
    "requests",
    "psycopg",
    "urllib.request",
)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", [m for m in PURE if (ROOT / "cchc" / f"{m}.py").exists()])
def test_pure_core_module_imports_no_io_library(module: str) -> None:
    seen = set()
    todo = [module]
    while todo:  # follow imports inside cchc so a pure module cannot reach I/O indirectly
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        for name in _imports(ROOT / "cchc" / f"{m}.py"):
            assert not name.startswith(FORBIDDEN), f"cchc.{m} imports {name}"
            if name.startswith("cchc."):
                inner = name.split(".")[1]
                assert (ROOT / "cchc" / f"{inner}.py").exists(), f"cchc.{m} imports {name}, which is not a pure module"
                assert inner in PURE, f"pure module cchc.{m} imports cchc.{inner}"
                todo.append(inner)


def test_only_the_settings_module_reads_the_environment() -> None:
    offenders = []
    for path in [
        *ROOT.glob("cchc/**/*.py"),
        *ROOT.glob("flows/**/*.py"),
        *ROOT.glob("tasks/**/*.py"),
        *ROOT.glob("notifications/**/*.py"),
    ]:
        if path.name == "settings.py":
            continue
        text = path.read_text(encoding="utf-8")
        if "os.environ" in text or "os.getenv" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
