"""Re-verification: how old a listing's details may grow, and what happens as they age.

A listing's clock starts on the day it was last verified (or, never verified, the day it was
added). Within ``every_days`` it is *current*; in the last ``reminder_days`` of that period it
is *due*, and its owner is asked whether it is still correct; past the period it is *stale*:
patients see a notice and it ranks lower (``STALE_FRESHNESS``); past ``unpublish_after_days``
it is unpublished, never deleted, until its owner confirms it. Patients' reports can make a
listing stale at once (``Location.flagged_at``). One confirmation starts the clock again.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from ..errors import ConfigError

# A stale listing's score counts this much of a current one's: it still shows, lower down.
STALE_FRESHNESS = 0.5
# The verification day a search index holds for a listing patients' reports flagged: one
# older than any period, so it is stale whatever the day.
FLAGGED = 0


class State(enum.StrEnum):
    CURRENT = "current"
    DUE = "due"
    STALE = "stale"
    UNPUBLISHED = "unpublished"


@dataclass(frozen=True)
class Policy:
    every_days: int = 90
    reminder_days: int = 14
    unpublish_after_days: int = 180  # 0: never unpublish

    def __post_init__(self) -> None:
        if not 0 < self.reminder_days < self.every_days:
            raise ConfigError(
                f"FINDER_VERIFY_REMINDER_DAYS={self.reminder_days} must be fewer than "
                f"FINDER_VERIFY_EVERY_DAYS={self.every_days}: owners are asked before a "
                "listing goes stale.")
        if 0 < self.unpublish_after_days <= self.every_days:
            raise ConfigError(
                f"FINDER_UNPUBLISH_AFTER_DAYS={self.unpublish_after_days} must be more than "
                f"FINDER_VERIFY_EVERY_DAYS={self.every_days} (or 0: never): a listing is "
                "stale for a while before it is hidden.")

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> Policy:
        return cls(config["VERIFY_EVERY_DAYS"], config["VERIFY_REMINDER_DAYS"],
                   config["UNPUBLISH_AFTER_DAYS"])

    def state(self, verified_on: date, flagged: bool, today: date) -> State:
        """The state of a published listing verified on ``verified_on``."""
        if flagged or verified_on < self.stale_before(today):
            return State.STALE
        if verified_on < self.due_before(today):
            return State.DUE
        return State.CURRENT

    def state_of(self, location: Any, today: date) -> State:
        """The state of a published listing (a Location, or a row with its ``last_verified``,
        ``created_at`` and ``flagged_at``)."""
        return self.state(verified_on(location.last_verified, location.created_at),
                          location.flagged_at is not None, today)

    def stale_before(self, today: date) -> date:
        """Listings last verified before this day are stale."""
        return today - timedelta(days=self.every_days)

    def due_before(self, today: date) -> date:
        """Listings last verified before this day are due (or stale)."""
        return today - timedelta(days=self.every_days - self.reminder_days)

    def stale_from(self, verified_on: date) -> date:
        """The first day a listing verified on ``verified_on`` is stale."""
        return verified_on + timedelta(days=self.every_days + 1)

    def hidden_from(self, verified_on: date) -> date | None:
        """The first day a listing verified on ``verified_on`` is unpublished (None: never)."""
        if not self.unpublish_after_days:
            return None
        return verified_on + timedelta(days=self.unpublish_after_days + 1)

    def unpublish_before(self, today: date) -> date | None:
        """Listings last verified before this day are unpublished (None: none is)."""
        if not self.unpublish_after_days:
            return None
        return today - timedelta(days=self.unpublish_after_days)

    def freshness(self, verified_on: np.ndarray, today: date) -> np.ndarray:
        """The ranking factor of listings by their indexed verification days (ordinals)."""
        fresh = verified_on >= self.stale_before(today).toordinal()
        factor: np.ndarray = np.where(fresh, 1.0, STALE_FRESHNESS)
        return factor


def verified_on(last_verified: date | None, created_at: datetime) -> date:
    """The day a listing's clock starts: its last verification, else the day it was added."""
    return last_verified or created_at.astimezone(UTC).date()


def indexed_day(last_verified: date | None, created_at: datetime,
                flagged_at: datetime | None) -> int:
    """The verification day a search index holds for a listing, as an ordinal."""
    return FLAGGED if flagged_at is not None else verified_on(last_verified,
                                                              created_at).toordinal()


def today() -> date:
    return datetime.now(UTC).date()
