"""Small pure helpers shared by the channel mappings (channel payload -> ``hub.model.Order``).

Everything here is pure: no I/O, no clock, no global state beyond a country-name index
built once from ``pycountry``. Errors are ``MappingError`` carrying the *path* of the bad
value in the channel's own payload notation (``line_items[0].quantity``), so the CLI can
print ``hub map: shopify order: line_items[0].quantity: not an integer``.

Path notation: object keys are joined with ``.``, list indexes are written ``[i]``;
``join_path("line_items", 0, "quantity") == "line_items[0].quantity"``.

A mapping that has to report something that is not an error (a channel total that does
not add up, say) logs it on the ``hub.mapping`` logger (``LOGGER``) and carries on.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, Inexact, InvalidOperation, localcontext
from functools import cache
from typing import Any

import pycountry

__all__ = [
    "LOGGER",
    "MappingError",
    "as_list",
    "as_object",
    "boolean",
    "country_code",
    "currency_code",
    "get_path",
    "integer",
    "join_name",
    "join_path",
    "money",
    "opt_money",
    "opt_str",
    "require",
    "split_tags",
    "to_utc",
]

LOGGER = logging.getLogger("hub.mapping")

PathPart = str | int


class MappingError(ValueError):
    """A channel document that cannot become a canonical order.

    ``str(error) == f"{path}: {message}"``; ``path`` names the bad value in the channel's
    payload notation (``line_items[0].quantity``), ``message`` says what is wrong with it.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:  # keep it picklable despite the two-argument init
        return (self.__class__, (self.path, self.message))


# --------------------------------------------------------------------------- paths and access


def join_path(base: str, *parts: PathPart) -> str:
    """``join_path("line_items", 0, "quantity") == "line_items[0].quantity"``; ``base`` may be ""."""
    path = base
    for part in parts:
        path = f"{path}[{part}]" if isinstance(part, int) else (f"{path}.{part}" if path else part)
    return path


def as_object(value: Any, path: str) -> dict[str, Any]:
    """``value`` itself when it is a JSON object, else ``MappingError(path, "not a JSON object")``."""
    if not isinstance(value, dict):
        raise MappingError(path, "not a JSON object")
    return value


def as_list(value: Any, path: str, *, allow_missing: bool = True) -> list[Any]:
    """``value`` when it is a JSON array; ``None`` gives ``[]`` when ``allow_missing``."""
    if value is None and allow_missing:
        return []
    if value is None:
        raise MappingError(path, "missing")
    if not isinstance(value, list):
        raise MappingError(path, "not a JSON array")
    return value


def require(obj: Mapping[str, Any], key: str, path: str = "") -> Any:
    """``obj[key]``; absent or null is ``MappingError(join_path(path, key), "missing")``."""
    value = obj.get(key)
    if value is None:
        raise MappingError(join_path(path, key), "missing")
    return value


def get_path(obj: Any, *parts: PathPart, default: Any = None) -> Any:
    """Walk objects and arrays by key/index; ``default`` as soon as a step is absent or null.

    ``get_path(order, "total_price_set", "presentment_money", "amount")``. A step into a
    value of the wrong kind (a key into an array, an index into an object) is also absent:
    callers that must tell the difference use ``as_object``/``as_list``.
    """
    current = obj
    for part in parts:
        if isinstance(part, int):
            if not isinstance(current, list) or not -len(current) <= part < len(current):
                return default
            current = current[part]
        else:
            if not isinstance(current, dict):
                return default
            current = current.get(part)
        if current is None:
            return default
    return current


# --------------------------------------------------------------------------- scalars


