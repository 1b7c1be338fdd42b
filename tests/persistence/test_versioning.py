"""Versioned resume state: migrations, helpers, strict and non-strict loaders."""

from __future__ import annotations

import pytest

from resultflow.cache import CacheEntry
from resultflow.persistence import (
    IncompatibleVersion,
    Migration,
    MissingMigration,
    NewerStateWarning,
    VersionedState,
    compose_migrations,
    dumps_state,
    loads_state,
    migrate_state,
    remove_keys,
    rename_keys,
    transform_values,
    versioned_loader,
)
from resultflow.result import Err, Ok
from resultflow.resume import ResumeState


def entry(value: object, **meta: object) -> CacheEntry:
    return CacheEntry(Ok(value), meta)


def failed(error: object) -> CacheEntry:
    return CacheEntry(Err(error))


STATE_V1: dict[str, CacheEntry] = {
    "fetch": entry({"id": 1, "cents": 1999}, attempt=1),
    "charge": entry("ch_1"),
    "legacy": entry(None),
    "email": failed("smtp down"),
}


def add_marker(marker: str) -> Migration:
    """A migration that records it ran, to check order and count."""

    def migrate(state: ResumeState) -> ResumeState:
        return {**state, f"ran:{marker}": entry(marker)}

    return migrate


# -- helpers ---------------------------------------------------------------------------------
def test_rename_keys_keeps_order_and_ignores_missing_keys() -> None:
    migrated = rename_keys({"charge": "payment", "absent": "x"})(STATE_V1)
    assert list(migrated) == ["fetch", "payment", "legacy", "email"]
    assert migrated["payment"] == STATE_V1["charge"]


def test_rename_onto_an_existing_key_replaces_it() -> None:
    migrated = rename_keys({"charge": "fetch"})(STATE_V1)
    assert list(migrated) == ["fetch", "legacy", "email"]
    assert migrated["fetch"] == entry("ch_1")


def test_rename_keys_can_swap() -> None:
    migrated = rename_keys({"charge": "legacy", "legacy": "charge"})(STATE_V1)
    assert migrated["legacy"] == STATE_V1["charge"]
    assert migrated["charge"] == STATE_V1["legacy"]
    assert len(migrated) == len(STATE_V1)


def test_remove_keys() -> None:
    migrated = remove_keys(["legacy", "absent"])(STATE_V1)
    assert list(migrated) == ["fetch", "charge", "email"]
    assert "legacy" in STATE_V1  # the input is not changed


def test_transform_values_maps_the_ok_value_and_keeps_meta_and_errors() -> None:
    migration = transform_values(
        {
            "fetch": lambda value: {**value, "amount": value["cents"] / 100},
            "email": lambda value: "never called for an Err",
            "absent": lambda value: 1,
        }
    )
    migrated = migration(STATE_V1)
    assert migrated["fetch"] == entry({"id": 1, "cents": 1999, "amount": 19.99}, attempt=1)
    assert migrated["fetch"].meta == {"attempt": 1}
    assert migrated["email"] is STATE_V1["email"]
    assert migrated["charge"] is STATE_V1["charge"]
    assert "absent" not in migrated


def test_compose_migrations_applies_in_order() -> None:
    migration = compose_migrations(
        [rename_keys({"charge": "payment"}), remove_keys(["payment"]), add_marker("c")]
    )
    assert list(migration(STATE_V1)) == ["fetch", "legacy", "email", "ran:c"]
    assert compose_migrations([])(STATE_V1) == STATE_V1


# -- migrate_state ---------------------------------------------------------------------------
MIGRATIONS = {
    1: compose_migrations([rename_keys({"charge": "payment"}), add_marker("1")]),
    2: compose_migrations([remove_keys(["legacy"]), add_marker("2")]),
    3: add_marker("3"),
}


def test_migrate_state_chains_from_any_version() -> None:
    migrated = migrate_state(VersionedState(1, STATE_V1), 4, MIGRATIONS)
    assert isinstance(migrated, Ok)
    assert migrated.value.version == 4
    assert list(migrated.value.state) == ["fetch", "payment", "email", "ran:1", "ran:2", "ran:3"]

    from_three = migrate_state(VersionedState(3, STATE_V1), 4, MIGRATIONS)
    assert isinstance(from_three, Ok)
    assert [k for k in from_three.value.state if k.startswith("ran:")] == ["ran:3"]


