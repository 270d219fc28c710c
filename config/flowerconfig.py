"""Flower's configuration for the dialer (``dialer flower`` passes it as ``--conf``).

Flower executes this file and applies every top-level name that is one of its options;
options given on Flower's command line (``--address``, ``--port``) win over these.

* Listens on loopback unless told otherwise; ``dialer flower`` refuses any other address
  without basic auth.
* ``basic_auth`` comes from ``DIALER_FLOWER_BASIC_AUTH`` ("user:password", several
  separated by commas) and is never written here.
* ``persistent`` is off: no state file on disk holding task arguments.
* Prometheus metrics are served at ``/metrics`` (without auth, like ``/healthcheck``).
"""

import os

port = 5555
address = "127.0.0.1"
persistent = False
# The task list kept in memory (oldest dropped first) and offline workers forgotten after 1 h.
max_tasks = 20000
max_workers = 200
purge_offline_workers = 3600
# Our tasks pass keyword arguments (``attempt_id``, ``update``, ``request``): show them
# next to the name; the uuid (a link to the task) last.
tasks_columns = "name,kwargs,state,result,received,runtime,worker,retries,uuid"
natural_time = False
inspect_timeout = 2000.0  # milliseconds

_auth = os.environ.get("DIALER_FLOWER_BASIC_AUTH", "").strip()
if _auth:
    basic_auth = [entry.strip() for entry in _auth.split(",") if entry.strip()]
del _auth

# Workers report their configuration to Flower; censor URL passwords in it.
from dialer.flower_cli import censor_worker_conf  # noqa: E402

censor_worker_conf()
