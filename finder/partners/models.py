"""The partners' tables: each partner's key, origins, defaults and theme, and its daily counts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, utcnow


class Partner(Base):
    """A site that embeds the search: its key works only from its origins."""

    __tablename__ = "partner"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    # Only a digest of the key is kept, so a copy of the database alone cannot use it.
    key_digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    key_hint: Mapped[str] = mapped_column(sa.String(16))  # the key's first characters
    origins: Mapped[list[str]] = mapped_column(default=list)
    defaults: Mapped[dict[str, Any]] = mapped_column(default=dict)
    theme: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rate_limit: Mapped[str] = mapped_column(sa.String(100), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PartnerDay(Base):
    """One partner's counts for one day (UTC)."""

    __tablename__ = "partner_day"

    partner_id: Mapped[int] = mapped_column(sa.ForeignKey("partner.id"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    searches: Mapped[int] = mapped_column(default=0)
    zero_results: Mapped[int] = mapped_column(default=0)
    clicks: Mapped[int] = mapped_column(default=0)
    profile_views: Mapped[int] = mapped_column(default=0)


class PartnerTerm(Base):
    """How often a keyword or a coarse area (a postcode prefix or a city, never a point)
    was searched through one partner on one day."""

    __tablename__ = "partner_term"

    partner_id: Mapped[int] = mapped_column(sa.ForeignKey("partner.id"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(10), primary_key=True)  # keyword | area
    value: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
