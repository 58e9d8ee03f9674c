"""Windows and freezes in real time zones: boundaries, overnight windows and daylight saving."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollguard.governance.schedule import (
    DAYS,
    Freeze,
    ScheduleError,
    Window,
    local_time,
    parse_freeze,
    parse_window,
)

UTC = dt.timezone.utc
OFFICE = parse_window(
    {"days": ["mon", "tue", "wed", "thu"], "from": "09:00", "to": "16:00", "timezone": "Europe/Berlin"}
)


def ns(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp()) * 1_000_000_000


def is_open(window: Window, when: str) -> bool:
    now = dt.datetime.fromisoformat(when)
    moment = ns(when)
    return any(start <= moment < end for start, end in window.intervals(now))


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-11-24T07:59:59+00:00", False),  # Tuesday 08:59:59 CET
        ("2026-11-24T08:00:00+00:00", True),  # 09:00 CET opens
        ("2026-11-24T14:59:59+00:00", True),
        ("2026-11-24T15:00:00+00:00", False),  # 16:00 CET closes
        ("2026-11-27T10:00:00+00:00", False),  # Friday
        ("2026-11-28T10:00:00+00:00", False),  # Saturday
    ],
)
def test_window_boundaries_in_winter(when: str, expected: bool) -> None:
    assert is_open(OFFICE, when) is expected


def test_window_follows_daylight_saving_in_berlin() -> None:
    # Summer time starts on Sunday 2026-03-29: 09:00 in Berlin is 08:00 UTC before, 07:00 UTC after.
    assert not is_open(OFFICE, "2026-03-26T07:30:00+00:00")  # Thursday, 08:30 CET
    assert is_open(OFFICE, "2026-03-30T07:30:00+00:00")  # Monday, 09:30 CEST
    assert not is_open(OFFICE, "2026-03-30T14:30:00+00:00")  # Monday, 16:30 CEST
    # ... and ends on Sunday 2026-10-25.
    assert not is_open(OFFICE, "2026-10-22T14:30:00+00:00")  # Thursday, 16:30 CEST
    assert is_open(OFFICE, "2026-10-26T14:30:00+00:00")  # Monday, 15:30 CET: the same UTC time, now open


def test_window_across_the_spring_gap() -> None:
    # 02:00-03:00 does not exist in Berlin on 2026-03-29: the window 01:00-04:00 lasts two hours that night.
    night = parse_window({"days": ["sun"], "from": "01:00", "to": "04:00", "timezone": "Europe/Berlin"})
    now = dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    [interval] = [i for i in night.intervals(now) if i[0] <= ns("2026-03-29T01:00:00+00:00") < i[1]]
    assert interval == (ns("2026-03-29T00:00:00+00:00"), ns("2026-03-29T02:00:00+00:00"))


def test_overnight_window_closes_the_next_day() -> None:
    late = parse_window({"days": ["fri"], "from": "22:00", "to": "02:00"})
    assert late.overnight
    assert not is_open(late, "2026-11-27T21:59:00+00:00")
    assert is_open(late, "2026-11-27T22:00:00+00:00")  # Friday 22:00
    assert is_open(late, "2026-11-28T01:59:59+00:00")  # Saturday, still Friday's window
    assert not is_open(late, "2026-11-28T02:00:00+00:00")
    assert not is_open(late, "2026-11-28T23:00:00+00:00")  # Saturday night: not a listed day


def test_window_to_midnight() -> None:
    evening = parse_window({"days": ["sat"], "from": "18:00", "to": "24:00", "timezone": "UTC"})
    assert not evening.overnight
    assert is_open(evening, "2026-11-28T23:59:59+00:00")
    assert not is_open(evening, "2026-11-29T00:00:00+00:00")


def test_freeze_covers_whole_local_days() -> None:
    freeze = parse_freeze(
        {"from": "2026-12-20", "to": "2027-01-04", "reason": "year-end freeze", "timezone": "Europe/Berlin"}
    )
    start, end = freeze.interval()
    assert start == ns("2026-12-19T23:00:00+00:00")  # midnight in Berlin
    assert end == ns("2027-01-04T23:00:00+00:00")  # the end of 2027-01-04 in Berlin
    context = freeze.to_context(dt.datetime(2026, 12, 22, 10, tzinfo=UTC))
    assert context == {
        "from": "2026-12-20",
        "to": "2027-01-04",
        "reason": "year-end freeze",
        "timezone": "Europe/Berlin",
        "local_time": "Tue 2026-12-22 11:00 CET",
        "start_ns": start,
        "end_ns": end,
    }


def test_freeze_over_a_daylight_saving_change() -> None:
    freeze = Freeze(first=dt.date(2026, 3, 28), last=dt.date(2026, 3, 29), reason="migration", timezone="Europe/Berlin")
    start, end = freeze.interval()
    assert start == ns("2026-03-27T23:00:00+00:00") and end == ns("2026-03-29T22:00:00+00:00")
    assert (end - start) // 1_000_000_000 == 47 * 3600  # two local days, one an hour short


def test_window_context() -> None:
    context = OFFICE.to_context(dt.datetime(2026, 11, 28, 10, tzinfo=UTC))
    assert context["display"] == "mon,tue,wed,thu 09:00-16:00 Europe/Berlin"
    assert context["local_time"] == "Sat 2026-11-28 11:00 CET"
    assert (context["from"], context["to"], context["days"]) == ("09:00", "16:00", ["mon", "tue", "wed", "thu"])
    # Mon-Thu of the week before and of the week after, each 7 hours.
    assert len(context["open_ns"]) == 8
    assert all(end - start == 7 * 3600 * 1_000_000_000 for start, end in context["open_ns"])


def test_local_time_names_the_zone_abbreviation() -> None:
    assert local_time(dt.datetime(2026, 7, 1, 12, tzinfo=UTC), "Europe/Berlin") == "Wed 2026-07-01 14:00 CEST"
    assert local_time(dt.datetime(2026, 7, 1, 12, tzinfo=UTC), "America/New_York") == "Wed 2026-07-01 08:00 EDT"


def test_errors_name_the_key() -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_window({"from": "24:00", "to": "01:00"})
    assert (caught.value.key, caught.value.message) == ("from", "'24:00' cannot open a window; use 00:00")
    with pytest.raises(ScheduleError) as caught:
        parse_window({"from": 900, "to": "10:00"})
    assert caught.value.key == "from"


clock = st.tuples(st.integers(0, 23), st.integers(0, 59)).map(lambda t: f"{t[0]:02d}:{t[1]:02d}")


@given(
    days=st.lists(st.sampled_from(DAYS), min_size=1, unique=True),
    start=clock,
    end=clock,
    moment=st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2090, 1, 1), timezones=st.just(UTC)),
)
def test_open_means_inside_the_window_by_the_local_clock(
    days: list[str], start: str, end: str, moment: dt.datetime
) -> None:
    """A window read by the wall clock in its zone agrees with the UTC intervals it produces."""
    if start == end:
        with pytest.raises(ScheduleError):
            parse_window({"days": days, "from": start, "to": end})
        return
    window = parse_window({"days": days, "from": start, "to": end, "timezone": "Europe/Berlin"})
    moment = moment.replace(microsecond=0)
    local = moment.astimezone(zoneinfo.ZoneInfo("Europe/Berlin"))
    minute = local.hour * 60 + local.minute
    day = DAYS[local.weekday()]
    yesterday = DAYS[(local.weekday() - 1) % 7]
    if window.overnight:
        expected = (day in window.days and minute >= window.start) or (yesterday in window.days and minute < window.end)
    else:
        expected = day in window.days and window.start <= minute < window.end
    opened = any(s <= ns(moment.isoformat()) < e for s, e in window.intervals(moment))
    # Wall-clock reading is ambiguous only in the hour a daylight-saving change repeats or skips.
    transition = (
        local.utcoffset() != (local - dt.timedelta(hours=3)).utcoffset()
        or local.utcoffset() != (local + dt.timedelta(hours=3)).utcoffset()
    )
    if not transition:
        assert opened is expected
