"""The spec loader: good files load whole, bad files say file, line, field and fix."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from cchc.core.loader import SpecError, json_schema, load_plan, parse_plan
from cchc.core.spec import Plan
from tests.conftest import FIXTURES, PLAN_DIR, PLAN_IDS

DEMO = (FIXTURES / "demo.yaml").read_text(encoding="utf-8")


def _errors(text: str, name: str = "plan_specs/x.yaml") -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_plan(text, name)
    return [str(i) for i in info.value.issues]


@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_each_real_plan_loads_and_validates(plan_id: str) -> None:
    plan = load_plan(PLAN_DIR / f"{plan_id}.yaml")
    assert plan.id == plan_id
    assert plan.duties and plan.reports
    # Every unit that must act can be reached by email.
    for d in plan.duties:
        assert plan.unit(d.lead).emails, f"{plan_id}: lead unit {d.lead} of {d.id} has no email"


def test_the_fixture_plan_loads() -> None:
    plan = parse_plan(DEMO, "demo.yaml")
    assert [d.id for d in plan.duties] == ["posts", "contest"]


def test_a_misspelt_enum_value_names_line_field_and_the_likely_fix() -> None:
    bad = DEMO.replace("    cadence: month\n", "    cadence: quater\n", 1)
    lines = bad.splitlines()
    line_no = next(i + 1 for i, ln in enumerate(lines) if "quater" in ln)
    assert _errors(bad) == [
        f"plan_specs/x.yaml:{line_no}: duties[0].cadence: unknown value 'quater' (did you mean 'quarter'?)"
    ]


def test_an_unknown_key_is_an_error_not_silently_dropped() -> None:
    bad = DEMO.replace("    kind: quota\n", "    kind: quota\n    cadense: month\n", 1)
    errs = _errors(bad)
    assert len(errs) == 1
    assert "duties[0].cadense: unknown key 'cadense' (did you mean 'cadence'?)" in errs[0]


def test_an_unknown_lead_unit_suggests_the_close_one() -> None:
    bad = DEMO.replace("    lead: vhxh\n", "    lead: vhx\n", 1)
    (err,) = _errors(bad)
    assert "unknown unit 'vhx' (did you mean 'vhxh'?)" in err


def test_a_missing_field_is_named() -> None:
    bad = DEMO.replace("title: Kế hoạch thử\n", "", 1)
    (err,) = _errors(bad)
    assert err.endswith("title: required field is missing; add it")


def test_a_commune_code_that_does_not_match_the_register_points_to_the_right_code() -> None:
    bad = DEMO.replace("code: 1969", "code: 10750")
    (err,) = _errors(bad)
    assert "commune code 10750 is Xã Phú Thái, not 'Phủ Thông'" in err
    assert "1969 in Thái Nguyên" in err


def test_a_duplicate_key_is_refused_with_both_lines() -> None:
    bad = DEMO.replace("title: Kế hoạch thử\n", "title: Kế hoạch thử\ntitle: Khác\n", 1)
    (err,) = _errors(bad)
    assert "key 'title' appears twice (first on line 2)" in err
    assert err.startswith("plan_specs/x.yaml:3:")


def test_yaml_syntax_errors_name_the_line() -> None:
    (err,) = _errors("id: x\ntitle: [unclosed\n")
    assert err.startswith("plan_specs/x.yaml:") and "YAML syntax" in err


def test_a_once_duty_without_window_is_refused() -> None:
    bad = DEMO.replace('    cadence: quarter\n    only: ["2025-Q3"]\n', "    cadence: once\n", 1)
    (err,) = _errors(bad)
    assert "cadence 'once' needs a window" in err


def test_only_keys_must_match_the_cadence() -> None:
    bad = DEMO.replace('only: ["2025-Q3"]', 'only: ["2025-09"]', 1)
    (err,) = _errors(bad)
    assert "'2025-09' is not a quarter period key" in err


def test_file_name_must_match_the_plan_id(tmp_path: Path) -> None:
    p = tmp_path / "other.yaml"
    p.write_text(DEMO, encoding="utf-8")
    with pytest.raises(SpecError, match="plan id 'demo' must match the file name 'other'"):
        load_plan(p)


def test_loaded_plans_are_immutable() -> None:
    plan = parse_plan(DEMO)
    with pytest.raises(ValidationError):
        plan.title = "x"  # type: ignore[misc]


def test_exported_json_schema_is_in_sync() -> None:
    on_disk = (PLAN_DIR / "plan.schema.json").read_text(encoding="utf-8")
    assert on_disk == json_schema(), "run: cchc schema --out plan_specs/plan.schema.json"
    schema = json.loads(on_disk)
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) >= {"id", "title", "commune", "period", "units", "duties"}


def test_model_round_trips_through_json() -> None:
    plan = parse_plan(DEMO)
    assert Plan.model_validate_json(plan.model_dump_json()) == plan


def test_an_unknown_list_item_value_lists_what_is_allowed() -> None:
    bad = DEMO.replace("    kind: quota\n", "    kind: quota\n    channels: [website, event]\n", 1)
    (err,) = _errors(bad)
    assert "duties[0].channels[1]: unknown value 'event' (allowed: website, radio, social" in err


def test_nested_aliases_are_refused_at_their_line_before_they_expand() -> None:
    """28 KB of nested aliases used to take 2.5 GB and crash with no file:line."""
    lines = ['a0: &a0 ["xxxxxxxxxxxxxxxx", "xxxxxxxxxxxxxxxx", "xxxxxxxxxxxxxxxx", "xxxxxxxxxxxxxxxx"]']
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 30)]
    bomb = "\n".join(lines) + "\n" + DEMO
    started = time.monotonic()
    (err,) = _errors(bomb)
    assert time.monotonic() - started < 5
    assert err.startswith("plan_specs/x.yaml:") and "stand for more than 20000 values" in err
    line = int(err.split(":")[1])
    assert 2 <= line <= 10, "at the alias that crossed the budget"


def test_a_few_plain_aliases_are_fine() -> None:
    """A spec written by a YAML library may share a value through an alias."""
    shared = DEMO.replace(
        "requirement: {evidence: [post], min_count: 3}", "requirement: &req {evidence: [post], min_count: 3}", 1
    )
    shared = shared.replace("    requirement: {evidence: [event]}", "    requirement: *req", 1)
    plan = parse_plan(shared)
    assert plan.duties[1].requirement == plan.duties[0].requirement


def test_absurd_nesting_is_a_spec_error_not_a_recursion_error() -> None:
    deep = "title: " + "[" * 2000 + "]" * 2000 + "\n"
    (err,) = _errors(deep)
    assert err.startswith("plan_specs/x.yaml:1: ") and "nested deeper than 40 levels" in err


def test_an_oversized_spec_or_title_is_refused(tmp_path: Path) -> None:
    huge = DEMO + "# " + "x" * (1024 * 1024) + "\n"
    (err,) = _errors(huge)
    assert "may be at most 1 MB" in err
    path = tmp_path / "demo.yaml"
    path.write_text(huge, encoding="utf-8")
    with pytest.raises(SpecError, match="over 1 MB"):
        load_plan(path)
    long_title = DEMO.replace("title: Kế hoạch thử", "title: " + "Tuyên truyền " * 5000, 1)
    (err,) = _errors(long_title)
    assert ": title: " in err and "4000" in err


def test_a_repeated_duty_id_points_at_the_repeat() -> None:
    twice = DEMO.replace("  - id: contest\n", "  - id: posts\n", 1)
    (err,) = _errors(twice)
    line = next(i + 1 for i, ln in enumerate(twice.splitlines()) if ln == "  - id: posts" and i > 15)
    assert err.startswith(f"plan_specs/x.yaml:{line}: duties[1].id: ") and "used twice (first by duties[0])" in err


@pytest.mark.parametrize(
    ("change", "where", "says"),
    [
        (('only: ["2025-Q3"]', 'only: ["2019-Q1"]'), "duties[1].only", "'2019-Q1' lies outside the plan's period"),
        (("min_count: 3", "min_count: true"), "duties[0].requirement.min_count", "valid integer"),
        (("min_count: 3", "min_count: 1.0e+23"), "duties[0].requirement.min_count", "valid integer"),
        (("min_count: 3", "min_count: 100000"), "duties[0].requirement.min_count", "less than or equal to 1000"),
        (("{start: 2025-08-01, end: 2025-12-31}", "{start: 0001-01-01, end: 9999-12-31}"), "period", "2000 and 2100"),
    ],
)
def test_counts_periods_and_picked_periods_must_make_sense(change: tuple[str, str], where: str, says: str) -> None:
    bad = DEMO.replace(*change, 1)
    assert bad != DEMO
    errors = _errors(bad)
    assert any(f": {where}: " in e and says in e for e in errors), errors
