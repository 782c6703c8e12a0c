"""The directory's tables: organisations, their locations (the searchable unit), the
practitioners who work there with their certifications, and the change record the search
index catches up from."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from .db import copy_insert

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSON on SQLite, JSONB on PostgreSQL.
Json = sa.JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class TZDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every engine (SQLite drops the offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime stored; use datetime.now(UTC)")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: TZDateTime(), dict[str, Any]: Json, list[str]: Json}


class Status(enum.StrEnum):
    PENDING = "pending"
    PUBLISHED = "published"
    UNPUBLISHED = "unpublished"


class Source(enum.StrEnum):
    IMPORT = "import"
    SELF_SUBMITTED = "self-submitted"
    NPPES = "nppes"
    DEMO = "demo"


def string_enum(enum_class: type[enum.StrEnum]) -> sa.Enum:
    """Store an enum as its values in a VARCHAR, the same on SQLite and PostgreSQL."""
    return sa.Enum(enum_class, native_enum=False, length=20,
                   values_callable=lambda members: [member.value for member in members])


class Organization(Base):
    """A clinic or practice; it owns one or more locations."""

    __tablename__ = "organization"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), index=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    website: Mapped[str] = mapped_column(sa.String(500), default="")
    phone: Mapped[str] = mapped_column(sa.String(40), default="")
    npi: Mapped[str] = mapped_column(sa.String(10), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    locations: Mapped[list[Location]] = relationship(back_populates="organization")
    practitioners: Mapped[list[Practitioner]] = relationship(back_populates="organization")


# Which practitioners work at which locations (of their own organisation).
practitioner_location = sa.Table(
    "practitioner_location", Base.metadata,
    sa.Column("practitioner_id", sa.ForeignKey("practitioner.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("location_id", sa.ForeignKey("location.id", ondelete="CASCADE"),
              primary_key=True, index=True),
)


class Location(Base):
    """One site where patients are seen: the unit that search returns."""

    __tablename__ = "location"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organization.id"), index=True)
    external_id: Mapped[str | None] = mapped_column(sa.String(100), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")

    address_1: Mapped[str] = mapped_column(sa.String(200), default="")
    address_2: Mapped[str] = mapped_column(sa.String(200), default="")
    city: Mapped[str] = mapped_column(sa.String(100), default="")
    region: Mapped[str] = mapped_column(sa.String(100), default="")
    postcode: Mapped[str] = mapped_column(sa.String(20), default="")
    country: Mapped[str] = mapped_column(sa.String(2), default="US")
    latitude: Mapped[float]
    longitude: Mapped[float]
    # How the coordinates were found: "point" (given), "postcode" (centroid), "address".
    geocode_precision: Mapped[str] = mapped_column(sa.String(20))
    geocode_source: Mapped[str] = mapped_column(sa.String(40))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")

    phone: Mapped[str] = mapped_column(sa.String(40), default="")
    website: Mapped[str] = mapped_column(sa.String(500), default="")
    email: Mapped[str] = mapped_column(sa.String(254), default="")
    npi: Mapped[str] = mapped_column(sa.String(10), default="")
    services: Mapped[list[str]] = mapped_column(default=list)
    conditions: Mapped[list[str]] = mapped_column(default=list)
    insurance: Mapped[list[str]] = mapped_column(default=list)
    languages: Mapped[list[str]] = mapped_column(default=list)
    # {"mon": [["08:00", "18:00"]], ...} in the location's own timezone.
    hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # [{"date": "2026-12-25", "closed": true, "hours": [], "note": ""}, ...] by date.
    holiday_hours: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)
    telehealth: Mapped[bool] = mapped_column(default=False)
    accepting_new_patients: Mapped[bool] = mapped_column(default=True)
    direct_access: Mapped[bool | None]  # None: not said
    home_visits: Mapped[bool | None]
    # Ids from the vocabularies in data/ (techniques.toml, accessibility.toml).
    techniques: Mapped[list[str]] = mapped_column(default=list)
    accessibility: Mapped[list[str]] = mapped_column(default=list)
    age_groups: Mapped[list[str]] = mapped_column(default=list)
    # {"min": 90.0, "max": 120.0, "currency": "USD"} per session, or None.
    self_pay_price: Mapped[dict[str, Any] | None] = mapped_column(Json)

    status: Mapped[Status] = mapped_column(string_enum(Status), default=Status.PUBLISHED,
                                           index=True)
    source: Mapped[Source] = mapped_column(string_enum(Source), default=Source.IMPORT)
    last_verified: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # Private: never rendered in public JSON or pages.
    owner_email: Mapped[str] = mapped_column(sa.String(254), default="")

    # Re-verification (see ``trust.verification``): when patients' reports marked the listing
    # as possibly out of date (cleared when it is confirmed), and the last message sent about
    # it ("due", "stale", "unpublished") with the verification date that message was about.
    flagged_at: Mapped[datetime | None]
    verify_notice: Mapped[str] = mapped_column(sa.String(20), default="")
    verify_notice_for: Mapped[date | None]
    # Why an unpublished listing is hidden: "unverified" (restored when its owner confirms
    # it), "merged" (see ``merged_into_id``), "nppes" (made from the NPI registry, waiting for
    # a claim), "moderator".
    unpublished_reason: Mapped[str] = mapped_column(sa.String(20), default="")
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("location.id"))
    # The NPI registry's word on ``npi`` (see ``trust.nppes``): "" (not checked), "verified",
    # "not_found", "deactivated", "mismatch"; why, for moderators; and the day it was checked.
    npi_status: Mapped[str] = mapped_column(sa.String(20), default="")
    npi_detail: Mapped[str] = mapped_column(sa.Text, default="")
    npi_checked_on: Mapped[date | None]

    organization: Mapped[Organization] = relationship(back_populates="locations")
    practitioners: Mapped[list[Practitioner]] = relationship(
        secondary=practitioner_location, back_populates="locations",
        order_by="Practitioner.name")

    @property
    def organization_name(self) -> str:
        """The organisation's name, as the plain rows of listings and documents carry it."""
        return self.organization.name


