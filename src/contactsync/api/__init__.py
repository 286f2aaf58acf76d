"""The HTTP API and the review page: one FastAPI app, served by `contactsync serve`."""

from contactsync.api.app import create_app

__all__ = ["create_app"]
