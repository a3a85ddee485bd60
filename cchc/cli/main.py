"""The `cchc` entry point: every command module adds its commands to the one Typer app."""

from __future__ import annotations

import sys

import typer

from cchc.cli import (
    assumptions,
    backup,
    coordinator,
    health,
    intake,
    mail,
    orchestrate,
    plan,
    plan_clone,
    plan_workbook,
    province,
    replay,
    report,
    worker,
)
from cchc.cli.app import app

COMMAND_MODULES = (
    assumptions,
    backup,
    coordinator,
    health,
    intake,
    mail,
    orchestrate,
    plan,
    plan_clone,
    plan_workbook,
    province,
    replay,
    report,
    worker,
)  # imported for the commands they register


def main() -> None:
    try:
        app()
    except Exception as e:
        # cchc.settings is not imported for `cchc --help`; a SettingsError can only come once it has been.
        settings = sys.modules.get("cchc.settings")
        if settings is None or not isinstance(e, settings.SettingsError):
            raise
        # A bad environment (e.g. CCHC_HOME empty or relative) is the user's to fix: one line, no traceback.
        typer.echo(f"error: {e}", err=True)
        raise SystemExit(2) from None


__all__ = ["app", "main"]