class Practitioner(Base):
    """A clinician of an organisation, working at one or more of its locations."""

    __tablename__ = "practitioner"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organization.id"), index=True)
    external_id: Mapped[str | None] = mapped_column(sa.String(100), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    credentials: Mapped[list[str]] = mapped_column(default=list)  # "PT", "DPT", ...
    npi: Mapped[str] = mapped_column(sa.String(10), default="")  # type 1, individual
    licence_region: Mapped[str] = mapped_column(sa.String(100), default="")
    licence_number: Mapped[str] = mapped_column(sa.String(50), default="")
    languages: Mapped[list[str]] = mapped_column(default=list)
    gender: Mapped[str | None] = mapped_column(sa.String(20))
    npi_status: Mapped[str] = mapped_column(sa.String(20), default="")  # as Location's
    npi_checked_on: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    organization: Mapped[Organization] = relationship(back_populates="practitioners")
    locations: Mapped[list[Location]] = relationship(secondary=practitioner_location,
                                                     back_populates="practitioners")
    certifications: Mapped[list[Certification]] = relationship(
        back_populates="practitioner", cascade="all, delete-orphan",
        order_by="Certification.earned")


class Certification(Base):
    """A dry-needling certification: who issued it, for how many hours, until when."""

    __tablename__ = "certification"

    id: Mapped[int] = mapped_column(primary_key=True)
    practitioner_id: Mapped[int] = mapped_column(
        sa.ForeignKey("practitioner.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(sa.String(200))
    title: Mapped[str] = mapped_column(sa.String(200))
    hours: Mapped[int | None]
    earned: Mapped[date]
    expires: Mapped[date | None]  # None: does not expire

    practitioner: Mapped[Practitioner] = relationship(back_populates="certifications")

    def current_on(self, day: date) -> bool:
        return self.earned <= day and (self.expires is None or day <= self.expires)


class DatabaseIdentity(Base):
    """One row naming this database, so a derived index can tell it was built from another."""

    __tablename__ = "database_identity"

    id: Mapped[int] = mapped_column(primary_key=True)
    database_id: Mapped[str] = mapped_column(sa.String(36))


class Actor(enum.StrEnum):
    """Who changed a listing."""

    OWNER = "owner"
    MODERATOR = "moderator"
    IMPORT = "import"
    PARTNER = "partner"
    SYSTEM = "system"


class ListingChange(Base):
    """One change to a listing: who, when, and each field from what to what. Private: shown
    only to moderators and the listing's owner."""

    __tablename__ = "listing_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(sa.ForeignKey("location.id"), index=True)
    actor_kind: Mapped[Actor] = mapped_column(string_enum(Actor))
    actor: Mapped[str] = mapped_column(sa.String(254), default="")  # an e-mail, a file name
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # {"field": [old, new], ...}
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    note: Mapped[str] = mapped_column(sa.Text, default="")


class OutboxMessage(Base):
    """An e-mail to send: written in the transaction that decides it, delivered after, and
    kept (with its attempts) whether or not the mail server answers."""

    __tablename__ = "outbox_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    to: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    kind: Mapped[str] = mapped_column(sa.String(40))  # owner_link, approved, rejected, ...
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(sa.Text, default="")


class IndexChange(Base):
    """A location changed; written in the same transaction as the change.

    The search index records the highest ``seq`` it has applied, so after a crash between the
    database commit and the index write it simply catches up from here.
    """

    __tablename__ = "index_change"

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    location_id: Mapped[int] = mapped_column(sa.ForeignKey("location.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    location: Mapped[Location] = relationship()


# An arbitrary constant naming finder's advisory lock on PostgreSQL.
_CHANGE_ORDER_LOCK = 0x66696E64


@sa.event.listens_for(orm.Session, "before_flush")
def _record_location_changes(session: orm.Session, _context: Any, _instances: Any) -> None:
    """Add an IndexChange for every new or modified location (or its organisation)."""
    changed: set[Location] = set()
    new = set(session.new)  # the property builds a fresh set on every access
    deleted = set(session.deleted)  # a practitioner or certification removed
    for obj in [*new, *session.dirty, *deleted]:
        if isinstance(obj, Location) and obj not in deleted and (
                obj in new or session.is_modified(obj)):
            changed.add(obj)
        elif isinstance(obj, Organization) and obj not in new and (
                sa.inspect(obj).attrs.name.history.has_changes()):
            changed.update(obj.locations)  # its name is part of every location's text
        elif isinstance(obj, Practitioner):  # names, credentials, languages are searched
            changed.update(obj.locations)
            changed.update(sa.inspect(obj).attrs.locations.history.deleted or ())
        elif isinstance(obj, Certification) and obj.practitioner is not None:
            changed.update(obj.practitioner.locations)  # "certified" is a filter
    if not changed:
        return
    _lock_change_order(session)
    for location in changed:
        session.add(IndexChange(location=location))


def record_change(session: orm.Session, location_id: int) -> None:
    """Record that a location changed through a statement that bypassed the ORM (whose flush
    records changes by itself), in the caller's transaction."""
    _lock_change_order(session)
    session.add(IndexChange(location_id=location_id))


def insert_locations(session: orm.Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert new locations in bulk, with their IndexChange rows; return their ids in order.
    Each row has a distinct ``external_id``.

    A bulk insert skips the unit of work, which is what makes it fast (large imports), and
    also skips the hook above: so the changes are recorded here, in the same transaction.
    """
    if not rows:
        return []
    _lock_change_order(session)
    connection = session.connection()
    table = cast(sa.Table, Location.__table__)
    if connection.dialect.name == "postgresql":
        # COPY, with ids drawn from the table's sequence first: 1.7 s where the inserts
        # it replaces took 4.2 s for 20k listings (a large import's slowest step after its
        # checks).
        ids = sorted(connection.scalars(sa.text(
            "SELECT nextval(pg_get_serial_sequence('location', 'id')) "
            "FROM generate_series(1, :count)"), {"count": len(rows)}))
        copy_insert(connection, table, [{"id": i, **row} for i, row in zip(ids, rows,
                                                                             strict=True)])
        copy_insert(connection, cast(sa.Table, IndexChange.__table__),
                    [{"location_id": i} for i in ids])
        return ids
    # One executemany of one statement (every row has the same columns), then the new ids
    # in one query by their external ids: asking for them with RETURNING makes SQLAlchemy
    # render a statement per batch, which costs more than the inserts.
    connection.execute(sa.insert(table), rows)
    inserted = {external_id: location_id for external_id, location_id in session.execute(
        sa.select(Location.external_id, Location.id)
        .where(Location.external_id.in_([row["external_id"] for row in rows])))}
    ids = [inserted[row["external_id"]] for row in rows]
    session.execute(sa.insert(IndexChange), [{"location_id": i} for i in ids])
    return ids


def _lock_change_order(session: orm.Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # Serialise writers until commit, so change numbers become visible in order and the
        # index's "applied up to seq N" never skips a change committed late. (SQLite writers
        # are serialised already.)
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                        {"key": _CHANGE_ORDER_LOCK})
