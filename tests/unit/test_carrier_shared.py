"""What the five carriers share: units (hub.shipping.units), the environment and URL settings, the
bearer calls and the carrier errors (hub.carriers)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import responses

from connectors.dhl_express import DhlExpressConnector
from connectors.easypost import EasyPostConnector
from connectors.fedex import FedexConnector
from connectors.ups import UpsConnector
from connectors.usps import UspsConnector
from hub.carriers import Bearer, CarrierConnector, call_details
from hub.http import HttpClient, HttpError
from hub.oauth import Token, TokenCache, token_from_response
from hub.shipping.units import HUNDREDTH, TENTH, THOUSANDTH, WHOLE, length_in, round_up, weight_in

CARRIERS = (UpsConnector, FedexConnector, UspsConnector, DhlExpressConnector, EasyPostConnector)
BASE = "http://127.0.0.1:9"


# -- units -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grams", "unit", "step", "expected"),
    [
        (454, "lb", HUNDREDTH, Decimal("1.01")),  # 1.0009 lb: rounded up, never under-declared
        (453, "lb", HUNDREDTH, Decimal("1.00")),
        (1000, "kg", TENTH, Decimal("1")),
        (1001, "kg", TENTH, Decimal("1.1")),
        (1, "kg", THOUSANDTH, Decimal("0.001")),
        (100, "oz", TENTH, Decimal("3.6")),  # 3.527 oz
        (0, "lb", TENTH, Decimal("0.1")),  # at least one step
    ],
)
def test_weights_round_up_to_the_step(grams: int, unit: str, step: Decimal, expected: Decimal) -> None:
    assert weight_in(grams, unit, step) == expected  # type: ignore[arg-type]


def test_lengths_round_up_to_the_step() -> None:
    assert length_in(254, "in", TENTH) == Decimal("10")
    assert length_in(255, "in", TENTH) == Decimal("10.1")
    assert length_in(101, "cm", WHOLE) == 11
    assert length_in(1, "in", WHOLE) == 1


def test_round_up_keeps_the_format_ups_sends() -> None:
    assert format(round_up(Decimal("1.2"), TENTH), "f") == "1.2"
    assert format(round_up(Decimal("1.21"), TENTH), "f") == "1.3"
    assert format(round_up(Decimal(10), TENTH), "f") == "10"


# -- environment and URL settings ---------------------------------------------------------------------


@pytest.mark.parametrize("carrier", CARRIERS, ids=lambda c: c.name)
def test_every_carrier_offers_the_same_environment_url_and_label_format_settings(
    carrier: type[CarrierConnector],
) -> None:
    fields = {f.name: f for f in carrier.fields}
    environment, url, label_format = fields["environment"], fields["url"], fields["label_format"]
    assert (environment.type, url.type) == ("choice", "url")
    assert environment.group == url.group == label_format.group == "settings"
    assert url.label == "API base URL override" and not url.required
    assert {c for c, _ in environment.choices} <= set(carrier.hosts)
    assert carrier.base_url({}, {}) == carrier.hosts[environment.default]
    assert label_format.default in carrier.label_formats
    assert {c for c, _ in label_format.choices} == set(carrier.label_formats)


@pytest.mark.parametrize("carrier", CARRIERS, ids=lambda c: c.name)
def test_the_url_override_wins_without_its_trailing_slash(carrier: type[CarrierConnector]) -> None:
    assert carrier.base_url({}, {"environment": "production", "url": f"{BASE}/api/"}) == f"{BASE}/api"


def test_a_carrier_without_hosts_must_say_where_it_calls() -> None:
    class Hostless(CarrierConnector):
        name = "hostless"

    with pytest.raises(NotImplementedError):
        Hostless.base_url({}, {})
    assert Hostless.base_url({}, {"url": BASE}) == BASE


# -- bearer calls and carrier errors -------------------------------------------------------------------


@responses.activate
def test_bearer_calls_share_one_cached_token_and_renew_it_once_after_a_401() -> None:
    fetched: list[str] = []

    def fetch() -> Token:
        fetched.append(f"t{len(fetched) + 1}")
        return token_from_response(fetched[-1], 3600)

    bearer = Bearer(HttpClient(BASE, max_attempts=1), "key", fetch, TokenCache())
    responses.get(f"{BASE}/a", status=401)
    responses.get(f"{BASE}/a", json={"ok": True})
    assert bearer.request("GET", "a", headers={"X-Extra": "1"}).json() == {"ok": True}
    assert [c.request.headers["Authorization"] for c in responses.calls] == ["Bearer t1", "Bearer t2"]
    assert responses.calls[1].request.headers["X-Extra"] == "1"
    assert bearer.token() == "t2" and fetched == ["t1", "t2"]


def test_a_carrier_error_keeps_the_failed_call() -> None:
    exc = HttpError("raw", url=f"{BASE}/x", status=422, body="{}", request_id="r-1")

    class CarrierError(HttpError):
        pass

    mine = CarrierError("the carrier's words", **call_details(exc))
    assert (mine.url, mine.status, mine.body, mine.request_id, mine.response) == (
        f"{BASE}/x",
        422,
        "{}",
        "r-1",
        None,
    )
    assert str(mine) == "the carrier's words"
