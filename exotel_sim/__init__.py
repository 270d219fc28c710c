"""An Exotel simulator ("moto of Exotel"): v1 connect / flow, v3 CCM calls, callbacks, faults.

    from exotel_sim import SimConfig, Simulator
    with Simulator(SimConfig(time_scale=0.01)) as sim:
        requests.post(f"{sim.url}/v1/Accounts/AC_SIM/Calls/connect.json",
                      data={"From": "09000000001", "To": "09000000002", "CallerId": "080"},
                      auth=("sim_key", "sim_token"))

Magic numbers (last two digits): 91 busy, 92 no-answer, 93 failed (per leg); on To (flows
and v3: from) 95 accept-then-drop, 96 answers 500. See ``outcomes`` for scenarios.
"""

from exotel_sim.config import Account, SimConfig
from exotel_sim.server import Simulator

__all__ = ["Account", "SimConfig", "Simulator"]
