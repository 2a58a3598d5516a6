"""What a channel is shown: buffer, percent, floor and maximum; never negative, monotone."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.inventory.publish import (
    DEFAULT_RULES,
    ChannelRules,
    available,
    published_quantity,
    rule_errors,
    sellable,
)

rules_st = st.builds(
    ChannelRules,
    buffer_units=st.integers(0, 50),
    percent=st.integers(0, 100),
    max_listed=st.none() | st.integers(0, 200),
    floor=st.integers(0, 50),
)
units = st.integers(-1_000, 100_000)


@pytest.mark.parametrize(
    ("avail", "rules", "expected"),
    [
        (10, DEFAULT_RULES, 10),
        (0, DEFAULT_RULES, 0),
        (-3, DEFAULT_RULES, 0),
        (10, ChannelRules(buffer_units=3), 7),
        (3, ChannelRules(buffer_units=3), 0),
        (2, ChannelRules(buffer_units=3), 0),
        (10, ChannelRules(percent=50), 5),
        (9, ChannelRules(percent=50), 4),  # rounded down
        (1, ChannelRules(percent=50), 0),
        (10, ChannelRules(percent=0), 0),
        (100, ChannelRules(max_listed=20), 20),
        (5, ChannelRules(max_listed=20), 5),
        (4, ChannelRules(floor=5), 0),
        (5, ChannelRules(floor=5), 5),
        (20, ChannelRules(buffer_units=2, percent=50, floor=5, max_listed=8), 8),
        (12, ChannelRules(buffer_units=2, percent=50, floor=5, max_listed=8), 5),
        (11, ChannelRules(buffer_units=2, percent=50, floor=5, max_listed=8), 0),
        (100, ChannelRules(floor=10, max_listed=3), 3),  # the cap applies after the floor
    ],
)
def test_examples(avail: int, rules: ChannelRules, expected: int) -> None:
    assert published_quantity(avail, rules) == expected


@given(units, rules_st)
def test_never_negative_and_never_more_than_available(avail: int, rules: ChannelRules) -> None:
    assert 0 <= published_quantity(avail, rules) <= max(0, avail)


@given(units, st.integers(0, 10_000), rules_st)
def test_monotone_in_available(avail: int, more: int, rules: ChannelRules) -> None:
    assert published_quantity(avail, rules) <= published_quantity(avail + more, rules)


@given(units, rules_st)
def test_each_rule_holds(avail: int, rules: ChannelRules) -> None:
    shown = published_quantity(avail, rules)
    if rules.max_listed is not None:
        assert shown <= rules.max_listed
    if avail <= rules.buffer_units:
        assert shown == 0
    assert shown <= max(0, avail - rules.buffer_units) * rules.percent // 100
    cap = rules.max_listed if rules.max_listed is not None else shown
    assert shown == 0 or shown >= min(rules.floor, cap)


def test_available_clamps_at_zero() -> None:
    assert available(10, 3) == 7
    assert available(3, 5) == 0  # a count corrected below what is reserved


def test_paused_locations_are_not_sellable() -> None:
    assert sellable([(10, 2, False), (5, 0, True), (1, 4, False)]) == 8


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"buffer_units": -1}, "buffer_units"),
        ({"percent": 101}, "percent"),
        ({"percent": -1}, "percent"),
        ({"max_listed": -1}, "max_listed"),
        ({"floor": -2}, "floor"),
        ({"buffer_units": True}, "buffer_units"),
        ({"percent": 50.5}, "percent"),
    ],
)
def test_bad_rules_are_refused(values: dict, field: str) -> None:
    args = {"buffer_units": 0, "percent": 100, "max_listed": None, "floor": 0} | values
    assert field in rule_errors(**args)
    with pytest.raises(ValueError, match=field):
        ChannelRules(**args)
