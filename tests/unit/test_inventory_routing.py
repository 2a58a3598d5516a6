"""Routing an order line to locations: pause switch, ship-to regions, priority, split."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.inventory.routing import Place, Route, ShipTo, candidates, route_line, serves

EAST = Place(1, "east", priority=1, country_code="US", regions=("US",))
WEST = Place(2, "west", priority=2, country_code="US", regions=("US-CA", "US-OR", "US-WA"))
LONDON = Place(3, "london", priority=1, country_code="GB", regions=("GB", "IE"))
WORLD = Place(4, "world", priority=9, country_code="NL")
STORE = Place(5, "store", priority=0, country_code="US", allow_split=False)
PAUSED = Place(1, "east", priority=1, country_code="US", regions=("US",), paused=True)
US, CA, NY, GB, NOWHERE = (
    ShipTo("US"),
    ShipTo("US", "CA"),
    ShipTo("us", "ny"),
    ShipTo("GB"),
    ShipTo(),
)


@pytest.mark.parametrize(
    ("case", "quantity", "places", "stock", "ship_to", "expected"),
    [
        ("whole line at the first by priority", 2, [EAST, WORLD], {1: 5, 4: 5}, US, Route(((1, 2),), 0)),
        ("first short: the next takes it whole", 3, [EAST, WORLD], {1: 2, 4: 5}, US, Route(((4, 3),), 0)),
        ("nobody whole: split in order", 5, [EAST, WORLD], {1: 2, 4: 2}, US, Route(((1, 2), (4, 2)), 1)),
        ("nothing anywhere: backordered", 2, [EAST, WORLD], {}, US, Route((), 2)),
        ("one location short: part held, rest backordered", 3, [EAST], {1: 1}, US, Route(((1, 1),), 2)),
        ("no split there: whole line backordered", 3, [STORE], {5: 2}, US, Route((), 3)),
        ("no-split store skipped when splitting", 4, [STORE, EAST], {5: 3, 1: 3}, US, Route(((1, 3),), 1)),
        ("no-split store takes a whole line first", 3, [STORE, EAST], {5: 3, 1: 3}, US, Route(((5, 3),), 0)),
        ("paused takes nothing", 1, [PAUSED, WORLD], {1: 9, 4: 9}, US, Route(((4, 1),), 0)),
        ("region list: US-only skipped for GB", 1, [EAST, LONDON], {1: 9, 3: 9}, GB, Route(((3, 1),), 0)),
        ("region list: state listed", 1, [WEST], {2: 9}, CA, Route(((2, 1),), 0)),
        ("region list: state not listed", 1, [WEST], {2: 9}, NY, Route((), 1)),
        ("no ship-to: only locations that ship anywhere", 1, [EAST, WORLD], {1: 9, 4: 9}, NOWHERE,
            Route(((4, 1),), 0)),
        ("zero units: nothing", 0, [EAST], {1: 9}, US, Route((), 0)),
        ("negative stock counts as none", 1, [EAST, WORLD], {1: -3, 4: 1}, US, Route(((4, 1),), 0)),
    ],
)  # fmt: skip
def test_rules(
    case: str, quantity: int, places: list[Place], stock: dict[int, int], ship_to: ShipTo, expected: Route
) -> None:
    assert route_line(quantity, places, stock, ship_to) == expected, case


def test_same_priority_prefers_the_ship_to_country() -> None:
    home = Place(1, "b-home", priority=5, country_code="GB")
    abroad = Place(2, "a-abroad", priority=5, country_code="NL")
    assert [p.code for p in candidates([abroad, home], GB)] == ["b-home", "a-abroad"]
    assert [p.code for p in candidates([abroad, home], US)] == ["a-abroad", "b-home"]  # then by code
    assert route_line(1, [abroad, home], {1: 1, 2: 1}, GB) == Route(((1, 1),), 0)


def test_priority_beats_country() -> None:
    home = Place(1, "home", priority=5, country_code="GB")
    first = Place(2, "first", priority=1, country_code="NL")
    assert [p.code for p in candidates([home, first], GB)] == ["first", "home"]


def test_serves() -> None:
    assert serves(WORLD, NOWHERE)
    assert not serves(EAST, NOWHERE)
    assert serves(EAST, NY) and serves(WEST, CA) and not serves(WEST, NY)
    assert serves(Place(9, "x", regions=(" us-ny ",)), NY)


places_st = st.lists(
    st.builds(
        Place,
        id=st.integers(1, 8),
        code=st.sampled_from("abcdefgh"),
        priority=st.integers(0, 3),
        country_code=st.sampled_from([None, "US", "GB"]),
        regions=st.sampled_from([(), ("US",), ("GB",), ("US-CA",)]),
        paused=st.booleans(),
        allow_split=st.booleans(),
    ),
    max_size=6,
    unique_by=lambda p: p.id,
)


@given(
    st.integers(0, 30),
    places_st,
    st.dictionaries(st.integers(1, 8), st.integers(-5, 20)),
    st.sampled_from([US, CA, NY, GB, NOWHERE]),
)
def test_every_unit_is_placed_once_and_only_where_allowed(
    quantity: int, places: list[Place], stock: dict[int, int], ship_to: ShipTo
) -> None:
    route = route_line(quantity, places, stock, ship_to)
    assert route.reserved + route.backordered == quantity
    by_id = {p.id: p for p in places}
    used = [loc for loc, _ in route.allocations]
    assert len(used) == len(set(used))
    for loc, units in route.allocations:
        place = by_id[loc]
        assert 0 < units <= stock[loc]
        assert not place.paused and serves(place, ship_to)
        if units < quantity:
            assert place.allow_split
