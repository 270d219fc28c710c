"""One process that takes slots from a shared limiter as fast as it can and POSTs each one.

    python -m bench.limit_hammer --kind ours|limits --redis URL --sim URL --limit 50
        --window-s 5 --start-at EPOCH --duration-s 20 [--skew-s 1.0] [--tag p1]

``--skew-s`` moves this process's clock (``time.time``) before anything reads it, as a
host with a wrong clock would. ``ours`` is :class:`dialer.ratelimit.SlidingWindowLimiter`
(Redis's clock, entry moved to the end of the request); ``limits`` is the ``limits``
library's moving window on Redis (the caller's clock). Each admitted slot is one POST to
the simulator, whose arrival times are the measure.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable

import requests

from bench.harness import SIM_ACCOUNT

POLL_S = 0.005  # a denied process asks again after this


def skew_clock(skew_s: float) -> None:
    if skew_s:
        real = time.time
        time.time = lambda: real() + skew_s


def poster(sim_url: str, tag: str) -> Callable[[], None]:
    session = requests.Session()
    session.trust_env = False
    url = f"{sim_url}/v1/Accounts/{SIM_ACCOUNT['sid']}/Calls/connect.json"
    counter = itertools.count()

    def post() -> None:
        n = next(counter)
        session.post(url, data={"From": "+919810000010", "To": "+919820000010",
                                "CallerId": SIM_ACCOUNT["caller_id"],
                                "CustomField": f"{tag}-{n}"},
                     auth=(SIM_ACCOUNT["api_key"], SIM_ACCOUNT["api_token"]), timeout=10)

    return post


def step_ours(redis_url: str, limit: int, window_s: float, post: Callable[[], None]
              ) -> Callable[[], None]:
    import redis

    from dialer.ratelimit import SlidingWindowLimiter

    limiter = SlidingWindowLimiter(redis.Redis.from_url(redis_url), limit, window_s)

    def step() -> None:
        decision = limiter.acquire("bench:rl:ours")
        if not decision.admitted:
            time.sleep(min(decision.wait_s, POLL_S))
            return
        try:
            post()
        finally:
            limiter.confirm("bench:rl:ours", decision.member)

    return step


def step_limits(redis_url: str, limit: int, window_s: float, post: Callable[[], None]
                ) -> Callable[[], None]:
    from limits import RateLimitItemPerSecond
    from limits.storage import RedisStorage
    from limits.strategies import MovingWindowRateLimiter

    limiter = MovingWindowRateLimiter(RedisStorage(redis_url))
    item = RateLimitItemPerSecond(limit, int(window_s))

    def step() -> None:
        if limiter.hit(item, "bench-account"):
            post()
        else:
            time.sleep(POLL_S)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", choices=["ours", "limits"], required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--sim", required=True)
    parser.add_argument("--limit", type=int, required=True)
    parser.add_argument("--window-s", type=float, required=True)
    parser.add_argument("--start-at", type=float, required=True, help="real epoch seconds")
    parser.add_argument("--duration-s", type=float, required=True)
    parser.add_argument("--skew-s", type=float, default=0.0)
    parser.add_argument("--tag", default="p")
    args = parser.parse_args()
    start_in = args.start_at - time.time()  # before the skew: a real delay
    skew_clock(args.skew_s)
    make = step_ours if args.kind == "ours" else step_limits
    step = make(args.redis, args.limit, args.window_s, poster(args.sim, args.tag))
    time.sleep(max(0.0, start_in))
    deadline = time.monotonic() + args.duration_s
    while time.monotonic() < deadline:
        step()


if __name__ == "__main__":
    main()
