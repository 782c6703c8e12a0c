"""Likely duplicates across the whole directory, and merging one listing into another.

A scan reads the published listings once. Listings sharing an NPI, a phone or a website host
are grouped in the same pass; names are compared only between listings in neighbouring grid
cells about ``NEAR_KM`` wide, never every listing with every other, so a directory of 100k
listings is scanned in seconds. A value shared by many listings (a chain's central phone)
is reported once, as shared, rather than as every pair it makes.

Functions take a session and never commit: the views and commands that call them do.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import sqlalchemy as sa
from geopy.distance import EARTH_RADIUS
from rapidfuzz import fuzz, process
from sqlalchemy.orm import Session

from .. import geo
from ..duplicate_rules import (
    ALIKE,
    NEAR_KM,
    alike_name_reason,
    host_key,
    name_key,
    name_likeness,
    names_alike,
    phone_key,
    same_npi_reason,
    same_phone_reason,
    same_website_reason,
)
from ..errors import InvalidInput, NotFound
from ..listings import MAX_ID
from ..models import Actor, ListingChange, Location, Status
from .models import DistinctPair

# A value shared by more listings than this is a chain's or a switchboard's: noted once,
# since its pairs (n * (n - 1) / 2 of them) are not something a moderator can work through.
GROUP_LIMIT = 4
# Rules by weight, strongest first: pairs with a stronger reason are shown first.
RULES = ("NPI", "phone", "name", "website")
KM_PER_DEGREE_LAT = 110.574  # the least there is (at the equator)
KM_PER_DEGREE_LON = 111.320  # at the equator; times cos(latitude) elsewhere
SLACK = 1.01  # the grid is spherical, distances are on the ellipsoid
QUERY_CHUNK = 256  # names compared at once against a neighbourhood (bounds the memory used)

LIST_FIELDS = ("services", "conditions", "insurance", "languages", "techniques",
               "accessibility", "age_groups")
# Taken from the duplicate when the kept listing has none.
FILLED_FIELDS = ("description", "phone", "website", "email", "npi", "hours", "holiday_hours",
                 "direct_access", "home_visits", "self_pay_price", "last_verified")
# Taken only from a duplicate at the same postcode: a street line belongs with its place.
STREET_FIELDS = ("address_1", "address_2")


@dataclass(frozen=True)
class Listed:
    """What a scan reads of a published listing."""

    id: int
    name: str
    address_1: str
    city: str
    region: str
    postcode: str
    phone: str
    website: str
    npi: str
    latitude: float
    longitude: float
    source: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "address_1": self.address_1,
                "city": self.city, "region": self.region, "postcode": self.postcode,
                "phone": self.phone, "website": self.website, "npi": self.npi,
                "lat": self.latitude, "lon": self.longitude, "source": self.source}


@dataclass
class Pair:
    """Two listings that look like one, with every reason why (the lower id first)."""

    first: Listed
    second: Listed
    reasons: list[str] = field(default_factory=list)
    rules: set[str] = field(default_factory=set)

    def add(self, rule: str, reason: str) -> None:
        self.rules.add(rule)
        self.reasons.append(reason)

    def weight(self) -> tuple[int, int]:
        """Sort key: more reasons first, then the strongest reason first."""
        return -len(self.rules), min(RULES.index(rule) for rule in self.rules)

    def as_json(self) -> dict[str, Any]:
        return {"first": self.first.as_json(), "second": self.second.as_json(),
                "reasons": self.reasons}


@dataclass(frozen=True)
class Shared:
    """A phone, website host or NPI shared by more listings than are worth pairing."""

    rule: str
    value: str
    count: int
    ids: tuple[int, ...]  # the first few, to look at

    def text(self) -> str:
        return f"{self.rule} {self.value} shared by {self.count} listings"

    def as_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "value": self.value, "count": self.count,
                "ids": list(self.ids)}


@dataclass
class Scan:
    """A scan's likely pairs (strongest first) and the values shared too widely to pair."""

    pairs: list[Pair]
    shared: list[Shared]
    total: int  # pairs found, before any limit
    shared_total: int  # widely shared values found, before any limit

    def as_json(self) -> dict[str, Any]:
        return {"total": self.total, "pairs": [pair.as_json() for pair in self.pairs],
                "shared_total": self.shared_total,
                "shared": [shared.as_json() for shared in self.shared]}


