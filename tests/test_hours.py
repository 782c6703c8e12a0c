"""Weekly opening hours: parsing, formatting, round trips and "open now" in local time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from finder import hours
from finder.hours import (
    DAYS,
    clock,
    format_hours,
    is_open,
    next_opening,
    parse,
    status,
    to_text,
    week,
    when,
)

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
OFFICE = [["08:00", "18:00"]]


# -- parse -----------------------------------------------------------------------------------


def test_parse_weekdays_and_saturday() -> None:
    assert parse("Mon-Fri 08:00-18:00; Sat 09:00-13:00") == {
        **{day: OFFICE for day in WEEKDAYS}, "sat": [["09:00", "13:00"]],
    }


@pytest.mark.parametrize("text", ["Sun closed", "Sun Closed", "sunday CLOSED", " Sun closed ; "])
def test_closed_day_has_no_opening_spans(text: str) -> None:
    assert parse(text) == {"sun": []}


@pytest.mark.parametrize(
    "text",
    [
        "Mon 08:00-12:00, 13:00-17:00",
        "Mon 08:00-12:00,13:00-17:00",
        "Mon 13:00-17:00, 08:00-12:00",
        "mon 8-12; mon 13-17",
        "Mon 13-17; Mon 8:00-12",
    ],
)
def test_several_ranges_in_a_day_are_kept_in_time_order(text: str) -> None:
    assert parse(text) == {"mon": [["08:00", "12:00"], ["13:00", "17:00"]]}


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("Mon,Wed,Fri 09:00-17:00", ["mon", "wed", "fri"]),
        ("Mon, Wed, Fri 09:00-17:00", ["mon", "wed", "fri"]),
        ("Mon-Tue, Thu 09:00-17:00", ["mon", "tue", "thu"]),
        ("Monday-Friday 09:00-17:00", WEEKDAYS),
        ("Mon - Fri 09:00-17:00", WEEKDAYS),
        ("Mo-Fr 09:00-17:00", WEEKDAYS),
        ("Tuesday 09:00-17:00", ["tue"]),
        ("Tues 09:00-17:00", ["tue"]),
        ("Tue. 09:00-17:00", ["tue"]),
        ("Thurs 09:00-17:00", ["thu"]),
        ("WEDNESDAY 09:00-17:00", ["wed"]),
        ("Saturday-Sunday 09:00-17:00", ["sat", "sun"]),
        ("Mon-Sun 09:00-17:00", list(DAYS)),
    ],
)
def test_day_lists_ranges_and_spellings(text: str, days: list[str]) -> None:
    assert parse(text) == {day: [["09:00", "17:00"]] for day in days}


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("Fri-Mon 10:00-14:00", ["mon", "fri", "sat", "sun"]),
        ("Sat-Mon 10:00-14:00", ["mon", "sat", "sun"]),
        ("Sun-Tue 10:00-14:00", ["mon", "tue", "sun"]),
        ("Tue-Mon 10:00-14:00", list(DAYS)),
    ],
)
def test_day_range_wraps_around_the_weekend(text: str, days: list[str]) -> None:
    hours = parse(text)
    assert list(hours) == days  # in week order
    assert all(spans == [["10:00", "14:00"]] for spans in hours.values())


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("Mon 9-17", ["09:00", "17:00"]),
        ("Mon 8:30-17", ["08:30", "17:00"]),
        ("Mon 08:30 - 17:15", ["08:30", "17:15"]),
        ("Mon 00:00-24:00", ["00:00", "24:00"]),
        ("Mon 20:00-24:00", ["20:00", "24:00"]),
    ],
)
def test_times_are_normalised_to_hh_mm(text: str, span: list[str]) -> None:
    assert parse(text) == {"mon": [span]}


def test_later_closed_clause_overrides_earlier_hours() -> None:
    hours = parse("Mon-Fri 09:00-17:00; Wed closed")
    assert hours["wed"] == []
    assert hours["tue"] == hours["thu"] == [["09:00", "17:00"]]


@pytest.mark.parametrize("text", ["", "   ", ";", " ; ; "])
def test_empty_hours_parse_to_nothing(text: str) -> None:
    assert parse(text) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Funday 09:00-17:00", "'Funday' is not a day of the week"),
        ("Mon-Funday 09:00-17:00", "'Funday' is not a day of the week"),
        ("Mon- 09:00-17:00", "'' is not a day of the week"),
        ("Mon 25:00-26:00", "25:00 is not a time of day"),
        ("Mon 9:60-10:00", "9:60 is not a time of day"),
        ("Mon 24:30-24:45", "24:30 is not a time of day"),
        ("Mon 00:00-24:01", "24:01 is not a time of day"),
        ("Mon 18:00-08:00", "'18:00-08:00' closes before it opens"),
        ("Mon 09:00-09:00", "'09:00-09:00' closes before it opens"),
        ("Mon 24:00-24:00", "closes before it opens"),
        ("Mon 9-17-18", "'9-17-18' is not a time range like 08:00-18:00"),
        ("Mon 09:00-17:00,", "'' is not a time range"),
        ("Mon", "'Mon' is not like 'Mon-Fri 08:00-18:00'"),
        ("08:00-18:00", "'08:00-18:00' is not like"),
        ("Mon-Fri", "'Mon-Fri' is not like"),
        ("Mon 9:00 to 17:00", "'Mon 9:00 to 17:00' is not like"),
        ("Mon-Fri 08:00-18:00; Sat", "'Sat' is not like"),
        ("Mon open", "'Mon open' is not like"),
    ],
)
def test_bad_hours_raise_a_readable_value_error(text: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse(text)
    assert message in str(raised.value)


# -- format_hours and to_text ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "rows"),
    [
        ({}, []),
        (
            parse("Mon-Fri 08:00-18:00; Sat 09:00-13:00; Sun closed"),
            [("Mon-Fri", "08:00-18:00"), ("Sat", "09:00-13:00"), ("Sun", "Closed")],
        ),
        (
            parse("Mon-Tue 09:00-17:00; Thu-Fri 09:00-17:00"),
            [("Mon-Tue", "09:00-17:00"), ("Thu-Fri", "09:00-17:00")],
        ),
        (
            parse("Mon 09:00-17:00; Tue 09:00-18:00; Wed 09:00-17:00"),
            [("Mon", "09:00-17:00"), ("Tue", "09:00-18:00"), ("Wed", "09:00-17:00")],
        ),
        (parse("Sat-Sun closed"), [("Sat-Sun", "Closed")]),
        (parse("Mon-Sun 00:00-24:00"), [("Mon-Sun", "00:00-24:00")]),
        (
            parse("Mon-Wed 08:00-12:00, 13:00-17:00"),
            [("Mon-Wed", "08:00-12:00, 13:00-17:00")],
        ),
        (parse("Fri-Mon 10:00-14:00"), [("Mon", "10:00-14:00"), ("Fri-Sun", "10:00-14:00")]),
    ],
)
def test_format_hours_merges_runs_of_equal_days(
    hours: dict[str, Any], rows: list[tuple[str, str]]
) -> None:
    assert format_hours(hours) == rows


def test_to_text_writes_the_import_format() -> None:
    text = "Mon-Fri 08:00-18:00; Sat 09:00-13:00; Sun Closed"
    assert to_text(parse(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "Mon-Fri 08:00-18:00; Sat 09:00-13:00",
        "Sun closed",
        "Mon 8-12, 13-17; Tue-Thu 7:30-19",
        "Mon,Wed,Fri 09:00-17:00; Sat-Sun closed",
        "Fri-Mon 10:00-14:00",
        "Monday-Sunday 00:00-24:00",
        "Mon-Fri 09:00-17:00; Wed closed",
        "",
    ],
)
def test_to_text_round_trips_through_parse(text: str) -> None:
    hours = parse(text)
    assert parse(to_text(hours)) == hours


# -- is_open ---------------------------------------------------------------------------------


def utc(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


CLINIC = parse("Mon-Fri 08:00-18:00; Sat 09:00-13:00; Sun closed")


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        # Winter: Los Angeles is UTC-8. 2025-01-06 is a Monday.
        (utc(2025, 1, 6, 15, 59), False),  # 07:59 Monday
        (utc(2025, 1, 6, 16, 0), True),  # 08:00 opens
        (utc(2025, 1, 6, 17, 0), True),  # 09:00
        (utc(2025, 1, 7, 1, 0), True),  # Tuesday in UTC, still Monday 17:00 in LA
        (utc(2025, 1, 7, 1, 59), True),  # 17:59
        (utc(2025, 1, 7, 2, 0), False),  # 18:00 closes
        # Summer: daylight time, UTC-7. 2025-07-07 is a Monday.
        (utc(2025, 7, 7, 15, 0), True),  # 08:00 PDT (07:00 if the offset were winter's)
        (utc(2025, 7, 7, 14, 59), False),  # 07:59 PDT
        (utc(2025, 7, 8, 0, 59), True),  # 17:59 PDT Monday
        (utc(2025, 7, 8, 1, 0), False),  # 18:00 PDT
        # Saturday 09:00-13:00 and closed Sunday. 2025-01-11 is a Saturday.
        (utc(2025, 1, 11, 20, 59), True),  # 12:59
        (utc(2025, 1, 11, 21, 0), False),  # 13:00
        (utc(2025, 1, 12, 19, 0), False),  # Sunday 11:00
    ],
)
def test_is_open_uses_the_clinics_own_timezone(at: datetime, expected: bool) -> None:
    assert is_open(CLINIC, "America/Los_Angeles", at) is expected


def test_is_open_accepts_any_aware_datetime() -> None:
    local = datetime(2025, 1, 6, 9, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
    tokyo = local.astimezone(ZoneInfo("Asia/Tokyo"))  # already Tuesday 02:00 in Tokyo
    assert is_open(CLINIC, "America/Los_Angeles", tokyo)
    assert not is_open(CLINIC, "Asia/Tokyo", tokyo)


def test_is_open_across_the_date_line() -> None:
    # Sunday 22:00 UTC is Monday 09:00 in Sydney (UTC+11 in January).
    sydney = parse("Mon 08:00-18:00")
    assert is_open(sydney, "Australia/Sydney", utc(2025, 1, 5, 22, 0))
    assert not is_open(sydney, "UTC", utc(2025, 1, 5, 22, 0))


@pytest.mark.parametrize("timezone", ["Mars/Olympus_Mons", "", "not a zone", "../etc/passwd"])
def test_unknown_timezone_is_never_open(timezone: str) -> None:
    always = parse("Mon-Sun 00:00-24:00")
    assert not is_open(always, timezone, utc(2025, 1, 6, 12, 0))


def test_day_without_hours_is_not_open() -> None:
    assert not is_open({}, "UTC", utc(2025, 1, 6, 12, 0))
    assert not is_open(parse("Tue 00:00-24:00"), "UTC", utc(2025, 1, 6, 12, 0))


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2025, 1, 6, 19, 59), False),
        (utc(2025, 1, 6, 20, 0), True),
        (utc(2025, 1, 6, 23, 59, 59), True),  # a 24:00 close includes the last minute
        (utc(2025, 1, 7, 0, 0), False),  # Tuesday has no hours
    ],
)
def test_closing_at_24_00_stays_open_until_midnight(at: datetime, expected: bool) -> None:
    assert is_open(parse("Mon 20:00-24:00"), "UTC", at) is expected


def test_open_around_the_clock_is_open_every_minute_of_the_week() -> None:
    always = parse("Mon-Sun 00:00-24:00")
    start = utc(2025, 1, 6, 0, 0)
    assert all(is_open(always, "Europe/London", start + timedelta(minutes=37 * i))
               for i in range(7 * 24 * 60 // 37))


# -- as patients read them ------------------------------------------------------------------

CHICAGO = ZoneInfo("America/Chicago")
WEEK = parse("Mon-Fri 08:00-18:00; Sat 09:00-12:30")


def chicago(day: int, hour: int, minute: int = 0) -> datetime:
    """Return an aware UTC datetime for 2026-11-<day> at a Chicago wall-clock time."""
    return datetime(2026, 11, day, hour, minute, tzinfo=CHICAGO).astimezone(UTC)


@pytest.mark.parametrize(("hhmm", "country", "shown"), [
    ("08:00", "US", "8 AM"), ("18:30", "US", "6:30 PM"), ("12:00", "CA", "noon"),
    ("00:00", "AU", "midnight"), ("24:00", "NZ", "midnight"), ("12:15", "US", "12:15 PM"),
    ("08:00", "GB", "08:00"), ("18:30", "DE", "18:30"),
])
def test_clock_follows_the_country(hhmm: str, country: str, shown: str) -> None:
    assert clock(hhmm, country) == shown


def test_week_lists_every_day_and_says_when_closed() -> None:
    assert week(WEEK, "US") == [("Mon–Fri", "8 AM–6 PM"), ("Sat", "9 AM–12:30 PM"),
                                ("Sun", "Closed")]
    assert week(parse("Tue 09:00-17:00"), "GB") == [
        ("Mon", "Closed"), ("Tue", "09:00–17:00"), ("Wed–Sun", "Closed")]


@pytest.mark.parametrize(("at", "expected"), [
    (chicago(2, 9), "Open now until 6 PM"),  # Monday morning
    (chicago(2, 19), "Closed now · opens tomorrow at 8 AM"),  # Monday evening
    (chicago(2, 6), "Closed now · opens today at 8 AM"),  # Monday before opening
    (chicago(7, 13), "Closed now · opens Monday at 8 AM"),  # Saturday after closing
    (chicago(7, 12, 29), "Open now until 12:30 PM"),
])
def test_status_says_until_when_or_when_next(at: datetime, expected: str) -> None:
    assert status(WEEK, "America/Chicago", "US", at) == expected


def test_status_of_a_place_never_open_and_of_unknown_hours() -> None:
    assert status({"mon": []}, "America/Chicago", "US", chicago(2, 9)) == "Closed"
    assert status({}, "America/Chicago", "US", chicago(2, 9)) == ""
    assert status(WEEK, "Mars/Olympus_Mons", "US", chicago(2, 9)) == ""  # nothing to say


def test_next_opening_is_local_and_after_the_moment() -> None:
    opening = next_opening(WEEK, "America/Chicago", chicago(6, 18, 0))  # Friday at closing
    assert opening is not None
    assert opening.isoformat() == "2026-11-07T09:00:00-06:00"
    assert when(opening, chicago(6, 18)) == "tomorrow"


# -- holiday hours ---------------------------------------------------------------------------

WORK_WEEK = {"mon": [["08:00", "18:00"]], "tue": [["08:00", "18:00"]], "wed": [["08:00", "18:00"]],
            "thu": [["08:00", "18:00"]], "fri": [["08:00", "18:00"]]}
CHRISTMAS = [{"date": "2026-12-25", "closed": True, "hours": [], "note": "Christmas"},
             {"date": "2026-12-24", "closed": False, "hours": [["08:00", "12:00"]], "note": ""}]


def test_a_holiday_replaces_its_weekday() -> None:
    assert hours.spans_on(WORK_WEEK, date(2026, 12, 25), CHRISTMAS) == []  # a Friday
    assert hours.spans_on(WORK_WEEK, date(2026, 12, 24), CHRISTMAS) == [["08:00", "12:00"]]
    assert hours.spans_on(WORK_WEEK, date(2026, 12, 23), CHRISTMAS) == [["08:00", "18:00"]]


def test_open_now_and_next_opening_follow_holiday_hours() -> None:
    chicago = ZoneInfo("America/Chicago")
    christmas_noon = datetime(2026, 12, 25, 12, 0, tzinfo=chicago)
    assert not hours.is_open(WORK_WEEK, "America/Chicago", christmas_noon, CHRISTMAS)
    assert hours.is_open(WORK_WEEK, "America/Chicago", christmas_noon)  # weekly hours alone
    eve = datetime(2026, 12, 24, 13, 0, tzinfo=chicago)
    assert not hours.is_open(WORK_WEEK, "America/Chicago", eve, CHRISTMAS)  # closed at noon
    opening = hours.next_opening(WORK_WEEK, "America/Chicago", eve, CHRISTMAS)
    assert opening == datetime(2026, 12, 28, 8, 0, tzinfo=chicago)  # Christmas, then a weekend
    assert hours.status(WORK_WEEK, "America/Chicago", "US", christmas_noon, CHRISTMAS) == (
        "Closed today (Christmas) · opens Monday at 8 AM")
    assert hours.status(WORK_WEEK, "America/Chicago", "US",
                        datetime(2026, 12, 24, 9, 0, tzinfo=chicago), CHRISTMAS) == (
        "Open now until noon")
