"""Persistence: store results and resume state as JSON, and migrate them between versions.

The codec (`dumps_state`, `loads_state`, `serialize_result`, `encode_value`, ...) turns
results, resume state and the values inside them into JSON-safe data and back — never
with pickle; `CodecLimits` / `set_codec_limits` bound what it accepts (nesting, hash
collisions, document size, which classes it builds). The versioning helpers
(`VersionedState`, `versioned_loader`, ...) bring state written by older code up to date.
"""

from typing import TYPE_CHECKING

from resultflow.persistence._codec import (
    FORMAT_VERSION,
    LoadedState,
    deserialize_entry,
    deserialize_result,
    deserialize_state,
    dumps_state,
    loads_state,
    parse_state,
    serialize_entry,
    serialize_result,
    serialize_state,
)
from resultflow.persistence._decoder import decode_value
from resultflow.persistence._encoder import JSONValue, encode_value
from resultflow.persistence._errors import (
    ExceptionInfo,
    SerializationError,
    StateDecodeError,
    StateFormatError,
)
from resultflow.persistence._kv import (
    CorruptEntryError,
    KVStore,
    MemoryKV,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
)
from resultflow.persistence._kv_cache import HydratingCache, KVCache
from resultflow.persistence._kv_file import FileKV
from resultflow.persistence._kv_sqlite import SQLiteKV
from resultflow.persistence._limits import (
    ClassPolicy,
    CodecLimitError,
    CodecLimits,
    codec_limits,
    set_codec_limits,
)
from resultflow.persistence._page import Page
from resultflow.persistence._registry import Codec, register_codec, unregister_codec
from resultflow.persistence._state_persistence import StatePersistence
from resultflow.persistence._versioning import (
    IncompatibleVersion,
    Migration,
    MissingMigration,
    NewerStateWarning,
    StateLoader,
    VersionedState,
    VersionError,
    compose_migrations,
    migrate_state,
    remove_keys,
    rename_keys,
    transform_values,
    versioned_loader,
)

if TYPE_CHECKING:
    from resultflow.persistence._kv_postgres import PostgresKV
    from resultflow.persistence._kv_redis import RedisKV

__all__ = [
    "FORMAT_VERSION",
    "ClassPolicy",
    "Codec",
    "CodecLimitError",
    "CodecLimits",
    "CorruptEntryError",
    "FileKV",
    "HydratingCache",
    "KVCache",
    "KVStore",
    "MemoryKV",
    "Page",
    "PostgresKV",
    "RedisKV",
    "SQLiteKV",
    "StatePersistence",
    "StoreClosedError",
    "StoreError",
    "StoreUnavailableError",
    "ExceptionInfo",
    "IncompatibleVersion",
    "JSONValue",
    "LoadedState",
    "Migration",
    "MissingMigration",
    "NewerStateWarning",
    "SerializationError",
    "StateDecodeError",
    "StateFormatError",
    "StateLoader",
    "VersionError",
    "VersionedState",
    "codec_limits",
    "compose_migrations",
    "decode_value",
    "deserialize_entry",
    "deserialize_result",
    "deserialize_state",
    "dumps_state",
    "encode_value",
    "loads_state",
    "migrate_state",
    "parse_state",
    "register_codec",
    "remove_keys",
    "rename_keys",
    "serialize_entry",
    "serialize_result",
    "serialize_state",
    "set_codec_limits",
    "transform_values",
    "unregister_codec",
    "versioned_loader",
]


def __getattr__(name: str) -> object:
    """Import the PostgreSQL and Redis stores lazily: their drivers are optional extras."""
    if name == "PostgresKV":
        from resultflow.persistence._kv_postgres import PostgresKV

        return PostgresKV
    if name == "RedisKV":
        from resultflow.persistence._kv_redis import RedisKV

        return RedisKV
    raise AttributeError(f"module 'resultflow.persistence' has no attribute {name!r}")
