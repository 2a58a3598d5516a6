"""Weights and lengths in a carrier's units: the hub keeps grams and millimetres, carriers want
pounds, ounces, kilograms, inches or centimetres, always rounded *up* (a parcel is never
under-declared). Pure; each carrier's mapping picks its units, steps and number format."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import Literal

WeightUnit = Literal["kg", "lb", "oz"]
LengthUnit = Literal["cm", "in"]

GRAMS_PER: dict[WeightUnit, Decimal] = {
    "kg": Decimal(1000),
    "lb": Decimal("453.59237"),  # the international avoirdupois pound
    "oz": Decimal("28.349523125"),  # a sixteenth of it
}
MM_PER: dict[LengthUnit, Decimal] = {"cm": Decimal(10), "in": Decimal("25.4")}

#: the steps carriers round to
THOUSANDTH, HUNDREDTH, TENTH, WHOLE = Decimal("0.001"), Decimal("0.01"), Decimal("0.1"), Decimal(1)


def round_up(value: Decimal, step: Decimal) -> Decimal:
    """``value`` rounded up to a multiple of ``step`` (a power of ten: ``TENTH``, ``WHOLE`` …), never
    below one step (carriers refuse a zero weight or side)."""
    return max(step, (value / step).to_integral_value(ROUND_CEILING) * step)


def weight_in(grams: int, unit: WeightUnit, step: Decimal) -> Decimal:
    """``grams`` in ``unit``, rounded up to ``step`` and at least one step."""
    return round_up(Decimal(grams) / GRAMS_PER[unit], step)


def length_in(millimetres: int, unit: LengthUnit, step: Decimal) -> Decimal:
    """``millimetres`` in ``unit``, rounded up to ``step`` and at least one step."""
    return round_up(Decimal(millimetres) / MM_PER[unit], step)
