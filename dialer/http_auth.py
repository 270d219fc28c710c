"""The HTTP API's bearer-token check, shared by every router of the web app."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import Header, HTTPException


def bearer_token_check(api_token: str) -> Callable[..., None]:
    """A FastAPI dependency refusing (401) a missing or wrong ``Authorization: Bearer``.

    An empty ``api_token`` refuses everything; the comparison is constant-time.
    """

    def require_token(authorization: Annotated[str | None, Header()] = None) -> None:
        expected = f"Bearer {api_token}"
        if not api_token or not authorization or not hmac.compare_digest(
            authorization.encode(), expected.encode()
        ):
            raise HTTPException(401, "missing or wrong bearer token",
                                headers={"WWW-Authenticate": "Bearer"})

    return require_token
