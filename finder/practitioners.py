"""Practitioners: kept in step with the listing documents and practitioner files that name
them, within the caller's transaction.

A practitioner is one person of one organisation, found again by their ``external_id`` or,
without one, by their name within the organisation; they work at one or more of its
locations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from . import document
from .models import Certification, Location, Organization, Practitioner


class Practitioners:
    """Find, create and update the practitioners of organisations in one session."""

    def __init__(self, session: Session) -> None:
        self.session = session
        # Found or made in this batch, which may not be flushed yet: by external id, or by
        # organisation and name.
        self._known: dict[tuple[Any, ...], Practitioner] = {}
        self._absent: set[str] = set()  # external ids known not to be stored

    def forget(self) -> None:
        self._known.clear()
        self._absent.clear()

    def prefetch(self, external_ids: Iterable[str]) -> None:
        """Load the practitioners of a batch by external id in one query, rather than one
        per record."""
        wanted = set(external_ids) - {""}
        for found in self.session.scalars(
                sa.select(Practitioner).where(Practitioner.external_id.in_(wanted))
                .options(selectinload(Practitioner.certifications),
                         selectinload(Practitioner.locations))):
            self._known[("id", found.external_id)] = found
        self._absent |= wanted - {key for kind, key, *_ in self._known if kind == "id"}

    def upsert(self, organization: Organization, given: document.Practitioner
               ) -> Practitioner:
        """Return the stored practitioner ``given`` describes, updated to match it."""
        key = (("id", given.external_id) if given.external_id
               else ("name", id(organization), given.name.casefold()))
        found = self._known.get(key)
        if found is None and given.external_id not in self._absent:
            found = self._find(organization, given)
        if found is None:
            found = Practitioner(organization=organization, external_id=given.external_id,
                                 name=given.name)
            self.session.add(found)
        self._known[key] = found
        if found.organization is not organization:
            found.organization = organization  # moved to another organisation
        values = self._columns(given)
        for name, value in values.items():
            if getattr(found, name) != value:
                setattr(found, name, value)
        wanted = sorted((_certification_key(c.model_dump()) for c in given.certifications),
                        key=str)
        if sorted((_certification_key(_stored(c)) for c in found.certifications),
                  key=str) != wanted:
            found.certifications = [Certification(**c.model_dump())
                                    for c in given.certifications]
        return found

    def _find(self, organization: Organization, given: document.Practitioner
              ) -> Practitioner | None:
        query = sa.select(Practitioner).options(selectinload(Practitioner.certifications))
        if given.external_id:
            return self.session.scalars(
                query.where(Practitioner.external_id == given.external_id)).first()
        if organization.id is None:  # a new organisation has no practitioners yet
            return None
        return self.session.scalars(query.where(
            Practitioner.organization_id == organization.id,
            Practitioner.external_id.is_(None),
            sa.func.lower(Practitioner.name) == given.name.lower())).first()

    @staticmethod
    def _columns(given: document.Practitioner) -> dict[str, Any]:
        return {"external_id": given.external_id, "name": given.name,
                "credentials": given.credentials, "npi": given.npi,
                "licence_region": given.licence.region if given.licence else "",
                "licence_number": given.licence.number if given.licence else "",
                "languages": given.languages, "gender": given.gender}


def _stored(certification: Certification) -> dict[str, Any]:
    return {"issuer": certification.issuer, "title": certification.title,
            "hours": certification.hours, "earned": certification.earned,
            "expires": certification.expires}


def _certification_key(values: dict[str, Any]) -> tuple[Any, ...]:
    return (values["issuer"], values["title"], values["hours"], values["earned"],
            values["expires"])


def practitioner_json(practitioner: Practitioner) -> dict[str, Any]:
    """A practitioner as the listing document shows them."""
    licence = ({"region": practitioner.licence_region, "number": practitioner.licence_number}
               if practitioner.licence_number else None)
    return {"external_id": practitioner.external_id, "name": practitioner.name,
            "credentials": practitioner.credentials, "npi": practitioner.npi,
            "licence": licence, "languages": practitioner.languages,
            "gender": practitioner.gender,
            "certifications": [{**_stored(c), "earned": c.earned.isoformat(),
                                "expires": c.expires.isoformat() if c.expires else None}
                               for c in practitioner.certifications]}


def locations_by_external_id(session: Session, external_ids: Iterable[str]
                             ) -> dict[str, Location]:
    """Return the stored locations with these external ids, with their organisations."""
    return {location.external_id or "": location for location in session.scalars(
        sa.select(Location).where(Location.external_id.in_(set(external_ids)))
        .options(selectinload(Location.organization)))}


def locations_of(found: Mapping[str, Location], external_ids: list[str]) -> list[Location]:
    """Return the locations with these external ids, in the same order, from those
    ``found``; raise ValueError naming those that do not exist."""
    missing = [key for key in external_ids if key not in found]
    if missing:
        raise ValueError(f"no listing has the external_id {', '.join(map(repr, missing))}; "
                         "import the listings first")
    return [found[key] for key in external_ids]
