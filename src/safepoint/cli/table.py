"""Tables that fit the terminal: whole columns are dropped, least important first, before any
is cut to "…"; only columns that allow it are ever cut (an id is never shown in part).

Cells are measured in terminal cells (a wide CJK character takes two); they must already be
printable (see output.printable): this module adds no escaping of its own.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

GAP = "  "
ELLIPSIS = "…"


@dataclass(frozen=True)
class Column:
    header: str
    drop: int | None = None  # dropped in this order (lowest first) when too wide; None: kept
    cut: bool = False  # may be cut to fit once nothing is left to drop
    right: bool = False  # numbers align right
    min_width: int = 8  # a cut column keeps at least this (or its header's) width


@dataclass(frozen=True)
class Section:
    """Rows under an optional title line (a separator between groups of rows)."""

    rows: Sequence[Sequence[str]]
    title: str | None = None


def cell_width(text: str) -> int:
    if text.isascii():  # one cell a character (controls are escaped before): most cells
        return len(text)
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, ending in "…" when it had to be shortened."""
    if cell_width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = cell_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + ELLIPSIS


def fit(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int | None
) -> tuple[list[int], list[int]]:
    """Which columns to show (indices) and how wide each is, so that a line fits in ``width``
    cells (None: no limit). Drops first, then cuts; a table that cannot fit even so is
    returned at its narrowest and lets the terminal wrap."""
    natural = [
        max([cell_width(c.header)] + [cell_width(r[i]) for r in rows])
        for i, c in enumerate(columns)
    ]
    shown = list(range(len(columns)))
    if width is None:
        return shown, natural

    def total(widths: list[int]) -> int:
        return sum(widths) + len(GAP) * (len(widths) - 1)

    droppable = sorted(
        (i for i, c in enumerate(columns) if c.drop is not None),
        key=lambda i: columns[i].drop or 0,
    )
    while total([natural[i] for i in shown]) > width and droppable:
        shown.remove(droppable.pop(0))
    widths = [natural[i] for i in shown]
    excess = total(widths) - width
    while excess > 0:
        # Take one cell at a time from the widest column that may still be cut.
        candidates = [k for k, i in enumerate(shown) if widths[k] > _narrowest(columns[i])]
        if not candidates:
            break
        k = max(candidates, key=lambda k: widths[k])
        widths[k] -= 1
        excess -= 1
    return shown, widths


def _narrowest(column: Column) -> int:
    """How far a column may be cut (a column that may not be cut: not at all)."""
    if not column.cut:
        return 1 << 30
    return max(column.min_width, cell_width(column.header))


def render(
    columns: Sequence[Column],
    sections: Sequence[Section],
    width: int | None,
    *,
    bold_header: bool = False,
) -> list[str]:
    """The table's lines: a header, then each section (its title line, then its rows)."""
    rows = [r for s in sections for r in s.rows]
    shown, widths = fit(columns, rows, width)

    def line(cells: Sequence[str]) -> str:
        parts = []
        for k, i in enumerate(shown):
            text = cut(cells[i], widths[k])
            pad = " " * (widths[k] - cell_width(text))
            parts.append(pad + text if columns[i].right else text + pad)
        return GAP.join(parts).rstrip()

    header = line([c.header for c in columns])
    lines = [f"\x1b[1m{header}\x1b[0m" if bold_header else header]
    for section in sections:
        if not section.rows:
            continue
        if section.title is not None:
            lines.append(section.title if width is None else cut(section.title, width))
        lines.extend(line(r) for r in section.rows)
    return lines
