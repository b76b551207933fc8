"""Abuse limits (agora.ratelimit) over the real store: exact for one process under concurrency, shared by two."""
import threading

import pytest

from agora.ratelimit import RateLimiter, TooManyRequests


def _burst(lim, key, n, limit, threads=8):
    """``n`` writes from ``threads`` concurrent callers; the number accepted."""
    ok = []

    def one():
        try:
            lim.hit(key, limit)
            ok.append(1)
        except TooManyRequests:
            pass
    def caller(count):
        for _ in range(count):
            one()
    ts = [threading.Thread(target=caller, args=(n // threads + (i < n % threads),)) for i in range(threads)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    return len(ok)


def test_exact_limit_under_concurrency_and_no_round_trip_for_occasional_writers(mongo_db):
    t = [1_000_040.0]                                     # 20 s into a window
    lim = RateLimiter(mongo_db, clock=lambda: t[0])
    assert _burst(lim, "spammer", 200, 60) == 60
    with pytest.raises(TooManyRequests) as err:
        lim.hit("spammer", 60)
    assert err.value.retry_after == 40
    lim.hit("someone", 60)
    lim.hit("another", 60)
    assert mongo_db.rate_limits.count_documents({"_id": {"$regex": "^(someone|another)"}}) == 0
    t[0] += 60                                            # the next window
    lim.hit("spammer", 60)


def test_two_replicas_share_the_window(mongo_db):
    clock = lambda: 2_000_010.0  # noqa: E731
    a, b = RateLimiter(mongo_db, clock=clock), RateLimiter(mongo_db, clock=clock)
    # traffic moving from one replica to the other: the second sees the first's writes at its first sync
    accepted = _burst(a, "p", 40, 60, threads=1) + _burst(b, "p", 40, 60, threads=1)
    assert 60 <= accepted <= 60 + 15                                  # a quarter of the limit at most
    # concurrent bursts on both: neither admits more than the limit on its own
    c, d = RateLimiter(mongo_db, clock=clock), RateLimiter(mongo_db, clock=clock)
    both = _burst(c, "q", 100, 60) + _burst(d, "q", 100, 60)
    assert 60 <= both <= 2 * 60
