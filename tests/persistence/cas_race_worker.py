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
import time
from pathlib import Path

from resultflow.persistence.kv import KVStore


def open_store(config: dict[str, object]) -> KVStore:
    """The store named by `config["backend"]`, opened on the same data as the test's."""
    backend = config["backend"]
    if backend == "file":
        from resultflow.persistence.kv_file import FileKV

        return FileKV(str(config["directory"]), fsync=False)
    if backend == "sqlite":
        from resultflow.persistence.kv_sqlite import SQLiteKV

        return SQLiteKV(str(config["path"]), timeout=30)
    if backend == "postgres":
        from resultflow.persistence.kv_postgres import PostgresKV

        return PostgresKV(str(config["url"]), schema=str(config["schema"]))
    if backend == "redis":
        from resultflow.persistence.kv_redis import RedisKV

        return RedisKV(str(config["url"]), prefix=str(config["prefix"]))
    raise SystemExit(f"unknown backend {backend!r}")


def wait_for_everyone(barrier: Path, name: str, workers: int) -> None:
    """Mark this worker ready, then wait (at most 30 s) until all `workers` are."""
    (barrier / f"ready-{name}").touch()
    deadline = time.monotonic() + 30
    while len(list(barrier.glob("ready-*"))) < workers:
        if time.monotonic() > deadline:
            raise SystemExit("the other workers never got ready")
        time.sleep(0.001)


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
