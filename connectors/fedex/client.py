"""HTTP to the FedEx REST APIs: OAuth client-credentials tokens and bearer calls.

Everything goes through the connection's :class:`hub.http.HttpClient`; tokens through the
shared cache (:data:`hub.oauth.TOKENS`), one per key pair (the Track API often has its own
project keys). FedEx error bodies (``errors[].code/message``) become :class:`FedexError`.
"""

from __future__ import annotations

import contextlib
import gzip
import zlib
from collections.abc import Callable
from typing import Any

import orjson
import requests

from hub.carriers import Bearer
from hub.http import HttpClient, HttpError
from hub.oauth import TOKENS, Token, TokenCache, token_from_response
from mappings.fedex import error_text

TOKEN_PATH = "/oauth/token"


class FedexError(RuntimeError):
    """FedEx refused a call; the message carries FedEx's own codes and messages."""

    def __init__(self, message: str, *, status: int | None = None, codes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.codes = codes


def decoded_json(response: requests.Response) -> Any:
    """The JSON of a FedEx answer, gunzipped by content when FedEx sent gzip without saying so."""
    content = response.content
    if content[:2] == b"\x1f\x8b":
        with contextlib.suppress(OSError, EOFError, zlib.error):
            content = gzip.decompress(content)
    return orjson.loads(content) if content else {}


def _codes(body: Any) -> tuple[str, ...]:
    errors = body.get("errors") if isinstance(body, dict) else None
    return tuple(str(e.get("code")) for e in errors or [] if isinstance(e, dict) and e.get("code"))


def fedex_error(what: str, exc: HttpError, mask: Callable[[str], str]) -> FedexError:
    """A clear error from a refused call: FedEx's codes and messages (read from the raw answer,
    whose ``code`` fields the HTTP layer's masking would hide, then masked here), else the HTTP
    layer's text."""
    try:
        body = decoded_json(exc.response) if exc.response is not None else None
    except orjson.JSONDecodeError:
        body = None
    text = error_text(body)
    if exc.status is None or text is None:
        return FedexError(f"FedEx {what} failed: {exc}", status=exc.status)
    return FedexError(
        f"FedEx {what} refused ({exc.status}): {mask(text)}", status=exc.status, codes=_codes(body)
    )


class FedexClient:
    """Bearer calls for one API key pair."""

    def __init__(
        self, http: HttpClient, api_key: str, secret_key: str, *, cache: TokenCache = TOKENS
    ) -> None:
        self.http = http
        self._api_key = api_key
        self._secret_key = secret_key
        self.cache = cache
        self.cache_key = TokenCache.key("fedex", http.base_url, api_key, secret_key)
        self.bearer = Bearer(http, self.cache_key, self.fetch_token, cache)
        http.add_secret(api_key)
        http.add_secret(secret_key)
        # tokens are masked too: the hook sees every answer, the token one included
        http.on_response.append(self._mask_token)

    def _mask_token(self, response: requests.Response) -> None:
        if response.request is not None and (response.request.url or "").endswith(TOKEN_PATH):
            try:
                token = decoded_json(response).get("access_token")
            except (orjson.JSONDecodeError, AttributeError):
                return
            if isinstance(token, str):
                self.http.add_secret(token)

    def fetch_token(self) -> Token:
        """A new token (``grant_type=client_credentials``, form-encoded as FedEx requires)."""
        form = {
            "grant_type": "client_credentials",
            "client_id": self._api_key,
            "client_secret": self._secret_key,
        }
        try:
            response = self.http.post(
                TOKEN_PATH,
                data=form,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                idempotent=True,  # asking for a token twice has no effect beyond a second token
            )
        except HttpError as exc:
            raise fedex_error("authentication", exc, self.http.mask) from exc
        body = decoded_json(response)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise FedexError("FedEx authentication answered without an access_token")
        return token_from_response(token, body.get("expires_in"))

    def token(self) -> str:
        return self.bearer.token()

    def call(
        self,
        what: str,
        method: str,
        path: str,
        body: Any,
        *,
        idempotent: bool,
        timeout: float | None = None,
        transaction_id: str | None = None,
    ) -> Any:
        """One API call with the cached token (a 401 refreshes it once); its JSON answer."""
        headers = {"Content-Type": "application/json", "x-locale": "en_US"}
        if transaction_id:
            headers["x-customer-transaction-id"] = transaction_id
        try:
            response = self.bearer.request(
                method, path, headers=headers, json=body, idempotent=idempotent, timeout=timeout
            )
        except HttpError as exc:
            raise fedex_error(what, exc, self.http.mask) from exc
        return decoded_json(response)