# Table columns, read as plain rows (the source as its stored text): a scan reads them all.
_COLUMNS = Location.__table__.c
_SCANNED = (*(_COLUMNS[name] for name in ("id", "name", "address_1", "city", "region",
                                         "postcode", "phone", "website", "npi", "latitude",
                                         "longitude")),
            sa.type_coerce(_COLUMNS.source, sa.String).label("source"))


# Each rule of one shared value: its name, the value compared (from a listing), and the
# reason it gives (from a listing and that value).
_SAME_VALUE_RULES: tuple[tuple[str, Callable[[Listed], str], Callable[[Listed, str], str]],
                         ...] = (
    ("NPI", lambda item: item.npi, lambda item, key: same_npi_reason(key)),
    ("phone", lambda item: phone_key(item.phone),
     lambda item, key: same_phone_reason(item.phone)),
    ("website", lambda item: host_key(item.website),
     lambda item, key: same_website_reason(key)),
)


def _listed(row: sa.Row[Any]) -> Listed:
    return Listed(id=row.id, name=row.name, address_1=row.address_1, city=row.city,
                  region=row.region, postcode=row.postcode, phone=row.phone,
                  website=row.website, npi=row.npi, latitude=row.latitude,
                  longitude=row.longitude, source=row.source)


def find_duplicates(session: Session, limit: int | None = None) -> Scan:
    """Find likely duplicate pairs among the published listings, strongest first, and the
    values shared too widely to pair, most shared first (at most ``limit`` of each). Pairs a
    moderator marked distinct are left out (merged listings are unpublished, so out too)."""
    listed = [_listed(row) for row in session.execute(sa.select(*_SCANNED).where(
        _COLUMNS.status == Status.PUBLISHED.value).order_by(_COLUMNS.id))]
    pairs: dict[tuple[int, int], Pair] = {}

    def pair(first: Listed, second: Listed) -> Pair:
        if first.id > second.id:
            first, second = second, first
        key = (first.id, second.id)
        if key not in pairs:
            pairs[key] = Pair(first, second)
        return pairs[key]

    shared = []
    for rule, key_of, reason in _SAME_VALUE_RULES:
        groups: dict[str, list[Listed]] = defaultdict(list)
        for item in listed:
            key = key_of(item)
            if key:
                groups[key].append(item)
        for key, group in groups.items():
            if len(group) > GROUP_LIMIT:
                shown = group[0].phone if rule == "phone" else key
                shared.append(Shared(rule, shown, len(group),
                                     tuple(item.id for item in group[:10])))
                continue
            for number, first in enumerate(group):
                for second in group[number + 1:]:
                    pair(first, second).add(rule, reason(first, key))

    for first, second, likeness, km in _names_alike_nearby(listed):
        pair(first, second).add("name", alike_name_reason(likeness, km))

    distinct = {(first, second) for first, second in session.execute(
        sa.select(DistinctPair.first_id, DistinctPair.second_id))}
    found = sorted((found for key, found in pairs.items() if key not in distinct),
                   key=lambda found: (*found.weight(), found.first.id, found.second.id))
    shared.sort(key=lambda item: (-item.count, RULES.index(item.rule), item.value))
    return Scan(found[:limit], shared[:limit], len(found), len(shared))


ROW_HEIGHT = NEAR_KM * SLACK / KM_PER_DEGREE_LAT  # degrees: at least NEAR_KM everywhere


@functools.cache
def _column_width(row: int) -> float:
    """The width of the grid's columns in a row, in degrees of longitude: at least
    ``NEAR_KM`` at every latitude of this row and its neighbours, where a listing of this
    row may have its nearby ones."""
    widest = max(abs((row - 1) * ROW_HEIGHT), abs((row + 2) * ROW_HEIGHT))
    shrink = max(math.cos(math.radians(min(widest, 90.0))), 0.01)  # no cell spans a pole
    return NEAR_KM * SLACK / (KM_PER_DEGREE_LON * shrink)


