"""The retention policy as a pure function: a history of 60 checkpoints over 30 simulated days
(two a day, 09:00 and 15:00 UTC), with failed deploys, safety checkpoints, a pin and a label,
checked exactly against tables worked out by hand from the rules in README.md."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from safepoint.config import ConfigError, parse_duration
from safepoint.ops.retention import Policy, apply_policy
from safepoint.store.records import BAD, GOOD, SAFETY, Checkpoint, Marks

START = datetime(2026, 1, 5, 9, tzinfo=UTC)  # a Monday: ISO week 2 is Jan 5-11


def _at(text: str) -> datetime:
    return datetime.strptime(text, "%b %d %H").replace(year=2026, tzinfo=UTC)


def history() -> list[Checkpoint]:
    out = []
    for day in range(30):
        for hour in (0, 6):
            t = START + timedelta(days=day, hours=hour)
            out.append(
                Checkpoint(
                    id=f"{t:%m%d%H}".ljust(64, "0"),
                    created=t.isoformat(timespec="microseconds"),
                    kind="manual",
                    manifest="0" * 64,
                    files=1,
                    bytes=1,
                    new_bytes=1,
                )
            )
    by_time = {cp.created_at: i for i, cp in enumerate(out)}

    def change(when: str, **kw: object) -> None:
        i = by_time[_at(when)]
        out[i] = replace(out[i], **kw)  # type: ignore[arg-type]

    change("Feb 03 15", marks=Marks(health=BAD))  # two failed deploys, newest
    change("Feb 03 09", marks=Marks(health=BAD))
    change("Feb 02 15", marks=Marks(health=GOOD))
    change("Jan 20 09", marks=Marks(health=GOOD))
    change("Feb 01 15", kind=SAFETY)
    change("Jan 10 09", kind=SAFETY)
    change("Jan 06 09", marks=Marks(pinned=True))
    change("Jan 15 09", label="release")
    return out


def _protected(cps: list[Checkpoint]) -> dict[str, str]:
    """What ops/forget.protected gives for this history: head (the newest), the newest
    known-good, the pinned one."""
    find = {cp.created_at: cp.id for cp in cps}
    return {
        find[_at("Feb 03 15")]: "head",
        find[_at("Feb 02 15")]: "newest known-good",
        find[_at("Jan 06 09")]: "pinned",
    }


def _kept(policy: Policy) -> dict[str, list[str]]:
    cps = history()
    now = _at("Feb 03 16")
    verdicts = apply_policy(cps, policy, protected=_protected(cps), now=now, tz=UTC)
    assert len(verdicts) == 60
    return {f"{v.checkpoint.created_at:%b %d %H}": list(v.reasons) for v in verdicts if v.keep}


def test_quotas_skip_bad_and_safety_checkpoints_and_the_protected_stay() -> None:
    policy = Policy(
        last=3,
        daily=5,
        weekly=3,
        monthly=2,
        labels=("release",),
        safety_within=parse_duration("7d"),
    )
    assert _kept(policy) == {
        "Feb 03 15": ["head"],  # marked bad: counts for nothing, kept only as head
        "Feb 02 15": ["newest known-good", "last", "daily", "weekly", "monthly"],
        "Feb 02 09": ["last"],
        "Feb 01 15": ["safety within 7d"],  # safety: its own rule only
        "Feb 01 09": ["last", "daily", "weekly"],  # week 5's newest counted
        "Jan 31 15": ["daily", "monthly"],
        "Jan 30 15": ["daily"],
        "Jan 29 15": ["daily"],
        "Jan 25 15": ["weekly"],
        "Jan 15 09": ["label release"],
        "Jan 06 09": ["pinned"],
    }


def test_within_keeps_bad_ones_too_and_a_quota_left_over_keeps_the_oldest() -> None:
    policy = Policy(monthly=5, within=parse_duration("2d"), safety_within=parse_duration("1d"))
    assert _kept(policy) == {
        "Feb 03 15": ["head", "within 2d"],
        "Feb 03 09": ["within 2d"],  # bad, but within the window (not a quota)
        "Feb 02 15": ["newest known-good", "monthly", "within 2d"],
        "Feb 02 09": ["within 2d"],
        "Jan 31 15": ["monthly"],
        "Jan 06 09": ["pinned"],
        "Jan 05 09": ["oldest monthly"],  # restic: 3 months left, so the oldest stays
    }


def test_a_run_of_failed_deploys_never_pushes_the_last_good_one_out() -> None:
    cps = history()[:3]
    newest = cps[-1].created_at
    bad = [
        replace(
            cps[0],
            id=f"{i:064x}",
            created=(newest + timedelta(hours=i)).isoformat(),
            marks=Marks(health=BAD),
        )
        for i in range(1, 6)
    ]
    verdicts = apply_policy(bad + cps, Policy(last=2), protected={}, now=newest, tz=UTC)
    kept = [v.checkpoint.id for v in verdicts if v.keep]
    assert kept == [cps[2].id, cps[1].id]


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("2y5m7d3h", (2, 5, 7, 3)),
        ("7d", (0, 0, 7, 0)),
        ("12h", (0, 0, 0, 12)),
        ("1y", (1, 0, 0, 0)),
    ],
)
def test_durations(text: str, parts: tuple[int, int, int, int]) -> None:
    d = parse_duration(text)
    assert (d.years, d.months, d.days, d.hours) == parts


@pytest.mark.parametrize("text", ["", "7", "d", "3h2d", "1d1d", "7 d", "1w", "-1d", "99999y"])
def test_unknown_durations_are_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text)


def test_months_are_calendar_months_clamped_to_the_month_end() -> None:
    t = datetime(2026, 3, 31, 12, tzinfo=UTC)
    assert parse_duration("1m").before(t) == datetime(2026, 2, 28, 12, tzinfo=UTC)
    assert parse_duration("1y1m1d1h").before(t) == datetime(2025, 2, 27, 11, tzinfo=UTC)
