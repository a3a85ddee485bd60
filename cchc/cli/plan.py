"""`cchc plan …`: the one Typer group for putting plans in (workbook export/import, cloning, submissions).

Each topic adds its commands to `plan_app` from its own module; this module stays light so `cchc --help` is fast.
"""

from __future__ import annotations

import typer

from cchc.cli.app import app

plan_app = typer.Typer(
    help="Đưa kế hoạch vào hệ thống: bảng tính, nhân bản cho xã khác, hồ sơ chờ duyệt.", no_args_is_help=True
)
app.add_typer(plan_app, name="plan")
