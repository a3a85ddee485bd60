"""`cchc plan export PLAN --xlsx FILE` and `cchc plan import FILE --xlsx`: a plan as the coordinator's workbook.

The work is in cchc.io.workbook (openpyxl) and cchc.core.spec_dump; this module reads and writes files, and
writes nothing unless the whole workbook is a valid plan. Heavy imports stay inside the commands, so
`cchc --help` loads none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cchc.cli.app import fail
from cchc.cli.plan import plan_app, spec_path, write_whole


@plan_app.command("export")
def export(
    plan: Annotated[str, typer.Argument(help="Kế hoạch: id trong plan_specs/ hoặc đường dẫn tệp .yaml.")],
    xlsx: Annotated[Path, typer.Option("--xlsx", help="Ghi bảng tính .xlsx vào tệp này.")],
    force: Annotated[bool, typer.Option("--force", help="Ghi đè tệp đã có.")] = False,
) -> None:
    """Write a plan as a workbook: the duties as in the plan's appendix, and a sheet for every other part."""
    from cchc.core.loader import SpecError, load_plan
    from cchc.io.workbook import export_bytes
    from cchc.settings import get_settings

    path = spec_path(plan, get_settings().plan_dir)
    try:
        spec = load_plan(path)  # the spec as written: the coordinator's decisions stay in the store
    except SpecError as e:
        fail(f"kế hoạch không đọc được:\n{e}")
    if xlsx.suffix.lower() != ".xlsx":
        fail(f"{xlsx}: tên tệp phải có đuôi .xlsx")
    if xlsx.exists() and not force:
        fail(f"đã có tệp {xlsx}; không ghi đè. Dùng --force để ghi đè.")
    write_whole(xlsx, export_bytes(spec))
    typer.echo(
        f"Đã ghi {xlsx}: {len(spec.duties)} nhiệm vụ, {len(spec.reports)} báo cáo, {len(spec.units)} đơn vị "
        f"của kế hoạch {spec.id}."
    )


@plan_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="Bảng tính .xlsx đã xuất bằng 'cchc plan export' và đã sửa.")],
    xlsx: Annotated[bool, typer.Option("--xlsx", help="Tệp là bảng tính .xlsx (định dạng duy nhất hiện có).")] = False,
    out: Annotated[Path | None, typer.Option(help="Ghi kế hoạch vào tệp này; mặc định plan_specs/<id>.yaml.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Ghi đè kế hoạch đã có.")] = False,
) -> None:
    """Read a workbook back into a plan spec; nothing is written unless the whole workbook is valid."""
    from cchc.core.loader import SpecError, parse_plan, spec_target
    from cchc.core.spec_dump import dump_spec
    from cchc.io.workbook import WorkbookError, import_workbook
    from cchc.settings import get_settings

    if not xlsx and file.suffix.lower() != ".xlsx":
        fail(f"{file}: chỉ nạp được bảng tính; thêm --xlsx nếu tệp là bảng tính .xlsx")
    try:
        spec = import_workbook(file)
    except WorkbookError as e:
        lines = [f"{file}: bảng tính có {len(e.issues)} lỗi, không ghi tệp nào; sửa các ô sau rồi nạp lại:"]
        lines += [f"  - {issue}" for issue in e.issues]
        fail("\n".join(lines))
    if out is not None:
        target = out
    else:  # the file holding the id, else its province/commune folder when the plan folder groups specs
        try:
            target = spec_target(get_settings().plan_dir, spec.id, spec.commune)
        except SpecError as e:
            fail(str(e))
    if target.stem != spec.id:
        fail(f"tệp kế hoạch phải tên {spec.id}.yaml (theo mã kế hoạch ở sheet 'Kế hoạch'), không phải {target.name}")
    if target.exists() and not force:
        fail(f"đã có tệp {target}; không ghi đè. Dùng --force để ghi đè, hoặc --out để ghi nơi khác.")
    text = f"# Nạp từ bảng tính {file.name} bằng 'cchc plan import'.\n" + dump_spec(spec)
    try:
        if parse_plan(text, str(target)) != spec:  # the loader must read exactly the plan the workbook holds
            fail("kế hoạch ghi ra không đọc lại được như bảng tính; không ghi tệp nào (lỗi của hệ thống, hãy báo lại)")
    except SpecError as e:
        fail(f"kế hoạch ghi ra không hợp lệ, không ghi tệp nào (lỗi của hệ thống, hãy báo lại):\n{e}")
    lost_comments = target.exists() and any(
        line.lstrip().startswith("#") for line in target.read_text(encoding="utf-8", errors="replace").splitlines()
    )
    write_whole(target, text.encode("utf-8"))
    if lost_comments:
        typer.echo(
            f"Lưu ý: các dòng chú thích (#) của {target.name} cũ không có trong bảng tính nên đã mất; "
            "xem lại bản cũ trong git nếu cần.",
            err=True,
        )
    typer.echo(
        f"Đã ghi {target}: {len(spec.duties)} nhiệm vụ, {len(spec.reports)} báo cáo, {len(spec.units)} đơn vị. "
        f"Kiểm tra bằng: cchc validate {target}"
    )
