"""Where plan specs are: the files of a plan folder (flat or grouped by province and commune), one plan id's
file, and the error a spec's problems are reported with.

Apart from the loader (YAML, the register of communes) so that a quick command (`cchc status PLAN`) can find
its spec file and read the parsed plan from CCHC_HOME's cache without importing either. cchc.core.loader
names all of these too.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SpecIssue:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.file}:{self.line}: {self.field}: {self.message}"
            if self.field
            else f"{self.file}:{self.line}: {self.message}"
        )


class SpecError(Exception):
    """One or more problems in one spec file."""

    def __init__(self, issues: Sequence[SpecIssue]):
        self.issues = list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


MAX_SPEC_BYTES = 1024 * 1024  # the largest real plan is ~30 KB


# -- A folder of specs: flat (plan_specs/<id>.yaml) or grouped (plan_specs/<province>/<commune>/<id>.yaml) --

NOT_SPECS = frozenset({"plan.schema.json"})
MAX_FOLDER_DEPTH = 4  # specs sit at depth 1 or 3; a folder linked into itself is not followed forever


def slug(text: str) -> str:
    """'Phủ Thông' -> 'phu-thong': the id form of a Vietnamese name."""
    s = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    s = "".join(c for c in s if unicodedata.category(c) != "Mn").lower()
    return re.sub(r"[^a-z0-9]+", "-", s).strip("-")


def is_spec_name(name: str) -> bool:
    """A file or folder the walk reads: `_draft.yaml`, `_old/` and hidden names (editors' swap files) are skipped."""
    return not name.startswith(("_", ".")) and name not in NOT_SPECS


def spec_ids(relpaths: Iterable[str]) -> dict[str, list[str]]:
    """Plan id (the file's name) -> every relative path (POSIX) holding it, for the specs among ``relpaths``:
    `.yaml` files with no part skipped by ``is_spec_name``; the paths in sorted order."""
    out: dict[str, list[str]] = {}
    for rel in sorted(relpaths):
        parts = rel.split("/")
        if not parts[-1].endswith(".yaml") or not all(is_spec_name(p) for p in parts):
            continue
        out.setdefault(parts[-1][: -len(".yaml")], []).append(rel)
    return out


def layout_issues(ids: dict[str, list[str]], root: str) -> list[SpecIssue]:
    """A plan id held by two files (both named), and a spec neither flat nor in <province>/<commune>/."""
    issues: list[SpecIssue] = []
    for plan_id, rels in sorted(ids.items()):
        if len(rels) > 1:
            where = ", ".join(f"{root}/{r}" for r in rels)
            issues.append(
                SpecIssue(
                    f"{root}/{rels[1]}",
                    1,
                    "id",
                    f"mã kế hoạch '{plan_id}' có ở {len(rels)} tệp: {where}; mỗi kế hoạch chỉ một tệp: "
                    "xoá bản thừa, hoặc đổi mã (và tên tệp) của một bản",
                )
            )
        for rel in rels:
            depth = rel.count("/") + 1
            if depth not in (1, 3):
                issues.append(
                    SpecIssue(
                        f"{root}/{rel}",
                        1,
                        "",
                        f"tệp kế hoạch phải nằm ngay trong {root}/ hoặc trong {root}/<tỉnh>/<xã>/ "
                        f"(như {root}/hai-phong/phu-thai/phu-thai-2025h2.yaml); chuyển tệp cho đúng chỗ",
                    )
                )
    return issues


def walk_specs(root: Path) -> dict[str, list[Path]]:
    """Every spec under the plan folder (recursive), by plan id; see ``spec_ids``."""
    return {plan_id: [root / r for r in rels] for plan_id, rels in _walk_ids(root).items()}


def _walk_ids(root: Path) -> dict[str, list[str]]:
    ids = spec_ids(_yaml_files(root))
    _LAST_WALK[root] = {plan_id: rels[0] for plan_id, rels in ids.items() if len(rels) == 1}
    return ids


def _yaml_files(root: Path) -> list[str]:
    """The relative paths of the .yaml files under root, skipped names left out (plain strings and scandir:
    a nation's 3,321 plans in as many folders are walked in tens of milliseconds)."""
    out: list[str] = []
    stack = [("", str(root))]
    while stack:
        rel, here = stack.pop()
        try:
            with os.scandir(here) as entries:
                for e in entries:
                    if not is_spec_name(e.name):
                        continue
                    if e.is_dir():
                        if rel.count("/") < MAX_FOLDER_DEPTH:  # deep enough to report a misplaced spec; no loop
                            stack.append((f"{rel}{e.name}/", e.path))
                    elif e.name.endswith(".yaml"):
                        out.append(f"{rel}{e.name}")
        except (NotADirectoryError, FileNotFoundError):
            continue
    return out


# The last walk of each plan folder, id -> relative path (ids held once): a long-lived process (the portal,
# a replay) looks a plan up again without walking a nation's folders each time. A hit is used only while its
# file is still there; a miss walks again, so every new process, and every miss, checks the folder afresh.
_LAST_WALK: dict[Path, dict[str, str]] = {}


def find_spec(root: Path, plan_id: str) -> Path | None:
    """The file of one plan id: flat first (no walk), else found in the folders. SpecError when two files hold it."""
    flat = root / f"{plan_id}.yaml"
    if flat.is_file() and not _grouped(root):
        return flat
    seen = _LAST_WALK.get(root, {}).get(plan_id)
    if seen is not None and (root / seen).is_file():
        return root / seen
    rels = _walk_ids(root).get(plan_id, [])
    if len(rels) > 1:
        raise SpecError(layout_issues({plan_id: rels}, str(root)))
    return root / rels[0] if rels else None


def _grouped(root: Path) -> bool:
    """Whether the plan folder has any sub-folder a spec may sit in (then an id may be held twice)."""
    try:
        return any(e.is_dir() and is_spec_name(e.name) for e in os.scandir(root))
    except OSError:
        return False
