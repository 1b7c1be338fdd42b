"""`DurableWorkflow`: a workflow body registered with an engine under a name and version."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from typing_extensions import TypeVarTuple

__all__ = ["DurableWorkflow"]

T = TypeVar("T")
E = TypeVar("E")
Ts = TypeVarTuple("Ts")


class DurableWorkflow(Generic[T, E, *Ts]):
    """A durable body returning `T`, failing with `E`, taking arguments `*Ts`.

    `name` and `version` identify it in the store.

    Start it through a client (`await engine.client.start(wf, *args)`), which checks the
    arguments against the body's parameters. A worker claims only executions whose
    `(name, version)` its engine registered, so during a deploy old executions finish
    on old code.
    """

    __slots__ = ("body", "name", "saga", "version")

    def __init__(
        self,
        body: Callable[..., Awaitable[Any]],
        name: str,
        version: str,
        *,
        saga: bool = False,
    ) -> None:
        self.body = body
        self.name = name
        self.version = version
        self.saga = saga

    def __repr__(self) -> str:
        return f"DurableWorkflow({self.name!r}, version={self.version!r})"
