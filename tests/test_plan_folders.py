"""Many plans in one installation: plan_specs/ flat or grouped as <province>/<commune>/<id>.yaml, the layout's
bad input refused at start by every command that reads the folder, and the parsed specs kept in CCHC_HOME."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cchc.app import doctor, plan_cache, service
from cchc.core import assumptions
from cchc.core.loader import SpecError, layout_issues, load_plan, province_slug, spec_folder, spec_ids
from cchc.settings import Settings, get_settings
from tests.conftest import PLAN_DIR, PLAN_IDS

runner = CliRunner()
HAI_PHONG_IDS = ["chi-minh-2026", "lai-khe-2025h2", "ninh-giang-2025h2", "phu-thai-2025h2"]
AN_HUNG = 11674  # Xã An Hưng, Thành phố Hải Phòng


def run(*args: str) -> tuple[int, str]:
    from cchc.cli.main import app

    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def grouped(root: Path, flat: tuple[str, ...] = ()) -> dict[str, Path]:
    """The five real plans under root, each in its <province>/<commune>/ folder except those named in ``flat``."""
    out = {}
    for plan_id in PLAN_IDS:
        src = PLAN_DIR / f"{plan_id}.yaml"
        folder = root if plan_id in flat else root / spec_folder(load_plan(src).commune)
        folder.mkdir(parents=True, exist_ok=True)
        out[plan_id] = Path(shutil.copy(src, folder / src.name))
    (root / "_drafts").mkdir()
    (root / "_drafts" / "phu-thai-2025h2.yaml").write_text("khong: phai ke hoach", encoding="utf-8")  # skipped
    shutil.copy(PLAN_DIR / "plan.schema.json", root / "plan.schema.json")
    return out


@pytest.fixture
def folder_env(cchc_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, dict[str, Path]]:
    root = tmp_path / "plans"
    paths = grouped(root, flat=("chi-minh-2026",))  # a folder being moved over: one plan still flat
    monkeypatch.setenv("CCHC_PLAN_DIR", str(root))
    get_settings.cache_clear()
    return get_settings(), paths


def test_the_folders_are_named_by_province_and_commune_without_the_division_word() -> None:
    assert province_slug("Thành phố Hải Phòng") == "hai-phong"
    assert province_slug("Tỉnh Thái Nguyên") == "thai-nguyen"
    assert spec_folder(load_plan(PLAN_DIR / "phu-thai-2025h2.yaml").commune) == "hai-phong/phu-thai"
    assert spec_folder(load_plan(PLAN_DIR / "phu-thong-2025.yaml").commune) == "thai-nguyen/phu-thong"


def test_the_pure_walk_keeps_specs_only_and_names_every_path_of_an_id_held_twice() -> None:
    rels = ["a.yaml", "hai-phong/phu-thai/b.yaml", "_old/a.yaml", "x/_c.yaml", ".a.yaml.swp", "plan.schema.json"]
    ids = spec_ids([*rels, "n.txt", "hai-phong/lai-khe/a.yaml", "hai-phong/c.yaml"])
    assert ids == {
        "a": ["a.yaml", "hai-phong/lai-khe/a.yaml"],
        "b": ["hai-phong/phu-thai/b.yaml"],
        "c": ["hai-phong/c.yaml"],
    }
    issues = layout_issues(ids, "plan_specs")
    assert [(i.file, i.field) for i in issues] == [
        ("plan_specs/hai-phong/lai-khe/a.yaml", "id"),
        ("plan_specs/hai-phong/c.yaml", ""),
    ]
    assert "plan_specs/a.yaml, plan_specs/hai-phong/lai-khe/a.yaml" in issues[0].message
    assert "plan_specs/<tỉnh>/<xã>/" in issues[1].message


def test_a_grouped_folder_loads_and_every_command_finds_a_plan_by_its_id(
    folder_env: tuple[Settings, dict[str, Path]],
) -> None:
    settings, paths = folder_env
    assert paths["phu-thai-2025h2"] == settings.plan_dir / "hai-phong" / "phu-thai" / "phu-thai-2025h2.yaml"
    plans = service.all_plans(settings)
    assert [p.id for p in plans] == sorted(PLAN_IDS)
    assert plans == [load_plan(PLAN_DIR / f"{p.id}.yaml") for p in plans]  # same plans as the flat folder
    assert service.resolve_plan("phu-thong-2025", settings).commune.code == 1969
    code, out = run("validate")
    assert code == 0, out
    assert sum(": ok: " in ln for ln in out.splitlines()) == len(PLAN_IDS)
    code, out = run("calendar", "ninh-giang-2025h2", "--json")
    assert code == 0, out
    assert json.loads(out)
    code, out = run("calendar", "phu-thai")
    assert code != 0 and "did you mean 'phu-thai-2025h2'" in out
    code, out = run("deployments", "--json")
    assert code == 0, out
    assert {d["parameters"]["plan_id"] for d in json.loads(out)} == set(PLAN_IDS)
    # The portal looks plans up by id in the same folders.
    from cchc.core.links import Claims
    from cchc.portal.app import Portal

    claims = Claims("lai-khe-2025h2", "x", "2025-Q3", "vhxh", dt.datetime(2025, 10, 1, tzinfo=dt.UTC))
    assert Portal(settings).plan(claims).id == "lai-khe-2025h2"


def test_plans_filters_by_province_and_commune_over_folders(folder_env: tuple[Settings, dict[str, Path]]) -> None:
    def ids(*args: str) -> list[str]:
        code, out = run("plans", "--json", *args)
        assert code == 0, out
        return [r["id"] for r in json.loads(out)]

    assert ids() == sorted(PLAN_IDS)
    assert ids("--province", "hai phong") == ids("--province", "Thành phố Hải Phòng") == HAI_PHONG_IDS
    assert ids("--province", "Thái Nguyên") == ["phu-thong-2025"]
    assert ids("--commune", "Phú Thái") == ids("--commune", "10750") == ["phu-thai-2025h2"]


def refused(settings: Settings, *needles: str, commands: tuple[str, ...] = ("plans", "deployments")) -> None:
    """Every reader of the plan folder refuses it at start, naming the problem the same way."""
    with pytest.raises(SpecError) as e:
        service.all_plans(settings)
    for needle in needles:
        assert needle in str(e.value), str(e.value)
    for args in ((c,) for c in commands):
        code, out = run(*args)
        assert code != 0, (args, out)
        for needle in needles:
            assert needle in out, (args, out)
    check = doctor.check_specs(
        doctor.Context(settings, dt.datetime(2025, 10, 1, tzinfo=dt.UTC))
    )  # `cchc doctor`'s line about the specs
    assert check.status == "failing"
    assert all(any(needle in err for err in check.details["errors"]) for needle in needles), check.details


def test_an_id_held_by_two_files_is_refused_naming_both(folder_env: tuple[Settings, dict[str, Path]]) -> None:
    settings, paths = folder_env
    first = paths["phu-thai-2025h2"]
    second = settings.plan_dir / "phu-thai-2025h2.yaml"  # a stray flat copy left behind by a move
    shutil.copy(first, second)
    line = next(n for n, t in enumerate(second.read_text(encoding="utf-8").splitlines(), 1) if t.startswith("id:"))
    needles = (f"{second}:{line}: id:", f"{first}", "mã kế hoạch 'phu-thai-2025h2' có ở 2 tệp", "xoá bản thừa")
    refused(settings, *needles, commands=("plans", "deployments", "validate"))
    with pytest.raises(SpecError):  # a single lookup of that id refuses too: which one would run?
        service.resolve_plan("phu-thai-2025h2", settings)
    assert service.resolve_plan("lai-khe-2025h2", settings).id == "lai-khe-2025h2"  # other plans still resolve


def test_a_plan_in_another_communes_folder_is_refused_saying_where_it_goes(
    folder_env: tuple[Settings, dict[str, Path]],
) -> None:
    settings, paths = folder_env
    wrong = settings.plan_dir / "thai-nguyen" / "phu-thong" / "phu-thai-2025h2.yaml"
    paths["phu-thai-2025h2"].rename(wrong)
    line = next(n for n, t in enumerate(wrong.read_text(encoding="utf-8").splitlines(), 1) if t.startswith("commune:"))
    refused(
        settings,
        f"{wrong}:{line}: commune:",
        "xã Phú Thái (mã 10750, Thành phố Hải Phòng)",
        f"chuyển tệp sang {settings.plan_dir}/hai-phong/phu-thai/phu-thai-2025h2.yaml",
    )


def test_a_spec_neither_flat_nor_in_a_commune_folder_is_refused(folder_env: tuple[Settings, dict[str, Path]]) -> None:
    settings, paths = folder_env
    loose = settings.plan_dir / "hai-phong" / "lai-khe-2025h2.yaml"
    paths["lai-khe-2025h2"].rename(loose)
    refused(
        settings, f"{loose}:1:", "hoặc trong", f"chuyển sang {settings.plan_dir}/hai-phong/lai-khe/lai-khe-2025h2.yaml"
    )


def test_registration_refuses_before_registering_anything(
    folder_env: tuple[Settings, dict[str, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cchc up`'s runner (flows/serve.py) computes every deployment before it contacts the server: a broken
    folder stops it there, with the whole list of problems, and nothing is registered."""
    import flows.serve as serve

    settings, paths = folder_env
    shutil.copy(paths["lai-khe-2025h2"], settings.plan_dir / "lai-khe-2025h2.yaml")
    (settings.plan_dir / "hai-phong" / "phu-thai" / "phu-thai-2025h2.yaml").write_text("id: [", encoding="utf-8")
    contacted: list[str] = []
    monkeypatch.setattr(serve, "wait_for_server", lambda *a, **k: contacted.append("server"))
    with pytest.raises(SpecError) as e:
        serve.main([])
    assert contacted == []
    files = {i.file for i in e.value.issues}
    assert f"{settings.plan_dir}/lai-khe-2025h2.yaml" in files  # the id held twice
    assert f"{settings.plan_dir}/hai-phong/phu-thai/phu-thai-2025h2.yaml" in files  # and the broken spec


