"""Where a circuit breaker keeps its state: the `BreakerStore` protocol and the memory store.

A `CircuitBreaker` holds no state of its own; every decision (admit a call, record its
outcome, reset) is one atomic operation on a store, so a store shared by several
breakers (or, with `RedisBreakerStore`, by several processes) makes them act as one.
(With `MemoryBreakerStore` the breaker settles calls admitted while CLOSED on the
store's `MemoryCircuit` directly, under the same lock: the same steps, minus the
coroutines and snapshots.)

The state machine every store implements, for a breaker with a `BreakerConfig`:

- CLOSED: every call is admitted. Each failure is stamped with the time; when
  `failure_threshold` failures fall within the last `window` seconds the circuit
  OPENs. Successes do not erase failures: they age out of the window.
- OPEN: calls are refused until `reset_timeout` seconds after it opened. The first
  call after that moves it to HALF_OPEN (a *generation* counter is bumped).
- HALF_OPEN: at most `half_open_max` trial calls run at once; others are refused.
  `success_threshold` trial successes close it (failures are forgotten); any trial
  failure reopens it and restarts `reset_timeout`. A trial slot held for longer than
  `reset_timeout` (its caller hung or its process died) is reclaimed.
- Outcomes of calls admitted under an earlier state or generation only update the
  counters; they never move the state.

Times are wall-clock epoch seconds read from the breaker's clock, so stores shared by
processes need roughly synchronized clocks (NTP is enough: skew shifts the window and
the reopen time by the skew).
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass
from typing import Final, Protocol, TypeAlias, runtime_checkable

# Defined with the other store errors (a `StoreError`), re-exported here.
from resultflow.errors import BreakerStoreError

__all__ = [
    "Admission",
    "BreakerConfig",
    "BreakerRecord",
    "BreakerStore",
    "BreakerStoreError",
    "CircuitState",
    "MemoryBreakerStore",
    "MemoryCircuit",
    "Ticket",
    "Transition",
    "Update",
]


class CircuitState(enum.Enum):
    """The state of a circuit: CLOSED (calls flow), OPEN (refused), HALF_OPEN (probing)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


Transition: TypeAlias = tuple[CircuitState, CircuitState]
"""A state change `(old, new)`, as passed to `on_state_change`."""


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """The numbers that drive a breaker's state machine (validated on creation)."""

    failure_threshold: int = 5
    reset_timeout: float = 30.0
    half_open_max: int = 1
    success_threshold: int = 1
    window: float = 60.0

    def __post_init__(self) -> None:
        for name in ("failure_threshold", "half_open_max", "success_threshold"):
            value: object = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        for name in ("reset_timeout", "window"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0 < value < float("inf")
            ):
                # Infinity and NaN are refused: no store can keep "open forever" as a
                # time, and `reset()` already closes a breaker by hand.
                raise ValueError(
                    f"{name} must be a positive, finite number of seconds, got {value!r}"
                )


@dataclass(frozen=True, slots=True)
class BreakerRecord:
    """A breaker's stored state at one moment.

    `state` is as stored: an OPEN record whose `reset_timeout` has passed is still OPEN
    here until a call moves it to HALF_OPEN (`CircuitBreaker.stats()` reports it as
    HALF_OPEN already). `failure_times` holds at most `failure_threshold` recent
    failure times; `success_count` counts successes since the circuit last closed.
    """

    state: CircuitState = CircuitState.CLOSED
    opened_at: float = 0.0
    failure_times: tuple[float, ...] = ()
    success_count: int = 0
    half_open_successes: int = 0
    trials_active: int = 0
    generation: int = 0


@dataclass(frozen=True, slots=True)
class Ticket:
    """Proof that a call was admitted; handed back with its outcome.

    `trial` marks a half-open trial holding one of the `half_open_max` slots;
    `generation` is the half-open episode it belongs to; `token` is unique per call.
    """

    trial: bool
    generation: int
    token: str


@dataclass(frozen=True, slots=True)
class Admission:
    """A store's answer to "may this call run?": a ticket, or None and `retry_after`."""

    ticket: Ticket | None
    retry_after: float
    record: BreakerRecord
    transitions: tuple[Transition, ...] = ()


@dataclass(frozen=True, slots=True)
class Update:
    """The record after an operation and the state changes it caused."""

    record: BreakerRecord
    transitions: tuple[Transition, ...] = ()


