"""The Exotel API: typed requests (``models``), Exotel's wire format (``wire``), response
parsing (``responses``) and the HTTP client (``client``).

    from dialer.exotel import ExotelClient, Outcome, build_request
    with ExotelClient(settings.account("main")) as client:
        result = client.place(build_request("connect", {"From": …, "To": …, "CallerId": …}))

The names below are imported on first use, so that ``dialer.exotel.wire`` (used by the
callback parser) can be imported without loading ``requests``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dialer.exotel.bulk import ListedCall
    from dialer.exotel.client import ExotelClient, LegStatuses, Outcome, PostResult
    from dialer.exotel.models import (
        ConnectToFlow,
        ConnectTwoNumbers,
        Request,
        V3Call,
        build_request,
    )

_WHERE = {
    "ExotelClient": "dialer.exotel.client",
    "LegStatuses": "dialer.exotel.client",
    "ListedCall": "dialer.exotel.bulk",
    "Outcome": "dialer.exotel.client",
    "PostResult": "dialer.exotel.client",
    "ConnectToFlow": "dialer.exotel.models",
    "ConnectTwoNumbers": "dialer.exotel.models",
    "Request": "dialer.exotel.models",
    "V3Call": "dialer.exotel.models",
    "build_request": "dialer.exotel.models",
}

__all__ = [
    "ConnectToFlow",
    "ConnectTwoNumbers",
    "ExotelClient",
    "LegStatuses",
    "ListedCall",
    "Outcome",
    "PostResult",
    "Request",
    "V3Call",
    "build_request",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'dialer.exotel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