def test_new_plans_land_in_their_commune_folder_when_the_folder_is_grouped(
    folder_env: tuple[Settings, dict[str, Path]], cchc_env: Settings
) -> None:
    settings, _ = folder_env
    code, out = run("plan", "new", "--like", "phu-thai-2025h2", "--commune", str(AN_HUNG))
    assert code == 0, out
    made = settings.plan_dir / "hai-phong" / "an-hung" / "an-hung-2025h2.yaml"
    assert made.is_file(), out
    code, out = run("plans", "--json", "--commune", "An Hưng")
    assert code == 0, out
    assert [r["id"] for r in json.loads(out)] == ["an-hung-2025h2"]
    code, out = run("plan", "new", "--like", "phu-thai-2025h2", "--commune", str(AN_HUNG))
    assert code != 0 and str(made) in out  # found where it is, not written again beside it


def test_new_plans_stay_flat_in_a_flat_folder(
    cchc_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "flat"
    root.mkdir()
    shutil.copy(PLAN_DIR / "phu-thai-2025h2.yaml", root)
    monkeypatch.setenv("CCHC_PLAN_DIR", str(root))
    get_settings.cache_clear()
    code, out = run("plan", "new", "--like", "phu-thai-2025h2", "--commune", str(AN_HUNG))
    assert code == 0, out
    assert sorted(p.name for p in root.iterdir()) == ["an-hung-2025h2.yaml", "phu-thai-2025h2.yaml"]


def test_the_cache_returns_the_same_plans_and_reads_a_changed_file_again(
    folder_env: tuple[Settings, dict[str, Path]],
) -> None:
    settings, paths = folder_env
    cold = plan_cache.load_folder(settings.plan_dir, settings.home)
    kept = sorted(plan_cache.cache_dir(settings.home).glob("*.pickle"))
    assert len(kept) == len(PLAN_IDS)
    warm = plan_cache.load_folder(settings.plan_dir, settings.home)
    assert warm == cold
    assert [p for _, p in warm] == [load_plan(path) for path, _ in warm]
    assert sorted(plan_cache.cache_dir(settings.home).glob("*.pickle")) == kept  # nothing parsed again
    spec = paths["lai-khe-2025h2"]
    spec.write_text(spec.read_text(encoding="utf-8").replace("title: ", "title: Mới - ", 1), encoding="utf-8")
    changed = dict((p.id, p) for _, p in plan_cache.load_folder(settings.plan_dir, settings.home))
    assert changed["lai-khe-2025h2"].title.startswith("Mới - ")  # keyed by the file's bytes, not its mtime


def test_all_plans_applies_each_plans_decisions_from_one_read(folder_env: tuple[Settings, dict[str, Path]]) -> None:
    settings, _ = folder_env
    plan = service.resolve_plan("phu-thai-2025h2", settings)
    item, aspect = next((i.id, a) for i in [*plan.duties, *plan.reports] for a in assumptions.unconfirmed(plan, i.id))
    now = dt.datetime(2025, 9, 1, 2, tzinfo=dt.UTC)
    decided = service.decide_assumption(settings, plan, item, aspect, "confirm", "Sở Nội vụ xác nhận", "vhxh", now)
    by_id: dict[str, Any] = {p.id: p for p in service.all_plans(settings)}
    assert by_id["phu-thai-2025h2"] == decided
    assert aspect not in assumptions.unconfirmed(by_id["phu-thai-2025h2"], item)
    assert by_id["lai-khe-2025h2"] == load_plan(PLAN_DIR / "lai-khe-2025h2.yaml")  # no decision: as written
