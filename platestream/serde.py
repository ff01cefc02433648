"""Avro serde in the Confluent wire format: magic byte 0, 4-byte schema id, Avro body.

With a Schema Registry configured, schemas are registered as written (defaults, logical types and
doc strings kept) through confluent_kafka.schema_registry's client (basic auth, TLS, caching),
under the subject the configured naming strategy gives (``<topic>-value`` by default), and ids
come from the registry. Without one, the id of a schema is derived from its Avro fingerprint (CRC-64
of the parsing canonical form, top 31 bits), so every process, and any consumer holding only the
``schemas/*.avsc`` files, agrees on ids without talking to anyone.

Records of the current schemas are encoded and decoded by cavro (compiled per schema; about 2x
faster to encode and 3x to decode than fastavro on a passage, docs/benchmarks.md); fastavro
parses the schemas, resolves records written with older ones, and decides every value cavro
refuses (it is stricter: a float in an int field, a datetime in a timestamp), so what encodes
and the bytes it encodes to are what fastavro alone gave (tests/core/test_serde_codecs.py). Where
cavro is not installed (pyproject.toml declares it for x86-64 CPython below 3.13, where it has
wheels), fastavro does all of it, as before.
"""

from __future__ import annotations

import io
import json
import struct
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fastavro
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from platestream.errors import SerdeError, UnknownSchemaError

try:
    import cavro
except ImportError:  # cavro 1.0.0 has wheels for x86-64 CPython 3.8-3.12 only: fastavro does all
    cavro = None

if TYPE_CHECKING:
    from platestream.privacy.shredding import Shredder
    from platestream.settings import CommonSettings


def _schema_dir() -> Path:
    """The schemas shipped inside an installed wheel, else ``schemas/`` at the top of the checkout."""
    package = Path(__file__).resolve().parent
    shipped = package / "schemas"  # copied there at build time by setup.py
    return shipped if shipped.is_dir() else package.parent / "schemas"


SCHEMA_DIR = _schema_dir()
MAGIC = 0
_HEADER = struct.Struct(">bI")


