"""A worker process for the cross-process `compare_and_set` tests of the KV contract.

Run as `python cas_race_worker.py CONFIG_JSON`; CONFIG names the backend and how to
reach it, the worker's `name`, a `barrier` directory, the number of `workers`, the
`keys` to race on and the `counter` key with the number of `increments` to make. The
worker waits until every worker is ready, then:

- for each key in `keys`, tries once `compare_and_set(key, expected, name)`;
- adds 1 to the number under `counter`, `increments` times, each with a
  read / compare_and_set loop that retries when another worker changed it meanwhile.

It prints one JSON line: `{"won": [keys it set], "retries": n}`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for worker_support
from worker_support import open_store, wait_for_everyone


async def race(config: dict[str, object]) -> dict[str, object]:
    kv = open_store(config)
    name = str(config["name"])
    try:
        await kv.exists("warm-up")  # connect before the start line
        wait_for_everyone(Path(str(config["barrier"])), name, int(str(config["workers"])))
        won: list[str] = []
        expected = config["expected"]
        keys = config["keys"]
        assert isinstance(keys, list) and (expected is None or isinstance(expected, str))
        for key in keys:
            if await kv.compare_and_set(str(key), expected, name):
                won.append(str(key))
        counter = str(config["counter"])
        retries = 0
        for _ in range(int(str(config["increments"]))):
            while True:
                current = await kv.get(counter)
                following = str(int(current or "0") + 1)
                if await kv.compare_and_set(counter, current, following):
                    break
                retries += 1
        return {"won": won, "retries": retries}
    finally:
        await kv.close()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(race(json.loads(sys.argv[1])))))
