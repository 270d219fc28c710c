"""The Exotel API: typed requests (``models``), response parsing (``responses``) and the
HTTP client (``client``).

    from dialer.exotel import ExotelClient, Outcome, build_request
    with ExotelClient(settings.account("main")) as client:
        result = client.place(build_request("connect", {"From": …, "To": …, "CallerId": …}))
"""

from dialer.exotel.client import ExotelClient, LegStatuses, Outcome, PostResult
from dialer.exotel.models import ConnectToFlow, ConnectTwoNumbers, Request, V3Call, build_request

__all__ = [
    "ConnectToFlow",
    "ConnectTwoNumbers",
    "ExotelClient",
    "LegStatuses",
    "Outcome",
    "PostResult",
    "Request",
    "V3Call",
    "build_request",
]