@runtime_checkable
class BreakerStore(Protocol):
    """Keeps breaker state by name; each method is one atomic step of the state machine.

    Methods raise `BreakerStoreError` when the backing service fails.
    """

    async def admit(self, name: str, config: BreakerConfig, now: float, token: str) -> Admission:
        """Admit a call (returning a ticket) or refuse it (returning `retry_after`)."""
        ...

    async def record(
        self, name: str, config: BreakerConfig, now: float, ticket: Ticket, *, failed: bool
    ) -> Update:
        """Record the outcome of an admitted call."""
        ...

    async def release(self, name: str, config: BreakerConfig, now: float, ticket: Ticket) -> Update:
        """Give back a ticket whose call ended without an outcome (it was cancelled)."""
        ...

    async def load(self, name: str, config: BreakerConfig, now: float) -> BreakerRecord:
        """Read the current record."""
        ...

    async def reset(self, name: str, config: BreakerConfig, now: float) -> Update:
        """Close the circuit and forget failures, successes and trials."""
        ...

    def peek(self, name: str) -> BreakerRecord | None:
        """The last record this store saw for `name`, without I/O (None if never seen)."""
        ...


class MemoryBreakerStore:
    """The default store: state in this process's memory.

    Each `CircuitBreaker` made without `store=` gets its own; pass one instance to
    several breakers to make same-named breakers share state. Operations take a short
    thread lock, so a store may also be used from several event loops at once.
    """

    def __init__(self) -> None:
        self._circuits: dict[str, MemoryCircuit] = {}
        self._lock = threading.Lock()

    def circuit(self, name: str) -> MemoryCircuit:
        """The live, mutable state of breaker `name` (created closed on first use).

        The same object for the store's lifetime, so a `CircuitBreaker` holds on to it
        and settles calls admitted while CLOSED without going through the async methods.
        """
        with self._lock:
            return self._circuit(name)

    async def admit(self, name: str, config: BreakerConfig, now: float, token: str) -> Admission:
        """Admit a call or refuse it (see the module docstring for the rules)."""
        with self._lock:
            circuit = self._circuit(name)
            transitions = circuit.promote(config, now)
            ticket, retry_after = circuit.admit(config, now, token)
            return Admission(ticket, retry_after, circuit.snapshot(), transitions)

    async def record(
        self, name: str, config: BreakerConfig, now: float, ticket: Ticket, *, failed: bool
    ) -> Update:
        """Record the outcome of an admitted call."""
        with self._lock:
            circuit = self._circuit(name)
            transitions = circuit.record_outcome(config, now, ticket, failed=failed)
            return Update(circuit.snapshot(), transitions)

    async def release(self, name: str, config: BreakerConfig, now: float, ticket: Ticket) -> Update:
        """Free a cancelled trial's slot without counting an outcome."""
        with self._lock:
            circuit = self._circuit(name)
            circuit.trials.pop(ticket.token, None)
            return Update(circuit.snapshot())

    async def load(self, name: str, config: BreakerConfig, now: float) -> BreakerRecord:
        """Return the current record."""
        with self._lock:
            return self._circuit(name).snapshot()

    async def reset(self, name: str, config: BreakerConfig, now: float) -> Update:
        """Close the circuit; calls in flight from before no longer move the state."""
        with self._lock:
            circuit = self._circuit(name)
            transitions = circuit.reset()
            return Update(circuit.snapshot(), transitions)

    def peek(self, name: str) -> BreakerRecord | None:
        """The live record for `name` (None before its first operation)."""
        with self._lock:
            circuit = self._circuits.get(name)
            return None if circuit is None else circuit.snapshot()

    def _circuit(self, name: str) -> MemoryCircuit:
        circuit = self._circuits.get(name)
        if circuit is None:
            circuit = self._circuits[name] = MemoryCircuit(self._lock)
        return circuit

    def __repr__(self) -> str:
        return f"MemoryBreakerStore(breakers={sorted(self._circuits)!r})"


_CLOSED: Final = CircuitState.CLOSED
_OPEN: Final = CircuitState.OPEN
_HALF_OPEN: Final = CircuitState.HALF_OPEN


