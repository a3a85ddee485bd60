"""The processes `cchc up` starts keep their bytecode under CCHC_HOME (#18 item 5): where the environment
forbids bytecode and the installation ships none, each of them would compile every module it imports at
every start (the Prefect server alone ~860 files)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cchc.app.server_env import bytecode_cache, process_env


def start_child(folder: Path, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-c", "import cchc_probe"], cwd=folder, env=env, check=True, timeout=60)


def test_a_child_keeps_its_bytecode_under_the_home_even_where_bytecode_is_forbidden(tmp_path: Path) -> None:
    code = tmp_path / "src"
    code.mkdir()
    (code / "cchc_probe.py").write_text("VALUE = 1\n", encoding="utf-8")
    home = tmp_path / "home"
    inherited = {k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"}
    inherited.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(code))

    start_child(code, inherited)  # as before: nothing kept anywhere
    assert list(tmp_path.rglob("*.pyc")) == []

    start_child(code, {**inherited, **process_env(home, inherited)})
    kept = list(tmp_path.rglob("*.pyc"))
    assert "cchc_probe" in {p.name.split(".")[0] for p in kept}
    assert all(p.is_relative_to(bytecode_cache(home)) for p in kept)  # never beside the sources
    assert not (code / "__pycache__").exists()


def test_a_prefix_already_chosen_is_kept_and_telemetry_is_off(tmp_path: Path) -> None:
    env = process_env(tmp_path, {"PYTHONPYCACHEPREFIX": "/elsewhere", "PYTHONDONTWRITEBYTECODE": "1"})
    assert "PYTHONPYCACHEPREFIX" not in env and "PYTHONDONTWRITEBYTECODE" not in env
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"


def test_the_checkouts_packages_get_their_bytecode_once_and_a_read_only_checkout_is_left_alone(tmp_path: Path) -> None:
    import importlib.util

    from cchc.app.server_env import PROJECT_PACKAGES, compile_sources

    root = tmp_path / "checkout"
    for name in PROJECT_PACKAGES:
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text("", encoding="utf-8")
        (root / name / "mod.py").write_text("VALUE = 1\n", encoding="utf-8")
    (root / "scripts").mkdir()
    (root / "scripts" / "tool.py").write_text("VALUE = 2\n", encoding="utf-8")

    assert compile_sources(root)
    pycs = {p: p.stat().st_mtime_ns for p in root.rglob("*.pyc")}
    for name in PROJECT_PACKAGES:  # what Python itself looks for beside each source
        assert Path(importlib.util.cache_from_source(str(root / name / "mod.py"))) in pycs
    assert not list((root / "scripts").rglob("*.pyc"))  # only the packages every run imports

    assert compile_sources(root)  # a second start compiles nothing again
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*.pyc")} == pycs

    # A checkout where nothing can be written (as root, chmod does not stop us: a file stands where the
    # __pycache__ folder would go): nothing compiled, no error, the processes compile in memory as before.
    locked = tmp_path / "locked"
    (locked / "cchc").mkdir(parents=True)
    (locked / "cchc" / "mod.py").write_text("VALUE = 3\n", encoding="utf-8")
    (locked / "cchc" / "__pycache__").write_text("not a folder", encoding="utf-8")
    assert not compile_sources(locked)
    assert not list(locked.rglob("*.pyc"))
