"""The `contactsync` command line: one typer app, one module per group of commands."""

from __future__ import annotations

import signal
import sys

import typer

from contactsync.cli import admin, api, contacts, demo, match, ops, processes, review, secrets, tenants, writes
from contactsync.providers.options import OptionsError
from contactsync.settings import ConfigError
from contactsync.store.review import ReviewError
from contactsync.validation import InputError

app = typer.Typer(
    name="contactsync",
    help="Keep an application's contacts in sync with its tenants' accounting platforms.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
contacts.register(app)
writes.register(app)
admin.register(app)
review.register(app)
tenants.register(app)
processes.register(app)
demo.register(app)
match.register(app)
api.register(app)
ops.register(app)
# Last: it adds to a `keys` group another module may have registered.
secrets.register(app)


def main() -> None:
    """Console entry point: configuration problems end in one line on stderr and exit code 2, not a traceback.

    SIGTERM (what `docker stop`, Kubernetes and process supervisors send) becomes a normal exit, so children are
    stopped and embedded servers shut down instead of being orphaned.
    """
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        app()
    except (ConfigError, ReviewError, InputError, OptionsError) as exc:
        print(f"contactsync: error: {exc}", file=sys.stderr)
        sys.exit(2)
