"""Which fields of a canonical order changed between two versions (pure)."""

from __future__ import annotations

from typing import Any

#: fields whose change alone is not a change of the order
IGNORED = frozenset({"updated_at"})


def changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Dotted paths of what differs, e.g. ``["status", "totals.total", "lines[1].quantity"]``.

    Lists of equal length are compared item by item; a list that grew or shrank is
    named whole (``lines``). ``updated_at`` alone is not a change.
    """
    out: list[str] = []
    _walk(old, new, "", out)
    return [path for path in out if path not in IGNORED]


def _walk(old: Any, new: Any, path: str, out: list[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys(), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old or key not in new:
                out.append(sub)
            else:
                _walk(old[key], new[key], sub, out)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            _walk(a, b, f"{path}[{i}]", out)
    elif old != new:
        out.append(path)
