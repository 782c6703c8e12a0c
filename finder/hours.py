"""Weekly opening hours: parse "Mon-Fri 08:00-18:00; Sat 09:00-13:00", format, and "open now"."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = dict(zip(DAYS, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), strict=True))
_SPELLINGS = {
    "mon": ("mo", "monday"), "tue": ("tu", "tues", "tuesday"), "wed": ("we", "weds", "wednesday"),
    "thu": ("th", "thur", "thurs", "thursday"), "fri": ("fr", "friday"),
    "sat": ("sa", "saturday"), "sun": ("su", "sunday"),
}
_ALIASES = {alias: day for day, aliases in _SPELLINGS.items() for alias in (day, *aliases)}
_RANGE = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*-\s*(\d{1,2})(?::(\d{2}))?$")

Hours = dict[str, list[list[str]]]


def _day(name: str) -> str:
    day = _ALIASES.get(name.strip().lower().rstrip("."))
    if day is None:
        raise ValueError(f"{name.strip()!r} is not a day of the week (use Mon, Tue, ... Sun)")
    return day


def _days(spec: str) -> list[str]:
    days: list[str] = []
    for part in spec.split(","):
        if "-" in part:
            start, end = (DAYS.index(_day(p)) for p in part.split("-", 1))
            span = range(start, end + 1) if start <= end else [*range(start, 7), *range(end + 1)]
            days.extend(DAYS[i] for i in span)
        else:
            days.append(_day(part))
    return days


def _time(hour: str, minute: str | None) -> str:
    h, m = int(hour), int(minute or 0)
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
        raise ValueError(f"{hour}:{minute or '00'} is not a time of day")
    return f"{h:02d}:{m:02d}"


def parse(text: str) -> Hours:
    """Parse weekly hours; raise ValueError with a readable message on bad input."""
    return {day: [list(span) for span in spans] for day, spans in _parse(text)}


@lru_cache(maxsize=4096)
def _parse(text: str) -> tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]:
    # A directory's listings share a few opening hours: each distinct text is parsed once
    # (into tuples, so no caller can change the cached value).
    hours: Hours = {}
    for clause in filter(None, (c.strip() for c in text.split(";"))):
        # Split at the first digit or "closed" (no backtracking regex: cells can be long).
        start = re.search(r"\d|closed", clause, re.IGNORECASE)
        day_part = clause[:start.start()].strip() if start else ""
        time_part = clause[start.start():].strip() if start else ""
        if not day_part or not re.fullmatch(r"[A-Za-z.,\s-]+", day_part) or not re.fullmatch(
                r"closed|[\d:\s,-]+", time_part, re.IGNORECASE):
            raise ValueError(f"{clause[:60]!r} is not like 'Mon-Fri 08:00-18:00'")
        days = _days(day_part)
        if time_part.lower() == "closed":
            for day in days:
                hours[day] = []
            continue
        spans = []
        for span in time_part.split(","):
            times = _RANGE.match(span.strip())
            if not times:
                raise ValueError(f"{span.strip()!r} is not a time range like 08:00-18:00")
            opens, closes = _time(*times.group(1, 2)), _time(*times.group(3, 4))
            if closes <= opens:
                raise ValueError(f"{span.strip()!r} closes before it opens")
            spans.append([opens, closes])
        for day in days:
            hours.setdefault(day, []).extend(spans)
    return tuple((day, tuple(map(tuple, sorted(hours[day])))) for day in DAYS if day in hours)


def _runs(hours: dict[str, Any], every_day: bool, dash: str
          ) -> list[tuple[str, list[list[str]]]]:
    """Return (days, spans) for runs of consecutive days with equal hours ("Mon-Fri"); days
    without hours break a run, or count as closed days when ``every_day``."""
    rows: list[tuple[str, list[list[str]]]] = []
    run: list[str] = []
    for day in [*DAYS, None]:
        listed = day is not None and (every_day or day in hours)
        if run and (not listed or hours.get(day or "", []) != hours.get(run[0], [])):
            label = DAY_NAMES[run[0]] if len(run) == 1 else (
                f"{DAY_NAMES[run[0]]}{dash}{DAY_NAMES[run[-1]]}")
            rows.append((label, hours.get(run[0], [])))
            run = []
        if listed and day is not None:
            run.append(day)
    return rows


def format_hours(hours: dict[str, Any]) -> list[tuple[str, str]]:
    """Return (days, times) rows, runs of days with equal hours merged ("Mon-Fri")."""
    return [(days, ", ".join(f"{a}-{b}" for a, b in spans) if spans else "Closed")
            for days, spans in _runs(hours, every_day=False, dash="-")]


def to_text(hours: dict[str, Any]) -> str:
    """Return hours in the import format."""
    return _text(tuple((day, tuple(map(tuple, spans))) for day, spans in hours.items()))


@lru_cache(maxsize=4096)
def _text(hours: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]) -> str:
    # Formatted once per distinct week: a directory's listings share a few.
    return "; ".join(f"{days} {times}" for days, times in format_hours(dict(hours)))


# A location's dates with other hours: [{"date": "2026-12-25", "closed": true, "hours": [],
# "note": ""}, ...], as its listing holds them.
Holidays = Sequence[Mapping[str, Any]]


def spans_on(hours: dict[str, Any], day: date, holidays: Holidays = ()) -> list[list[str]]:
    """Return the opening spans of a local date: its holiday hours if it has any (none when
    closed), else its weekday's."""
    iso = day.isoformat()
    for holiday in holidays:
        if holiday["date"] == iso:
            return [] if holiday["closed"] else list(holiday["hours"])
    return list(hours.get(DAYS[day.weekday()], []))


