"""The listing model: the upgrade from the previous release keeps every row, and
practitioners and certifications are part of what the search index catches up on."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from flask import Flask

from finder.db import make_engine, session_scope
from finder.migrate import alembic_config
from finder.models import Certification, IndexChange, Location, Practitioner
from tests.conftest import AUSTIN, load, row

PREVIOUS_RELEASE = "0003"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ORGANIZATION = {"id": 7, "name": "Old Clinic", "description": "", "website": "https://old.example",
                "phone": "", "npi": "", "created_at": NOW, "updated_at": NOW}
LOCATION: dict[str, Any] = {
    "id": 11, "organization_id": 7, "external_id": "old-1", "name": "Old Clinic Downtown",
    "description": "Dry needling since 2001.", "address_1": "1 Main St", "address_2": "",
    "city": "Austin", "region": "TX", "postcode": "78701", "country": "US",
    "latitude": 30.27, "longitude": -97.74, "geocode_precision": "point",
    "geocode_source": "provided", "timezone": "America/Chicago", "phone": "+1 512-555-0100",
    "website": "https://old.example", "email": "", "npi": "", "services": ["Dry needling"],
    "conditions": ["Back pain"], "insurance": ["Aetna"], "languages": ["English", "Spanish"],
    "hours": {"mon": [["08:00", "18:00"]]}, "telehealth": True,
    "accepting_new_patients": False, "status": "published", "source": "import",
    "last_verified": date(2026, 1, 31), "created_at": NOW, "updated_at": NOW,
    "owner_email": "owner@old.example",
}


def _database_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'old.sqlite3'}"
    postgres = request.getfixturevalue("postgres")
    postgres.server.psql("postgres", "CREATE DATABASE finder_previous TEMPLATE finder")
    return str(postgres.url("finder_previous"))


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_upgrade_from_the_previous_release_keeps_every_row(
        kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = _database_url(kind, tmp_path, request)
    command.upgrade(alembic_config(url), PREVIOUS_RELEASE)
    engine = make_engine(url)
    metadata = sa.MetaData()
    metadata.reflect(engine, only=["organization", "location"])
    with engine.begin() as connection:
        connection.execute(metadata.tables["organization"].insert(), [ORGANIZATION])
        connection.execute(metadata.tables["location"].insert(), [
            LOCATION, {**LOCATION, "id": 12, "external_id": "old-2", "services": []}])
    engine.dispose()

    command.upgrade(alembic_config(url), "head")

    engine = make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(Location.__table__).order_by(Location.id)).all()
    engine.dispose()
    assert [r.id for r in rows] == [11, 12]
    first = rows[0]._asdict()
    assert {name: first[name] for name in LOCATION} == LOCATION
    assert (first["techniques"], first["accessibility"], first["age_groups"],
            first["holiday_hours"]) == ([], [], [], [])
    assert (first["direct_access"], first["home_visits"], first["self_pay_price"]) == (
        None, None, None)


def _changes(app: Flask) -> list[int]:
    with session_scope(app) as session:
        return list(session.scalars(sa.select(IndexChange.location_id).order_by(
            IndexChange.seq)))


def test_a_practitioner_change_is_a_change_of_each_location_they_work_at(app: Flask) -> None:
    load(app, [row("a", "Alpha", AUSTIN), row("b", "Beta", AUSTIN), row("c", "Gamma", AUSTIN)])
    with session_scope(app) as session:
        a, b, c = session.scalars(sa.select(Location).order_by(Location.external_id)).all()
        ids = a.id, b.id, c.id
        practitioner = Practitioner(organization=a.organization, name="Jo Park",
                                    credentials=["PT", "DPT"], locations=[a, b])
        practitioner.certifications.append(Certification(
            issuer="Dry Needling Institute", title="DN-1", hours=27,
            earned=date(2024, 3, 1), expires=date(2026, 3, 1)))
        session.add(practitioner)
        session.commit()
    before = len(_changes(app))
    assert sorted(_changes(app)[-2:]) == sorted(ids[:2])

    with session_scope(app) as session:
        certification = session.scalars(sa.select(Certification)).one()
        certification.expires = date(2028, 3, 1)
        session.commit()
    assert sorted(_changes(app)[before:]) == sorted(ids[:2])

    with session_scope(app) as session:
        session.delete(session.scalars(sa.select(Practitioner)).one())
        session.commit()
        assert session.scalars(sa.select(Certification)).all() == []
    assert sorted(_changes(app)[before + 2:]) == sorted(ids[:2])


def test_current_certification_is_by_the_day() -> None:
    certification = Certification(issuer="x", title="y", earned=date(2024, 1, 1),
                                  expires=date(2025, 1, 1))
    assert certification.current_on(date(2025, 1, 1))
    assert not certification.current_on(date(2025, 1, 2))
    assert not certification.current_on(date(2023, 12, 31))
    assert Certification(issuer="x", title="y", earned=date(2024, 1, 1),
                         expires=None).current_on(date(2099, 1, 1))