class MemoryCircuit:
    """The mutable state of one breaker in a `MemoryBreakerStore`.

    Plain fields, so a call costs a few attribute updates; `snapshot()` builds the
    frozen `BreakerRecord` only when someone asks for one. `count_success` and
    `count_failure` take the store's lock themselves; every other method expects the
    caller to hold `lock`.
    """

    __slots__ = (
        "failures",
        "generation",
        "half_open_successes",
        "lock",
        "opened_at",
        "state",
        "success_count",
        "trials",
    )

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock
        self.state: CircuitState = _CLOSED
        self.opened_at = 0.0
        self.failures: list[float] = []  # ascending; at most failure_threshold kept
        self.success_count = 0
        self.half_open_successes = 0
        self.trials: dict[str, float] = {}  # token -> lease end
        self.generation = 0

    def snapshot(self) -> BreakerRecord:
        """The state now as a frozen `BreakerRecord`."""
        return BreakerRecord(
            state=self.state,
            opened_at=self.opened_at,
            failure_times=tuple(self.failures),
            success_count=self.success_count,
            half_open_successes=self.half_open_successes,
            trials_active=len(self.trials),
            generation=self.generation,
        )

    def count_success(self) -> None:
        """Count the success of a call that is not a half-open trial (takes the lock)."""
        with self.lock:
            self.success_count += 1

    def count_failure(
        self, config: BreakerConfig, now: float, generation: int
    ) -> tuple[Transition, ...]:
        """Count the failure of a call that is not a half-open trial (takes the lock).

        `generation` is the circuit's generation when the call was admitted. Opens a
        CLOSED circuit of that same generation once `failure_threshold` failures fall
        in the window; a call from before a reset or a recovery only adds its failure.
        """
        with self.lock:
            self._add_failure(config, now)
            return self._open_if_tripped(config, now, generation)

    def promote(self, config: BreakerConfig, now: float) -> tuple[Transition, ...]:
        """Move OPEN to HALF_OPEN once `reset_timeout` has passed."""
        if self.state is not _OPEN or now < self.opened_at + config.reset_timeout:
            return ()
        self.state = _HALF_OPEN
        self.half_open_successes = 0
        self.generation += 1
        self.trials.clear()
        return ((_OPEN, _HALF_OPEN),)

    def admit(self, config: BreakerConfig, now: float, token: str) -> tuple[Ticket | None, float]:
        """A ticket for a call, or None and the seconds until one may be admitted."""
        if self.state is _CLOSED:
            return Ticket(trial=False, generation=self.generation, token=token), 0.0
        if self.state is _OPEN:
            return None, self.opened_at + config.reset_timeout - now
        for held, lease_end in list(self.trials.items()):
            if lease_end <= now:
                del self.trials[held]
        if len(self.trials) >= config.half_open_max:
            return None, 0.0
        self.trials[token] = now + config.reset_timeout
        return Ticket(trial=True, generation=self.generation, token=token), 0.0

    def record_outcome(
        self, config: BreakerConfig, now: float, ticket: Ticket, *, failed: bool
    ) -> tuple[Transition, ...]:
        """Count an admitted call's outcome; a current trial's outcome moves the state."""
        if ticket.trial:
            self.trials.pop(ticket.token, None)
        current = self.state is _HALF_OPEN and ticket.trial and ticket.generation == self.generation
        if failed:
            self._add_failure(config, now)
            if current:
                return self._open(now)
            return self._open_if_tripped(config, now, ticket.generation)
        self.success_count += 1
        if not current:
            return ()
        self.half_open_successes += 1
        if self.half_open_successes < config.success_threshold:
            return ()
        return self._close()

    def reset(self) -> tuple[Transition, ...]:
        """Close the circuit and forget everything; the transition, if it moved."""
        old = self.state
        self._close()
        return () if old is _CLOSED else ((old, _CLOSED),)

    def _add_failure(self, config: BreakerConfig, now: float) -> None:
        failures = self.failures
        horizon = now - config.window
        if failures and failures[0] <= horizon:
            failures[:] = [t for t in failures if t > horizon]
        if failures and now < failures[-1]:  # the clock stepped back: keep them sorted
            failures.append(now)
            failures.sort()
        else:
            failures.append(now)
        del failures[: -config.failure_threshold]

    def _open_if_tripped(
        self, config: BreakerConfig, now: float, generation: int
    ) -> tuple[Transition, ...]:
        """Open a CLOSED circuit whose failures reached the threshold.

        Only if the failing call was admitted in the current generation (else it is
        stale: it is counted only).
        """
        if (
            self.state is _CLOSED
            and generation == self.generation
            and len(self.failures) >= config.failure_threshold
        ):
            return self._open(now)
        return ()

    def _open(self, now: float) -> tuple[Transition, ...]:
        old = self.state
        self.state = _OPEN
        self.opened_at = now
        self.half_open_successes = 0
        self.trials.clear()
        return ((old, _OPEN),)

    def _close(self) -> tuple[Transition, ...]:
        old = self.state
        self.state = _CLOSED
        self.opened_at = 0.0
        self.success_count = 0
        self.half_open_successes = 0
        self.generation += 1
        self.failures.clear()
        self.trials.clear()
        return ((old, _CLOSED),)
