"""The sign-in token bucket and the AIMD audit concurrency."""

from __future__ import annotations

from license_analyzer.sources.pacing import AdaptiveLimit, ExecutionBudget, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_token_bucket_allows_a_burst_then_spaces_requests() -> None:
    clock = FakeClock()
    bucket = TokenBucket(5, 10.0, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        assert bucket.acquire() == 0
    assert bucket.acquire() == 2.0  # one token every 2 s
    for _ in range(9):
        bucket.acquire()
    # 15 requests: 5 at once, then 10 more at one per 2 s = 20 s, never over 5 per 10 s
    assert clock.now == 20.0


def test_adaptive_limit_halves_on_throttling_and_grows_back_slowly() -> None:
    throttled = [0]
    limit = AdaptiveLimit(16, lambda: throttled[0])
    assert limit.limit == 16
    limit.acquire()
    throttled[0] += 3  # several 429s during one unit of work halve once
    limit.release()
    assert limit.limit == 8
    limit.acquire()
    throttled[0] += 1
    limit.release()
    assert limit.limit == 4 and limit.lowest == 4
    for _ in range(4):
        limit.acquire()
        limit.release()
    assert limit.limit == 5
    for _ in range(200):
        limit.acquire()
        limit.release()
    assert limit.limit == 16


def test_execution_budget_holds_new_requests_until_old_ones_leave_the_window() -> None:
    import time

    budget = ExecutionBudget(0.25, 0.6)
    began = time.monotonic()
    for _ in range(4):
        token = budget.start()
        time.sleep(0.1)
        budget.finish(token)
    # 0.1 s each against 0.25 s per 0.6 s: the third and fourth wait for the first to expire
    assert time.monotonic() - began >= 0.55
    assert budget.waited_s > 0.2
