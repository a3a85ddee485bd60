"""Lean flow runs (#18): every scheduled run is a new process that imports its deployment's entrypoint, so what a
flow module imports at its top is paid by every run. The duty flows, the mail pass and the report flow import only
what each of their runs needs: rendering a document (python-docx, docxtpl), reading feeds (feedparser, selectolax),
drawing (matplotlib), workbooks (openpyxl), the register of communes (vietnam_provinces), migrations (alembic) and the portal (FastAPI) load in the step that uses
them. And importing does no work: no store opened, no plan read, nothing written under CCHC_HOME.

bench/bench_runcost.py measures what this saves per run against Prefect's own floor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cchc.core.deployments import FLOW_OF_KIND, REPORT_FLOW
from tests.conftest import ROOT

# Loaded only by the step that uses them (cchc.app.report_render, cchc.app.collect, cchc.app.heatmap, ...); the
# register of communes (vietnam_provinces) only where a commune or province is looked up (clone, province pages).
DEFERRED = (
    "docx",
    "docxtpl",
    "feedparser",
    "selectolax",
    "matplotlib",
    "openpyxl",
    "alembic",
    "fastapi",
    "vietnam_provinces",
)

ENTRYPOINT_FILES = sorted({path for path, _ in (*FLOW_OF_KIND.values(), REPORT_FLOW)} | {"flows/mail.py"})

# One process imports Prefect's engine as `python -m prefect.engine` does, then each entrypoint module in turn,
# noting the top-level packages that module added.
PROBE = """
import importlib, json, sys
import prefect.engine, prefect.flow_engine
added = {}
for module in sys.argv[1:]:
    before = set(sys.modules)
    importlib.import_module(module)
    added[module] = sorted({name.split(".")[0] for name in set(sys.modules) - before})
print(json.dumps(added))
"""


def module_of(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def test_the_flow_entrypoints_are_the_ones_the_deployments_run() -> None:
    assert ENTRYPOINT_FILES == [
        "flows/continuous.py",
        "flows/deadline.py",
        "flows/mail.py",
        "flows/quota.py",
        "flows/report.py",
    ]
    assert all((ROOT / path).is_file() for path in ENTRYPOINT_FILES)


def test_importing_a_flow_entrypoint_loads_no_deferred_library_and_does_no_work(tmp_path: Path) -> None:
    home = tmp_path / "cchc-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CCHC_", "PREFECT_API_URL"))}
    env |= {"CCHC_HOME": str(home), "CCHC_PLAN_DIR": str(ROOT / "plan_specs")}
    modules = [module_of(path) for path in ENTRYPOINT_FILES]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *modules], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    added: dict[str, list[str]] = json.loads(done.stdout.splitlines()[-1])
    assert list(added) == modules
    pulled = {module: sorted(set(tops) & set(DEFERRED)) for module, tops in added.items()}
    assert pulled == {module: [] for module in modules}, (
        "a flow entrypoint imports a library only one step uses; import it inside that step (issue #18)"
    )
    # The first module imported our layers; the store, the plans and the mail are there, only not used yet.
    assert {"cchc", "tasks", "sqlalchemy"} <= set(added[modules[0]])
    assert not home.exists(), f"importing the flows wrote under CCHC_HOME: {sorted(p.name for p in home.rglob('*'))}"
