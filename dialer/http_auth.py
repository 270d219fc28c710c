"""The HTTP API's bearer-token check, shared by every router of the web app.

It is declared as OpenAPI's ``bearerAuth`` security scheme (HTTP bearer), so a generated
client knows to send ``Authorization: Bearer <DIALER_API_TOKEN>``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import HTTPException, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

BEARER = HTTPBearer(scheme_name="bearerAuth", auto_error=False,
                    description="DIALER_API_TOKEN, as `Authorization: Bearer <token>`")


def bearer_token_check(api_token: str) -> Callable[..., None]:
    """A FastAPI dependency refusing (401) a missing or wrong ``Authorization: Bearer``.

    An empty ``api_token`` refuses everything; the comparison is constant-time.
    """
    expected = api_token.encode()

    def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None,
    ) -> None:
        given = credentials.credentials.encode() if credentials else b""
        if not api_token or not given or not hmac.compare_digest(given, expected):
            raise HTTPException(401, "missing or wrong bearer token",
                                headers={"WWW-Authenticate": "Bearer"})

    return require_token
