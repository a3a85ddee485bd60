"""Parsed plan specs kept on disk, so a quick command does not parse and validate its plan every time.

Reading a spec costs most of a quick command such as `cchc status PLAN --json`: the YAML is parsed twice
in pure Python (once for line numbers), and validation checks the commune against the national register.
The same bytes read by the same code give the same plan, so a successful load is pickled under
CCHC_HOME/cache/plans/, named by the sha256 of the file's path and bytes, of every source file of
cchc.core and of the libraries validation depends on. Any change to one of those is a new name; a stale
entry is never read, only left behind (`cache/` may be deleted at any time). A spec with an error is never
cached: it is parsed each time and reported as before.

The pickles are read back only from CCHC_HOME, the folder that already holds the store and the portal's
signing key: whoever may write there controls the installation anyway.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import os
import pickle
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cchc.core.spec import Plan
from cchc.core.specfiles import MAX_SPEC_BYTES, SpecError, SpecIssue, layout_issues, walk_specs
from cchc.store.fastread import keep
from cchc.store.judging import gc_paused  # written whole or not at all; shared with the quick status read

# The loader (YAML, the register of communes behind the clone module) only on a miss: a hit is a quick
# command's whole read of its plan (`cchc status PLAN --json`; tests/test_status_fast.py checks the imports).

CORE = Path(__file__).resolve().parent.parent / "core"
# What validating a spec reads besides cchc.core: a new version of one of them may judge a spec differently.
LIBRARIES = ("pydantic", "pydantic_core", "yaml", "vietnam_provinces", "holidays", "pendulum")
FORMAT = b"cchc-plan-cache-1"


@lru_cache(maxsize=1)
def code_fingerprint() -> bytes:
    """The sha256 of the code a plan is read with: cchc.core's sources and the installed libraries' files."""
    h = hashlib.sha256(FORMAT)
    h.update(f"{sys.version_info[:3]} {pickle.HIGHEST_PROTOCOL}".encode())
    for f in sorted(CORE.rglob("*.py")):
        h.update(f.relative_to(CORE).as_posix().encode() + b"\0")
        h.update(f.read_bytes())
    for name in LIBRARIES:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        st = os.stat(origin) if origin and os.path.exists(origin) else None
        # A package installed again (upgraded or not) rewrites its files: a new mtime.
        h.update(f"{name}={origin}:{st.st_size if st else -1}:{st.st_mtime_ns if st else -1}\0".encode())
    return h.digest()


def cache_dir(home: Path) -> Path:
    return home / "cache" / "plans"


def entry(path: Path, data: bytes, home: Path) -> Path:
    """Where the plan parsed from ``data`` (the bytes of ``path``) is kept."""
    h = hashlib.sha256(code_fingerprint())
    # The path matters too: the loader checks that the plan's id is the file's name.
    h.update(str(path).encode("utf-8", "surrogateescape") + b"\0")
    h.update(data)
    return cache_dir(home) / f"{h.hexdigest()}.pickle"


def _read(path: Path) -> bytes | None:
    try:
        if path.stat().st_size > MAX_SPEC_BYTES:
            return None
        return path.read_bytes()
    except OSError:
        return None


def load(path: Path, home: Path) -> Plan:
    """``load_plan(path)``, from CCHC_HOME's cache when these bytes were loaded by this code before."""
    data = _read(path)
    if data is None:
        return _load_plan(path)  # missing, unreadable or too large: the loader says so in its own words
    kept = entry(path, data, home)
    plan = _cached(kept)
    if plan is not None:
        return plan
    plan = _load_plan(path)
    if _read(path) == data:  # not rewritten while it was being parsed, so these bytes gave this plan
        keep(kept, pickle.dumps(plan, protocol=pickle.HIGHEST_PROTOCOL))
    return plan


def _load_plan(path: Path) -> Plan:
    from cchc.core.loader import load_plan  # on a miss only (see the note at the top)

    return load_plan(path)


def _cached(kept: Path) -> Plan | None:
    try:
        blob = kept.read_bytes()
    except OSError:
        return None
    try:
        plan = pickle.loads(blob)  # noqa: S301 - written by this module under CCHC_HOME (see the module's note)
    except Exception:  # a damaged entry (a full disk, a crash of another writer) is only a miss
        return None
    return plan if isinstance(plan, Plan) else None


@dataclass(frozen=True)
class Folder:
    """Every plan of a plan folder that loads and sits where it should, and every problem found on the way."""

    plans: list[tuple[Path, Plan]]
    broken: list[SpecIssue]  # a spec's own errors (`cchc validate` reports them file by file)
    layout: list[SpecIssue]  # an id held twice, a spec at the wrong depth or in another commune's folder

    @property
    def issues(self) -> list[SpecIssue]:
        return [*self.layout, *self.broken]


def read_folder(root: Path, home: Path | None) -> Folder:
    """Walk the plan folder (flat and <province>/<commune>/ specs), load each spec through the cache (none when
    ``home`` is None: a check that must not write), and check the layout: an id held by two files, a spec in
    another commune's folder, a spec at the wrong depth."""
    ids = walk_specs(root)
    label = str(root)
    rels = {i: [p.relative_to(root).as_posix() for p in paths] for i, paths in ids.items()}
    layout = [_at_id_line(i) for i in layout_issues(rels, label)]
    broken: list[SpecIssue] = []
    plans: list[tuple[Path, Plan]] = []
    with gc_paused():
        for n, (plan_id, paths) in enumerate(sorted(ids.items())):
            if n % YOUNG_EVERY == YOUNG_EVERY - 1:
                gc.collect(1)  # the parsers' short-lived cycles, without scanning every plan kept so far
            _load_into(plans, broken, layout, paths, rels[plan_id], label, home)
    return Folder(plans, broken, layout)


# Loading a nation's plans makes millions of long-lived objects: the collector's full passes, started again
# and again as they pile up, cost 4x the load itself (3,321 cached plans: 12.5 s with them, 3.1 s without).
YOUNG_EVERY = 200


def _load_into(
    plans: list[tuple[Path, Plan]],
    broken: list[SpecIssue],
    layout: list[SpecIssue],
    paths: list[Path],
    rels: list[str],
    label: str,
    home: Path | None,
) -> None:
    from cchc.core.loader import load_plan, placement_issue

    for path, rel in zip(paths, rels, strict=True):
        try:
            plan = load(path, home) if home is not None else load_plan(path)
        except SpecError as e:
            broken.extend(e.issues)
            continue
        wrong = placement_issue(plan, rel, label)
        if wrong is not None:
            # Loaded, its commune says exactly where it goes: that replaces the general word on its depth.
            layout[:] = [i for i in layout if not (i.file == wrong.file and i.field == "")]
            layout.append(placement_issue(plan, rel, label, _text(path)) or wrong)
        elif len(paths) == 1:
            plans.append((path, plan))


def load_folder(root: Path, home: Path) -> list[tuple[Path, Plan]]:
    """``read_folder``, all or nothing: SpecError naming every problem (file:line: field: what to do)."""
    folder = read_folder(root, home)
    if folder.issues:
        raise SpecError(folder.issues)
    return folder.plans


def _text(path: Path) -> str:
    data = _read(path)
    return data.decode("utf-8", "replace") if data is not None else ""


def _at_id_line(issue: SpecIssue) -> SpecIssue:
    """A layout issue about the plan's id points at the file's `id:` line."""
    if issue.field != "id":
        return issue
    lines = _text(Path(issue.file)).splitlines()
    line = next((n + 1 for n, text in enumerate(lines) if text.startswith("id:")), issue.line)
    return SpecIssue(issue.file, line, issue.field, issue.message)
