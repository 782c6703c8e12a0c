"""What clinics send: new listings, edits and claims waiting for a moderator, and the owner
links already used."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, Json, string_enum, utcnow


class Kind(enum.StrEnum):
    NEW = "new"  # a listing the directory does not have
    EDIT = "edit"  # an owner's change to a published listing
    CLAIM = "claim"  # someone asking to own an imported listing


class Decision(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CHANGES_REQUESTED = "changes_requested"
    MERGED = "merged"  # a duplicate folded into an existing listing


class Submission(Base):
    """A listing document (or a claim) waiting for a moderator; the published listing, if
    any, stays live meanwhile."""

    __tablename__ = "submission"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[Kind] = mapped_column(string_enum(Kind))
    location_id: Mapped[int | None] = mapped_column(sa.ForeignKey("location.id"), index=True)
    document: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    owner_email: Mapped[str] = mapped_column(sa.String(254))
    status: Mapped[Decision] = mapped_column(string_enum(Decision), default=Decision.PENDING,
                                             index=True)
    message: Mapped[str] = mapped_column(sa.Text, default="")  # to the owner, from a moderator
    note: Mapped[str] = mapped_column(sa.Text, default="")  # moderators' own, private
    # Listings a moderator said this is not a duplicate of: not proposed again.
    not_duplicates: Mapped[list[int]] = mapped_column(Json, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[int | None] = mapped_column(sa.ForeignKey("account.id"))


class UsedToken(Base):
    """An owner link already used: each works once."""

    __tablename__ = "used_token"

    token_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(default=utcnow)
