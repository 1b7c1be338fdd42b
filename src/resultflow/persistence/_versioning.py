"""Versioned resume state: migrate stored state written by older versions of your code.

A `VersionedState(version, state)` pairs a `ResumeState` with the schema version of the
code that wrote it. A migration is a plain function `ResumeState -> ResumeState`;
`migrations[n]` takes a version-`n` state to version `n + 1`. `migrate_state` applies the
chain up to a target version, and `versioned_loader(version, migrations)` makes a loader
for one version of your code:

- an older state is migrated step by step; a gap in the chain is
  `Err(MissingMigration(from_version))`, reported before any migration runs;
- a newer state is `Err(IncompatibleVersion(found, supported))`, or with `strict=False`
  passes unchanged with a `NewerStateWarning`.

A migration that raises is a bug in the migration: the exception propagates.
`rename_keys`, `remove_keys`, `transform_values` and `compose_migrations` build the
common migrations.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from resultflow.cache import CacheEntry
from resultflow.errors import TaggedError
from resultflow.result import Err, Ok
from resultflow.resume import ResumeState

__all__ = [
    "IncompatibleVersion",
    "Migration",
    "MissingMigration",
    "NewerStateWarning",
    "StateLoader",
    "VersionError",
    "VersionedState",
    "compose_migrations",
    "migrate_state",
    "remove_keys",
    "rename_keys",
    "transform_values",
    "versioned_loader",
]

Migration: TypeAlias = Callable[[ResumeState], ResumeState]
"""Takes a state of version n to version n + 1."""


@dataclass(frozen=True, slots=True)
class VersionedState:
    """A resume `state` together with the schema `version` of the code that wrote it."""

    version: int
    state: ResumeState


class IncompatibleVersion(TaggedError):
    """The state's version `found` is newer than the `supported` one."""

    found: int
    supported: int


class MissingMigration(TaggedError):
    """No migration takes a state from `from_version` to the next version."""

    from_version: int


VersionError: TypeAlias = IncompatibleVersion | MissingMigration
"""Why a versioned state could not be brought to the wanted version."""

StateLoader: TypeAlias = Callable[[VersionedState], Ok[ResumeState] | Err[VersionError]]
"""What `versioned_loader` returns."""


class NewerStateWarning(UserWarning):
    """A non-strict loader accepted a state written by a newer version, unchanged."""


def migrate_state(
    versioned: VersionedState, target: int, migrations: Mapping[int, Migration]
) -> Ok[VersionedState] | Err[VersionError]:
    """Bring `versioned` to version `target` by applying `migrations[v]` for each version v.

    A state already at `target` is returned as it is. A state newer than `target` is
    `Err(IncompatibleVersion)`; a missing step in the chain is `Err(MissingMigration)`,
    found before any migration runs.
    """
    if versioned.version > target:
        return Err(IncompatibleVersion(found=versioned.version, supported=target))
    chain = range(versioned.version, target)
    missing = next((version for version in chain if version not in migrations), None)
    if missing is not None:
        return Err(MissingMigration(from_version=missing))
    state = versioned.state
    for version in chain:
        state = migrations[version](state)
    return Ok(VersionedState(target, state))


def versioned_loader(
    version: int, migrations: Mapping[int, Migration], strict: bool = True
) -> StateLoader:
    """Make `load(VersionedState) -> Result[ResumeState, VersionError]` for code at `version`.

    Older states are migrated (see `migrate_state`). A newer state is
    `Err(IncompatibleVersion)` when `strict`, else it passes unchanged with a
    `NewerStateWarning`.
    """
    frozen = dict(migrations)

    def load(versioned: VersionedState) -> Ok[ResumeState] | Err[VersionError]:
        if versioned.version > version and not strict:
            warnings.warn(
                f"resume state version {versioned.version} is newer than the supported "
                f"version {version}; it is used unchanged",
                NewerStateWarning,
                stacklevel=2,
            )
            return Ok(versioned.state)
        migrated = migrate_state(versioned, version, frozen)
        if isinstance(migrated, Err):
            return migrated
        return Ok(migrated.value.state)

    return load


def rename_keys(renames: Mapping[str, str]) -> Migration:
    """A migration that moves the entries of old step keys to new keys.

    Keys not in the state are ignored; a renamed entry replaces an existing entry at its
    new key. Order is kept.
    """
    table = dict(renames)

    def migrate(state: ResumeState) -> ResumeState:
        targets = {table[key] for key in state if key in table}
        out: dict[str, CacheEntry] = {}
        for key, entry in state.items():
            if key in table:
                out[table[key]] = entry
            elif key not in targets:
                out[key] = entry
        return out

    return migrate


def remove_keys(keys: Iterable[str]) -> Migration:
    """A migration that drops the given step keys, so those steps run again on resume."""
    dropped = frozenset(keys)

    def migrate(state: ResumeState) -> ResumeState:
        return {key: entry for key, entry in state.items() if key not in dropped}

    return migrate


def transform_values(transforms: Mapping[str, Callable[[object], object]]) -> Migration:
    """A migration that maps the **Ok value** of given step keys with `f(value)`.

    Err entries (a step that failed) and their meta are kept as they are, as are keys
    without a transform; a key missing from the state is ignored.
    """
    table = dict(transforms)

    def migrate(state: ResumeState) -> ResumeState:
        return {key: _transformed(key, entry, table) for key, entry in state.items()}

    return migrate


def compose_migrations(migrations: Sequence[Migration]) -> Migration:
    """A migration that applies `migrations` in order.

    For one version step that does several things.
    """
    chain = tuple(migrations)

    def migrate(state: ResumeState) -> ResumeState:
        for migration in chain:
            state = migration(state)
        return state

    return migrate


def _transformed(
    key: str, entry: CacheEntry, table: Mapping[str, Callable[[object], object]]
) -> CacheEntry:
    transform = table.get(key)
    if transform is None or not isinstance(entry.result, Ok):
        return entry
    return CacheEntry(Ok(transform(entry.result.value)), entry.meta)
