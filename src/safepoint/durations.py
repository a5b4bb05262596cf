"""Durations as restic writes them (``2y5m7d3h``), for ``--keep-within`` and ``[retention]``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from safepoint.errors import ConfigError

_DURATION = re.compile(r"(\d+)([ymdh])")


@dataclass(frozen=True)
class Duration:
    """``2y5m7d3h``: calendar years, months and days, then hours (restic's ``--keep-within``)."""

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0
    text: str = ""

    def before(self, t: datetime) -> datetime:
        """``t`` minus this duration (months and years by the calendar, clamped to the month's
        last day: 31 March minus 1m is 28 or 29 February)."""
        month0 = t.month - 1 - self.months
        year = t.year - self.years + month0 // 12
        month = month0 % 12 + 1
        try:
            day = min(t.day, _month_days(year, month))
            return t.replace(year=year, month=month, day=day) - timedelta(
                days=self.days, hours=self.hours
            )
        except (ValueError, OverflowError):  # before year 1: everything is within
            return datetime.min.replace(tzinfo=t.tzinfo)


def _month_days(year: int, month: int) -> int:
    following = datetime(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def parse_duration(text: str) -> Duration:
    """``2y5m7d3h`` (any of the parts, in this order, each at most once); ConfigError (a
    UsageError: exit 2) else."""
    parts = _DURATION.findall(text)
    units = [u for _, u in parts]
    if (
        not text
        or "".join(n + u for n, u in parts) != text
        or units != sorted(set(units), key="ymdh".index)
    ):
        raise ConfigError(
            f"unknown duration {text!r}: use years, months, days and hours as in 2y5m7d3h "
            "(e.g. 7d, 12h, 1y6m)"
        )
    got = {u: int(n) for n, u in parts}
    limits = {"y": 1000, "m": 12_000, "d": 365_000, "h": 8_760_000}
    if any(int(n) > limits[u] for n, u in parts):
        raise ConfigError(f"duration {text!r}: at most 1000 years in each part")
    return Duration(got.get("y", 0), got.get("m", 0), got.get("d", 0), got.get("h", 0), text)
