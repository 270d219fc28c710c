"""Every Redis key the dialer writes, in one place. ``prefix`` is ``Settings.key_prefix``.

A few keys are built inside Lua, where the name depends on data the script reads (the
agent and the rate-limit log of a call's account, the attempts and calls a sweep finds):
the scripts get the prefixes below (:attr:`Keys.attempt_prefix`, :attr:`Keys.call_prefix`,
:attr:`Keys.agent_prefix`, :attr:`Keys.idem_prefix`, :attr:`Keys.ratelimit_prefix`,
:data:`RATELIMIT_PARTS`) and append the id, exactly as the methods here do.
"""

from __future__ import annotations

from dataclasses import dataclass

EVENTS_MAXLEN = 1_000_000  # approximate cap of the events stream

# The keys of one account's rate limiter: its log, then what the limiter derives from it
# (see :meth:`Keys.ratelimit`), as suffixes of the log's key.
RATELIMIT_PARTS = ("", ":lookups", ":starved", ":cooldown", ":counts")


@dataclass(frozen=True)
class Keys:
    prefix: str = "dialer"

    @property
    def call_prefix(self) -> str:
        return f"{self.prefix}:call:"

    @property
    def attempt_prefix(self) -> str:
        return f"{self.prefix}:attempt:"

    @property
    def agent_prefix(self) -> str:
        return f"{self.prefix}:agent:"

    @property
    def agent_sweep_cursor(self) -> str:
        """The SCAN cursor of the sweeper's walk over the agent holds (agent_holds.py)."""
        return f"{self.prefix}:agent-sweep-cursor"

    @property
    def idem_prefix(self) -> str:
        return f"{self.prefix}:idem:"  # then "{account}:{key}"

    @property
    def ratelimit_prefix(self) -> str:
        return f"{self.prefix}:rl:"

    def call(self, call_id: str) -> str:
        return self.call_prefix + call_id  # hash: the call request and its summary

    def attempt(self, attempt_id: str) -> str:
        # hash: one attempt's state; a call's first attempt is written by its first claim
        # (or cancel): until then it is pending and has no hash (see dialer/store.py)
        return self.attempt_prefix + attempt_id

    def idem(self, account: str, key: str) -> str:
        return f"{self.idem_prefix}{account}:{key}"  # string: idempotency key → call id

    def call_sid(self, call_sid: str) -> str:
        return f"{self.prefix}:callsid:{call_sid}"  # string: Exotel CallSid → attempt id

    def ratelimit(self, account: str) -> str:
        # zset: every Exotel request admitted (µs); the limiter derives from it
        # ":lookups" (zset, the GETs among them), ":starved" (a GET was denied, PX window)
        # and ":cooldown" (Exotel answered 429, PX its wait); ":counts" (hash: dial, lookup,
        # 429 → how many ever, for /metrics)
        return self.ratelimit_prefix + account

    def ratelimit_keys(self, account: str) -> list[str]:
        """The limiter's keys of ``account``, in :data:`RATELIMIT_PARTS` order."""
        log = self.ratelimit(account)
        return [log + part for part in RATELIMIT_PARTS]

    def agent(self, account: str, number: str) -> str:
        return f"{self.agent_prefix}{account}:{number}"  # zset: attempts holding the agent

    @property
    def due(self) -> str:
        return f"{self.prefix}:due"  # zset: attempt id → due time (ms, Redis clock)

    @property
    def pending(self) -> str:
        return f"{self.prefix}:pending"  # zset: attempt id → time its message was sent (ms)

    @property
    def dialing(self) -> str:
        return f"{self.prefix}:dialing"  # zset: attempt id → time it was claimed (ms)

    @property
    def active(self) -> str:
        return f"{self.prefix}:active"  # zset: placed attempt id → time to poll it (ms)

    @property
    def unknown(self) -> str:
        return f"{self.prefix}:unknown"  # zset: unknown attempt id → time to look it up (ms)

    @property
    def evidence(self) -> str:
        return f"{self.prefix}:evidence"  # zset: ended attempt awaiting leg evidence → look-up (ms)

    @property
    def unresolved(self) -> str:
        return f"{self.prefix}:unresolved"  # zset: unknown attempts given up on (ms)

    @property
    def calls(self) -> str:
        # zset: call id → created (ms); written by earlier versions only (a counter
        # replaced it: no index entry per call). Read for the count of calls stored.
        return f"{self.prefix}:calls"

    @property
    def calls_created(self) -> str:
        return f"{self.prefix}:calls:created"  # counter: calls created

    @property
    def metrics(self) -> str:
        return f"{self.prefix}:metrics"  # hash: counters folded from the events (monitor)

    @property
    def metrics_cursor(self) -> str:
        return f"{self.prefix}:metrics:cursor"  # string: the last event folded into metrics

    @property
    def events(self) -> str:
        return f"{self.prefix}:events"  # stream: every state change

    # --- failover and the scheduler (dialer/replication.py, dialer/scheduler.py) ---------
    @property
    def wait_fence(self) -> str:
        return f"{self.prefix}:wait-fence"  # counter: written before WAIT (see replication.py)

    @property
    def scheduler_lease(self) -> str:
        return f"{self.prefix}:scheduler:lease"  # string: "<epoch>|<host>|<pid>|<token>", PX lease

    @property
    def scheduler_epoch(self) -> str:
        return f"{self.prefix}:scheduler:epoch"  # counter: the fencing token of each new leader

    @property
    def schedulers(self) -> str:
        return f"{self.prefix}:scheduler:seen"  # hash: scheduler id → last heartbeat JSON

    @property
    def scheduler_rogue(self) -> str:
        return f"{self.prefix}:scheduler:rogue"  # string: a scheduler without the lease, PX

    def job_lock(self, job: str) -> str:
        return f"{self.prefix}:lock:{job}"  # string: token of the run holding a periodic job
