"""The `cchc` entry point: every command module adds its commands to the one Typer app."""

from __future__ import annotations

import sys
from types import ModuleType

import typer

from cchc.cli.app import app

# Each command module adds its commands to `app` when imported; a new module is one more name here. Imported with
# the import statement's machinery (not importlib.import_module) so that `python -X importtime` lists them:
# tests/test_cli_startup.py checks every command module's imports that way.
COMMAND_MODULES: tuple[ModuleType, ...] = tuple(
    getattr(__import__("cchc.cli", fromlist=[name]), name)
    for name in (
        "assumptions",
        "backup",
        "coordinator",
        "health",
        "intake",
        "mail",
        "orchestrate",
        "plan",
        "plan_clone",
        "plan_workbook",
        "province",
        "replay",
        "report",
        "worker",
    )
)


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