def test_migrate_state_at_the_target_is_unchanged() -> None:
    versioned = VersionedState(4, STATE_V1)
    assert migrate_state(versioned, 4, MIGRATIONS) == Ok(versioned)
    assert migrate_state(VersionedState(2, STATE_V1), 2, {}) == Ok(VersionedState(2, STATE_V1))


def test_migrate_state_newer_than_target_is_incompatible() -> None:
    assert migrate_state(VersionedState(5, STATE_V1), 4, MIGRATIONS) == Err(
        IncompatibleVersion(found=5, supported=4)
    )


def test_missing_migration_is_found_before_any_migration_runs() -> None:
    calls: list[int] = []

    def tracked(version: int) -> Migration:
        def migrate(state: ResumeState) -> ResumeState:
            calls.append(version)
            return state

        return migrate

    result = migrate_state(VersionedState(1, STATE_V1), 4, {1: tracked(1), 3: tracked(3)})
    assert result == Err(MissingMigration(from_version=2))
    assert calls == []


def test_a_migration_that_raises_propagates() -> None:
    def broken(state: ResumeState) -> ResumeState:
        raise KeyError("bug in migration")

    with pytest.raises(KeyError, match="bug in migration"):
        migrate_state(VersionedState(1, STATE_V1), 2, {1: broken})


# -- versioned_loader -----------------------------------------------------------------------------
def test_loader_migrates_older_states() -> None:
    load = versioned_loader(3, {1: MIGRATIONS[1], 2: MIGRATIONS[2]})
    loaded = load(VersionedState(1, STATE_V1))
    assert isinstance(loaded, Ok)
    assert list(loaded.value) == ["fetch", "payment", "email", "ran:1", "ran:2"]
    assert load(VersionedState(3, STATE_V1)) == Ok(STATE_V1)


def test_loader_copies_its_migrations() -> None:
    migrations = {1: add_marker("1")}
    load = versioned_loader(2, migrations)
    migrations.clear()
    assert isinstance(load(VersionedState(1, {})), Ok)


def test_strict_loader_rejects_newer_states() -> None:
    load = versioned_loader(version=3, migrations=MIGRATIONS)
    assert load(VersionedState(4, STATE_V1)) == Err(IncompatibleVersion(found=4, supported=3))


def test_non_strict_loader_passes_newer_states_with_a_warning() -> None:
    load = versioned_loader(3, MIGRATIONS, strict=False)
    with pytest.warns(NewerStateWarning, match="version 7 is newer than the supported version 3"):
        loaded = load(VersionedState(7, STATE_V1))
    assert loaded == Ok(STATE_V1)
    # older states are still migrated, and a gap is still an error
    assert isinstance(load(VersionedState(2, STATE_V1)), Ok)
    assert versioned_loader(3, {2: add_marker("2")}, strict=False)(
        VersionedState(1, STATE_V1)
    ) == Err(MissingMigration(from_version=1))


def test_version_errors_are_tagged_errors_that_survive_the_codec() -> None:
    error = IncompatibleVersion(found=4, supported=3)
    assert error.tag == "IncompatibleVersion"
    assert error.to_dict() == {"tag": "IncompatibleVersion", "found": 4, "supported": 3}
    text = dumps_state({"x": CacheEntry(Err(error)), "y": CacheEntry(Err(MissingMigration(2)))})
    loaded = loads_state(text)
    assert isinstance(loaded, Ok)
    assert loaded.value.state["x"].result == Err(error)
    assert loaded.value.state["y"].result == Err(MissingMigration(from_version=2))


def test_stored_version_feeds_the_loader() -> None:
    text = dumps_state(STATE_V1, version=1)
    loaded = loads_state(text)
    assert isinstance(loaded, Ok)
    state = versioned_loader(2, {1: rename_keys({"charge": "payment"})})(
        loaded.value.as_versioned()
    )
    assert isinstance(state, Ok)
    assert state.value["payment"] == entry("ch_1")
