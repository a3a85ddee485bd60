"""The lock file is what a fresh machine installs: it must agree with pyproject.toml, offline."""

from __future__ import annotations

import tomllib
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

Key = tuple[str, str, str, tuple[str, ...]]


def _key(name: str, specifier: str, marker: str, extras: list[str] | tuple[str, ...]) -> Key:
    return (str(canonicalize_name(name)), str(SpecifierSet(specifier)), marker, tuple(sorted(extras)))


def _declared() -> set[Key]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    out: set[Key] = set()
    for line in project["dependencies"]:
        r = Requirement(line)
        out.add(_key(r.name, str(r.specifier), str(r.marker or ""), list(r.extras)))
    for extra, lines in project.get("optional-dependencies", {}).items():
        for line in lines:
            r = Requirement(line)
            out.add(_key(r.name, str(r.specifier), f"extra == '{extra}'", list(r.extras)))
    return out


def _lock() -> dict[str, Any]:
    return tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))


def _locked_root() -> dict[str, Any]:
    return next(p for p in _lock()["package"] if p["name"] == "cchc")


def test_the_lock_was_made_from_this_pyproject() -> None:
    locked = {
        _key(d["name"], d.get("specifier", ""), d.get("marker", ""), d.get("extras", []))
        for d in _locked_root()["metadata"]["requires-dist"]
    }
    declared = _declared()
    assert declared == locked, (
        "pyproject.toml and uv.lock disagree; run `scripts/dev lock` and commit uv.lock.\n"
        f"only in pyproject.toml: {sorted(declared - locked)}\nonly in uv.lock: {sorted(locked - declared)}"
    )


def _version(name: str) -> str:
    versions = {p["version"] for p in _lock()["package"] if p["name"] == name}
    assert len(versions) == 1, f"{name}: {versions}"
    return versions.pop()


def test_the_lock_holds_a_prefect_whose_scheduler_works_with_its_sqlalchemy() -> None:
    """Prefect 3.8.8's scheduler fails on every cycle with SQLAlchemy 2.1 (see README, 'Dependencies')."""
    prefect = tuple(int(x) for x in _version("prefect").split(".")[:3])
    sqlalchemy = tuple(int(x) for x in _version("sqlalchemy").split(".")[:2])
    assert prefect >= (3, 9, 1) or sqlalchemy < (2, 1)


def test_every_installer_uses_the_lock() -> None:
    dev = (ROOT / "scripts" / "dev").read_text(encoding="utf-8")
    assert "sync --locked" in dev
    assert "pip install -q -e" not in dev
    assert "scripts/dev test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
