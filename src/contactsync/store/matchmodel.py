"""Each tenant's matching model fitted to its own books, stored, and fitted again when the books have changed.

Fitting (`matching.tenantfit`) reads both of the tenant's sides (see memory below), so it is not done per page: a
run fits it once all its pages are reconciled (`refit_if_stale`) when there is no model yet or either side's
size has moved by more than `REFIT_CHANGE` since the last fit (the platform's side counted without the copies
our creates made), and the contacts of that run the engine did not link are reconciled again with it
(`store.refit`). Every reconcile loads the stored model as the base on which the tenant's review decisions are
applied (`store.review.tenant_model`), so labels still override it.

The loaded model is cached per process by tenant and fit time: it carries the tenant's word counts, which are
too large to parse again for every page.

Memory: whether to calibrate is decided from the names alone, read in chunks, and a fit reads at most
`FIT_SAMPLE` records per side (every k-th by id beyond that), so a worker's memory does not grow with a big
tenant. Up to `FIT_SAMPLE` records per side the fit is exactly the batch path's (`contactsync match`); beyond
it the weights and word counts come from the sample, and decisions may differ from a batch fit on all records.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, union_all
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from contactsync.matching import DEFAULT_MODEL, Model
from contactsync.matching.record import MatchRecord
from contactsync.matching.tenantfit import PERSON_SHARE, fit_model, is_person_name
from contactsync.matchinput import match_record
from contactsync.models import AppContact, Link, MatchModel, RemoteContact
from contactsync.models.base import utcnow

REFIT_CHANGE = 0.2  # a side that grew or shrank by more than this share since the last fit: fit again
# Records per side a fit reads at most (a sample of a bigger tenant): bounds the worker's memory.
FIT_SAMPLE = 20_000
_CHUNK = 5_000

_cache: dict[str, tuple[datetime, Model]] = {}


def base_model(s: Session, tenant_id: str) -> Model:
    """The tenant's stored model (the defaults when none is stored), before review decisions are applied."""
    fitted_at = s.scalar(select(MatchModel.fitted_at).where(MatchModel.tenant_id == tenant_id))
    if fitted_at is None:
        return DEFAULT_MODEL
    hit = _cache.get(tenant_id)
    if hit is not None and hit[0] == fitted_at:
        return hit[1]
    data = s.scalar(select(MatchModel.model).where(MatchModel.tenant_id == tenant_id))
    model = Model.from_json(data or {})
    _cache[tenant_id] = (fitted_at, model)
    return model


def _sizes(s: Session, tenant_id: str) -> tuple[int, int, int]:
    """The live records of the app's side, of the platform's side, and of the platform's side without the copies
    our creates put there.

    The last is what says whether the platform's side moved: a create copies an app contact, which the app side
    counts already, so a first sync that creates what only the app had does not make the model stale (counted, it
    would grow the platform's side past `REFIT_CHANGE` and have the next run fit again for nothing new). A fit
    still reads, and samples from, every live record.

    Every run asks this. The copies are counted through an outer join (a platform row has at most one link):
    as an EXISTS per row, PostgreSQL probed the links index once for each of the tenant's platform rows. At
    7,500 platform rows the count took 26-61 ms against 22-30 ms (three tenants, one run each)."""
    apps = s.scalar(select(func.count()).where(AppContact.tenant_id == tenant_id, AppContact.deleted.is_(False)))
    remotes, copies = s.execute(
        select(func.count(), func.count().filter(Link.method == "created"))
        .select_from(RemoteContact)
        .outerjoin(Link, Link.remote_contact_id == RemoteContact.id)
        .where(RemoteContact.tenant_id == tenant_id, RemoteContact.deleted.is_(False))
    ).one()
    return int(apps or 0), int(remotes or 0), int(remotes or 0) - int(copies or 0)


def _person_share(s: Session, tenant_id: str) -> float:
    """`tenantfit.person_share` over both whole sides, from each distinct name and how many records carry it.

    Only the name decides it, so PostgreSQL groups the two sides' names (from the rows' `name` column, not their
    JSON documents) and each distinct name is read and parsed once: the copies our creates made of app contacts
    carry the app contact's name, and a company present on both sides often has the same name on each. Read in
    chunks: holding every name of a 100,000-contact tenant at once would take a worker far past its memory."""
    names = union_all(
        *(
            select(model.name).where(model.tenant_id == tenant_id, model.deleted.is_(False))
            for model in (AppContact, RemoteContact)
        )
    ).subquery()
    counted = s.execute(select(names.c.name, func.count()).group_by(names.c.name).execution_options(yield_per=_CHUNK))
    persons = total = 0
    for name, count in counted:
        total += count
        if is_person_name(name):
            persons += count
    return persons / total if total else 0.0


def _sample(s: Session, model: type[AppContact] | type[RemoteContact], tenant_id: str, size: int) -> list[MatchRecord]:
    """The side's records to fit on: all of them up to `FIT_SAMPLE`, else every k-th by id (at most
    `FIT_SAMPLE`), so that fitting a big tenant needs bounded memory. EM fits a handful of weights and the
    word frequencies, which a systematic sample of tens of thousands of records estimates closely. Up to
    `FIT_SAMPLE` the model is exactly the one `contactsync match` fits on the same data."""
    step = -(-size // FIT_SAMPLE)  # ceil
    ranked = (
        select(model.id, model.data, (func.row_number().over(order_by=model.id) - 1).label("rank"))
        .where(model.tenant_id == tenant_id, model.deleted.is_(False))
        .subquery()
    )
    rows = s.execute(
        select(ranked.c.id, ranked.c.data)
        .where(ranked.c.rank % step == 0)
        .order_by(ranked.c.id)
        .execution_options(yield_per=_CHUNK)
    )
    return [match_record(str(i), d) for i, d in rows]


def _moved(before: int, now: int) -> bool:
    return abs(now - before) > REFIT_CHANGE * max(before, 1)


def refit_if_stale(s: Session, tenant_id: str, force: bool = False) -> bool:
    """Fit and store the tenant's model if it is missing or stale; True if the stored model's decisions may
    have changed (a calibrated model was stored, or a calibrated one was replaced by the defaults)."""
    apps, remotes, platform_own = _sizes(s, tenant_id)
    row = s.get(MatchModel, tenant_id, with_for_update=True)
    unmoved = row is not None and not _moved(row.app_records, apps) and not _moved(row.remote_records, platform_own)
    if unmoved and not force:
        return False
    share = _person_share(s, tenant_id)
    calibrate = apps > 0 and remotes > 0 and share >= PERSON_SHARE
    model = DEFAULT_MODEL
    if calibrate:
        model = fit_model(_sample(s, RemoteContact, tenant_id, remotes), _sample(s, AppContact, tenant_id, apps))
    was_calibrated = row is not None and row.calibrated
    values = {
        "model": model.to_json(with_counts=True),
        "calibrated": model is not DEFAULT_MODEL and calibrate,
        "person_share": share,
        "app_records": apps,
        "remote_records": platform_own,
        "fitted_at": utcnow(),
    }
    s.execute(
        pg_insert(MatchModel)
        .values(tenant_id=tenant_id, **values)
        .on_conflict_do_update(index_elements=[MatchModel.tenant_id], set_=values)
    )
    return bool(values["calibrated"]) or was_calibrated