def _cell(latitude: float, longitude: float) -> tuple[int, int]:
    row = math.floor(latitude / ROW_HEIGHT)
    return row, math.floor(longitude / _column_width(row))


def _neighbourhood(cell: tuple[int, int]) -> Iterator[tuple[int, int]]:
    """The cells where a listing within ``NEAR_KM`` of one in ``cell`` may be (itself
    included). Rows have columns of their own widths, so each is mapped by longitude.
    (Listings either side of the 180th meridian are not compared: none are expected.)"""
    row, column = cell
    width = _column_width(row)
    west, east = column * width, (column + 1) * width
    for other in (row - 1, row, row + 1):
        other_width = _column_width(other)
        for other_column in range(math.floor(west / other_width) - 1,
                                  math.floor(east / other_width) + 2):
            yield other, other_column


def _spherical_km(first: Listed, second: Listed) -> float:
    """The great-circle distance: a cheap first look before the geodesic."""
    lat1, lat2 = math.radians(first.latitude), math.radians(second.latitude)
    half = (math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2)
            * math.sin(math.radians(second.longitude - first.longitude) / 2) ** 2)
    return 2 * float(EARTH_RADIUS) * math.asin(math.sqrt(min(half, 1.0)))


def _names_alike_nearby(listed: list[Listed]
                        ) -> Iterator[tuple[Listed, Listed, float, float]]:
    """Yield (lower id, higher id, likeness, km) for listings with names alike close by,
    comparing each listing only with those of its own and neighbouring grid cells."""
    cells: dict[tuple[int, int], list[int]] = defaultdict(list)
    for index, item in enumerate(listed):
        cells[_cell(item.latitude, item.longitude)].append(index)
    keys = [name_key(item.name) for item in listed]
    for cell, members in cells.items():
        around = [index for other in _neighbourhood(cell) for index in cells.get(other, ())]
        if len(around) < 2:
            continue  # alone in its neighbourhood, as most listings are
        choices = [keys[index] for index in around]
        for start in range(0, len(members), QUERY_CHUNK):
            chunk = members[start:start + QUERY_CHUNK]
            # C++ compares the whole chunk with the neighbourhood at once; scores under the
            # threshold come back as 0. The rule itself decides each hit below.
            scores = process.cdist([keys[index] for index in chunk], choices,
                                   scorer=fuzz.token_sort_ratio, score_cutoff=ALIKE - 1,
                                   dtype=np.uint8)
            for row, column in zip(*np.nonzero(scores), strict=True):
                first, second = listed[chunk[row]], listed[around[column]]
                if first.id >= second.id or _spherical_km(first, second) > NEAR_KM * SLACK:
                    continue  # each pair once (from its lower id's side), and near only
                likeness = name_likeness(keys[chunk[row]], keys[around[column]])
                km = geo.geodesic_km(first.latitude, first.longitude, second.latitude,
                                     second.longitude)
                if names_alike(likeness, km):
                    yield first, second, likeness, km


# -- deciding on a pair ----------------------------------------------------------------------


def get_listing(session: Session, location_id: int) -> Location:
    """Return a listing, published or not, or raise NotFound saying so."""
    location = session.get(Location, location_id) if 0 < location_id < MAX_ID else None
    if location is None:
        raise NotFound(f"There is no listing {location_id}.", code="listing_not_found")
    return location


