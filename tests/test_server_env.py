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
