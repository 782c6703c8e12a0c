"""The demo directory says that it is one: every page carries a notice while it holds demo
listings (``source = demo``, as ``finder demo`` loads them), so nobody mistakes them for
real clinics."""

from __future__ import annotations

import math
import threading
import time

import sqlalchemy as sa
from flask import Flask, current_app

from .db import get_session
from .models import Location, Source, Status

# The notice follows the directory within a minute, for one small query a minute per process;
# only pages ask (the JSON API renders no template).
CHECK_EVERY_SECONDS = 60.0


class DemoNotice:
    """Whether the directory holds published demo listings, rechecked once a minute."""

    def __init__(self, check_every: float = CHECK_EVERY_SECONDS) -> None:
        self.check_every = check_every
        self.checked_at = -math.inf
        self.holds_demo = False
        self._lock = threading.Lock()

    def expire(self) -> None:
        """Forget the last answer, so the next page asks the database again."""
        self.checked_at = -math.inf

    def __call__(self) -> bool:
        """Return True when the directory holds demo listings (as of the last check)."""
        now = time.monotonic()
        if now - self.checked_at >= self.check_every and self._lock.acquire(blocking=False):
            try:
                self.holds_demo = get_session().scalar(
                    sa.select(Location.id)
                    .where(Location.source == Source.DEMO, Location.status == Status.PUBLISHED)
                    .limit(1)) is not None
            except sa.exc.SQLAlchemyError as exc:  # an error page must still render
                get_session().rollback()
                current_app.logger.warning("demo listings not checked: %s", exc)
            finally:
                self.checked_at = now
                self._lock.release()
        return self.holds_demo


def get_demo_notice(app: Flask | None = None) -> DemoNotice:
    """Return the app's demo notice."""
    notice: DemoNotice = (app or current_app).extensions["finder.demo_notice"]
    return notice


def init_app(app: Flask) -> None:
    """Give templates ``demo_directory()``: only pages that show the notice ever ask."""
    notice = DemoNotice()
    app.extensions["finder.demo_notice"] = notice
    app.context_processor(lambda: {"demo_directory": notice})
