"""contactsync: keeps an application's contacts in sync with its tenants' accounting platforms."""

__version__ = "0.1.0"
