"""The one retry transport every call goes through (dlt's retry.py, Airbyte's soft stop).

Throttling (429), server errors (500, 502, 503, 504) and dropped connections are retried,
waiting what `Retry-After` asks (fractional seconds like Graph's "2.128", or an HTTP date),
else an exponential backoff with full jitter. Requests that may have changed something are
retried only when the server surely did not act: a POST or PATCH only on 429 and on errors
before the request was sent. When the waiting for one request would pass `max_wait_s`, the
transport raises ThrottledTooLong: the stream stops softly and the next run resumes it.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from license_analyzer.errors import SourceError

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

# failures before the request reached the server: safe to resend whatever the method
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# failures after sending: the server may have acted, so only idempotent requests are resent
_MAYBE_SENT = (httpx.ReadError, httpx.ReadTimeout, httpx.WriteError, httpx.WriteTimeout,
               httpx.RemoteProtocolError)


class ThrottledTooLong(SourceError):
    """Microsoft asked us to wait longer than the cap: stop this stream, resume next run."""

    def __init__(self, method: str, path: str, waited_s: float, wanted_s: float) -> None:
        super().__init__(
            f"{method} {path} was throttled or failing for longer than the retry cap "
            f"(waited {waited_s:.0f} s, asked for {wanted_s:.0f} s more); this stream stops "
            "here and the next run resumes it.",
            detail=f"waited={waited_s:.3f}s wanted={wanted_s:.3f}s",
        )
        self.method = method
        self.path = path
        self.waited_s = waited_s
        self.wanted_s = wanted_s


@dataclass
class PathStats:
    retries: int = 0
    throttled: int = 0
    waited_s: float = 0.0


@dataclass
class RetryStats:
    """Counters for run history; shared by every client of a connection, thread-safe."""

    retries: int = 0
    throttled: int = 0  # 429 responses seen
    waited_s: float = 0.0
    gave_up: int = 0  # ThrottledTooLong raised
    by_path: dict[str, PathStats] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, path: str, *, throttled: bool, waited_s: float) -> None:
        with self._lock:
            self.retries += 1
            self.throttled += int(throttled)
            self.waited_s += waited_s
            entry = self.by_path.setdefault(path, PathStats())
            entry.retries += 1
            entry.throttled += int(throttled)
            entry.waited_s += waited_s

    def record_gave_up(self, path: str, *, throttled: bool) -> None:
        """The cap was reached; a 429 that is not retried still counts as throttled."""
        with self._lock:
            self.throttled += int(throttled)
            self.gave_up += 1
            self.by_path.setdefault(path, PathStats()).throttled += int(throttled)

    def snapshot(self) -> dict[str, object]:
        """A plain copy for run history (JSON-friendly)."""
        with self._lock:
            return {
                "retries": self.retries,
                "throttled": self.throttled,
                "waited_s": round(self.waited_s, 3),
                "gave_up": self.gave_up,
                "by_path": {p: {"retries": s.retries, "throttled": s.throttled,
                                "waited_s": round(s.waited_s, 3)}
                            for p, s in sorted(self.by_path.items())},
            }


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 10  # sends per request, the first included
    max_wait_s: float = 300.0  # total sleeping per request before ThrottledTooLong
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait: "2.128" or an HTTP date; clamped at 0; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN, inf
        return None
    return max(0.0, seconds)


def is_untrusted_certificate(exc: BaseException) -> bool:
    """A TLS verification failure: retrying cannot help, the trust setup must change."""
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if isinstance(node, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(
                node):
            return True
        node = node.__cause__ or node.__context__
    return False


class RetryTransport(httpx.BaseTransport):
    def __init__(
        self,
        inner: httpx.BaseTransport,
        *,
        policy: RetryPolicy | None = None,
        stats: RetryStats | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.inner = inner
        self.policy = policy or RetryPolicy()
        self.stats = stats if stats is not None else RetryStats()
        self._sleep = sleep
        self._now = now
        self._jitter = jitter

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
        ceiling = min(self.policy.backoff_max_s, self.policy.backoff_base_s * 2.0 ** attempt)
        return self._jitter() * ceiling

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # a body we may have to send again must be in memory
        method = request.method.upper()
        path = request.url.path
        idempotent = method in IDEMPOTENT_METHODS
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.inner.handle_request(request)
            except _NOT_SENT as exc:
                if is_untrusted_certificate(exc):
                    raise
                if attempt >= self.policy.max_attempts:
                    raise
                delay, reason, throttled = self.backoff(attempt - 1), type(exc).__name__, False
            except _MAYBE_SENT as exc:
                if not idempotent or attempt >= self.policy.max_attempts:
                    raise
                delay, reason, throttled = self.backoff(attempt - 1), type(exc).__name__, False
            else:
                status = response.status_code
                if status not in RETRY_STATUSES or (not idempotent and status != 429):
                    return response
                throttled = status == 429
                asked = parse_retry_after(response.headers.get("Retry-After"), self._now())
                delay = asked if asked is not None else self.backoff(attempt - 1)
                reason = f"HTTP {status}"
                if attempt >= self.policy.max_attempts and not throttled:
                    return response  # the caller turns the last 5xx into a SourceError
                response.close()
                if attempt >= self.policy.max_attempts:
                    self._give_up(method, path, waited, delay, throttled)
            if waited + delay > self.policy.max_wait_s:
                self._give_up(method, path, waited, delay, throttled)
            log.info("%s %s: %s, retrying in %.2f s (attempt %d)", method, path, reason, delay,
                     attempt + 1)
            self.stats.record(path, throttled=throttled, waited_s=delay)
            if delay > 0:
                self._sleep(delay)
            waited += delay

    def _give_up(self, method: str, path: str, waited: float, wanted: float,
                 throttled: bool) -> None:
        self.stats.record_gave_up(path, throttled=throttled)
        log.warning("%s %s: giving up after waiting %.1f s (asked for %.1f s more)", method,
                    path, waited, wanted)
        raise ThrottledTooLong(method, path, waited, wanted)

    def close(self) -> None:
        self.inner.close()
