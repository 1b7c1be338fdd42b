"""No two public names that a newcomer could confuse: one name, one object, everywhere.

A name exported by several public modules (`StoreError` from `resultflow`,
`resultflow.errors` and `resultflow.persistence`) must be the same object in each; two
different things sharing a name in different packages (as `Outcome` once was in
`resultflow.testing` and `resultflow.hitl`) fail here.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections import defaultdict
from types import ModuleType

import resultflow


def _public_modules() -> list[ModuleType]:
    """`resultflow` and every module below it with no private part in its dotted name."""
    modules = [resultflow]
    for info in pkgutil.walk_packages(resultflow.__path__, "resultflow."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        modules.append(importlib.import_module(info.name))
    return modules


def test_the_walk_finds_every_public_package() -> None:
    names = {module.__name__ for module in _public_modules()}
    for expected in (
        "resultflow",
        "resultflow.errors",
        "resultflow.events",
        "resultflow.reliability",
        "resultflow.persistence",
        "resultflow.hitl",
        "resultflow.testing",
        "resultflow.devtools",
        "resultflow.otel",
        "resultflow.durable",
        "resultflow.contrib.returns",
    ):
        assert expected in names


def test_no_public_name_means_two_different_things() -> None:
    exporters: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for module in _public_modules():
        for name in getattr(module, "__all__", ()):
            exporters[name][id(getattr(module, name))].append(module.__name__)
    clashes = {
        name: sorted(sorted(modules) for modules in by_object.values())
        for name, by_object in exporters.items()
        if len(by_object) > 1
    }
    assert clashes == {}, "rename one side of each clash (name: modules per object)"
