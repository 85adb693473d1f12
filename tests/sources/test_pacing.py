"""The sign-in token bucket and the AIMD audit concurrency."""

from __future__ import annotations

import httpx

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


def _reporting(seconds: str, requests: str = "5999") -> httpx.Response:
    return httpx.Response(200, headers={"x-ms-ratelimit-time-remaining-xrm-requests": seconds,
                                        "x-ms-ratelimit-burst-remaining-xrm-requests": requests})


def test_execution_budget_steers_by_the_time_dataverse_reports_left() -> None:
    """By wall time the budget (2 s) is long spent; by the service's figure there is plenty:
    the figure wins. When the service says little is left, one request at a time goes."""
    clock = FakeClock()
    budget = ExecutionBudget(2.0, 300.0, reserve_s=120.0, clock=clock)
    first = budget.start()
    clock.sleep(10.0)  # a slow network: 10 s on the client's clock
    budget.finish(first, _reporting("1,190.50"))
    assert budget.report is not None and budget.report.seconds == 1190.5
    running = [budget.start() for _ in range(8)]  # 8 at once, none held back
    assert budget.held_back == 0
    for token in running:
        budget.finish(token, _reporting("100.00"))
    probe = budget.start()  # little left, nothing running: one goes, to learn more
    assert budget._may_start(clock()) is False  # a second waits for its figure
    budget.finish(probe, httpx.Response(200))  # no headers: the last figure stands
    assert budget.report is not None and budget.report.seconds == 100.0
