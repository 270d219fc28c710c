"""An Exotel simulator ("moto of Exotel"): v1 connect / flow, v3 CCM calls, callbacks, faults.

    from exotel_sim import SimConfig, Simulator
    with Simulator(SimConfig(time_scale=0.01)) as sim:
        requests.post(f"{sim.url}/v1/Accounts/AC_SIM/Calls/connect.json",
                      data={"From": "09000000001", "To": "09000000002", "CallerId": "080"},
                      auth=("sim_key", "sim_token"))

Magic numbers (last two digits): 91 busy, 92 no-answer, 93 failed (per leg); 94 on the
customer's number (To; flows: From; v3: to) is on the DND registry (403); on To (flows and
v3: from) 95 accept-then-drop, 96 answers 500. See ``outcomes`` for scenarios.

Defaults follow Exotel's documents (``fidelity.ROWS``): four-field v1 callbacks unless the
request subscribed with StatusCallbackEvents; every Voice API request (POST or GET) counts
against 200 per minute per account; callbacks expect a 2xx within 15 s and are retried up
to 2 times. Bulk call details (``GET /v1/Accounts/<sid>/Calls``) list ended calls WITHOUT
CustomField (the documents list none): match them on From / To / DateCreated.
``sim.counted_requests()`` lists every request that counted against the limit.
"""

from exotel_sim.config import Account, SimConfig
from exotel_sim.server import Simulator

__all__ = ["Account", "SimConfig", "Simulator"]
