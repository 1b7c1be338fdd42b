"""A worker process for the run-claim tests: executes, resumes or grants one HITL run.

Run as `python claims_worker.py CONFIG_JSON`. CONFIG names the backend (`sqlite` with
`path`, or `postgres` with `url` and `schema`), the `action` (`execute`, `resume` or
`grant`), the `order`, a `log` file where each step appends its name when it runs, and
optionally a `barrier` directory, the worker's `name` and the number of `workers` to
wait for. The workflow "ship" runs `prepare`, waits for approval `ship:<order>`, then
runs `send` (which takes `send_seconds` of real time, to widen the race). The worker
prints one JSON line: the outcome kinds, e.g. `["Completed"]`, `["RunBusyError"]`, or
for a grant the list of resumed runs' outcomes.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from resultflow import Ok, Step, workflow
from resultflow._runtime.runner import Workflow
from resultflow.errors import ApprovalRejected, PendingApproval, UnexpectedError
from resultflow.hitl import HITLOrchestrator, KVApprovalStore, KVStateStore
from resultflow.hitl._orchestrator import Outcome, RunBusyError, UnknownRunError

Errors = PendingApproval | ApprovalRejected


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for worker_support
from worker_support import open_store, wait_for_everyone  # noqa: E402


def log_call(log: Path, name: str) -> None:
    """Append `name` to `log` (one short O_APPEND write: whole lines across processes)."""
    with log.open("a", encoding="utf-8") as file:
        file.write(f"{name}\n")


def build_ship(
    orch: HITLOrchestrator, log: Path, send_seconds: float
) -> Workflow[[str], str, Errors | UnexpectedError]:
    """The "ship" workflow: prepare, approval `ship:<order>`, send."""

    @workflow(name="ship")
    async def ship(step: Step[Errors], order: str) -> str:
        async def prepare() -> Ok[str]:
            log_call(log, "prepare")
            return Ok(f"parcel-{order}")

        async def send(parcel: str, by: object) -> Ok[str]:
            log_call(log, "send")
            await asyncio.sleep(send_seconds)  # real-sleep-ok: widens the race (<= 0.1 s)
            return Ok(f"sent {parcel} ({by})")

        parcel = await step(prepare, key="prepare")
        by = await step(orch.approval(f"ship:{order}"), key=f"ship:{order}")
        return await step(lambda: send(parcel, by), key="send")

    return ship


def kind(outcome: Outcome[object, object]) -> str:
    """The outcome's class name."""
    return type(outcome).__name__


async def act(config: dict[str, object]) -> list[str]:
    kv = open_store(config)
    orch = HITLOrchestrator(KVApprovalStore(kv), KVStateStore(kv))
    order = str(config["order"])
    ship = build_ship(orch, Path(str(config["log"])), float(str(config.get("send_seconds", 0))))
    orch.register(ship)
    try:
        await orch.approvals.get("warm-up")  # connect before the start line
        if "barrier" in config:
            wait_for_everyone(
                Path(str(config["barrier"])), str(config["name"]), int(str(config["workers"]))
            )
        try:
            if config["action"] == "execute":
                return [kind(await orch.execute(ship, order, run_id=f"run-{order}"))]
            if config["action"] == "resume":
                return [kind(await orch.resume(f"run-{order}"))]
            return [kind(outcome) for outcome in await orch.grant(f"ship:{order}", "ann")]
        except (RunBusyError, UnknownRunError, ValueError) as exc:
            return [type(exc).__name__]
    finally:
        await kv.close()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(act(json.loads(sys.argv[1])))))
