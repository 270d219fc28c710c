"""The shared limiter: never more than the limit in any window, across processes and
skewed clocks; fails closed when Redis is gone."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pytest
import redis

from dialer.embedded import EmbeddedRedis
from dialer.errors import RedisUnavailableError
from dialer.ratelimit import SlidingWindowLimiter

LIMIT, WINDOW_S, RUN_S = 50, 2.0, 10.0


def _hammer(url: str, key: str, skew_s: float, run_s: float, out: mp.Queue) -> None:
    if skew_s:  # this process's clock is off: the limiter must not care
        real = time.time
        time.time = lambda: real() + skew_s  # type: ignore[assignment]
    client = redis.Redis.from_url(url)
    limiter = SlidingWindowLimiter(client, LIMIT, WINDOW_S)
    admitted: list[int] = []
    denied = 0
    end = time.monotonic() + run_s
    while time.monotonic() < end:
        d = limiter.acquire(key)
        if d.admitted:
            admitted.append(d.now_us)
        else:
            denied += 1
            time.sleep(min(d.wait_s, 0.005))
    out.put((admitted, denied))


def max_in_any_window(times: list[int], window_us: int) -> int:
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - window_us:  # closed window [t - window, t], in µs
            j += 1
        best = max(best, i - j + 1)
    return best


def _run(url: str, skews: list[float]) -> tuple[list[int], int]:
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(url, "rl:test", s, RUN_S, out)) for s in skews]
    for p in procs:
        p.start()
    results = [out.get(timeout=RUN_S + 60) for _ in procs]
    for p in procs:
        p.join(10)
    times = [t for admitted, _ in results for t in admitted]
    return times, sum(d for _, d in results)


@pytest.mark.slow
@pytest.mark.parametrize("skews", [[0, 0, 0, 0], [0, 1.0, 0, -1.0]], ids=["same", "skewed"])
def test_four_processes_never_exceed_the_limit(redis_url: str, skews: list[float]) -> None:
    times, denied = _run(redis_url, skews)
    assert denied > 0  # they did hammer past the limit
    assert max_in_any_window(times, int(WINDOW_S * 1_000_000)) <= LIMIT
    # and the limit is used, not starved: about LIMIT per window over the run
    assert len(times) >= LIMIT * (RUN_S / WINDOW_S) * 0.9


def test_denial_says_how_long_to_wait(r: redis.Redis) -> None:
    limiter = SlidingWindowLimiter(r, 3, 1.0)
    assert all(limiter.acquire("k").admitted for _ in range(3))
    d = limiter.acquire("k")
    assert not d.admitted and 0 < d.wait_s <= 1.0
    assert limiter.in_window("k") == 3


def test_fails_closed_when_redis_is_gone(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path) as server:
        client = redis.Redis.from_url(server.url, socket_timeout=1, socket_connect_timeout=1)
        limiter = SlidingWindowLimiter(client, 100, 1.0)
        assert limiter.acquire("k").admitted
    with pytest.raises(RedisUnavailableError):
        limiter.acquire("k")


def test_bad_arguments_are_refused(r: redis.Redis) -> None:
    with pytest.raises(ValueError, match="limit"):
        SlidingWindowLimiter(r, 0, 1.0)
    with pytest.raises(ValueError, match="window_s"):
        SlidingWindowLimiter(r, 1, 0)


def test_confirm_moves_the_entry_to_the_end_of_the_request(r: redis.Redis) -> None:
    limiter = SlidingWindowLimiter(r, 2, 10.0)
    first = limiter.acquire("k")
    before = r.zscore("k", first.member)
    limiter.confirm("k", first.member)
    after = r.zscore("k", first.member)
    assert before is not None and after is not None and after >= before
    limiter.confirm("k", "not-there")  # never adds an entry
    assert r.zcard("k") == 1


def test_lookups_use_at_most_their_share(r: redis.Redis) -> None:
    limiter = SlidingWindowLimiter(r, 10, 30.0, lookup_max=3)
    got = [limiter.acquire("k", "lookup").admitted for _ in range(5)]
    assert got == [True, True, True, False, False]
    assert all(limiter.acquire("k", "dial").admitted for _ in range(7))  # dials: the rest
    assert not limiter.acquire("k", "dial").admitted  # 10 in all, whatever the kind


def test_dials_leave_the_reserve_to_starved_lookups(r: redis.Redis) -> None:
    limiter = SlidingWindowLimiter(r, 10, 30.0, lookup_max=5, lookup_reserve=2)
    assert all(limiter.acquire("k", "dial").admitted for _ in range(8))
    # nobody asked for a look-up yet: dials may take every slot
    assert limiter.acquire("k", "dial").admitted
    assert limiter.acquire("k", "lookup").admitted
    assert not limiter.acquire("k", "lookup").admitted  # full: the account is "starved"
    r.delete("k")  # a new window: 0 in the log, the starved mark stays for one window
    r.delete("k:lookups")
    assert sum(limiter.acquire("k", "dial").admitted for _ in range(10)) == 8  # 2 left
    assert limiter.acquire("k", "lookup").admitted and limiter.acquire("k", "lookup").admitted
    assert not limiter.acquire("k", "lookup").admitted and not limiter.acquire("k").admitted


def test_a_cool_down_admits_nothing_until_it_ends(r: redis.Redis) -> None:
    limiter = SlidingWindowLimiter(r, 10, 30.0)
    limiter.cool_down("k", 20)
    for kind in ("dial", "lookup"):
        d = limiter.acquire("k", kind)  # type: ignore[arg-type]
        assert not d.admitted and 15 < d.wait_s <= 20
    r.delete("k:cooldown")
    assert limiter.acquire("k").admitted


def test_confirm_moves_a_lookup_in_both_logs(r: redis.Redis) -> None:
    limiter = SlidingWindowLimiter(r, 10, 30.0, lookup_max=5)
    d = limiter.acquire("k", "lookup")
    before = r.zscore("k:lookups", d.member)
    wait_for_clock(r, int(before or 0))
    limiter.confirm("k", d.member)
    assert (r.zscore("k:lookups", d.member) or 0) > (before or 0)
    assert r.zscore("k", d.member) == r.zscore("k:lookups", d.member)


def wait_for_clock(r: redis.Redis, past_us: int) -> None:
    """Until Redis's clock has moved past ``past_us`` (a microsecond or so)."""
    for _ in range(10_000):
        sec, usec = r.time()
        if int(sec) * 1_000_000 + int(usec) > past_us:
            return
    raise AssertionError("Redis's clock did not move")


def test_background_lookups_only_use_a_quiet_window(r: redis.Redis) -> None:
    limiter = SlidingWindowLimiter(r, 10, 30.0, lookup_max=8, lookup_reserve=2)
    assert all(limiter.acquire("k", "dial").admitted for _ in range(4))
    assert limiter.acquire("k", "background").admitted  # 4 < 10 / 2
    d = limiter.acquire("k", "background")
    assert not d.admitted and d.wait_s > 0  # half full: a dial may need it
    assert not r.exists("k:starved")  # and the dials are not asked to make room
    assert limiter.acquire("k", "lookup").admitted


def test_background_lookups_leave_half_the_lookup_share_to_polls(r: redis.Redis) -> None:
    limiter = SlidingWindowLimiter(r, 100, 30.0, lookup_max=10)
    got = sum(limiter.acquire("k", "background").admitted for _ in range(20))
    assert got == 5  # half of the look-ups' share
    assert sum(limiter.acquire("k", "lookup").admitted for _ in range(20)) == 5
