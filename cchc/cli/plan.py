"""`cchc plan …`: the one Typer group for putting plans in (workbook export/import, cloning, submissions).

Each topic adds its commands to `plan_app` from its own module; this module stays light so `cchc --help` is fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

from cchc.cli.app import app, fail

plan_app = typer.Typer(
    help="Đưa kế hoạch vào hệ thống: bảng tính, nhân bản cho xã khác, hồ sơ chờ duyệt.", no_args_is_help=True
)
app.add_typer(plan_app, name="plan")


def spec_path(ref: str, plan_dir: Path) -> Path:
    """A plan id in the plan folder (flat or grouped by province and commune), or a path to a spec file."""
    path = Path(ref)
    if ref.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            fail(f"không có tệp kế hoạch {path}")
        return path
    from cchc.core.loader import SpecError, find_spec, walk_specs

    try:
        candidate = find_spec(plan_dir, ref)  # flat or in <province>/<commune>/
    except SpecError as e:
        fail(str(e))
    if candidate is None:
        known = sorted(walk_specs(plan_dir))
        listed = ", ".join(known[:12]) + (f" và {len(known) - 12} kế hoạch khác" if len(known) > 12 else "")
        fail(f"không có kế hoạch '{ref}' trong {plan_dir}/ (có: {listed or 'không có kế hoạch nào'})")
    return candidate


def write_whole(path: Path, data: bytes) -> None:
    """Through a temporary file and a rename: nobody ever sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
