"""What partners see of their visitors: counts per day, never a person.

A search through a partner adds to that day's searches (and zero-result searches), its
keywords and its coarse area: a postcode's first characters or a city's name, never a point,
an address or an IP. Clicks on results and profile views from the widget are counted the
same way. Each count is one upsert in the request's own transaction.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..geocode import Place
from ..search.params import SearchParams
from .models import PartnerDay, PartnerTerm

AREA_PREFIX = 3  # ZIP3, a UK outward code's start, a Canadian FSA: an area, not a street
MAX_TERM = 100
TOP = 10


def today() -> date:
    return datetime.now(UTC).date()


def _insert(session: Session, table: type[PartnerDay] | type[PartnerTerm]
            ) -> sqlite.Insert | postgresql.Insert:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert(table) if dialect == "postgresql"
            else sqlite.insert(table))


def _add(session: Session, partner_id: int, **counts: int) -> None:
    zero = {"searches": 0, "zero_results": 0, "clicks": 0, "profile_views": 0}
    statement = _insert(session, PartnerDay).values(
        partner_id=partner_id, day=today(), **{**zero, **counts})
    table = PartnerDay.__table__
    session.execute(statement.on_conflict_do_update(
        index_elements=["partner_id", "day"],
        set_={name: table.c[name] + statement.excluded[name] for name in counts}))


def _add_term(session: Session, partner_id: int, kind: str, value: str) -> None:
    statement = _insert(session, PartnerTerm).values(
        partner_id=partner_id, day=today(), kind=kind, value=value[:MAX_TERM], count=1)
    session.execute(statement.on_conflict_do_update(
        index_elements=["partner_id", "day", "kind", "value"],
        set_={"count": PartnerTerm.__table__.c.count + 1}))


def area(params: SearchParams, origin: Place) -> str:
    """The coarse area of a search: a postcode's first characters, or the city found."""
    if origin.precision == "point":
        return ""  # a device position is a point: not recorded at all
    if origin.precision == "postcode":
        return re.sub(r"[\s-]", "", params.postcode.upper())[:AREA_PREFIX]
    return origin.label


def record_search(session: Session, partner_id: int, params: SearchParams, origin: Place,
                  total: int) -> None:
    _add(session, partner_id, searches=1, zero_results=int(total == 0))
    keywords = " ".join(params.q.lower().split())
    if keywords:
        _add_term(session, partner_id, "keyword", keywords)
    where = area(params, origin)
    if where:
        _add_term(session, partner_id, "area", where)


def record_click(session: Session, partner_id: int) -> None:
    _add(session, partner_id, clicks=1)


def record_profile_view(session: Session, partner_id: int) -> None:
    _add(session, partner_id, profile_views=1)


@dataclass
class Stats:
    """A partner's totals over some days, with its most searched keywords and areas."""

    first_day: date
    searches: int = 0
    zero_results: int = 0
    clicks: int = 0
    profile_views: int = 0
    keywords: list[tuple[str, int]] = field(default_factory=list)
    areas: list[tuple[str, int]] = field(default_factory=list)


def stats(session: Session, partner_id: int, days: int) -> Stats:
    """Sum the last ``days`` days (today included)."""
    first = today() - timedelta(days=days - 1)
    totals = Stats(first)
    for row in session.scalars(sa.select(PartnerDay).where(
            PartnerDay.partner_id == partner_id, PartnerDay.day >= first)):
        totals.searches += row.searches
        totals.zero_results += row.zero_results
        totals.clicks += row.clicks
        totals.profile_views += row.profile_views
    terms: dict[str, Counter[str]] = {"keyword": Counter(), "area": Counter()}
    for term in session.scalars(sa.select(PartnerTerm).where(
            PartnerTerm.partner_id == partner_id, PartnerTerm.day >= first)):
        terms[term.kind][term.value] += term.count
    totals.keywords = terms["keyword"].most_common(TOP)
    totals.areas = terms["area"].most_common(TOP)
    return totals
