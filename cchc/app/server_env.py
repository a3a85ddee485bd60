"""Environment for the processes `cchc up` starts: the Prefect server, the runner (each flow run is a new
process of its own), the workers and the portal (#18 item 5, a restart under 10 s).

Where a start goes: a Prefect server restart is almost all Python importing Prefect's server (FastAPI, the
ORM, every API module); its migrations on start cost nothing measurable when the database is at the head.
Where the environment forbids bytecode (``PYTHONDONTWRITEBYTECODE``, as in many containers) and the
installation ships none (uv and pip without ``--compile-bytecode``), every one of those processes compiles
all of those modules from source at every start, the server's ~860 Prefect files among them. So the
children write their bytecode under CCHC_HOME/cache/pycache (``PYTHONPYCACHEPREFIX``: never beside the
sources, which is what the variable usually protects; Python checks each file's size and mtime, so an
upgraded library is compiled again; the folder may be deleted at any time, as all of cache/).

A ``PYTHONPYCACHEPREFIX`` already set is left as it is. Pure: the inherited environment is a parameter.

An editable install ships no bytecode for the project's own packages (the checkout's sources), so where the
installation's bytecode is used instead of the prefix, `compile_sources` writes theirs beside them once
(`__pycache__`, git-ignored), as `python -m compileall` would; each flow run and command then reads it.
"""

from __future__ import annotations

import compileall
import importlib.util
from collections.abc import Mapping
from pathlib import Path

# The checkout's packages every run or command imports (the rest of the tree is scripts, tests, benches).
PROJECT_PACKAGES = ("cchc", "flows", "tasks", "notifications")


def bytecode_cache(home: Path) -> Path:
    return home / "cache" / "pycache"


def installed_bytecode() -> bool:
    """Whether the installation ships compiled modules (`uv sync --compile-bytecode`, as scripts/dev does):
    then the children read those, and a prefix would make each fresh home compile everything once more."""
    spec = importlib.util.find_spec("prefect")
    origin = spec.origin if spec is not None else None
    return origin is not None and Path(importlib.util.cache_from_source(origin)).is_file()


def process_env(home: Path, inherited: Mapping[str, str], shipped: bool = False) -> dict[str, str]:
    """Variables to add to a child's environment (over ``inherited``, what it would get otherwise).
    ``shipped``: the installation has its bytecode already (``installed_bytecode()``)."""
    env = {
        # Prefect's telemetry is off (the server runs offline; FIELD-NOTES: Set PREFECT_SERVER_ANALYTICS_ENABLED).
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    if not shipped and not inherited.get("PYTHONPYCACHEPREFIX"):
        env["PYTHONPYCACHEPREFIX"] = str(bytecode_cache(home).resolve())
        # Python treats an empty value as unset: bytecode is written, but only under the prefix above.
        env["PYTHONDONTWRITEBYTECODE"] = ""
    return env


def compile_sources(root: Path) -> bool:
    """Bytecode for the checkout's own packages, beside them: only files whose .pyc is missing or older than
    the source are compiled (a second start only reads timestamps). A read-only checkout is left as it is:
    the processes then compile in memory, as before. True if every file compiled."""
    ok = True
    for name in PROJECT_PACKAGES:
        folder = root / name
        if folder.is_dir():
            try:
                ok = bool(compileall.compile_dir(folder, quiet=2, workers=1)) and ok
            except OSError:
                ok = False
    return ok
