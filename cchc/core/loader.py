"""Load plan specs from YAML, with errors a person can act on.

An error names the file, the line, the field path and the likely fix
(``plan_specs/x.yaml:42: duties[3].cadence: unknown value 'quater' (did you mean 'quarter'?)``).
A file either loads whole or not at all.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from cchc.core.spec import Commune, Plan

# Moved to cchc.core.specfiles (light: a quick command finds and checks its spec file without YAML and the
# register); named here too, where every caller has always found them.
from cchc.core.specfiles import MAX_SPEC_BYTES as MAX_SPEC_BYTES
from cchc.core.specfiles import SpecError as SpecError
from cchc.core.specfiles import SpecIssue as SpecIssue
from cchc.core.specfiles import find_spec as find_spec
from cchc.core.specfiles import is_spec_name as is_spec_name
from cchc.core.specfiles import layout_issues as layout_issues
from cchc.core.specfiles import slug
from cchc.core.specfiles import spec_ids as spec_ids
from cchc.core.specfiles import walk_specs as walk_specs

Loc = tuple[str | int, ...]


MAX_DEPTH = 40  # a plan nests about 6 levels


MAX_ALIASED = 20_000  # values an alias may stand for, in all; the real plans use no alias at all


def _size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many values a node stands for once its aliases are expanded (memoised: linear in the graph)."""
    key = id(node)
    if key not in memo:
        memo[key] = 1  # a cycle counts once; the constructor refuses recursive structures anyway
        if isinstance(node, yaml.MappingNode):
            memo[key] = 1 + sum(_size(k, memo) + _size(v, memo) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            memo[key] = 1 + sum(_size(v, memo) for v in node.value)
    return memo[key]


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (YAML silently keeps the last one), aliases beyond a small
    budget (a few nested ones stand for gigabytes once expanded) and absurd nesting (a RecursionError)."""

    _depth = 0
    _aliased = 0
    _sizes: dict[int, int] | None = None

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):  # type: ignore[no-untyped-call]
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            node = super().compose_node(parent, index)
            if self._sizes is None:
                self._sizes = {}
            self._aliased += _size(node, self._sizes) if node is not None else 0
            if self._aliased > MAX_ALIASED:
                raise yaml.composer.ComposerError(
                    None, None, f"aliases (*name) here stand for more than {MAX_ALIASED} values; write it out", mark
                )
            return node  # type: ignore[no-any-return]
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels; a plan spec needs far fewer", event.start_mark
                )
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key '{key}' appears twice (first on line {seen[key] + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line_index(node: yaml.Node, loc: Loc = (), out: dict[Loc, int] | None = None) -> dict[Loc, int]:
    """Map every key path in the YAML tree to its 1-based line."""
    out = {} if out is None else out
    out.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = (*loc, str(k.value))
            out[key] = k.start_mark.line + 1
            _line_index(v, key, out)
            out[key] = k.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, (*loc, i), out)
    return out


def _format_loc(loc: Loc) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return text


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The pydantic model that owns the keys at ``loc`` (for 'did you mean')."""
    model: Any = Plan
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return None
        model = _inner_type(model.model_fields[part].annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inner_type(annotation: Any) -> Any:
    """Unwrap Optional[...] and tuple[X, ...] to X."""
    while True:
        origin = get_origin(annotation)
        if origin is None:
            return annotation
        args = [a for a in get_args(annotation) if a is not type(None) and a is not Ellipsis]
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if models:
            return models[0]
        if not args:
            return annotation
        annotation = args[0]


def _enum_values(loc: Loc) -> list[str]:
    idx = max((i for i, p in enumerate(loc) if isinstance(p, str)), default=None)
    if idx is None:
        return []
    key = str(loc[idx])
    parent = _model_at(loc[:idx])
    if parent is None or key not in parent.model_fields:
        return []
    inner = _inner_type(parent.model_fields[key].annotation)
    if isinstance(inner, type) and issubclass(inner, Enum):
        return [str(e.value) for e in inner]
    literal_args = [a for a in get_args(inner) if isinstance(a, str)]
    return literal_args


def _suggest(value: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _explain(err: Any) -> tuple[Loc, str]:
    loc: Loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        owner = _model_at(loc[:-1])
        known = sorted(owner.model_fields) if owner else []
        hint = _suggest(str(loc[-1]), known) or (f" (allowed: {', '.join(known)})" if known else "")
        return loc, f"unknown key '{loc[-1]}'{hint}; remove it or fix its spelling"
    if kind in ("enum", "literal_error"):
        choices = _enum_values(loc)
        hint = _suggest(str(value), choices) or (f" (allowed: {', '.join(choices)})" if choices else "")
        return loc, f"unknown value '{value}'{hint}"
    if kind == "missing":
        return loc, "required field is missing; add it"
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    # A plan-wide rule names the item it is about ("duties[5].id: ..."): point at that item's line.
    m = _AT_ITEM.match(msg)
    if m:
        path: list[str | int] = [m["list"], int(m["index"])]
        if m["field"]:
            path.append(m["field"])
        return (*loc, *path), msg[m.end() :]
    return loc, msg


_AT_ITEM = re.compile(r"^(?P<list>units|duties|reports)\[(?P<index>\d+)\](?:\.(?P<field>[a-z_]+))?(?:\[\d+\])?: ")


def parse_plan(text: str, filename: str = "<string>") -> Plan:
    """Parse and validate one spec; raise SpecError naming file, line and field."""
    size = len(text.encode("utf-8"))
    if size > MAX_SPEC_BYTES:
        raise SpecError([SpecIssue(filename, 1, "", f"the spec is {size // 1024} KB; a plan spec may be at most 1 MB")])
    # One pass: the composed tree gives the lines and is then constructed (parsing twice cost half the load).
    reader = _LineLoader(text)
    try:
        root = reader.get_single_node()  # type: ignore[no-untyped-call]
        data = reader.construct_document(root) if root is not None else None  # type: ignore[no-untyped-call]
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        raise SpecError([SpecIssue(filename, line, "", f"YAML syntax: {e.problem or e}")]) from None
    finally:
        reader.dispose()  # type: ignore[no-untyped-call]
    if root is None or not isinstance(data, dict):
        raise SpecError(
            [SpecIssue(filename, 1, "", "the file must be a YAML mapping with the plan's keys (id, title, ...)")]
        )
    lines = _line_index(root)
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        issues = []
        errors = exc.errors()
        locs = [tuple(e["loc"]) for e in errors]
        for err in errors:
            here = tuple(err["loc"])
            # A container's "too short" just echoes its failed items; keep the items.
            if err["type"] == "too_short" and any(o[: len(here)] == here and o != here for o in locs):
                continue
            loc, message = _explain(err)
            probe = loc
            while probe and probe not in lines:
                probe = probe[:-1]
            issues.append(SpecIssue(filename, lines.get(probe, 1), _format_loc(loc), message))
        raise SpecError(issues) from None


def load_plan(path: Path | str) -> Plan:
    p = Path(path)
    try:
        if p.stat().st_size > MAX_SPEC_BYTES:  # refused before it is read into memory
            raise SpecError([SpecIssue(str(p), 1, "", "the spec is over 1 MB; a plan spec may be at most 1 MB")])
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([SpecIssue(str(p), 0, "", "file not found")]) from None
    except UnicodeDecodeError as e:
        raise SpecError([SpecIssue(str(p), 1, "", f"not UTF-8 text ({e.reason}); save the file as UTF-8")]) from None
    plan = parse_plan(text, str(p))
    if p.stem != plan.id:
        line = next((i + 1 for i, ln in enumerate(text.splitlines()) if ln.startswith("id:")), 1)
        raise SpecError([SpecIssue(str(p), line, "id", f"plan id '{plan.id}' must match the file name '{p.stem}'")])
    return plan


def province_slug(province: str) -> str:
    """'Thành phố Hải Phòng' -> 'hai-phong', 'Tỉnh Thái Nguyên' -> 'thai-nguyen': the province's folder."""
    for prefix in ("Thành phố ", "Tỉnh "):
        if province.startswith(prefix):
            province = province[len(prefix) :]
    return slug(province)


def spec_folder(commune: Commune) -> str:
    """The folder a commune's plans go in when the plan folder is grouped: 'hai-phong/phu-thai'."""
    return f"{province_slug(commune.province)}/{slug(commune.name)}"


def placement_issue(plan: Plan, rel: str, root: str, text: str = "") -> SpecIssue | None:
    """A spec outside its commune's folder (another commune's, or at the wrong depth): say which folder."""
    parts = rel.split("/")
    want = spec_folder(plan.commune)
    have = "/".join(parts[:-1])
    if len(parts) == 1 or have == want:
        return None
    c = plan.commune
    if len(parts) == 3:
        line = next((i + 1 for i, ln in enumerate(text.splitlines()) if ln.startswith("commune:")), 1)
        return SpecIssue(
            f"{root}/{rel}",
            line,
            "commune",
            f"kế hoạch của xã {c.name} (mã {c.code}, {c.province}) nằm sai thư mục {root}/{have}/; "
            f"chuyển tệp sang {root}/{want}/{parts[-1]}, hoặc sửa commune nếu nhầm xã",
        )
    return SpecIssue(
        f"{root}/{rel}",
        1,
        "",
        f"tệp kế hoạch phải nằm ngay trong {root}/ hoặc trong {root}/<tỉnh>/<xã>/; kế hoạch của xã {c.name} "
        f"({c.province}) thì chuyển sang {root}/{want}/{parts[-1]}",
    )


def uses_folders(root: Path) -> bool:
    """Whether new plans go in <province>/<commune>/: the plan folder already holds a grouped spec."""
    return any(len(p.relative_to(root).parts) == 3 for paths in walk_specs(root).values() for p in paths)


def spec_target(root: Path, plan_id: str, commune: Commune) -> Path:
    """Where a new or replaced spec is written: the file already holding the id; else the commune's
    <province>/<commune>/ folder when the plan folder already groups its specs, else flat."""
    found = find_spec(root, plan_id)
    if found is not None:
        return found
    if uses_folders(root):
        return root / spec_folder(commune) / f"{plan_id}.yaml"
    return root / f"{plan_id}.yaml"


def spec_files(paths: Sequence[Path]) -> list[Path]:
    """The spec files of ``paths``: a folder is walked (flat and grouped specs), a file is taken as it is."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(q for qs in walk_specs(p).values() for q in qs))
        else:
            out.append(p)
    return out


def json_schema() -> str:
    schema = Plan.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Kế hoạch tuyên truyền CCHC (cchc plan spec)"
    return json.dumps(schema, ensure_ascii=False, indent=2) + "\n"
