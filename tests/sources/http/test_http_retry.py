from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from license_analyzer.sources.http.retry import (
    RetryPolicy,
    RetryStats,
    RetryTransport,
    ThrottledTooLong,
    parse_retry_after,
)

NOW = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
Step = httpx.Response | Exception


class Script:
    """Answers each request with the next step; records what was sent."""

    def __init__(self, *steps: Step) -> None:
        self.steps: Iterator[Step] = iter(steps)
        self.sent: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        step = next(self.steps)
        if isinstance(step, Exception):
            raise step
        return step


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(script: Script, sleeps: Sleeps, *, jitter: float = 1.0,
           policy: RetryPolicy | None = None, stats: RetryStats | None = None) -> httpx.Client:
    transport = RetryTransport(httpx.MockTransport(script), policy=policy, stats=stats,
                               sleep=sleeps, now=lambda: NOW, jitter=lambda: jitter)
    return httpx.Client(transport=transport, base_url="https://graph.test.example/v1.0")


def test_retry_after_fractional_seconds_is_honoured() -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "2.128"}), httpx.Response(200))
    sleeps = Sleeps()
    stats = RetryStats()
    with client(script, sleeps, stats=stats) as c:
        assert c.get("/users").status_code == 200
    assert sleeps == pytest.approx([2.128])
    assert stats.retries == 1 and stats.throttled == 1
    assert stats.waited_s == pytest.approx(2.128)
    assert stats.by_path["/v1.0/users"].throttled == 1


def test_retry_after_http_date_is_honoured() -> None:
    when = format_datetime(NOW + timedelta(seconds=7), usegmt=True)
    script = Script(httpx.Response(503, headers={"Retry-After": when}), httpx.Response(200))
    sleeps = Sleeps()
    with client(script, sleeps) as c:
        assert c.get("/users").status_code == 200
    assert sleeps == pytest.approx([7.0])


def test_retry_after_is_clamped_at_zero() -> None:
    assert parse_retry_after("-3", NOW) == 0.0
    past = format_datetime(NOW - timedelta(minutes=1), usegmt=True)
    assert parse_retry_after(past, NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None
    assert parse_retry_after("nan", NOW) is None


def test_exponential_backoff_with_jitter_when_no_retry_after() -> None:
    script = Script(httpx.Response(500), httpx.Response(502), httpx.Response(504),
                    httpx.Response(200))
    sleeps = Sleeps()
    with client(script, sleeps, jitter=0.5) as c:
        assert c.get("/subscribedSkus").status_code == 200
    # full jitter: jitter() * min(cap, base * 2**n), here jitter() = 0.5
    assert sleeps == [0.5, 1.0, 2.0]
    assert len(script.sent) == 4


def test_backoff_is_capped() -> None:
    transport = RetryTransport(httpx.MockTransport(Script()),
                               policy=RetryPolicy(backoff_base_s=1, backoff_max_s=10),
                               jitter=lambda: 1.0)
    assert transport.backoff(20) == 10.0


def test_cap_on_waiting_raises_throttled_too_long() -> None:
    script = Script(*(httpx.Response(429, headers={"Retry-After": "40"}) for _ in range(10)))
    sleeps = Sleeps()
    stats = RetryStats()
    with client(script, sleeps, policy=RetryPolicy(max_wait_s=100), stats=stats) as c, \
            pytest.raises(ThrottledTooLong) as caught:
        c.get("/auditLogs/signIns", params={"$filter": "createdDateTime ge 2026-11-01"})
    assert sleeps == [40.0, 40.0]  # a third wait would pass 100 s
    assert "next run resumes" in caught.value.message
    assert caught.value.path == "/v1.0/auditLogs/signIns"
    assert stats.gave_up == 1 and stats.throttled == 3


def test_a_retry_after_beyond_the_cap_gives_up_without_sleeping() -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "3600"}))
    sleeps = Sleeps()
    with client(script, sleeps, policy=RetryPolicy(max_wait_s=300)) as c, \
            pytest.raises(ThrottledTooLong):
        c.get("/users")
    assert sleeps == []


def test_server_errors_return_the_last_response_after_max_attempts() -> None:
    script = Script(*(httpx.Response(503) for _ in range(3)))
    sleeps = Sleeps()
    with client(script, sleeps, policy=RetryPolicy(max_attempts=3)) as c:
        assert c.get("/users").status_code == 503
    assert len(sleeps) == 2


def test_connection_error_then_success() -> None:
    script = Script(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(200))
    sleeps = Sleeps()
    stats = RetryStats()
    with client(script, sleeps, stats=stats) as c:
        assert c.get("/users").status_code == 200
    assert stats.retries == 2 and stats.throttled == 0


def test_connection_errors_reraise_after_max_attempts() -> None:
    script = Script(*(httpx.ConnectError("refused") for _ in range(2)))
    with client(script, Sleeps(), policy=RetryPolicy(max_attempts=2)) as c, \
            pytest.raises(httpx.ConnectError):
        c.get("/users")


def test_post_is_retried_on_429_and_connect_errors_only() -> None:
    body = {"addLicenses": [], "removeLicenses": ["x"]}
    script = Script(httpx.Response(429, headers={"Retry-After": "1"}),
                    httpx.ConnectError("refused"), httpx.Response(200))
    with client(script, Sleeps()) as c:
        assert c.post("/users/u1/assignLicense", json=body).status_code == 200
    assert [r.content for r in script.sent] == [script.sent[0].content] * 3

    script = Script(httpx.Response(503), httpx.Response(200))
    with client(script, Sleeps()) as c:
        assert c.post("/users/u1/assignLicense", json=body).status_code == 503
    script = Script(httpx.ReadTimeout("slow"), httpx.Response(200))
    with client(script, Sleeps()) as c, pytest.raises(httpx.ReadTimeout):
        c.post("/users/u1/assignLicense", json=body)


def test_other_statuses_are_not_retried() -> None:
    for status in (400, 401, 403, 404, 501):
        script = Script(httpx.Response(status), httpx.Response(200))
        with client(script, Sleeps()) as c:
            assert c.get("/users").status_code == status
        assert len(script.sent) == 1


def test_every_retry_is_logged_with_method_and_path_never_the_query_or_token(
        caplog: pytest.LogCaptureFixture) -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "0.5"}), httpx.Response(200))
    caplog.set_level(logging.INFO, logger="license_analyzer.sources.http.retry")
    with client(script, Sleeps()) as c:
        c.get("/users", params={"$filter": "secretish eq 'x'"},
              headers={"Authorization": "Bearer abc.def.ghi"})
    lines = [r.getMessage() for r in caplog.records]
    assert any("GET /v1.0/users" in line and "HTTP 429" in line and "0.50 s" in line
               for line in lines)
    assert not any("secretish" in line or "abc.def" in line for line in lines)


def test_untrusted_certificate_is_not_retried() -> None:
    import ssl

    error = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    error.__cause__ = ssl.SSLCertVerificationError("certificate verify failed")
    script = Script(error, httpx.Response(200))
    with client(script, Sleeps()) as c, pytest.raises(httpx.ConnectError):
        c.get("/users")
    assert len(script.sent) == 1


def test_stats_snapshot_is_plain_data() -> None:
    stats = RetryStats()
    stats.record("/a", throttled=True, waited_s=1.25)
    stats.record("/a", throttled=False, waited_s=0.5)
    assert stats.snapshot() == {
        "retries": 2, "throttled": 1, "waited_s": 1.75, "gave_up": 0,
        "by_path": {"/a": {"retries": 2, "throttled": 1, "waited_s": 1.75}},
    }
