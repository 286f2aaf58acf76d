"""Maesn list pages as the sandbox serves them: the documented `{data, meta.pagination}` envelope, or one of the
other shapes an account's variant asks for (see `sandbox.variants`)."""

from __future__ import annotations

from typing import Any


def envelope(variant: dict[str, Any], items: list[Any], total: int, pages: int, page: int, limit: int) -> Any:
    """A list page in the envelope and pagination spelling the account's variant asks for."""
    style = variant.get("maesn_pagination", "documented")
    pagination: dict[str, Any] | None
    if style == "none":
        pagination = None
    elif style == "counts":
        pagination = {"totalCount": total, "pages": pages, "page": page, "pageSize": limit}
    elif style == "spring":
        pagination = {"totalElements": total, "totalPages": pages, "number": page, "size": limit}
    else:
        pagination = {"total": total, "perPage": limit, "currentPage": page, "totalPages": pages}
    envelope = variant.get("maesn_envelope", "documented")
    if envelope == "bare":
        return items
    if envelope in ("items", "content"):
        return {"data": {envelope: items, **(pagination or {})}}
    if envelope == "records":
        return {"records": items, **({"pagination": pagination} if pagination else {})}
    meta: dict[str, Any] = {"warnings": []}
    if pagination is not None:
        meta["pagination"] = pagination
    return {"data": items, "meta": meta}
