"""Path safety: what keeps an archive's entries, and every later restore of them, inside the
root they are written to.

A checkpoint path is relative, '/'-separated and canonical: no leading '/', no empty, '.' or
'..' component, no NUL. ``path_problem`` says what is wrong with a path (None when it is
safe) and ``validate_path`` raises; the restore side can use either on any manifest path, as
dulwich's ``validate_path`` guards its checkouts. ``member_path`` first turns a tar member
name into that form, tolerating the './' prefixes and trailing '/' that tar writes.
``link_problem`` says whether a symlink's target can lead out of the root.
"""

from __future__ import annotations

from safepoint.errors import UsageError


class UnsafePathError(UsageError):
    """A path (or link target) that could reach outside its root, or that is not canonical."""


def path_problem(path: str) -> str | None:
    """Why ``path`` is not a safe canonical relative path, or None if it is."""
    if not path:
        return "empty path"
    if "\x00" in path:
        return "NUL character in the name"
    if path.startswith("/"):
        return "absolute path"
    for part in path.split("/"):
        if part == "..":
            return "'..' component (leaves the root)"
        if part in ("", "."):
            return "empty or '.' component"
    return None


def validate_path(path: str) -> str:
    """``path`` itself if it is safe; UnsafePathError naming it otherwise."""
    problem = path_problem(path)
    if problem is not None:
        raise UnsafePathError(f"unsafe path {display(path)}: {problem}")
    return path


def member_path(name: str) -> str:
    """The canonical form of a tar member name ('' for the archive's own root folder):
    './' prefixes, '.' components and repeated or trailing '/' are dropped. UnsafePathError
    for an absolute name, a '..' component or a NUL."""
    if "\x00" in name:
        raise UnsafePathError("NUL character in the name")
    if name.startswith("/"):
        raise UnsafePathError("absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafePathError("'..' component (leaves the root)")
    return "/".join(parts)


def link_problem(path: str, target: str) -> str | None:
    """Why the symlink ``path`` -> ``target`` may lead outside the root, or None.

    Deliberately stricter than resolving the target: it must be relative, and '..' may only
    open it (``../../static``), never follow a name (``a/../..``), because '..' after a name
    that is itself a symlink climbs from wherever that link points. With leading '..'s only,
    the target stays inside exactly when they do not climb above the root."""
    if not target:
        return "empty symlink target"
    if "\x00" in target:
        return "NUL character in the symlink target"
    if target.startswith("/"):
        return f"symlink to an absolute path ({display(target)})"
    parts = [p for p in target.split("/") if p not in ("", ".")]
    ups = 0
    while ups < len(parts) and parts[ups] == "..":
        ups += 1
    if ".." in parts[ups:]:
        return f"symlink target {display(target)} has '..' after a name"
    if ups > path.count("/"):
        return f"symlink points outside the root ({display(target)})"
    return None


def display(path: str) -> str:
    """A path quoted for a one-line message: control characters and undecodable bytes are
    shown as escapes, so a hostile name cannot break the line or the terminal."""
    return "'" + _escaped(path, quotes=True) + "'"


def printable(text: str) -> str:
    """``text`` with control characters and undecodable bytes shown as escapes (quotes and
    backslashes as they are): for text that is only shown, never used as a name."""
    return _escaped(text, quotes=False)


def _escaped(text: str, *, quotes: bool) -> str:
    out = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogate escape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or 0x7F <= code < 0xA0 or 0xD800 <= code <= 0xDFFF or code in _BREAKS:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        elif quotes and ch in "'\\":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


# Line and paragraph separators: some editors and terminals break the line there.
_BREAKS = (0x2028, 0x2029)