def is_open(hours: dict[str, Any], timezone: str, at: datetime, holidays: Holidays = ()
            ) -> bool:
    """Return whether the location is open at the aware datetime ``at``, in its own timezone."""
    try:
        local = at.astimezone(ZoneInfo(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        return False
    now = local.strftime("%H:%M")
    return any(opens <= now < closes
               for opens, closes in spans_on(hours, local.date(), holidays))


# Countries whose people read times on a 12-hour clock ("8 AM"); elsewhere "08:00".
TWELVE_HOUR_COUNTRIES = frozenset({"US", "CA", "AU", "NZ", "PH", "IN", "PK", "EG", "SA"})
WEEKDAY_NAMES = dict(zip(DAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                                "Saturday", "Sunday"), strict=True))


def clock(hhmm: str, country: str) -> str:
    """Return a time of day as the country reads it: "8 AM", "6:30 PM" or "08:00"."""
    hour, minute = (int(part) for part in hhmm.split(":"))
    if country not in TWELVE_HOUR_COUNTRIES:
        return hhmm
    if hour in (0, 24) and not minute:
        return "midnight"
    if hour == 12 and not minute:
        return "noon"
    suffix = "AM" if hour % 24 < 12 else "PM"
    shown = hour % 12 or 12
    return f"{shown} {suffix}" if not minute else f"{shown}:{minute:02d} {suffix}"


def week(hours: dict[str, Any], country: str) -> list[tuple[str, str]]:
    """Return (days, times) for all seven days, as the country reads times, closed days said."""
    return [(days, ", ".join(f"{clock(a, country)}–{clock(b, country)}" for a, b in spans)
             or "Closed") for days, spans in _runs(hours, every_day=True, dash="–")]


def _local(timezone: str, at: datetime) -> datetime | None:
    try:
        return at.astimezone(ZoneInfo(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        return None


def next_opening(hours: dict[str, Any], timezone: str, at: datetime, holidays: Holidays = ()
                 ) -> datetime | None:
    """Return when the location next opens after ``at`` (local time), or None if never."""
    local = _local(timezone, at)
    if local is None:
        return None
    for ahead in range(8 + len(holidays)):  # a week, and any days closed for holidays
        day = local + timedelta(days=ahead)
        for opens, _closes in spans_on(hours, day.date(), holidays):
            hour, minute = (int(part) for part in opens.split(":"))
            start = day.replace(hour=hour % 24, minute=minute, second=0, microsecond=0)
            if start > local:
                return start
    return None


def closing_time(hours: dict[str, Any], timezone: str, at: datetime, holidays: Holidays = ()
                 ) -> str | None:
    """Return the "HH:MM" at which the location closes if it is open at ``at``."""
    local = _local(timezone, at)
    if local is None:
        return None
    now = local.strftime("%H:%M")
    for opens, closes in spans_on(hours, local.date(), holidays):
        if opens <= now < closes:
            return str(closes)
    return None


def when(moment: datetime, at: datetime) -> str:
    """Say a local moment relative to ``at``: "today", "tomorrow" or the weekday's name."""
    days = (moment.date() - at.astimezone(moment.tzinfo).date()).days
    if days == 0:
        return "today"
    if days == 1:
        return "tomorrow"
    return WEEKDAY_NAMES[DAYS[moment.weekday()]]


def status(hours: dict[str, Any], timezone: str, country: str, at: datetime,
           holidays: Holidays = ()) -> str:
    """Return "Open now until 6 PM", "Opens tomorrow at 8 AM" or "" when no hours are known;
    a date with holiday hours follows them."""
    local = _local(timezone, at)
    if not hours or local is None:
        return ""
    closes = closing_time(hours, timezone, at, holidays)
    if closes is not None:
        return f"Open now until {clock(closes, country)}"
    opening = next_opening(hours, timezone, at, holidays)
    today = next((h for h in holidays if h["date"] == local.date().isoformat()), None)
    if opening is not None and today is not None and today["closed"]:
        note = f" ({today['note']})" if today.get("note") else ""
        return (f"Closed today{note} · opens {when(opening, at)} at "
                f"{clock(opening.strftime('%H:%M'), country)}")
    if opening is None:
        return "Closed"
    return f"Closed now · opens {when(opening, at)} at {clock(opening.strftime('%H:%M'), country)}"