def merge_listings(session: Session, keep: Location, duplicate: Location, moderator: str,
                   actor: Actor = Actor.MODERATOR) -> dict[str, list[Any]]:
    """Merge ``duplicate`` into ``keep`` and return what ``keep`` took, field by field.

    The duplicate is unpublished (never deleted) with the reason "merged" and a pointer to
    the kept listing; its own history and external id stay with it. The kept listing takes
    what it lacks: empty fields are filled, list fields (services, insurance, ...) united,
    the owner taken when it has none, and the duplicate's practitioners linked when they are
    of the kept listing's organisation (a practitioner works for one organisation; others
    are named in the history note, to be added by hand). Both histories record the merge.
    Raise InvalidInput for a merge that cannot be.
    """
    _lock(session, keep, duplicate)
    _check_merge(keep, duplicate)
    changes: dict[str, list[Any]] = {}

    def take(name: str, value: Any) -> None:
        changes[name] = [_plain(getattr(keep, name)), _plain(value)]
        setattr(keep, name, value)

    for name in FILLED_FIELDS:
        if _empty(getattr(keep, name)) and not _empty(getattr(duplicate, name)):
            take(name, getattr(duplicate, name))
    if (keep.postcode, keep.country) == (duplicate.postcode, duplicate.country) and \
            not keep.address_1 and duplicate.address_1:
        for name in STREET_FIELDS:
            take(name, getattr(duplicate, name))
    for name in LIST_FIELDS:
        united = _unite(getattr(keep, name), getattr(duplicate, name))
        if united != getattr(keep, name):
            take(name, united)
    if not keep.owner_email and duplicate.owner_email:
        take("owner_email", duplicate.owner_email)
    note = f"merged listing {duplicate.id} ({duplicate.name}) into this one"
    joining = [person for person in duplicate.practitioners
               if person.organization_id == keep.organization_id
               and person not in keep.practitioners]
    others = [person.name for person in duplicate.practitioners
              if person.organization_id != keep.organization_id]
    if joining:
        before = [person.name for person in keep.practitioners]
        keep.practitioners = [*keep.practitioners, *joining]
        changes["practitioners"] = [before, [*before, *(person.name for person in joining)]]
    if others:
        note += f"; not moved, being of another organisation: {', '.join(others)}"
    session.add(ListingChange(location_id=keep.id, actor_kind=actor, actor=moderator,
                              changes=changes, note=note))
    session.add(ListingChange(
        location_id=duplicate.id, actor_kind=actor, actor=moderator,
        changes={"status": [duplicate.status.value, Status.UNPUBLISHED.value],
                 "merged_into_id": [duplicate.merged_into_id, keep.id]},
        note=f"merged into listing {keep.id} ({keep.name})"))
    duplicate.status = Status.UNPUBLISHED
    duplicate.unpublished_reason = "merged"
    duplicate.merged_into_id = keep.id
    return changes


def _lock(session: Session, *locations: Location) -> None:
    """Lock both rows until commit and read them afresh, so two moderators merging the same
    pair at once (one each way) cannot make a loop. (SQLite has one writer at a time.)"""
    session.flush()
    session.execute(sa.select(Location.id).where(
        Location.id.in_([location.id for location in locations]))
        .order_by(Location.id).with_for_update())
    for location in locations:
        session.refresh(location)


def _check_merge(keep: Location, duplicate: Location) -> None:
    if keep.id == duplicate.id:
        raise InvalidInput("A listing cannot be merged into itself.")
    if duplicate.merged_into_id is not None:
        raise InvalidInput(f"Listing {duplicate.id} was merged into listing "
                           f"{duplicate.merged_into_id} already.")
    if keep.merged_into_id is not None:
        raise InvalidInput(f"Listing {keep.id} was itself merged into listing "
                           f"{keep.merged_into_id}: merge into that one instead.")
    if keep.status is not Status.PUBLISHED:
        raise InvalidInput(f"Listing {keep.id} is {keep.status.value}: the listing kept must "
                           "be a published one.")


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _unite(kept: list[str], taken: list[str]) -> list[str]:
    """The kept items in their order, then the other's new ones (case aside)."""
    seen = {item.casefold() for item in kept}
    united = list(kept)
    for item in taken:
        if item.casefold() not in seen:
            seen.add(item.casefold())
            united.append(item)
    return united


def _plain(value: Any) -> Any:
    """A value as the history's JSON holds it."""
    return value.isoformat() if isinstance(value, date) else value


def mark_distinct(session: Session, first: Location, second: Location,
                  account_id: int | None) -> bool:
    """Record that two listings are not duplicates, so they are never proposed again;
    return False when that was recorded already."""
    if first.id == second.id:
        raise InvalidInput("A listing is always the same as itself: choose two listings.")
    low, high = sorted((first.id, second.id))
    if session.get(DistinctPair, (low, high)) is not None:
        return False
    session.add(DistinctPair(first_id=low, second_id=high, marked_by=account_id))
    session.flush()
    return True

