"""Per-client rate limits: a token bucket per caller (its subject, or its address
when anonymous). ``take`` answers how long to wait when the bucket is empty."""

from __future__ import annotations

import math
import time


class RateLimiter:
    def __init__(self, rate: float, burst: float, max_clients: int = 100_000) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._max = max_clients

    def take(self, client: str, now: float | None = None) -> int:
        """0 if the request may go ahead, else the seconds to wait (Retry-After)."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            if len(self._buckets) >= self._max and client not in self._buckets:
                self._buckets.clear()  # a flood of new clients: forget and start over
            self._buckets[client] = (tokens - 1.0, now)
            return 0
        self._buckets[client] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / self.rate))