def load_schema_file(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        result: dict[str, Any] = json.load(fh)
    return result


def local_schema_id(parsed: dict[str, Any]) -> int:
    """Deterministic id of a parsed schema: top 31 bits of its CRC-64-AVRO fingerprint."""
    fp = fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO")
    return int(fp[:8], 16) >> 1


def strip_logical(node: Any) -> Any:
    """The schema without ``logicalType`` keys: the same bytes, read as the underlying types."""
    if isinstance(node, dict):
        return {k: strip_logical(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [strip_logical(v) for v in node]
    return node


# Records decode to dicts as fastavro gives them; a nullable field missing from a record encodes
# as null (fastavro's rule).
_FAST_OPTIONS = (
    cavro.DEFAULT_OPTIONS.replace(record_decodes_to_dict=True, missing_values_can_be_null=True)
    if cavro is not None
    else None
)


def fast_codec(raw: dict[str, Any]) -> Any:
    """cavro's codec of a schema as written, read as its underlying types (see read_schema); None
    without cavro."""
    if cavro is None:
        return None
    return cavro.Schema(strip_logical(raw), options=_FAST_OPTIONS, parse_json=False)


def read_schema(parsed_or_raw: dict[str, Any]) -> dict[str, Any]:
    """The same schema without logical types: timestamps decode as epoch milliseconds (int).

    Records in memory carry times as int epoch ms throughout the project; the binary encoding is
    identical, and skipping datetime conversion keeps the hot path fast.
    """
    # _write_hint=True marks the schema as parsed: without it fastavro re-parses it on every
    # record (measured ~3x slower decode of a plate_event).
    parsed: dict[str, Any] = parse_schema(
        strip_logical(parsed_or_raw), _write_hint=True, named_schemas={}
    )  # type: ignore[assignment]
    return parsed


@lru_cache(maxsize=1)
def catalogue_schemas() -> dict[str, dict[str, Any]]:
    """Every current schema in schemas/, parsed, by file stem."""
    return {
        p.stem: parse_schema(load_schema_file(p), _write_hint=True, named_schemas={})  # type: ignore[misc]
        for p in sorted(SCHEMA_DIR.glob("*.avsc"))
    }


def history_files() -> list[Path]:
    """Frozen earlier versions, ``schemas/history/<stem>.<id>.avsc``: writer schemas of old records."""
    return sorted((SCHEMA_DIR / "history").glob("*.avsc"))


class AvroSerde:
    """Encodes and decodes catalogue records; thread-safe.

    Decoding resolves the writer's schema (found by the id in the record: the current schemas, the
    frozen history, or the registry) against the current schema of the same record type, so old
    records read with today's field set (BACKWARD compatibility).
    """

    def __init__(
        self,
        schema_registry_url: str | None = None,
        *,
        settings: CommonSettings | None = None,
        shredder: Shredder | None = None,
    ) -> None:
        """``settings`` give the registry's auth, TLS and subject strategy; with only a URL they
        are the process's common settings (every stage reads the same PLATESTREAM_ variables).
        With ``settings.privacy_seal_topics`` on (or a ``shredder`` given), the personal fields
        of the records it encodes are sealed and those it decodes opened
        (platestream/privacy/shredding.py)."""
        if schema_registry_url is None and settings is not None:
            schema_registry_url = settings.schema_registry_url
        if shredder is None and settings is not None and settings.privacy_seal_topics:
            from platestream.privacy.shredding import shredder_for

            shredder = shredder_for(settings)
        self.shredder = shredder
        self._sealed: frozenset[str] = frozenset()
        if shredder is not None:
            from platestream.privacy.shredding import SPECS

            self._sealed = frozenset(SPECS)
        self._registry = None
        if schema_registry_url:
            from platestream.registry import Registry
            from platestream.settings import common

            self._registry = Registry(schema_registry_url, settings or common())
        self._by_name = catalogue_schemas()
        written = {name: load_schema_file(SCHEMA_DIR / f"{name}.avsc") for name in self._by_name}
        self._readers = {name: read_schema(raw) for name, raw in written.items()}
        # cavro's codec of each current schema (None without cavro): records whose id names a
        # current schema (no reader to resolve against) go through it
        self._fast = {name: fast_codec(raw) for name, raw in written.items()}
        self._stem_by_fullname = {
            str(parsed["name"]): name for name, parsed in self._by_name.items()
        }
        # schema id -> (writer schema, reader schema or None when identical, stem)
        self._decoders: dict[int, tuple[dict[str, Any], dict[str, Any] | None, str]] = {}
        self._id_for: dict[tuple[str, str], int] = {}
        for name, parsed in self._by_name.items():
            self._decoders[local_schema_id(parsed)] = (self._readers[name], None, name)
        for path in history_files():
            stem, sid_text = path.stem.rsplit(".", 1)
            if stem in self._readers and int(sid_text) not in self._decoders:
                self._decoders[int(sid_text)] = (
                    read_schema(load_schema_file(path)),
                    self._readers[stem],
                    stem,
                )
        self._lock = threading.Lock()

    def schema(self, name: str) -> dict[str, Any]:
        try:
            return self._by_name[name]
        except KeyError:
            raise SerdeError(f"no schema named {name!r} in {SCHEMA_DIR}") from None

    def written(self, name: str) -> dict[str, Any]:
        """The schema of ``name`` as written in its .avsc file (what the registry is given)."""
        self.schema(name)
        return load_schema_file(SCHEMA_DIR / f"{name}.avsc")

    def schema_id(self, name: str, subject: str | None = None) -> int:
        key = (name, subject or "")
        cached = self._id_for.get(key)
        if cached is not None:
            return cached
        parsed = self.schema(name)
        sid = (
            self._registry.register(subject, self.written(name))
            if self._registry and subject
            else local_schema_id(parsed)
        )
        with self._lock:
            self._id_for[key] = sid
            self._decoders.setdefault(sid, (self._readers[name], None, name))
        return sid

    def encode(self, name: str, record: dict[str, Any], *, subject: str | None = None) -> bytes:
        """Encode one record of schema ``name`` (subject: ``<topic>-value`` when a registry is used)."""
        sid = self.schema_id(name, subject)
        if name in self._sealed:
            record = self.shredder.seal(name, record)  # type: ignore[union-attr]
        fast = self._fast[name]
        if fast is not None:
            try:
                return _HEADER.pack(MAGIC, sid) + fast.binary_encode(record)
            except Exception:  # a value cavro refuses is fastavro's to decide
                pass
        buf = io.BytesIO()
        buf.write(_HEADER.pack(MAGIC, sid))
        try:
            fastavro.schemaless_writer(buf, self._by_name[name], record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SerdeError(f"cannot encode {name}: {exc}") from exc
        return buf.getvalue()

    def decode(self, data: bytes | None) -> dict[str, Any]:
        """Decode one record in wire format into a dict."""
        return self.decode_with_name(data)[1]

    def decode_with_name(self, data: bytes | None) -> tuple[str, dict[str, Any]]:
        """Decode one record; returns (schema file stem, record)."""
        if data is None or len(data) < _HEADER.size:
            raise SerdeError("record too short for the Avro wire format")
        magic, sid = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise SerdeError(f"bad magic byte {magic}")
        decoder = self._decoders.get(sid) or self._fetch(sid)
        writer, reader, stem = decoder
        fast = self._fast[stem] if reader is None else None
        try:
            if fast is not None:
                record = fast.binary_decode(data[_HEADER.size :])
            else:
                record = fastavro.schemaless_reader(
                    io.BytesIO(data[_HEADER.size :]), writer, reader
                )
        except (
            EOFError,
            ValueError,
            TypeError,
            IndexError,
            KeyError,
            UnicodeDecodeError,
            OverflowError,
        ) as exc:
            raise SerdeError(f"cannot decode record with schema id {sid}: {exc}") from exc
        except Exception as exc:  # fastavro raises its own SchemaResolutionError and friends
            raise SerdeError(f"cannot decode record with schema id {sid}: {exc}") from exc
        if stem in self._sealed:
            record = self.shredder.open(stem, record)  # type: ignore[union-attr,arg-type]
        return stem, record  # type: ignore[return-value]

    def current(self, sid: int) -> str | None:
        """The schema stem when records with id ``sid`` were written with that stem's current
        schema (what ``written`` returns describes their bytes exactly), else None (an older
        version, or an id not met yet)."""
        decoder = self._decoders.get(sid)
        return decoder[2] if decoder is not None and decoder[1] is None else None

    def _fetch(self, sid: int) -> tuple[dict[str, Any], dict[str, Any] | None, str]:
        if self._registry is None:
            raise UnknownSchemaError(
                f"unknown schema id {sid} (not in schemas/ nor schemas/history/)"
            )
        raw = self._registry.fetch(sid)
        fullname = (
            raw.get("name", "")
            if "." in raw.get("name", "")
            else f"{raw.get('namespace', '')}.{raw.get('name', '')}"
        )
        stem = self._stem_by_fullname.get(fullname)
        if stem is None:
            raise UnknownSchemaError(
                f"schema id {sid} is {fullname!r}, which this process does not know"
            )
        parsed: dict[str, Any] = parse_schema(raw, named_schemas={})  # type: ignore[assignment]
        same = local_schema_id(parsed) == local_schema_id(
            self._by_name[stem]
        )  # the registry's copy of today's schema: decoded without resolution
        decoder = (read_schema(raw), None if same else self._readers[stem], stem)
        with self._lock:
            self._decoders[sid] = decoder
        return decoder


@lru_cache(maxsize=1)
def default_serde() -> AvroSerde:
    """Process-wide serde built from the common settings."""
    from platestream.settings import common

    return AvroSerde(settings=common())
