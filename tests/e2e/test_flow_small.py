"""The whole-flow bench (``bench/flow.py``) at a small size: 3 orders per channel sandbox,
20 % of all calls faulted; every order in, one fulfilment per shipment in its channel, no
extra label sold, nothing lost (counted from the sandboxes' own state)."""

from __future__ import annotations

import pytest

from bench.flow import run

pytestmark = pytest.mark.xdist_group("flow-small")


def test_the_whole_flow_under_faults_loses_and_duplicates_nothing() -> None:
    lines: list[str] = []
    result = run(3, fault_rate=0.2, seed=9, time_limit=45, log=lines.append)
    assert result["orders_expected"] == 12
    assert result["orders_in"] == result["orders_expected"]
    assert result["fulfilments_expected"] > 0
    assert result["fulfilments_in_channels"] == result["fulfilments_expected"], lines
    assert (result["duplicates"], result["lost"]) == (0, 0), lines
