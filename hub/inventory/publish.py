"""What a channel is shown: available stock after that channel's rules. Pure.

The rules apply in this order, each one monotone, so more stock never publishes less:

1. ``buffer_units`` are held back (the channel sees ``available - buffer``);
2. ``percent`` of what is left, rounded down;
3. under ``floor`` the channel is shown 0 (too few to risk listing);
4. at most ``max_listed`` is shown.

The result is never negative and never more than available.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def available(on_hand: int, reserved: int) -> int:
    """What can still be sold at one location: ``on_hand - reserved``, never below 0 (a count
    corrected below what is reserved leaves 0, not a negative number)."""
    return max(0, on_hand - reserved)


@dataclass(frozen=True, slots=True)
class ChannelRules:
    buffer_units: int = 0
    percent: int = 100
    max_listed: int | None = None
    floor: int = 0

    def __post_init__(self) -> None:
        errors = rule_errors(self.buffer_units, self.percent, self.max_listed, self.floor)
        if errors:
            raise ValueError("; ".join(f"{k} {v}" for k, v in errors.items()))


def rule_errors(buffer_units: object, percent: object, max_listed: object, floor: object) -> dict[str, str]:
    """Field → message for rule values that make no sense (empty when they are fine)."""
    errors: dict[str, str] = {}
    for name, value in (("buffer_units", buffer_units), ("floor", floor)):
        if not _whole(value, 0):
            errors[name] = "must be a whole number, 0 or more"
    if not _whole(percent, 0, 100):
        errors["percent"] = "must be a whole number from 0 to 100"
    if max_listed is not None and not _whole(max_listed, 0):
        errors["max_listed"] = "must be a whole number, 0 or more, or empty"
    return errors


def _whole(value: object, low: int, high: int | None = None) -> bool:
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return value >= low and (high is None or value <= high)


DEFAULT_RULES = ChannelRules()


def published_quantity(available_units: int, rules: ChannelRules = DEFAULT_RULES) -> int:
    """The quantity to list on a channel with ``available_units`` available."""
    quantity = max(0, available_units) - rules.buffer_units
    if quantity <= 0:
        return 0
    quantity = quantity * rules.percent // 100
    if quantity <= 0 or quantity < rules.floor:
        return 0
    if rules.max_listed is not None:
        quantity = min(quantity, rules.max_listed)
    return quantity


def sellable(levels: Iterable[tuple[int, int, bool]]) -> int:
    """Available stock a channel may sell from ``(on_hand, reserved, paused)`` per location:
    a paused location takes no new orders, so its stock is not offered."""
    return sum(available(on_hand, reserved) for on_hand, reserved, paused in levels if not paused)
