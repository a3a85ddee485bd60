"""Short titles of the real plans: Prefect's deployments list shows about 20 characters of a name, so every
duty and report carries a short title whose first 20 characters tell it apart from the rest of its plan."""

from __future__ import annotations

import re

import pytest

from cchc.core.deployments import all_deployments, deployment_name, plan_deployments
from cchc.core.loader import load_plan
from cchc.core.spec import SHORT_TITLE_MAX, Duty, Plan, Report
from tests.conftest import PLAN_DIR, PLAN_IDS

VISIBLE = 20  # what the deployments list shows of a name
NAME_MAX = 60


def _plans() -> list[Plan]:
    return [load_plan(PLAN_DIR / f"{plan_id}.yaml") for plan_id in PLAN_IDS]


@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_every_item_has_a_short_title_distinct_in_the_visible_part(plan_id: str) -> None:
    plan = load_plan(PLAN_DIR / f"{plan_id}.yaml")
    items: list[Duty | Report] = [*plan.duties, *plan.reports]
    missing = [item.id for item in items if not item.short_title]
    assert not missing, f"{plan_id}: no short_title for {missing}"
    seen: dict[str, str] = {}
    for item in items:
        short = item.short_title
        assert short is not None
        assert 3 <= len(short) <= SHORT_TITLE_MAX, f"{plan_id}:{item.id} {short!r} ({len(short)} ký tự)"
        assert short == " ".join(short.split()), f"{plan_id}:{item.id} {short!r} has stray spaces"
        assert not re.search(r"[/%&<>]", short), f"{plan_id}:{item.id} {short!r}: Prefect refuses / % & < >"
        head = short[:VISIBLE].casefold()
        assert head not in seen, (
            f"{plan_id}: {item.id} ({short!r}) and {seen[head]} look the same in the first {VISIBLE} characters"
        )
        seen[head] = item.id
        # The short title is what leads the deployment's name, unchanged.
        assert deployment_name(plan, item).startswith(f"{short} · ")


@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_each_plan_deployment_leads_with_its_item(plan_id: str) -> None:
    plan = load_plan(PLAN_DIR / f"{plan_id}.yaml")
    names = [s.name for s in plan_deployments(plan)]
    # Nor does a duty look like the plan's other deployments (mail, home artifact, forms) in the list.
    heads = [n[:VISIBLE].casefold() for n in names]
    assert len(set(heads)) == len(heads), sorted(n for n in names if heads.count(n[:VISIBLE].casefold()) > 1)
    for item in [*plan.duties, *plan.reports]:
        assert deployment_name(plan, item) in names
        assert plan.commune.name in deployment_name(plan, item)


def test_all_deployment_names_are_unique_and_short() -> None:
    specs = all_deployments(_plans())
    names = [s.name for s in specs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    assert not repeated, f"deployment names used twice: {repeated}"
    too_long = [(n, len(n)) for n in names if len(n) > NAME_MAX]
    assert not too_long, f"names over {NAME_MAX} characters: {too_long}"
    # Every duty and report of the five plans is there: the list is not silently short of a plan.
    items = sum(len(p.duties) + len(p.reports) for p in _plans())
    assert items <= len(names)