def opt_str(value: Any, path: str = "value") -> str | None:
    """A trimmed string or ``None``.

    ``None``, ``""`` and whitespace give ``None``; numbers become their text (``40202`` ->
    ``"40202"``; floats through ``repr`` so ``0.1`` stays ``"0.1"``); booleans become
    ``"true"``/``"false"``. An object or array is ``MappingError(path, "not a string")``.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value.strip()
        return text or None
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, int | Decimal):
        return str(value)
    raise MappingError(path, "not a string")


def join_name(*parts: Any) -> str | None:
    """Non-empty parts joined by one space (``join_name("Bob", None, " Norman ")`` -> ``"Bob Norman"``)."""
    words = [text for part in parts if (text := opt_str(part)) is not None]
    return " ".join(words) or None


def money(value: Any, path: str, *, default: Decimal | None = None) -> Decimal:
    """A money amount as an exact ``Decimal``.

    Accepts ``str`` (``"19.99"``), ``int``, ``Decimal`` and, for channels that send JSON
    numbers, ``float``: a float goes through ``repr`` (the shortest text that round-trips),
    so ``0.1`` is ``Decimal("0.1")`` and ``0.1 + 0.2`` is ``Decimal("0.30000000000000004")``
    -- what the channel sent, without the binary expansion ``Decimal(0.1)`` would give.
    ``None`` or a blank string is ``default`` when one is given, else ``"missing"``.
    Booleans, NaN, infinities and text that is not a number are ``"not a decimal amount"``.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        if default is not None:
            return default
        raise MappingError(path, "missing")
    if isinstance(value, bool):
        raise MappingError(path, "not a decimal amount")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise MappingError(path, "not a decimal amount")
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise MappingError(path, f"not a decimal amount: {value!r}") from None
    else:
        raise MappingError(path, "not a decimal amount")
    if not result.is_finite():
        raise MappingError(path, "not a decimal amount")
    return result


def opt_money(value: Any, path: str) -> Decimal | None:
    """``money`` that gives ``None`` for ``None``/blank instead of an error."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return money(value, path)


def integer(value: Any, path: str, *, minimum: int | None = None) -> int:
    """An integer. ``2``, ``2.0``, ``"2"``, ``"2.0000"`` are 2; booleans, ``2.5``, ``"two"``
    are ``"not an integer"``; ``None`` is ``"missing"``; below ``minimum`` is
    ``"must be at least {minimum}"``."""
    if value is None:
        raise MappingError(path, "missing")
    if isinstance(value, bool):
        raise MappingError(path, "not an integer")
    result: int
    if isinstance(value, int):
        result = value
    elif isinstance(value, float | Decimal | str):
        try:
            number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
        except InvalidOperation:
            raise MappingError(path, "not an integer") from None
        if not number.is_finite() or number != number.to_integral_value():
            raise MappingError(path, "not an integer")
        result = int(number)
    else:
        raise MappingError(path, "not an integer")
    if minimum is not None and result < minimum:
        raise MappingError(path, f"must be at least {minimum}")
    return result


def boolean(value: Any, path: str, *, default: bool | None = None) -> bool:
    """A JSON boolean; ``None`` is ``default`` when given, else ``"missing"``. Anything else
    (including ``"true"`` or ``1``) is ``"not a boolean"``: a channel that sends those is
    converted by its own mapping, knowingly."""
    if value is None:
        if default is not None:
            return default
        raise MappingError(path, "missing")
    if not isinstance(value, bool):
        raise MappingError(path, "not a boolean")
    return value


_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


def currency_code(value: Any, path: str) -> str:
    """An ISO 4217 code in upper case (``"usd"`` -> ``"USD"``); anything else is an error."""
    text = opt_str(value, path)
    if text is None:
        raise MappingError(path, "missing")
    if not _CURRENCY.match(text):
        raise MappingError(path, f"not an ISO 4217 currency code: {text!r}")
    return text.upper()


def split_tags(value: Any, path: str) -> list[str]:
    """Tags from a comma-separated string (``"a, b,,c "`` -> ``["a", "b", "c"]``) or from an
    array of strings; trimmed, empties dropped, order kept; ``None`` -> ``[]``."""
    if value is None:
        return []
    if isinstance(value, str):
        items: Iterable[Any] = value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        raise MappingError(path, "not a string or an array of strings")
    tags: list[str] = []
    for index, item in enumerate(items):
        text = opt_str(item, join_path(path, index))
        if text is not None:
            tags.append(text)
    return tags


# --------------------------------------------------------------------------- times

_DATE_TIME = re.compile(r"^\d{4}-?\d{2}-?\d{2}[Tt ]\d{2}")


def to_utc(text: Any, path: str, *, assume_utc_if_naive: bool = False) -> datetime:
    """An ISO 8601 date-time as an aware UTC ``datetime``.

    ``"2008-01-10T11:00:00-05:00"`` -> ``2008-01-10 16:00:00+00:00``; ``Z`` and ``+hh:mm``
    offsets are honoured. A time without an offset is ``"no UTC offset"`` unless
    ``assume_utc_if_naive`` (for channels documented to send naive UTC). A date alone, or
    text that is not a date-time, is ``"not an ISO 8601 date-time"``; ``None``/blank is
    ``"missing"``.
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        raise MappingError(path, "missing")
    if not isinstance(text, str):
        raise MappingError(path, "not an ISO 8601 date-time")
    stripped = text.strip()
    if not _DATE_TIME.match(stripped):
        raise MappingError(path, f"not an ISO 8601 date-time: {text!r}")
    try:
        value = datetime.fromisoformat(stripped)
    except ValueError:
        raise MappingError(path, f"not an ISO 8601 date-time: {text!r}") from None
    if value.tzinfo is None or value.utcoffset() is None:
        if not assume_utc_if_naive:
            raise MappingError(path, f"no UTC offset: {text!r}")
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# --------------------------------------------------------------------------- countries

