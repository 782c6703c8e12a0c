"""Patients' reports of wrong information, and the NPI registry's records of physical
therapists."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, string_enum, utcnow


class Problem(enum.StrEnum):
    """What a patient says is wrong with a listing."""

    PHONE = "phone"
    ADDRESS = "address"
    HOURS = "hours"
    CLOSED = "closed"
    NO_DRY_NEEDLING = "no_dry_needling"
    OTHER = "other"


class ReportStatus(enum.StrEnum):
    OPEN = "open"
    FIXED = "fixed"
    DISMISSED = "dismissed"


class PatientReport(Base):
    """A patient's report that a listing is wrong. Private: the note, the address and the
    reporter's fingerprint are shown only to moderators."""

    __tablename__ = "patient_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(sa.ForeignKey("location.id"), index=True)
    problem: Mapped[Problem] = mapped_column(string_enum(Problem))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    email: Mapped[str] = mapped_column(sa.String(254), default="")  # to tell the reporter
    # A keyed digest of the reporter's address, so that one person's repeated reports count
    # once ("independent reports"), without keeping the address.
    reporter: Mapped[str] = mapped_column(sa.String(64), default="")
    status: Mapped[ReportStatus] = mapped_column(string_enum(ReportStatus),
                                                 default=ReportStatus.OPEN, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[int | None] = mapped_column(sa.ForeignKey("account.id"))
    resolution: Mapped[str] = mapped_column(sa.Text, default="")  # to the reporter


class NppesRecord(Base):
    """One provider of the NPI registry's dissemination file that is a physical therapist or
    a physical therapy clinic: what ``finder nppes import`` keeps of it."""

    __tablename__ = "nppes_record"

    npi: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    entity_type: Mapped[int]  # 1: an individual, 2: an organisation
    name: Mapped[str] = mapped_column(sa.String(300))
    address_1: Mapped[str] = mapped_column(sa.String(200), default="")
    address_2: Mapped[str] = mapped_column(sa.String(200), default="")
    city: Mapped[str] = mapped_column(sa.String(100), default="")
    region: Mapped[str] = mapped_column(sa.String(100), default="")
    postcode: Mapped[str] = mapped_column(sa.String(20), default="")
    country: Mapped[str] = mapped_column(sa.String(2), default="US")
    phone: Mapped[str] = mapped_column(sa.String(40), default="")
    taxonomies: Mapped[list[str]] = mapped_column(default=list)
    deactivated_on: Mapped[date | None]
    reactivated_on: Mapped[date | None]
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
