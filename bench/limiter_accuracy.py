"""Limiter accuracy: the rate a `RateLimiter` really admits against the configured rate.

The bar (spec 03): over 10 s at 50/s, admitted calls stay within 2% of the configured
rate. Measured on the real clock with several callers competing for tokens; the
initial burst is drained first, so the figure is the steady-state rate.

Run alone with `python -m bench.limiter_accuracy [rate] [seconds]`.
"""

from __future__ import annotations

import asyncio
import json
import platform
import sys
import time

from resultflow.reliability._limiters.combined import RateLimiter

__all__ = ["measure"]

ACCURACY_BAR_PCT = 2.0
"""The admitted rate must stay within this many percent of the configured rate."""


def measure(rate: float = 50.0, seconds: float = 10.0, *, callers: int = 4) -> dict[str, object]:
    """Run a waiting `RateLimiter` at `rate`/s for `seconds` and report the admitted rate.

    `callers` tasks acquire tokens in a loop. Returns the configured and admitted
    rates, the count, the measured span, the error in percent and whether it meets
    the 2% bar.
    """
    if not rate > 0 or not seconds > 0 or callers < 1:
        raise ValueError("rate and seconds must be positive and callers at least 1")
    admitted, span = asyncio.run(_run(rate, seconds, callers))
    admitted_rate = admitted / span if span > 0 else 0.0
    error_pct = abs(admitted_rate - rate) / rate * 100.0
    return {
        "figure": "limiter accuracy (admitted vs configured rate)",
        "configured_rate": rate,
        "admitted_rate": round(admitted_rate, 3),
        "admitted": admitted,
        "seconds": round(span, 4),
        "callers": callers,
        "error_pct": round(error_pct, 3),
        "bar_pct": ACCURACY_BAR_PCT,
        "within_bar": error_pct <= ACCURACY_BAR_PCT,
        "machine": f"{platform.machine()} {platform.python_implementation()} "
        f"{platform.python_version()}",
    }


async def _run(rate: float, seconds: float, callers: int) -> tuple[int, float]:
    """Return (calls admitted after the burst, seconds from the drained bucket to the last)."""
    limiter = RateLimiter("bench", rate=rate, strategy="wait")
    while limiter.stats().available_tokens >= 1.0:  # drain the burst: steady state only
        await limiter.acquire()
    # The bucket is (nearly) empty now; the fraction of a token left is < 1 / rate s.
    started = time.monotonic()
    deadline = started + seconds
    admitted = 0
    last = started

    async def caller() -> None:
        nonlocal admitted, last
        while True:
            await limiter.acquire()
            now = time.monotonic()
            if now > deadline:
                return
            admitted += 1
            last = now

    await asyncio.gather(*(caller() for _ in range(callers)))
    return admitted, last - started


if __name__ == "__main__":
    arguments = [float(arg) for arg in sys.argv[1:3]]
    print(json.dumps(measure(*arguments), indent=2))
