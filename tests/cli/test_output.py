"""Human output: stored text never acts on the terminal (control characters escaped, no rich
markup), and tables fit the width by dropping columns before cutting any."""

from __future__ import annotations

import io

from safepoint.cli.env import Environment
from safepoint.cli.output import Output, printable
from safepoint.cli.table import Column, Section, cell_width, fit, render


def test_printable_escapes_controls_visibly() -> None:
    assert printable("a\x1b[31mred\x1b[0m") == "a\\x1b[31mred\\x1b[0m"
    assert printable("one\ntwo\r\tthree\x00\x7f\x9b") == "one\\ntwo\\r\\tthree\\x00\\x7f\\x9b"
    assert printable("abc\u202eevil") == "abc\\u202eevil"  # a bidi override reorders a line
    assert printable("caf\udce9 \udc9b") == "caf\udce9 \\x9b"  # non-UTF-8 bytes: only C1 shown
    assert (
        printable("plain [bold]text[/bold] ünïcode 漢字") == "plain [bold]text[/bold] ünïcode 漢字"
    )


def test_printable_lines_keeps_newlines_and_tabs_of_a_document() -> None:
    assert printable("# Title\r\n\tbody\x1b]8;;http://x\x07\n", lines=True) == (
        "# Title\n\tbody\\x1b]8;;http://x\\x07\n"
    )


def test_output_escapes_every_line_and_warning() -> None:
    out, err = io.StringIO(), io.StringIO()
    o = Output(Environment(stdout=out, stderr=err), json_mode=False)
    o.line("label \x1b[2J")
    o.warn("\x1b]8;;http://evil\x1b\\link")
    o.raw("note\n\x1b[31m")
    assert out.getvalue() == "label \\x1b[2J\nnote\n\\x1b[31m"
    assert err.getvalue() == "safepoint: warning: \\x1b]8;;http://evil\\x1b\\link\n"


COLUMNS = (
    Column("id"),
    Column("label", cut=True),
    Column("kind", drop=3),
    Column("size", drop=2, right=True),
    Column("by", drop=1),
)
ROWS = [["0123456789ab", "a-long-label-of-thirty-chars-x", "manual", "3 KiB", "deploy@web1"]]


def line_width(rows: list[list[str]], width: int | None) -> tuple[list[str], list[int]]:
    shown, widths = fit(COLUMNS, rows, width)
    return [COLUMNS[i].header for i in shown], widths


def test_fit_keeps_everything_without_a_limit_or_when_it_fits() -> None:
    assert line_width(ROWS, None)[0] == ["id", "label", "kind", "size", "by"]
    assert line_width(ROWS, 200)[0] == ["id", "label", "kind", "size", "by"]


def test_fit_drops_least_important_first_then_cuts_only_cuttable_columns() -> None:
    # 12 + 30 + 6 + 5 + 11 and four gaps of 2 = 72
    assert line_width(ROWS, 72)[0] == ["id", "label", "kind", "size", "by"]
    assert line_width(ROWS, 71)[0] == ["id", "label", "kind", "size"]
    assert line_width(ROWS, 55)[0] == ["id", "label", "kind"]
    assert line_width(ROWS, 44) == (["id", "label"], [12, 30])
    assert line_width(ROWS, 40) == (["id", "label"], [12, 26])  # now cut, id whole
    assert line_width(ROWS, 10) == (["id", "label"], [12, 8])  # too narrow: wraps, id whole


def test_render_cuts_with_an_ellipsis_and_titles_sections() -> None:
    lines = render(COLUMNS, [Section(ROWS), Section(ROWS, "-- safety --")], 40)
    assert lines[0] == "id            label"
    assert lines[1] == "0123456789ab  a-long-label-of-thirty-ch…"
    assert lines[2] == "-- safety --"
    assert all(cell_width(line) <= 40 for line in lines)


def test_cell_width_counts_wide_characters_twice() -> None:
    assert cell_width("漢字ab") == 6
    assert cell_width("e\u0301") == 1
    rows = [["0123456789ab", "漢字漢字漢字漢字漢字漢字", "x", "1", "u"]]
    for line in render(COLUMNS, [Section(rows)], 30):
        assert cell_width(line) <= 30
