"""`cchc plan new --like PLAN --commune CODE`: a plan of another commune, made from one that runs.

The logic is pure (cchc.core.clone); this module reads the source spec, writes the new one (whole or not at
all), and prints what the coordinator must still fill in. Heavy imports stay inside the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cchc.cli.app import fail
from cchc.cli.plan import plan_app, spec_path, write_whole


@plan_app.command("new")
def new(
    like: Annotated[str, typer.Option("--like", help="Kế hoạch mẫu: id trong plan_specs/ hoặc đường dẫn tệp .yaml.")],
    commune: Annotated[int, typer.Option("--commune", help="Mã xã/phường mới theo danh mục 2025 (vd. 10750).")],
    period: Annotated[
        str | None, typer.Option(help="Kỳ kế hoạch mới: 2026, 2026H1 hoặc 2026H2; mặc định kỳ của kế hoạch mẫu.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Ghi vào tệp (tên <id>.yaml) hoặc thư mục này; mặc định plan_specs/<id>.yaml.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Ghi đè tệp đã có.")] = False,
) -> None:
    """Clone a plan for another commune of the register: names re-derived, dates moved, blanks listed."""
    from cchc.core.clone import CloneError, clone
    from cchc.core.loader import SpecError, load_plan, spec_target
    from cchc.core.spec_dump import dump_spec
    from cchc.settings import get_settings

    settings = get_settings()
    path = spec_path(like, settings.plan_dir)
    try:
        # The spec as written: the source coordinator's decisions on its assumptions stay with her commune.
        source = load_plan(path)
        cloned = clone(source, commune, period)
    except SpecError as e:
        fail(f"kế hoạch mẫu không đọc được:\n{e}")
    except CloneError as e:
        fail(str(e))
    if cloned.plan is None:
        lines = [f"kế hoạch nhân bản chưa hợp lệ nên không ghi tệp nào; sửa kế hoạch mẫu {path} rồi chạy lại:"]
        lines += [f"  - {err}" for err in cloned.errors]
        fail("\n".join(lines))
    name = f"{cloned.plan.id}.yaml"
    if out is None:  # in its province/commune folder when the plan folder groups its specs, else flat
        try:
            target = spec_target(settings.plan_dir, cloned.plan.id, cloned.plan.commune)
        except SpecError as e:
            fail(str(e))
    else:
        target = out / name if out.is_dir() else out
    if target.name != name:
        fail(f"tệp kế hoạch phải mang tên theo id của kế hoạch: {name} (không phải {target.name}); sửa --out.")
    if target.exists() and not force:
        fail(f"đã có tệp {target}; không ghi đè. Dùng --force để ghi đè, hoặc --out để ghi nơi khác.")
    header = [
        f"# Nhân bản từ kế hoạch {source.id} bằng 'cchc plan new' cho {cloned.plan.commune_label}, "
        f"{cloned.plan.commune.province}.",
        f"# CẦN ĐIỀN ({len(cloned.todo)} mục) — điền xong thì xoá các dòng này:",
        *(f"#   - {t}" for t in cloned.todo),
    ]
    write_whole(target, ("\n".join(header) + "\n" + dump_spec(cloned.plan)).encode("utf-8"))
    p = cloned.plan
    typer.echo(
        f"Đã tạo {target}: kế hoạch {p.id} của {p.commune_label} ({p.commune.province}, mã {p.commune.code}), "
        f"{p.period.start:%d/%m/%Y}–{p.period.end:%d/%m/%Y}; hợp lệ."
    )
    if cloned.todo:
        typer.echo(f"Cần điền hoặc kiểm tra {len(cloned.todo)} mục:")
        for t in cloned.todo:
            typer.echo(f"  - {t}")
