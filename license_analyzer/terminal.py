"""Tenant text on the terminal: every control, direction and zero-width character shown as an
escape, so a user or group name cannot clear the screen, recolour it or read backwards."""

from __future__ import annotations

import sys
import unicodedata

# Cc: control characters (ESC and friends); Cf: format characters, the bidirectional overrides
# and isolates (a name that reads backwards) and zero-width marks; Zl, Zp: line separators.
_HIDDEN = ("Cc", "Cf", "Zl", "Zp")


def visible(text: str) -> str:
    """`text` with every control, direction and zero-width character written as an escape
    (ESC as \\x1b, U+202E as \\u202e), so a terminal shows exactly what is there."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if unicodedata.category(ch) in _HIDDEN:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def say(line: str) -> None:
    """One line of tenant-derived text to stdout, control characters made visible."""
    sys.stdout.write(visible(line) + "\n")
