"""Write a plan spec back as readable YAML: the keys in the model's order, only what the source said.

The workbook import and `cchc plan new --like` produce specs that people then read and keep in git, so the
text must look like the hand-written ones: keys in the order the model declares them (id, title, … units,
duties, reports), short lists and small mappings on one line, long prose folded, Vietnamese unescaped, and no
default that the source did not spell out. It always loads back to an equal model (checked on every call).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import BaseModel

from cchc.core.loader import _inner_type, parse_plan
from cchc.core.spec import Plan

FLOW_WIDTH = 100  # a list or small mapping shorter than this stays on one line, as in the hand-written specs
FOLD_AT = 100  # prose longer than this is folded (>-) over lines of about this width


class _Flow(list[Any]):
    """A list written on one line."""


class _FlowMap(dict[str, Any]):
    """A mapping written on one line."""


class _Folded(str):
    __slots__ = ()


class _Literal(str):
    __slots__ = ()


class _Quoted(str):
    """Text that must stay quoted: a time of day ('08:00') reads as a base-60 number to some YAML 1.1 readers."""

    __slots__ = ()


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Sequence items indented under their key ("units:\n  - id: …"), as the hand-written specs do.
        super().increase_indent(flow, False)


def _represent_flow_seq(dumper: yaml.SafeDumper, data: _Flow) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


def _represent_flow_map(dumper: yaml.SafeDumper, data: _FlowMap) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


def _represent_block_map(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    # Keep the insertion order (the model's field order): SafeDumper sorts keys by default.
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=False)


def _represent_folded(dumper: yaml.SafeDumper, data: _Folded) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style=">")


def _represent_literal(dumper: yaml.SafeDumper, data: _Literal) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style="|")


def _represent_quoted(dumper: yaml.SafeDumper, data: _Quoted) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style="'")


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=False)


_Dumper.add_representer(_Flow, _represent_flow_seq)
_Dumper.add_representer(_FlowMap, _represent_flow_map)
_Dumper.add_representer(dict, _represent_block_map)
_Dumper.add_representer(_Folded, _represent_folded)
_Dumper.add_representer(_Literal, _represent_literal)
_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(_Quoted, _represent_quoted)


def _ordered(value: Any, model: Any) -> Any:
    """``value`` (plain data) with every mapping's keys in the order of the model that owns it."""
    if isinstance(value, Mapping):
        if isinstance(model, type) and issubclass(model, BaseModel):
            order: list[str] = []
            inner: dict[str, Any] = {}
            for name, info in model.model_fields.items():
                key = info.alias or name
                order.append(key)
                inner[key] = _inner_type(info.annotation)
            rank = {k: i for i, k in enumerate(order)}
            keys = sorted(value, key=lambda k: (rank.get(str(k), len(rank)), str(k)))
            return {str(k): _ordered(value[k], inner.get(str(k))) for k in keys}
        return {str(k): _ordered(v, None) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_ordered(v, model) for v in value]
    return value


def _plain(value: Any) -> Any:
    """Python values as YAML writes them naturally: enums as their code, a time of day as quoted 'HH:MM'."""
    if isinstance(value, BaseModel):  # a model inside plain data (a duty added to a dict, say)
        return _plain(value.model_dump(mode="python", exclude_unset=True, by_alias=True))
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.time):
        return _Quoted(value.strftime("%H:%M:%S" if value.second else "%H:%M"))
    if isinstance(value, dt.datetime):
        return value.date() if value.time() == dt.time(0) else value.isoformat()
    return value


def _scalar_text(value: Any) -> str:
    return yaml.dump(value, Dumper=yaml.SafeDumper, allow_unicode=True, default_flow_style=True, width=10_000).strip()


def _styled(value: Any) -> Any:
    """Choose one-line lists and mappings where they are short and flat, folded prose where it is long."""
    if isinstance(value, dict):
        styled = {k: _styled(v) for k, v in value.items()}
        flat = all(not isinstance(v, dict | list) or isinstance(v, _Flow) for v in styled.values())
        if flat and styled and not any(isinstance(v, _Folded | _Literal) for v in styled.values()):
            text = _scalar_text(_unstyle(styled))
            if len(text) <= FLOW_WIDTH:
                return _FlowMap(styled)
        return styled
    if isinstance(value, list):
        items = [_styled(v) for v in value]
        if all(not isinstance(v, dict | list | _Folded | _Literal) for v in items):
            text = _scalar_text(_unstyle(items))
            if len(text) <= FLOW_WIDTH:
                return _Flow(items)
        return items
    if isinstance(value, str):
        if "\n" in value:
            return _Literal(value)
        if len(value) > FOLD_AT and "  " not in value and value == value.strip():
            return _Folded(value)
    return value


def _unstyle(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unstyle(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unstyle(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


_SECTIONS = ("legal_bases:", "calendar:", "units:", "escalation:", "duties:", "reports:")


def _emit(data: Any) -> str:
    text = yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=FOLD_AT, indent=2)
    # A blank line before each section and each duty or report, as in the hand-written specs.
    out: list[str] = []
    section = ""
    for line in text.splitlines():
        if line.startswith(_SECTIONS):
            section = line.split(":", 1)[0]
            out.append("")
        elif not line.startswith(" "):
            section = ""
        elif section in ("duties", "reports") and line.startswith("  - ") and out[-1] != f"{section}:":
            out.append("")
        out.append(line)
    return "\n".join(out) + "\n"


def spec_data(spec: Plan | Mapping[str, Any]) -> dict[str, Any]:
    """The spec as plain data in the model's key order, holding only what was set (not pydantic's defaults)."""
    raw: Any = (
        spec.model_dump(mode="python", exclude_unset=True, by_alias=True) if isinstance(spec, Plan) else dict(spec)
    )
    ordered: dict[str, Any] = _ordered(_plain(raw), Plan)
    return ordered


def dump_spec(spec: Plan | Mapping[str, Any]) -> str:
    """Readable YAML for ``spec`` (a loaded Plan, or the plain data of one, possibly still incomplete).

    For a Plan the text loads back to an equal Plan; if the chosen styles ever broke that, the plain block
    style is used instead, which always round-trips.
    """
    data = spec_data(spec)
    text = _emit(_styled(data))
    if isinstance(spec, Plan):
        try:
            same = parse_plan(text) == spec
        except Exception:  # a style that does not read back is the fallback's case, not the caller's
            same = False
        if not same:
            text = _emit(data)
    return text


__all__ = ["dump_spec", "spec_data"]
