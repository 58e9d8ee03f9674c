"""Deployment windows and freezes of an environment, and the data the window policy compares.

Time-zone arithmetic happens here, not in Rego: a window becomes the UTC nanosecond intervals
in which it is open around the decision time, so the policy only compares `now_ns` with
numbers and behaves the same on every engine, across daylight-saving changes too.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^([01][0-9]|2[0-4]):([0-5][0-9])$")
_MINUTES_PER_DAY = 24 * 60
# Days on either side of the decision time for which a window's open intervals are listed:
# enough for any weekly window to show its previous and next opening.
_HORIZON_DAYS = 8


class ScheduleError(ValueError):
    """A window or freeze that cannot be used; `key` is the offending key below the entry."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


@dataclass(frozen=True)
class Window:
    """Weekly opening hours: on `days`, from `start` to `end` (minutes after local midnight).

    `end <= start` is an overnight window: it opens on the listed day and closes the next day.
    """

    days: tuple[str, ...]
    start: int
    end: int
    timezone: str = "UTC"

    @property
    def overnight(self) -> bool:
        """Whether the window closes on the day after it opens."""
        return self.end <= self.start

    def display(self) -> str:
        """`mon,tue 09:00-16:00 Europe/Berlin`."""
        return f"{','.join(self.days)} {_clock(self.start)}-{_clock(self.end)} {self.timezone}"

    def intervals(self, now: dt.datetime) -> list[tuple[int, int]]:
        """UTC nanosecond intervals [start, end) in which the window is open, around `now`."""
        zone = zoneinfo.ZoneInfo(self.timezone)
        today = now.astimezone(zone).date()
        found = []
        for offset in range(-_HORIZON_DAYS, _HORIZON_DAYS + 1):
            day = today + dt.timedelta(days=offset)
            if DAYS[day.weekday()] not in self.days:
                continue
            closes_on = day + dt.timedelta(days=1) if self.overnight else day
            found.append((_local_ns(day, self.start, zone), _local_ns(closes_on, self.end, zone)))
        return found

    def to_context(self, now: dt.datetime) -> dict[str, Any]:
        """The window as `data.rollguard.context.environment.windows[i]`."""
        return {
            "days": list(self.days),
            "from": _clock(self.start),
            "to": _clock(self.end),
            "timezone": self.timezone,
            "display": self.display(),
            "local_time": local_time(now, self.timezone),
            "open_ns": [list(i) for i in self.intervals(now)],
        }


@dataclass(frozen=True)
class Freeze:
    """No deployments from the start of `first` to the end of `last` (local days in `timezone`)."""

    first: dt.date
    last: dt.date
    reason: str
    timezone: str = "UTC"

    def interval(self) -> tuple[int, int]:
        """UTC nanoseconds [start, end) of the freeze."""
        zone = zoneinfo.ZoneInfo(self.timezone)
        return _local_ns(self.first, 0, zone), _local_ns(self.last + dt.timedelta(days=1), 0, zone)

    def to_context(self, now: dt.datetime) -> dict[str, Any]:
        """The freeze as `data.rollguard.context.environment.freezes[i]`."""
        start, end = self.interval()
        return {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "reason": self.reason,
            "timezone": self.timezone,
            "local_time": local_time(now, self.timezone),
            "start_ns": start,
            "end_ns": end,
        }


def local_time(now: dt.datetime, timezone: str) -> str:
    """`Sat 2026-11-28 11:00 CET`: the decision time as a clock in `timezone` shows it."""
    local = now.astimezone(zoneinfo.ZoneInfo(timezone))
    return f"{DAYS[local.weekday()].capitalize()} {local:%Y-%m-%d %H:%M} {local.tzname()}"


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _local_ns(day: dt.date, minutes: int, zone: zoneinfo.ZoneInfo) -> int:
    """UTC nanoseconds of `minutes` after local midnight of `day` (24:00 is the next midnight).

    A local time skipped by a daylight-saving change is read with the offset before the change.
    """
    wall = dt.datetime.combine(day, dt.time(0)) + dt.timedelta(minutes=minutes)
    return int(wall.replace(tzinfo=zone).timestamp()) * 1_000_000_000


def parse_timezone(value: Any) -> str:
    """A known IANA time-zone name, else ScheduleError."""
    if not isinstance(value, str) or not value:
        raise ScheduleError("timezone", f"{value!r} is not a time zone name (use an IANA name such as Europe/Berlin)")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            "timezone", f"{value!r} is not a known time zone (use an IANA name such as Europe/Berlin or UTC)"
        ) from None
    return value


def _minutes(key: str, value: Any) -> int:
    text = value if isinstance(value, str) else ""
    m = _TIME.match(text)
    minutes = int(m.group(1)) * 60 + int(m.group(2)) if m else -1
    if not m or minutes > _MINUTES_PER_DAY:
        raise ScheduleError(key, f"{value!r} is not a time of day (use HH:MM, 00:00 to 24:00)")
    return minutes


def parse_window(raw: Mapping[str, Any]) -> Window:
    """A window from its config entry; every problem names the key it is in."""
    days = raw.get("days") or list(DAYS)
    for i, day in enumerate(days):
        if not isinstance(day, str) or day.lower() not in DAYS:
            raise ScheduleError(f"days[{i}]", f"{day!r} is not a day (use {', '.join(DAYS)})")
    start = _minutes("from", raw.get("from"))
    end = _minutes("to", raw.get("to"))
    if start == _MINUTES_PER_DAY:
        raise ScheduleError("from", "'24:00' cannot open a window; use 00:00")
    if end == start:
        raise ScheduleError("to", f"{raw.get('to')!r} is the same time as `from`: the window would be empty")
    timezone = parse_timezone(raw.get("timezone", "UTC"))
    ordered = tuple(d for d in DAYS if d in {str(x).lower() for x in days})
    return Window(days=ordered, start=start, end=end, timezone=timezone)


def _date(key: str, value: Any) -> dt.date:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else dt.date.fromisoformat("")
    except ValueError:
        raise ScheduleError(key, f"{value!r} is not a real date (use YYYY-MM-DD)") from None


def parse_freeze(raw: Mapping[str, Any]) -> Freeze:
    """A freeze from its config entry; `to` may equal `from` (a one-day freeze) but not precede it."""
    first = _date("from", raw.get("from"))
    last = _date("to", raw.get("to"))
    if last < first:
        raise ScheduleError("to", f"{last.isoformat()} is before `from` ({first.isoformat()})")
    timezone = parse_timezone(raw.get("timezone", "UTC"))
    return Freeze(first=first, last=last, reason=str(raw.get("reason", "")), timezone=timezone)
