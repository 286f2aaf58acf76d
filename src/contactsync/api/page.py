"""The review page `/review`: the tenant's own staff resolve the matcher's unsure items in a browser.

Server-rendered (Jinja2) with a little JavaScript for the keyboard and for sending decisions; opened through a
signed session URL (see `api.sessions`), so the app embeds it without its users needing an account here. The
page's own JSON calls carry the same session token in a header and reach only that tenant's items.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from contactsync import db
from contactsync.api.review import BulkIn, BulkOut, DecisionIn, DecisionOut, apply_bulk, apply_decision, items_page
from contactsync.api.sessions import ReviewSession, open_session, revoked
from contactsync.contact import unstated_in
from contactsync.models import Tenant
from contactsync.store.decisions import Filters

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)
NOT_STATED = "not stated"
FIELDS = ("name", "emails", "phones", "tax_number", "addresses", "is_customer", "is_supplier", "status", "currency")


def _session(token: str | None) -> ReviewSession:
    session = open_session(token or "")
    if session is not None:
        with db.session() as s:
            tenant = s.get(Tenant, session.tenant_id)
            if tenant is not None and not revoked(session, tenant.review_sessions_revoked_at):
                return session
    raise HTTPException(status.HTTP_401_UNAUTHORIZED, "this review link is invalid, expired or revoked")


def show(value: Any) -> str:
    """One field as a person reads it."""
    if value is None or value == [] or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "; ".join(show(v) for v in value)
    if isinstance(value, dict):
        if "number" in value:
            return str(value["number"])
        parts = [value.get(k) for k in ("street_1", "street_2", "postal_code", "city", "state", "country")]
        return ", ".join(str(p) for p in parts if p)
    return str(value)


def reasons(explanation: dict[str, Any]) -> list[str]:
    """The matcher's explanation as short phrases: its verdict, then the fields that weighed most."""
    out = [str(explanation["reason"])] if explanation.get("reason") else []
    fields = explanation.get("fields")
    if isinstance(fields, dict):
        ranked = sorted(
            ((k, v) for k, v in fields.items() if isinstance(v, dict)),
            key=lambda kv: -abs(float(kv[1].get("weight") or 0)),
        )
        for name, detail in ranked[:6]:
            weight = float(detail.get("weight") or 0)
            verdict = "agrees" if weight > 0 else "differs" if weight < 0 else "neutral"
            out.append(f"{name.replace('_', ' ')} {verdict} ({weight:+.1f})")
    return out


def rows(remote: dict[str, Any], app: dict[str, Any]) -> list[dict[str, Any]]:
    """The two sides field by field. A role or status the platform's record does not state (`unstated`) reads
    "not stated", never as the "no" or "active" the mirror holds by default, and differs from nothing: a person
    comparing two records must not take it for the platform's word."""
    unstated = unstated_in(remote)
    return [
        {"field": f.replace("_", " "), "remote": NOT_STATED if f in unstated else show(remote.get(f)),
         "app": show(app.get(f)),
         "differs": f not in unstated and show(remote.get(f)).casefold() != show(app.get(f)).casefold()}
        for f in FIELDS
    ]  # fmt: skip


@router.get("/review", response_class=HTMLResponse)
def review_page(
    request: Request,
    session: Annotated[str | None, Query(max_length=4000)] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 25,
    min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    q: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")] = None,
) -> HTMLResponse:
    who = _session(session)
    page = items_page(who.tenant_id, Filters(min_score=min_score, q=q or None), offset, limit)
    items = []
    for item in page.items:
        candidates = [
            {"app_id": c.app_id, "score": c.score, "reasons": reasons(c.explanation),
             "rows": rows(item.remote["contact"], c.contact)}
            for c in item.candidates
        ]  # fmt: skip
        items.append({"id": item.id, "remote": item.remote, "candidates": candidates})
    context = {
        "request": request,
        "items": items,
        "total": page.total,
        "offset": offset,
        "limit": limit,
        "min_score": min_score,
        "q": q or "",
        "session": session,
        "user": who.user,
        "tenant": who.tenant_id,
    }
    return templates.TemplateResponse(request, "review.html", context)


@router.post("/review/api/items/{item_id}/decision", response_model=DecisionOut)
def page_decision(
    item_id: int, body: DecisionIn, x_review_session: Annotated[str | None, Header()] = None
) -> DecisionOut:
    who = _session(x_review_session)
    return apply_decision(who.tenant_id, item_id, body, who.user)


@router.post("/review/api/bulk-accept", response_model=BulkOut)
def page_bulk(body: BulkIn, x_review_session: Annotated[str | None, Header()] = None) -> BulkOut:
    who = _session(x_review_session)
    return apply_bulk(who.tenant_id, body, who.user)
