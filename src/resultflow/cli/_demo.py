"""`resultflow demo`: sample order workflows run end to end on an embedded SQLite store.

1. An order fails at shipping (after a payment call that needed retries); its finished
   steps are persisted to SQLite and the run is resumed from that state: the reserved
   stock and the payment are not redone, only shipping runs again.
2. Large orders are sagas that wait for a manager's approval, kept in SQLite by the
   `HITLOrchestrator`: a rejected order rolls back (refund, then release the stock, in
   reverse order), an approved one completes.

Each run's tree and timeline are printed from its events.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from resultflow import Err, Ok, Step, StepCollector, clear_step, run
from resultflow._runtime.runner import Workflow
from resultflow.devtools import Devtools
from resultflow.errors import ApprovalRejected, PendingApproval, TaggedError
from resultflow.events import WorkflowEvent
from resultflow.hitl import HITLOrchestrator, KVApprovalStore, KVStateStore
from resultflow.persistence._kv_sqlite import SQLiteKV
from resultflow.persistence._state_persistence import StatePersistence
from resultflow.reliability._retry import RetryPolicy
from resultflow.saga import SagaErrors, SagaStep, saga_workflow

__all__ = ["OrderServices", "checkout_saga", "order_workflow", "run_demo"]


class OutOfStock(TaggedError):
    """No stock left for the item."""

    sku: str


class PaymentDeclined(TaggedError):
    """The payment gateway said no (or kept failing)."""

    reason: str


class CarrierUnavailable(TaggedError):
    """The shipping carrier could not take the parcel."""

    carrier: str


OrderError = OutOfStock | PaymentDeclined | CarrierUnavailable


@dataclass
class OrderServices:
    """Fake back-end services that count their calls, so the demo can show what re-ran."""

    gateway_failures: int = 2
    carrier_up: bool = False
    calls: dict[str, int] = field(default_factory=dict[str, int])

    def _count(self, name: str) -> int:
        self.calls[name] = self.calls.get(name, 0) + 1
        return self.calls[name]

    async def reserve(self, sku: str) -> Ok[str] | Err[OutOfStock]:
        self._count("reserve")
        return Ok(f"reservation-{sku}")

    async def charge(self, amount: int) -> Ok[str] | Err[PaymentDeclined]:
        attempt = self._count("charge")
        if attempt <= self.gateway_failures:
            return Err(PaymentDeclined(f"gateway timeout (attempt {attempt})"))
        return Ok(f"payment-{amount}")

    async def ship(self, reservation: str) -> Ok[str] | Err[CarrierUnavailable]:
        self._count("ship")
        if not self.carrier_up:
            return Err(CarrierUnavailable("north-express"))
        return Ok(f"tracking-for-{reservation}")

    def release(self, reservation: str) -> None:
        """Compensation of `reserve`: put the stock back."""
        self._count("release")

    async def refund(self, payment: str) -> None:
        """Compensation of `charge`: give the money back."""
        self._count("refund")


def order_workflow(
    services: OrderServices,
) -> Callable[[Step[OrderError], str, int], Awaitable[str]]:
    """The order body: reserve stock, charge with retries, ship."""

    async def order(step: Step[OrderError], sku: str, amount: int) -> str:
        reservation = await step(lambda: services.reserve(sku), key="reserve", name="reserve")
        await step(
            lambda: services.charge(amount),
            key="charge",
            name="charge",
            retry=RetryPolicy(attempts=3, backoff="fixed", initial=0.01, jitter=False),
        )
        return await step(lambda: services.ship(reservation), key="ship", name="ship")

    return order


CheckoutErrors = OrderError | PendingApproval | ApprovalRejected


def checkout_saga(
    services: OrderServices, orchestrator: HITLOrchestrator
) -> Workflow[[str, int], str, SagaErrors[CheckoutErrors]]:
    """A checkout saga: reserve, charge, a manager's approval above 1000, then ship."""

    @saga_workflow(name="checkout")
    async def checkout(saga: SagaStep[CheckoutErrors], order: str, total: int) -> str:
        reservation = await saga.step(
            lambda: services.reserve(order),
            key="reserve",
            name="reserve",
            compensate=services.release,
        )
        await saga.step(
            lambda: services.charge(total), key="charge", name="charge", compensate=services.refund
        )
        if total > 1000:
            approval = orchestrator.approval(f"approve:{order}", f"order over 1000: {total}")
            await saga.step(approval, key=f"approve:{order}", name="approval")
        return await saga.step(lambda: services.ship(reservation), key="ship", name="ship")

    return checkout


