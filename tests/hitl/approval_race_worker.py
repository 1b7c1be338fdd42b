"""A worker process for the cross-process approval tests: decides the same keys as others.

Run as `python approval_race_worker.py CONFIG_JSON`; CONFIG names the backend (`sqlite`
with `path`, or `postgres` with `url` and `schema`), the worker's `name`, its `action`
("grant", "reject" or "cancel"), the `keys` to decide, a `barrier` directory and the
number of `workers`. Once every worker is ready it decides each key in turn (as actor
`name`; granted value and rejection reason are `name` too) and prints one JSON line:
`{"key": "Ok" | the error's tag and status}`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from resultflow.hitl import KVApprovalStore
from resultflow.result import Ok

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for worker_support
from worker_support import open_store, wait_for_everyone


async def decide(config: dict[str, object]) -> dict[str, str]:
    kv = open_store(config)
    name, action = str(config["name"]), config["action"]
    keys = config["keys"]
    assert isinstance(keys, list)
    store = KVApprovalStore(kv)
    outcomes: dict[str, str] = {}
    try:
        await store.get("warm-up")  # connect before the start line
        wait_for_everyone(Path(str(config["barrier"])), name, int(str(config["workers"])))
        for key in map(str, keys):
            if action == "grant":
                decided = await store.grant(key, name, actor=name)
            elif action == "reject":
                decided = await store.reject(key, name, actor=name)
            else:
                decided = await store.cancel(key, actor=name)
            if isinstance(decided, Ok):
                outcomes[key] = "Ok"
            else:
                error = decided.error
                status = getattr(error, "status", "")
                outcomes[key] = f"{error.tag}:{status}"
        return outcomes
    finally:
        await kv.close()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(decide(json.loads(sys.argv[1])))))
