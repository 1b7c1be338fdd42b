"""Circuit breaker: stop calling a failing dependency, then probe it until it recovers.

```python
breaker = CircuitBreaker("payments", failure_threshold=5, reset_timeout=30.0)
result = await breaker.call_result(charge)   # Err(CircuitOpen(...)) while open
value = await breaker.call(fetch)            # raises CircuitOpenError while open
```

The state machine (CLOSED -> OPEN -> HALF_OPEN -> CLOSED or OPEN) is described in
`resultflow.reliability._breaker_store`; the state lives in the store, so giving several breakers
one store (`RedisBreakerStore` for several processes) makes them trip together. With
the plain `MemoryBreakerStore` a call admitted while CLOSED is settled directly on the
store's in-process circuit (no awaits); every other decision is one store operation.
A `CircuitBreaker` is a `resultflow.reliability.Guard`, so a step can run through it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, TypeAlias, TypedDict, TypeVar, cast

from typing_extensions import Unpack

from resultflow.clock import SYSTEM_CLOCK, Clock
from resultflow.errors import CircuitOpen, CircuitOpenError, UnexpectedError
from resultflow.reliability._breaker_store import (
    BreakerConfig,
    BreakerRecord,
    BreakerStore,
    BreakerStoreError,
    CircuitState,
    MemoryBreakerStore,
    MemoryCircuit,
    Ticket,
    Transition,
)
from resultflow.result import Err, Ok, Result

__all__ = [
    "BreakerPresets",
    "BreakerStats",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "PresetOptions",
    "StateChangeCallback",
    "breaker_presets",
]

T = TypeVar("T")
E = TypeVar("E")

logger = logging.getLogger("resultflow.reliability._breaker")

_CLOSED: Final = CircuitState.CLOSED

StateChangeCallback: TypeAlias = Callable[[CircuitState, CircuitState], object]
"""`on_state_change(old, new)`: a sync callback; whatever it returns is ignored."""


@dataclass(frozen=True, slots=True)
class BreakerStats:
    """A breaker's state as seen now.

    - `state`: HALF_OPEN as soon as `reset_timeout` has passed, even before a call.
    - `failure_count`: failures within the last `window` seconds (at most
      `failure_threshold` are kept).
    - `success_count`: successful calls since the circuit last closed.
    - `half_open_successes`: trial successes in the current half-open episode.
    - `retry_after`: seconds until an OPEN breaker admits a trial (0.0 otherwise).
    """

    state: CircuitState
    failure_count: int
    success_count: int
    half_open_successes: int
    retry_after: float


class CircuitBreaker:
    """Refuses calls to a dependency after repeated failures, then probes its recovery.

    `failure_threshold` failures within `window` seconds open the circuit. After
    `reset_timeout` seconds it goes HALF_OPEN and admits at most `half_open_max`
    concurrent trial calls (more callers are refused with `CircuitOpen`, not queued);
    `success_threshold` trial successes close it, any trial failure reopens it.

    If the store fails (e.g. Redis is down) before a call, the call does not run:
    `call` raises `BreakerStoreError` (a `StoreError`) and `call_result` returns
    `Err(UnexpectedError)` describing it. If it fails while recording an outcome, the
    outcome is still returned and the failure is logged.

    Args:
        name: The breaker's name: in `CircuitOpen.breaker` and in the store's keys, so
            breakers with the same name and store share one circuit.
        failure_threshold: Failures within `window` that open the circuit.
        reset_timeout: Seconds an open circuit refuses calls before it admits trials.
        half_open_max: Trial calls admitted at once while HALF_OPEN.
        success_threshold: Trial successes that close the circuit again.
        window: Seconds over which failures are counted (older ones age out).
        is_failure: Decides whether an outcome counts as a failure: it gets the
            exception for `call`, the Err's error for `call_result`. Returning False
            counts the outcome as a success (the dependency answered). Default: every
            Err and every exception is a failure.
        store: Where the state lives; default a private `MemoryBreakerStore`, or a
            `RedisBreakerStore` to trip together with other processes.
        clock: The time source; default the system clock (a `TestClock` in tests).
        on_state_change: Called as `on_state_change(old, new)` after each transition
            this breaker causes; its exceptions are logged, never raised.

    Raises:
        ValueError: `name` is empty, or a threshold or timeout is out of range.
    """

    def __init__(
        self,
        name: str,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        half_open_max: int = 1,
        success_threshold: int = 1,
        window: float = 60.0,
        is_failure: Callable[[object], bool] | None = None,
        store: BreakerStore | None = None,
        clock: Clock | None = None,
        on_state_change: StateChangeCallback | None = None,
    ) -> None:
        if not name:
            raise ValueError(f"a breaker needs a non-empty str name, got {name!r}")
        self._name = name
        self._config = BreakerConfig(
            failure_threshold=failure_threshold,
            reset_timeout=reset_timeout,
            half_open_max=half_open_max,
            success_threshold=success_threshold,
            window=window,
        )
        self._is_failure = is_failure
        self._store: BreakerStore = MemoryBreakerStore() if store is None else store
        self._clock: Clock = SYSTEM_CLOCK if clock is None else clock
        self._on_state_change = on_state_change
        # With the plain memory store the state is in this process: calls admitted while
        # CLOSED are settled on the store's circuit directly (see `_local_closed`).
        self._memory: MemoryBreakerStore | None = (
            self._store if type(self._store) is MemoryBreakerStore else None
        )
        self._circuit: MemoryCircuit | None = None

    @property
    def name(self) -> str:
        """The breaker's name (in `CircuitOpen.breaker` and in the store's keys)."""
        return self._name

    @property
    def config(self) -> BreakerConfig:
        """The thresholds and timeouts this breaker runs with."""
        return self._config

    @property
    def store(self) -> BreakerStore:
        """Where the breaker's state lives."""
        return self._store

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run `fn()` and return its value, or raise `CircuitOpenError` if refused.

        An exception from `fn` is recorded as a failure (unless `is_failure` says no)
        and re-raised.
        """
        circuit = self._local_closed()
        if circuit is not None:
            generation = circuit.generation
            try:
                value = await fn()
            except Exception as exc:
                self._settle_local(circuit, generation, failed=self._counts(exc))
                raise
            circuit.count_success()
            return value
        ticket = await self._admit()
        if isinstance(ticket, CircuitOpen):
            raise CircuitOpenError(ticket)
        try:
            value = await fn()
        except Exception as exc:
            await self._record_judged(ticket, exc)
            raise
        except BaseException:
            await self._abandon(ticket)
            raise
        await self._record(ticket, failed=False)
        return value

    async def call_result(
        self, fn: Callable[[], Awaitable[Result[T, E]]]
    ) -> Result[T, E | CircuitOpen | UnexpectedError]:
        """Run `fn()` and return its Result, or `Err(CircuitOpen)` if refused.

        An Err counts as a failure unless `is_failure(error)` is False. If `fn` raises,
        that counts as a failure and the exception comes back as `Err(UnexpectedError)`.
        """
        circuit = self._local_closed()
        if circuit is not None:
            generation = circuit.generation
            try:
                result = await fn()
            except Exception as exc:
                self._settle_local(circuit, generation, failed=True)
                return Err(UnexpectedError.from_exception(exc), exc)
            if type(result) is Ok:
                circuit.count_success()
            else:
                self._settle_local_result(circuit, generation, result)
            return result
        try:
            ticket = await self._admit()
        except BreakerStoreError as exc:
            return Err(UnexpectedError.from_exception(exc), exc)
        if isinstance(ticket, CircuitOpen):
            return Err(ticket)
        try:
            result = await fn()
        except Exception as exc:
            await self._record(ticket, failed=True)
            return Err(UnexpectedError.from_exception(exc), exc)
        except BaseException:
            await self._abandon(ticket)
            raise
        if not _is_result(result):
            await self._abandon(ticket)
            raise TypeError(_not_a_result(self._name, result))
        if isinstance(result, Err):
            await self._record_judged(ticket, result.error)
        else:
            await self._record(ticket, failed=False)
        return result

    def stats(self) -> BreakerStats:
        """The state now, from the last record the store saw (no I/O).

        Exact for the memory store; with a shared store it reflects this process's last
        exchange with it (use `fetch_stats()` for a fresh read).
        """
        record = self._store.peek(self._name) or BreakerRecord()
        return _stats_at(record, self._config, self._clock.now())

    async def fetch_stats(self) -> BreakerStats:
        """Read the state from the store and return it as `BreakerStats`."""
        now = self._clock.now()
        record = await self._store.load(self._name, self._config, now)
        return _stats_at(record, self._config, now)

    async def reset(self) -> None:
        """Close the circuit and forget its failures, successes and trials.

        Calls still running from before the reset no longer move the state.
        """
        update = await self._store.reset(self._name, self._config, self._clock.now())
        self._notify(update.transitions)

    def __repr__(self) -> str:
        c = self._config
        return (
            f"CircuitBreaker({self._name!r}, failure_threshold={c.failure_threshold}, "
            f"reset_timeout={c.reset_timeout}, half_open_max={c.half_open_max}, "
            f"success_threshold={c.success_threshold}, window={c.window})"
        )

    # -- internals ------------------------------------------------------------------
    def _local_closed(self) -> MemoryCircuit | None:
        """The in-process circuit if it is CLOSED now, else None (ask the store).

        A call admitted while CLOSED is no trial: its ticket would only carry a token
        and a generation its outcome never looks at, so such calls skip the store's
        async admit/record round trip and count their outcome on the circuit directly
        (under the store's lock). Every other state goes through the store.
        """
        circuit = self._circuit
        if circuit is None:
            if self._memory is None:
                return None
            circuit = self._circuit = self._memory.circuit(self._name)
        return circuit if circuit.state is _CLOSED else None

    def _settle_local(self, circuit: MemoryCircuit, generation: int, *, failed: bool) -> None:
        """Count the outcome of a call admitted while CLOSED in `generation`."""
        if failed:
            self._notify(circuit.count_failure(self._config, self._clock.now(), generation))
        else:
            circuit.count_success()

    def _settle_local_result(self, circuit: MemoryCircuit, generation: int, result: object) -> None:
        """Count the outcome of a call admitted while CLOSED that is not a plain `Ok`."""
        if isinstance(result, Err):
            error = cast("Err[object]", result).error
            self._settle_local(circuit, generation, failed=self._counts(error))
        elif isinstance(result, Ok):
            circuit.count_success()
        else:
            raise TypeError(_not_a_result(self._name, result))

    async def _admit(self) -> Ticket | CircuitOpen:
        admission = await self._store.admit(
            self._name, self._config, self._clock.now(), uuid.uuid4().hex
        )
        self._notify(admission.transitions)
        if admission.ticket is None:
            return CircuitOpen(self._name, max(0.0, admission.retry_after))
        return admission.ticket

    async def _record_judged(self, ticket: Ticket, outcome: object) -> None:
        """Record `outcome` (an exception or an Err's error) as `is_failure` judges it.

        A raising `is_failure` still gives the ticket back before its exception
        propagates.
        """
        try:
            failed = self._counts(outcome)
        except BaseException:
            await self._abandon(ticket)
            raise
        await self._record(ticket, failed=failed)

    async def _record(self, ticket: Ticket, *, failed: bool) -> None:
        try:
            update = await self._store.record(
                self._name, self._config, self._clock.now(), ticket, failed=failed
            )
        except BreakerStoreError:
            logger.warning("breaker %r could not record an outcome", self._name, exc_info=True)
            return
        self._notify(update.transitions)

    async def _abandon(self, ticket: Ticket) -> None:
        if not ticket.trial:
            return
        try:
            await self._store.release(self._name, self._config, self._clock.now(), ticket)
        except BreakerStoreError:
            logger.warning("breaker %r could not free a trial slot", self._name, exc_info=True)

    def _counts(self, outcome: object) -> bool:
        return True if self._is_failure is None else bool(self._is_failure(outcome))

    def _notify(self, transitions: tuple[Transition, ...]) -> None:
        if self._on_state_change is None:
            return
        for old, new in transitions:
            try:
                self._on_state_change(old, new)
            except Exception:
                logger.exception(
                    "on_state_change of breaker %r failed (%s -> %s)",
                    self._name,
                    old.name,
                    new.name,
                )


def _stats_at(record: BreakerRecord, config: BreakerConfig, now: float) -> BreakerStats:
    """Turn a stored record into `BreakerStats` as of `now`.

    OPEN past its timeout is reported as HALF_OPEN; failures older than the window are
    not counted.
    """
    state = record.state
    half_open_successes = record.half_open_successes
    retry_after = 0.0
    if state is CircuitState.OPEN:
        remaining = record.opened_at + config.reset_timeout - now
        if remaining > 0:
            retry_after = remaining
        else:
            state = CircuitState.HALF_OPEN
            half_open_successes = 0
    failure_count = sum(1 for t in record.failure_times if t > now - config.window)
    return BreakerStats(
        state=state,
        failure_count=failure_count,
        success_count=record.success_count,
        half_open_successes=half_open_successes,
        retry_after=retry_after,
    )


def _is_result(value: object) -> bool:
    return isinstance(value, (Ok, Err))


def _not_a_result(name: str, value: object) -> str:
    return (
        f"breaker {name!r}: call_result expects fn to return Ok or Err, "
        f"got {type(value).__name__}; use call() for plain values"
    )


class PresetOptions(TypedDict, total=False):
    """The breaker options a preset leaves to the caller."""

    half_open_max: int
    success_threshold: int
    window: float
    is_failure: Callable[[object], bool] | None
    store: BreakerStore | None
    clock: Clock | None
    on_state_change: StateChangeCallback | None


class BreakerPresets:
    """Factories for breakers with tried numbers; each call makes a NEW breaker.

    | preset | failure_threshold | reset_timeout |
    | --- | --- | --- |
    | `critical` | 3 | 60 s |
    | `standard` | 5 | 30 s |
    | `lenient` | 10 | 15 s |

    Other options keep their defaults (`window=60.0`, `half_open_max=1`,
    `success_threshold=1`) unless given: `breaker_presets.critical("payments",
    store=store)`.
    """

    __slots__ = ()

    def critical(self, name: str, **options: Unpack[PresetOptions]) -> CircuitBreaker:
        """A breaker that trips early and rests long: 3 failures, 60 s reset."""
        return CircuitBreaker(name, failure_threshold=3, reset_timeout=60.0, **options)

    def standard(self, name: str, **options: Unpack[PresetOptions]) -> CircuitBreaker:
        """The everyday breaker: 5 failures, 30 s reset (the constructor's defaults)."""
        return CircuitBreaker(name, failure_threshold=5, reset_timeout=30.0, **options)

    def lenient(self, name: str, **options: Unpack[PresetOptions]) -> CircuitBreaker:
        """A breaker for flaky but non-critical calls: 10 failures, 15 s reset."""
        return CircuitBreaker(name, failure_threshold=10, reset_timeout=15.0, **options)

    def __repr__(self) -> str:
        return "breaker_presets(critical=(3, 60 s), standard=(5, 30 s), lenient=(10, 15 s))"


breaker_presets: Final = BreakerPresets()
"""`breaker_presets.critical(name)`, `.standard(name)`, `.lenient(name)`: new breakers."""
