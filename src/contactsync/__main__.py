"""`python -m contactsync` is the `contactsync` command."""

from contactsync.cli import main

main()