async def run_demo(db_path: Path | None = None, print_fn: Callable[[str], object] = print) -> int:
    """Run the demo; returns 0 when the resumed order completes."""
    directory = None
    if db_path is None:
        directory = tempfile.TemporaryDirectory(prefix="resultflow-demo-")
        db_path = Path(directory.name) / "resultflow.db"
    try:
        return await _demo(db_path, print_fn)
    finally:
        if directory is not None:
            directory.cleanup()


async def _demo(db_path: Path, print_fn: Callable[[str], object]) -> int:
    store = SQLiteKV(db_path)
    states = StatePersistence(store)
    services = OrderServices()
    order = order_workflow(services)
    devtools = Devtools(workflow_name="order")
    collector = StepCollector()

    def sink(event: WorkflowEvent, ctx: object) -> None:
        devtools.handle_event(event, ctx)
        collector.handle_event(event, ctx)

    print_fn(f"resultflow demo — state stored in SQLite at {db_path}\n")
    print_fn("1) placing order o-1001: the carrier is down")
    first = await run(order, "sku-42", 120, workflow_id="o-1001", name="order", on_event=sink)
    print_fn(f"   result: {first!r}")
    await states.save("o-1001", collector.state(), {"workflow": "order"})
    print_fn(devtools.render())
    print_fn(devtools.render_timeline())

    print_fn("\n2) the carrier is back: load the state from SQLite and resume")
    services.carrier_up = True
    loaded = await states.load("o-1001")
    if loaded is None:
        print_fn("   state was not persisted")
        return 1
    resume = clear_step(loaded.state, "ship")  # retry only the failed step
    second = await run(
        order,
        "sku-42",
        120,
        workflow_id="o-1001",
        name="order",
        resume_state=resume,
        on_event=devtools.handle_event,
    )
    print_fn(f"   result: {second!r}")
    print_fn(devtools.render())
    print_fn(devtools.render_timeline())
    print_fn(f"\ncalls to the services across both runs: {services.calls}")
    approved = await _approval_demo(store, print_fn)
    await store.close()
    return 0 if isinstance(second, Ok) and approved else 1


async def _approval_demo(store: SQLiteKV, print_fn: Callable[[str], object]) -> bool:
    """Two large orders wait for a manager: one is rejected and rolls back, one completes."""
    services = OrderServices(gateway_failures=0, carrier_up=True)
    devtools = Devtools(workflow_name="checkout")
    orchestrator = HITLOrchestrator(
        KVApprovalStore(store), KVStateStore(store), on_event=devtools.handle_event
    )
    checkout = checkout_saga(services, orchestrator)
    print_fn("\n3) two large orders need a manager's approval (kept in SQLite)")
    for order in ("o-2001", "o-2002"):
        outcome = await orchestrator.execute(checkout, order, 1500, run_id=order)
        print_fn(f"   {order}: {outcome!r}")
    print_fn("\n4) the manager rejects o-2001: the saga rolls back in reverse order")
    rejected = await orchestrator.reject("approve:o-2001", "budget frozen", actor="ann")
    print_fn(f"   resumed: {rejected!r}")
    print_fn(devtools.render())
    print_fn("\n5) the manager approves o-2002: the order ships")
    granted = await orchestrator.grant("approve:o-2002", "ok", actor="ann")
    print_fn(f"   resumed: {granted!r}")
    print_fn(devtools.render())
    print_fn(devtools.render_timeline())
    print_fn(f"\ncalls to the services for the large orders: {services.calls}")
    return services.calls.get("refund") == 1 and services.calls.get("release") == 1


def main() -> int:
    """Entry point used by `resultflow demo`."""
    return asyncio.run(run_demo())
