"""Stopping child tasks: cancel them and wait until every one has really finished.

Every feature that runs operations as child tasks (`gather_ok`, the concurrent step
scopes, timeouts under a virtual clock) promises that it leaves no task running behind
it. `cancel_and_wait` keeps that promise even when the caller itself is cancelled again
while the children are still cleaning up: it keeps waiting for them, then re-raises the
caller's cancellation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel the unfinished `tasks` and return once every one of them is done.

    A cancellation of the caller that arrives meanwhile is held back until the children
    have finished, then raised as `asyncio.CancelledError`. Exceptions of the children
    are marked as retrieved (the caller reads the outcomes it cares about), so asyncio
    never logs "exception was never retrieved" for them.
    """
    children = list(tasks)
    unfinished = {task for task in children if not task.done()}
    for task in unfinished:
        task.cancel()
    caller_cancelled = False
    while unfinished:
        try:
            _, unfinished = await asyncio.wait(unfinished)
        except asyncio.CancelledError:
            caller_cancelled = True
    for task in children:
        if not task.cancelled():
            task.exception()
    if caller_cancelled:
        raise asyncio.CancelledError
