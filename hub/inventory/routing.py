"""Which location(s) an order line is reserved at. Pure: locations, a stock snapshot and
the ship-to address in, allocations out.

The rules, in order:

1. a paused location takes no new orders;
2. a location with ``regions`` only ships there: the ship-to country (``US``) or country and
   region (``US-CA``) must be listed; an empty list ships anywhere, and an order without a
   ship-to country goes only to such locations;
3. the rest are tried by ``priority`` (lower first), then those in the ship-to country
   first, then by code;
4. the first of them that has the whole line takes it;
5. otherwise the line is split: locations that allow it (``allow_split``), in that order,
   each take what they have;
6. whatever is left is backordered.

A line is therefore either reserved whole at one location, or split across locations that
allow it (a single location that allows it may also take part and backorder the rest),
or backordered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Place:
    """A location as routing sees it."""

    id: int
    code: str
    priority: int = 100
    country_code: str | None = None
    regions: tuple[str, ...] = ()
    paused: bool = False
    allow_split: bool = True


@dataclass(frozen=True, slots=True)
class ShipTo:
    country_code: str | None = None
    region: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """``allocations``: (location id, units) in routing order; ``backordered``: units left over."""

    allocations: tuple[tuple[int, int], ...]
    backordered: int

    @property
    def reserved(self) -> int:
        return sum(units for _, units in self.allocations)


def _norm(value: str | None) -> str:
    return (value or "").strip().upper()


def serves(place: Place, ship_to: ShipTo) -> bool:
    """Whether ``place`` ships to ``ship_to`` (rule 2)."""
    if not place.regions:
        return True
    country = _norm(ship_to.country_code)
    if not country:
        return False
    wanted = {country}
    if region := _norm(ship_to.region):
        wanted.add(f"{country}-{region}")
    return any(_norm(r) in wanted for r in place.regions)


def candidates(places: Iterable[Place], ship_to: ShipTo) -> list[Place]:
    """The locations that may take a line to ``ship_to``, best first (rules 1 to 3)."""
    country = _norm(ship_to.country_code)
    usable = [p for p in places if not p.paused and serves(p, ship_to)]
    return sorted(usable, key=lambda p: (p.priority, not country or _norm(p.country_code) != country, p.code))


def route_line(
    quantity: int, places: Iterable[Place], available: Mapping[int, int], ship_to: ShipTo
) -> Route:
    """Allocate ``quantity`` units; ``available`` maps location id → units free there."""
    if quantity <= 0:
        return Route((), 0)
    ordered = candidates(places, ship_to)
    for place in ordered:
        if available.get(place.id, 0) >= quantity:
            return Route(((place.id, quantity),), 0)
    allocations: list[tuple[int, int]] = []
    left = quantity
    for place in ordered:
        if left == 0:
            break
        units = min(left, max(0, available.get(place.id, 0)))
        if place.allow_split and units > 0:
            allocations.append((place.id, units))
            left -= units
    return Route(tuple(allocations), left)
