"""The one error the shipping services raise for a request they refuse: it names the
field (for the API's ``{"error": {"code", "message", "field"}}``) and an HTTP status."""

from __future__ import annotations


class ShippingError(Exception):
    def __init__(self, field: str | None, message: str, status: int = 400, code: str = "invalid") -> None:
        super().__init__(f"{field} {message}" if field else message)
        self.field = field
        self.message = message
        self.status = status
        self.code = code


def not_found(field: str, message: str) -> ShippingError:
    return ShippingError(field, message, 404, "not_found")


def conflict(field: str | None, message: str) -> ShippingError:
    return ShippingError(field, message, 409, "conflict")
