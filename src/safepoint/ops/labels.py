"""What a checkpoint label may be, checked wherever a label enters the repository (``create``,
``import``), so that the Python API and the command line refuse the same labels.

A label is a name a person types and reads back: it may not be empty, be a reserved reference
(``latest``, ``good``, ``bad``), look like a checkpoint id (4 to 64 hexadecimal digits: it would
shadow the id prefix it spells), hold control characters (they would reach terminals, logs and
the restore script), or be longer than ``MAX_LABEL`` characters.
"""

from __future__ import annotations

import re
import unicodedata

from safepoint.archive.paths import display
from safepoint.errors import UsageError

MAX_LABEL = 200
RESERVED_LABELS = ("latest", "good", "bad")
_ID_LIKE = re.compile(r"[0-9a-fA-F]{4,64}")
# Line and paragraph separators and bidirectional overrides rearrange what a reader sees.
_INVISIBLE = {
    "\u2028",
    "\u2029",
    *map(chr, range(0x202A, 0x202F)),
    *map(chr, range(0x2066, 0x206A)),
}


class LabelError(UsageError):
    """A label that ``check_label`` refuses."""


def check_label(label: str) -> str:
    """``label`` itself when it is acceptable; LabelError (exit 2) saying why otherwise."""
    if not label.strip():
        raise LabelError("the label must not be empty")
    shown = display(label)
    if len(label) > MAX_LABEL:
        raise LabelError(
            f"the label {shown[:40]}... is {len(label)} characters long; "
            f"at most {MAX_LABEL} are allowed"
        )
    for ch in label:
        if unicodedata.category(ch) in ("Cc", "Cs") or ch in _INVISIBLE:
            raise LabelError(f"the label {shown} holds a control character; choose another label")
    if label in RESERVED_LABELS:
        raise LabelError(f"{shown} is a reserved reference; choose another label")
    if _ID_LIKE.fullmatch(label):
        raise LabelError(
            f"the label {shown} looks like a checkpoint id (4 to 64 hexadecimal digits) and "
            "would be mistaken for one; choose another label (e.g. 'v' followed by it)"
        )
    return label
