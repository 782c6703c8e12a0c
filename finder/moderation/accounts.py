"""Operators' accounts: created with a checked e-mail and a hashed password, and
authenticated in about the same time whether or not the e-mail has an account."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import limits
import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from limits.strategies import RateLimiter
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ..errors import InvalidInput
from .models import Account, Role

logger = logging.getLogger(__name__)
MIN_PASSWORD_LENGTH = 12
FAILURES_PER_EMAIL = limits.parse("5/15minutes")
FAILURES_PER_ADDRESS = limits.parse("20/15minutes")


def normalised_email(email: str) -> str:
    """Return the form an e-mail is stored and looked up in: checked and lower case, or
    (when it is not an address at all) just trimmed and lower case."""
    try:
        email = validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        pass
    return email.strip().lower()


def new_email(session: Session, email: str) -> str:
    """Return ``email`` as it would be stored for a new account; refuse a bad or taken one."""
    try:
        address = validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise InvalidInput(f"{email!r} is not a valid e-mail address: {exc}") from exc
    if find_account(session, address) is not None:
        raise InvalidInput(f"An account with the e-mail {address} already exists.")
    return address


def create_account(session: Session, email: str, password: str, role: Role | str) -> Account:
    """Add an account with a modern password hash (scrypt); refuse a bad or taken e-mail, a
    short password or an unknown role."""
    address = new_email(session, email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    try:
        role = Role(role)
    except ValueError as exc:
        choices = ", ".join(item.value for item in Role)
        raise InvalidInput(f"{role!r} is not a role; choose one of {choices}.") from exc
    account = Account(email=address, password_hash=generate_password_hash(password), role=role)
    session.add(account)
    session.flush()
    return account


def find_account(session: Session, email: str) -> Account | None:
    """Return the account of an e-mail, in any case."""
    return session.scalars(
        sa.select(Account).where(sa.func.lower(Account.email) == normalised_email(email))
    ).first()


@cache
def _stand_in_hash() -> str:
    """A hash to check passwords against when the e-mail has no account, made once."""
    return generate_password_hash("no account has this password")


def authenticate(session: Session, email: str, password: str) -> Account | None:
    """Return the account whose e-mail and password these are, and note the time of login;
    None otherwise."""
    account = find_account(session, email)
    # A password is checked against a hash even for an unknown e-mail, so the time taken
    # does not tell whether the e-mail has an account.
    matches = check_password_hash(account.password_hash if account else _stand_in_hash(),
                                  password)
    if account is None or not matches:
        return None
    account.last_login_at = datetime.now(UTC)
    return account


def list_accounts(session: Session) -> list[Account]:
    """Return every account, oldest first."""
    return list(session.scalars(sa.select(Account).order_by(Account.id)))


@dataclass(frozen=True)
class Refusal:
    """A login refused for too many failures: by which limit, and for how many minutes."""

    item: limits.RateLimitItem
    identifiers: tuple[str, ...]
    minutes: int


class LoginAttempts:
    """Failed logins counted per e-mail and per client address, in fixed 15-minute windows
    of the app's rate-limit storage (so every worker and server shares them).

    If the storage (Redis) does not answer, logins go on uncounted and the failure is
    logged, as the site's own rate limits do: operators can still log in while it is down.
    """

    def __init__(self, counter: RateLimiter) -> None:
        self.counter = counter

    def _limits(self, email: str, address: str) -> list[tuple[limits.RateLimitItem, str, str]]:
        return [(FAILURES_PER_EMAIL, "login-email", normalised_email(email)),
                (FAILURES_PER_ADDRESS, "login-address", address)]

    def refusal(self, email: str, address: str) -> Refusal | None:
        """Return the limit that refuses this e-mail or address another try now, with the
        minutes until it lets them try again; None when they may try."""
        try:
            for item, *identifiers in self._limits(email, address):
                if not self.counter.test(item, *identifiers):
                    reset = self.counter.get_window_stats(item, *identifiers).reset_time
                    return Refusal(item, tuple(identifiers),
                                   max(1, math.ceil((reset - time.time()) / 60)))
        except Exception as exc:  # the storage's own errors (redis.ConnectionError, ...)
            logger.warning("login attempts not checked: %s", exc)
        return None

    def failed(self, email: str, address: str) -> None:
        """Count a failed attempt against the e-mail and the address."""
        try:
            for item, *identifiers in self._limits(email, address):
                self.counter.hit(item, *identifiers)
        except Exception as exc:
            logger.warning("failed login not counted: %s", exc)

    def succeeded(self, email: str) -> None:
        """Forget the e-mail's failures. The address's stay: one good login of one's own
        account must not buy more guesses at others'."""
        try:
            self.counter.clear(FAILURES_PER_EMAIL, "login-email", normalised_email(email))
        except Exception as exc:
            logger.warning("login failures not cleared: %s", exc)
