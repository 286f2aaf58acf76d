"""The `contactsync` command line: one typer app, one module per group of commands."""

from __future__ import annotations

import sys

import typer

from contactsync.cli import admin, demo, match, processes
from contactsync.settings import ConfigError
from contactsync.store.review import ReviewError

app = typer.Typer(
    name="contactsync",
    help="Keep an application's contacts in sync with its tenants' accounting platforms.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
admin.register(app)
processes.register(app)
demo.register(app)
match.register(app)


def main() -> None:
    """Console entry point: configuration problems end in one line on stderr and exit code 2, not a traceback."""
    try:
        app()
    except (ConfigError, ReviewError) as exc:
        print(f"contactsync: error: {exc}", file=sys.stderr)
        sys.exit(2)