# Names people and channels use that ISO 3166 / pycountry do not list, and the few codes
# in use that are not ISO alpha-2 (``UK`` is reserved for GB; ``XK`` is Kosovo's
# user-assigned code, which Shopify and others use).
_COUNTRY_ALIASES: dict[str, str] = {
    "uk": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "xk": "XK",
    "kosovo": "XK",
    "russia": "RU",
    "turkey": "TR",
    "holland": "NL",
    "ivory coast": "CI",
    "macedonia": "MK",
    "brunei": "BN",
    "cape verde": "CV",
    "swaziland": "SZ",
    "palestine": "PS",
    "vatican": "VA",
    "vatican city": "VA",
    "macau": "MO",
    "micronesia": "FM",
    "dr congo": "CD",
    "democratic republic of the congo": "CD",
    "republic of the congo": "CG",
    "burma": "MM",
    "east timor": "TL",
    "falkland islands": "FK",
    "north korea": "KP",
    "republic of korea": "KR",
    "u.s.": "US",
    "u.s.a.": "US",
    "america": "US",
}
_EXTRA_ALPHA_2 = frozenset({"XK"})


def _fold(text: str) -> str:
    """Case-, accent- and spacing-insensitive form of a name (``" Réunion "`` -> ``"reunion"``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = plain.casefold().replace("&", " and ")
    plain = re.sub(r"\bst\.?\s", "saint ", plain)
    plain = " ".join(plain.split())
    return plain.removeprefix("the ")


@cache
def _country_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for country in pycountry.countries:
        alpha_2: str = country.alpha_2
        index[country.alpha_3.casefold()] = alpha_2
        for attr in ("name", "official_name", "common_name"):
            name = getattr(country, attr, None)
            if name:
                index.setdefault(_fold(name), alpha_2)
    for alias, code in _COUNTRY_ALIASES.items():
        index.setdefault(_fold(alias), code)
    return index


def country_code(value: Any) -> str | None:
    """An ISO 3166-1 alpha-2 code in upper case, or ``None`` when unknown or empty.

    Accepts alpha-2 (``"us"`` -> ``"US"``; ``"UK"`` -> ``"GB"``; ``"XK"`` kept), alpha-3
    (``"DEU"`` -> ``"DE"``), and English names as ISO and ``pycountry`` write them (name,
    official or common name) plus a short list of everyday names (``"United States"``,
    ``"Russia"``, ``"Turkey"``, ``"Ivory Coast"``...), compared without case, accents or
    a leading "the". No fuzzy matching: anything else, numeric codes included, is ``None``.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    if len(text) == 2 and text.isascii() and text.isalpha():
        upper = text.upper()
        if upper == "UK":
            return "GB"
        if upper in _EXTRA_ALPHA_2 or pycountry.countries.get(alpha_2=upper) is not None:
            return upper
        return None
    return _country_index().get(_fold(text))


