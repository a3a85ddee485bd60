"""The `cchc` entry point: every command module adds its commands to the one Typer app."""

from __future__ import annotations

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
    report,
)
from cchc.cli.app import app
from cchc.settings import SettingsError

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
    report,
)  # imported for the commands they register


def main() -> None:
    try:
        app()
    except SettingsError as e:
        # A bad environment (e.g. CCHC_HOME empty or relative) is the user's to fix: one line, no traceback.
        typer.echo(f"error: {e}", err=True)
        raise SystemExit(2) from None


__all__ = ["app", "main"]
