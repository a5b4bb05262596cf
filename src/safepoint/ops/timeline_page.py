"""The timeline page: one HTML document with its CSS inline, no script and nothing loaded from
anywhere, so it opens from a file on a machine without network and shows the same everywhere.

Every text that comes from the repository (labels, notes, paths, hosts, health summaries)
goes through ``html.escape``: a label holding ``<script>`` is shown as those characters.
"""

from __future__ import annotations

import html
from datetime import datetime

from safepoint.diskspace import human_size
from safepoint.ops.marks import describe_mark
from safepoint.ops.timeline import History, Point
from safepoint.restore.plan import Changes
from safepoint.store.rollbacks import HEALTHY, UNCHECKED, RollbackRecord

PATHS_SHOWN = 200  # changed paths listed per checkpoint; the rest are counted
_WIDTH, _HEIGHT, _PAD = 1000, 90, 20

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{padding:16px 24px;background:#1d232a;color:#fff}
header h1{font-size:18px;margin:0 0 4px}header p{margin:0;color:#c9d1d9}
main{padding:16px 24px;max-width:1100px}
svg.axis{width:100%;height:auto;background:#fff;border:1px solid #d8dee4;border-radius:6px}
.axis line{stroke:#8c959f;stroke-width:2}.axis text{font-size:11px;fill:#57606a}
.dot{stroke:#fff;stroke-width:2}.dot.good{fill:#1a7f37}.dot.bad{fill:#cf222e}
.dot.unknown{fill:#8c959f}.dot.safety{opacity:.55}
.rb{fill:#9a6700}.rb.failed{fill:#cf222e}
ol.events{list-style:none;padding:0;margin:16px 0}
.event{background:#fff;border:1px solid #d8dee4;border-left:6px solid #8c959f;
border-radius:6px;padding:10px 14px;margin:0 0 10px}
.event.mark-good{border-left-color:#1a7f37}.event.mark-bad{border-left-color:#cf222e}
.event.rollback{border-left-color:#9a6700;background:#fffaf0}
.event.rollback.failed{border-left-color:#cf222e;background:#fff5f5}
.when{color:#57606a;font-size:12px}.label{font-weight:600;font-size:15px}
.tag{display:inline-block;font-size:11px;padding:1px 7px;border-radius:10px;
background:#eaeef2;margin-left:6px}
.tag.good{background:#dafbe1;color:#116329}.tag.bad{background:#ffebe9;color:#a40e26}
.meta{color:#57606a;font-size:12px}code{font-size:12px}
.note{white-space:pre-wrap;background:#f6f8fa;padding:6px 8px;border-radius:4px;margin:6px 0}
ul.paths{margin:4px 0;padding-left:18px;font-family:ui-monospace,monospace;font-size:12px}
.added{color:#116329}.deleted{color:#a40e26}.modified{color:#9a6700}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _local(iso: str) -> str:
    try:
        return f"{datetime.fromisoformat(iso).astimezone():%Y-%m-%d %H:%M:%S}"
    except (ValueError, OverflowError):
        return iso


def _seconds(iso: str) -> float | None:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except (ValueError, OverflowError):
        return None


def _mark_class(point: Point) -> str:
    return point.checkpoint.marks.health or "unknown"


def render_page(history: History) -> str:
    points, rollbacks = history.points, history.rollbacks
    names = {p.checkpoint.id: p.checkpoint.display_name for p in points}
    events: list[tuple[str, str]] = [(p.checkpoint.created, _point(p)) for p in points]
    events += [(r.time, _rollback(r, names)) for r in rollbacks]
    events.sort(key=lambda e: _seconds(e[0]) or 0.0, reverse=True)  # newest first
    times = [p.checkpoint.created for p in points] + [r.time for r in rollbacks]
    span = f"from {_local(min(times))} to {_local(max(times))}" if times else "nothing yet"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>safepoint timeline: {_e(history.root.name)}</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<header><h1>Timeline of <code>{_e(history.root)}</code></h1>"
        f"<p>{_count(len(points), 'checkpoint')}, {_count(len(rollbacks), 'rollback')}, "
        f"{span}</p></header>"
        f"<main>{_axis(points, rollbacks)}"
        f'<ol class="events">{"".join(body for _, body in events)}</ol></main>'
        "</body></html>\n"
    )


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _axis(points: list[Point], rollbacks: list[RollbackRecord]) -> str:
    """Checkpoints as dots and rollbacks as triangles on a line, placed by time."""
    stamps = [(p.checkpoint.created, p) for p in points] + [(r.time, r) for r in rollbacks]
    known = [(s, item) for iso, item in stamps if (s := _seconds(iso)) is not None]
    if not known:
        return ""
    lo, hi = min(s for s, _ in known), max(s for s, _ in known)
    width = _WIDTH - 2 * _PAD

    def x(s: float) -> float:
        return _PAD + (width * (s - lo) / (hi - lo) if hi > lo else width / 2)

    mid = _HEIGHT / 2
    shapes = [f'<line x1="{_PAD}" y1="{mid}" x2="{_WIDTH - _PAD}" y2="{mid}"/>']
    for s, item in known:
        if isinstance(item, Point):
            cp = item.checkpoint
            kind = " safety" if cp.kind == "safety" else ""
            shapes.append(
                f'<a href="#cp-{cp.id}"><circle class="dot {_mark_class(item)}{kind}" '
                f'cx="{x(s):.1f}" cy="{mid}" r="8"><title>{_e(cp.display_name)} ({_e(cp.kind)})'
                "</title></circle></a>"
            )
        else:
            failed = "" if item.outcome in (HEALTHY, UNCHECKED) else " failed"
            px = x(s)
            shapes.append(
                f'<polygon class="rb{failed}" points="{px:.1f},{mid - 26} {px - 7:.1f},'
                f'{mid - 14} {px + 7:.1f},{mid - 14}"><title>rollback: {_e(item.outcome)}'
                "</title></polygon>"
            )
    shapes.append(f'<text x="{_PAD}" y="{_HEIGHT - 6}">{_e(_local_s(lo))}</text>')
    shapes.append(
        f'<text x="{_WIDTH - _PAD}" y="{_HEIGHT - 6}" text-anchor="end">{_e(_local_s(hi))}</text>'
    )
    return (
        f'<svg class="axis" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" '
        f'aria-label="checkpoints and rollbacks in time">{"".join(shapes)}</svg>'
    )


def _local_s(seconds: float) -> str:
    return f"{datetime.fromtimestamp(seconds).astimezone():%Y-%m-%d %H:%M:%S}"


def _point(point: Point) -> str:
    cp = point.checkpoint
    mark = _mark_class(point)
    tags = f'<span class="tag kind">{_e(cp.kind)}</span>'
    if cp.marks.health:
        tags += f'<span class="tag {_e(mark)}">{_e(describe_mark(cp.marks))}</span>'
    if cp.marks.pinned:
        tags += '<span class="tag">pinned</span>'
    who = "@".join(part for part in (cp.user, cp.host) if part)
    meta = (
        f"<code>{_e(cp.short_id)}</code> · {cp.files} files, {_e(human_size(cp.bytes))}, "
        f"{_e(human_size(cp.new_bytes))} added to the repository" + (f" · {_e(who)}" if who else "")
    )
    note = f'<div class="note">{_e(cp.note)}</div>' if cp.note else ""
    return (
        f'<li class="event checkpoint mark-{_e(mark)} kind-{_e(cp.kind)}" id="cp-{_e(cp.id)}">'
        f'<div class="when">{_e(_local(cp.created))}</div>'
        f'<div><span class="label">{_e(cp.label or cp.short_id)}</span>{tags}</div>'
        f'<div class="meta">{meta}</div>{note}{_changes(point)}</li>'
    )


def _changes(point: Point) -> str:
    if point.problem is not None:
        return f'<div class="meta">{_e(point.problem)}</div>'
    changes: Changes | None = point.changes
    if changes is None:
        return '<div class="meta">the first checkpoint</div>'
    rows = [("added", e.path) for e in changes.added]
    rows += [("modified", b.path) for _, b in changes.modified]
    rows += [("modified", b.path) for _, b in changes.mode_changed]
    rows += [("deleted", e.path) for e in changes.deleted]
    if not rows:
        return '<div class="meta">no file changed since the checkpoint before</div>'
    sign = {"added": "+", "modified": "~", "deleted": "-"}
    items = "".join(
        f'<li class="{kind}">{sign[kind]} {_e(path)}</li>' for kind, path in rows[:PATHS_SHOWN]
    )
    more = f"<li>… and {len(rows) - PATHS_SHOWN} more</li>" if len(rows) > PATHS_SHOWN else ""
    summary = (
        f"{len(rows)} changed since the checkpoint before: {len(changes.added)} added, "
        f"{len(changes.modified) + len(changes.mode_changed)} modified, "
        f"{len(changes.deleted)} deleted"
    )
    return (
        f'<details class="changes"><summary>{summary}</summary>'
        f'<ul class="paths">{items}{more}</ul></details>'
    )


def _rollback(record: RollbackRecord, names: dict[str, str]) -> str:
    failed = "" if record.outcome in (HEALTHY, UNCHECKED) else " failed"
    target = names.get(record.to, record.to[:12])
    safety = names.get(record.safety, record.safety[:12]) if record.safety else None
    health = f"<div>{_e(record.health)}</div>" if record.health else ""
    undo = f"<div>after the undo: {_e(record.undo_health)}</div>" if record.undo_health else ""
    return (
        f'<li class="event rollback{failed}"><div class="when">{_e(_local(record.time))}</div>'
        f'<div><span class="label">rollback to {_e(target)}</span>'
        f'<span class="tag {"bad" if failed else "good"}">{_e(record.outcome)}</span></div>'
        f"{health}{undo}"
        f'<div class="meta">{_e(record.written)} written, {_e(record.removed)} removed in '
        f"{_e(record.seconds)}s"
        + (f" · safety checkpoint {_e(safety)}" if safety else "")
        + (f" · {_e(record.host)}" if record.host else "")
        + "</div></li>"
    )
