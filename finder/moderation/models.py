"""The operators' accounts, and the listings they said are not duplicates."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, string_enum, utcnow


class Role(enum.StrEnum):
    MODERATOR = "moderator"
    ADMIN = "admin"


class Account(Base):
    """A moderator or an admin; the password is kept only as a modern hash."""

    __tablename__ = "account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[Role] = mapped_column(string_enum(Role))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]


class DistinctPair(Base):
    """Two listings a moderator said are not duplicates: never proposed as such again.
    Stored with the lower id first."""

    __tablename__ = "distinct_pair"

    first_id: Mapped[int] = mapped_column(sa.ForeignKey("location.id"), primary_key=True)
    second_id: Mapped[int] = mapped_column(sa.ForeignKey("location.id"), primary_key=True)
    marked_by: Mapped[int | None] = mapped_column(sa.ForeignKey("account.id"))
    marked_at: Mapped[datetime] = mapped_column(default=utcnow)