# --------------------------------------------------------------------------- rounded money

__all__ += ["rounded_money"]


def rounded_money(value: Any, path: str, *, places: int, default: Decimal | None = None) -> Decimal:
    """``money`` rounded to at most ``places`` decimal places (half away from zero).

    For channels that send amounts as JSON numbers computed in binary floating point
    (Magento's PHP): ``0.1 + 0.2`` arrives as ``0.30000000000000004`` and comes out as
    ``Decimal("0.3")`` with ``places=4``. An amount with no more than ``places`` decimals
    keeps its own form (``253.74`` stays ``Decimal("253.74")``, ``5`` stays ``Decimal("5")``);
    a rounded one loses the trailing zeros rounding leaves (``2.00000001`` -> ``Decimal("2")``).
    Errors and ``default`` as for ``money``.
    """
    result = money(value, path, default=default)
    exponent = result.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -places:
        result = result.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        result = result.quantize(Decimal(1)) if result == result.to_integral_value() else result.normalize()
    return result


# --------------------------------------------------------------------------- unit prices

__all__ += ["unit_price"]


def unit_price(amount: Decimal, quantity: int) -> Decimal:
    """The price of one unit when a channel states the price of the whole quantity.

    ``amount / quantity`` exactly when it divides (``17.95 / 2`` -> ``Decimal("8.975")``);
    otherwise the quotient rounded *up* at two more decimal places than ``amount`` has, and
    at least two (``10.00 / 3`` -> ``Decimal("3.3334")``, ``10 / 3`` -> ``Decimal("3.34")``).
    Rounding up keeps ``unit_price(a, q) * q - a`` >= 0: callers put that remainder in the
    line's discount, so the line total stays the channel's and no discount goes negative.
    ``quantity`` below 1 is a ``ValueError`` (a programming error, not a payload error).
    """
    if quantity < 1:
        raise ValueError(f"quantity must be at least 1, not {quantity}")
    with localcontext() as context:
        context.traps[Inexact] = True
        try:
            return amount / quantity
        except Inexact:
            pass
    exponent = amount.as_tuple().exponent
    places = min((exponent if isinstance(exponent, int) else 0) - 2, -2)
    return (amount / quantity).quantize(Decimal(1).scaleb(places), rounding=ROUND_CEILING)


# --------------------------------------------------------------------------- ids and status text

__all__ += ["identifier", "order_object", "status_text"]


def order_object(document: Any) -> dict[str, Any]:
    """The order object of a document that must be one order (not a list of them)."""
    if isinstance(document, list):
        raise MappingError("order", "a JSON array (a list of orders?), not one order")
    if not isinstance(document, dict):
        raise MappingError("order", "not a JSON object")
    return document


def identifier(value: Any, path: str) -> str:
    """A channel id (string or integer) as a non-empty string."""
    if value is None:
        raise MappingError(path, "missing")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MappingError(path, "not an id")
    text = opt_str(value, path)
    if text is None:
        raise MappingError(path, "missing")
    return text


def status_text(value: Any, path: str) -> str:
    """A status as the channel wrote it, stripped; missing or blank is an error."""
    if value is None:
        raise MappingError(path, "missing")
    if not isinstance(value, str):
        raise MappingError(path, "not a string")
    text = value.strip()
    if not text:
        raise MappingError(path, "missing")
    return text
