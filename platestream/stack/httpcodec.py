"""Pure helpers of the ClickHouse HTTP adapter: request parsing, error mapping, the summary header.

Kept apart from the server so they can be unit-tested without chDB or a socket. Compressed
bodies (Content-Encoding, Accept-Encoding): ``httpcompression``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

# URL parameters the ClickHouse HTTP interface consumes itself; every other one is a setting.
TRANSPORT_PARAMS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "user",
        "password",
        "quota_key",
        "query_id",
        "session_id",
        "session_timeout",
        "session_check",
        "compress",
        "decompress",
        "buffer_size",
        "wait_end_of_query",
        "role",
        "client_protocol_version",
    }
)
# Real ClickHouse settings that only steer the HTTP layer: applying them in chDB is pointless.
HTTP_ONLY_SETTINGS = frozenset(
    {
        "enable_http_compression",
        "http_zlib_compression_level",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "cancel_http_readonly_queries_on_client_close",
        "http_response_buffer_size",
        "http_wait_end_of_query",
        "http_native_compression_disable_checksumming_on_decompress",
        "add_http_cors_header",
        "readonly",
    }
)
SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_FORMAT = "TabSeparated"

# Error codes (ClickHouse src/Common/ErrorCodes.cpp) and the HTTP status ClickHouse answers with.
UNKNOWN_FORMAT = 73
NOT_IMPLEMENTED = 48
BAD_ARGUMENTS = 36
CANNOT_DECOMPRESS = 271
UNKNOWN_COMPRESSION_METHOD = 457
REQUIRED_PASSWORD = 194
AUTHENTICATION_FAILED = 516
UNKNOWN_USER = 192
_STATUS_BY_CODE = {
    **dict.fromkeys((AUTHENTICATION_FAILED, REQUIRED_PASSWORD, UNKNOWN_USER), 401),
    **dict.fromkeys(
        (
            6,
            25,
            26,
            27,
            32,
            33,
            34,
            38,
            41,
            53,
            62,
            69,
            70,
            72,
            117,
            130,
            131,
            162,
            BAD_ARGUMENTS,
            CANNOT_DECOMPRESS,
            UNKNOWN_COMPRESSION_METHOD,
            456,
            457,
            457,
        ),
        400,
    ),
    **dict.fromkeys((46, 47, 50, 60, 73, 81, 115, 36000, 196), 404),
    NOT_IMPLEMENTED: 501,
    202: 503,  # TOO_MANY_SIMULTANEOUS_QUERIES
    159: 408,  # TIMEOUT_EXCEEDED
}
_CODE_RE = re.compile(r"Code:\s*(\d+)")
_NAME_RE = re.compile(r"\(([A-Z_]+)\)\s*$")

_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+([A-Za-z0-9_]+)\s*;?\s*$", re.IGNORECASE)


class HttpError(Exception):
    """An error answered the ClickHouse way: `Code: N. DB::Exception: text. (NAME)`."""

    def __init__(self, code: int, message: str, name: str = "", status: int | None = None):
        self.code = code
        self.name = name
        self.status = status or status_for(code)
        text = (
            message if message.startswith("Code:") else f"Code: {code}. DB::Exception: {message}."
        )
        if name and not text.rstrip().endswith(")"):
            text = f"{text} ({name})"
        super().__init__(text)

    @property
    def body(self) -> bytes:
        return (str(self) + "\n").encode()


def status_for(code: int) -> int:
    return _STATUS_BY_CODE.get(code, 500)


def from_engine_error(text: str) -> HttpError:
    """Map a chDB error text (already `Code: N. DB::Exception: ...`) to an HttpError."""
    match = _CODE_RE.search(text)
    code = int(match.group(1)) if match else 1001  # STD_EXCEPTION
    name_match = _NAME_RE.search(text.strip())
    message = text.strip()
    if not match:
        message = f"Code: {code}. DB::Exception: {message}"
    return HttpError(code, message, name_match.group(1) if name_match else "")


@dataclass
class Request:
    """One HTTP request, split the way ClickHouse reads it."""

    query: str
    database: str | None
    default_format: str
    params: dict[str, str] = field(default_factory=dict)  # param_x -> x
    settings: dict[str, str] = field(default_factory=dict)
    query_id: str | None = None
    session_id: str | None = None
    user: str | None = None
    password: str | None = None


def split_params(params: Mapping[str, str]) -> Request:
    """Sort URL parameters into query, transport options, query parameters and settings."""
    req = Request(
        query=params.get("query", ""),
        database=params.get("database") or None,
        default_format=params.get("default_format") or DEFAULT_FORMAT,
        query_id=params.get("query_id"),
        session_id=params.get("session_id"),
        user=params.get("user"),
        password=params.get("password"),
    )
    if params.get("compress") == "1" or params.get("decompress") == "1":
        raise HttpError(
            NOT_IMPLEMENTED,
            "ClickHouse-native block compression (compress=1/decompress=1) is not supported by the "
            "local chDB endpoint; use HTTP Content-Encoding / Accept-Encoding instead",
            "NOT_IMPLEMENTED",
        )
    for key, value in params.items():
        if key.startswith("param_"):
            req.params[key[len("param_") :]] = value
        elif key in TRANSPORT_PARAMS or key in HTTP_ONLY_SETTINGS or key.startswith("http_"):
            continue
        elif SETTING_NAME.match(key):
            req.settings[key] = value
        else:
            raise HttpError(BAD_ARGUMENTS, f"Invalid setting name {key!r}", "BAD_ARGUMENTS")
    return req


def set_statement(name: str, value: str) -> str:
    """`SET name = value` with the value as a quoted literal (ClickHouse converts it to the setting's type)."""
    if not SETTING_NAME.match(name):
        raise HttpError(BAD_ARGUMENTS, f"Invalid setting name {name!r}", "BAD_ARGUMENTS")
    return f"SET {name} = {quote_string(value)}"


def quote_string(value: str) -> str:
    """A ClickHouse single-quoted string literal."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


@dataclass
class InsertSplit:
    statement: str  # `INSERT INTO t (cols)` without FORMAT
    fmt: str
    data: bytes


def split_insert(query: bytes) -> InsertSplit | None:
    """If `query` is `INSERT ... FORMAT X <data>`, split it; None for any other statement.

    The FORMAT keyword counts only outside quotes, and only before VALUES/SELECT/WITH would start
    an inline statement (`INSERT INTO t VALUES (1, 'FORMAT CSV')` is a plain query).
    """
    if not _INSERT_HEAD.match(query):
        return None
    for word, start, end in _words_outside_quotes(query):
        if word in (b"VALUES", b"SELECT", b"WITH"):
            return None
        if word == b"FORMAT":
            match = _FORMAT_NAME.match(query, end)
            if not match:
                return None
            statement = query[:start].decode("utf-8").strip()
            return InsertSplit(statement, match.group(1).decode("ascii"), query[match.end() :])
    return None


def input_insert(query: str, body: bytes) -> tuple[str, str] | None:
    """If ``query`` is `INSERT ... SELECT ... FROM input('structure') ... FORMAT X` sent with its
    data in the body, return (the statement without FORMAT, X); None for any other statement.
    The statement's `input(` is what ``file_input`` points at the body."""
    raw = query.encode()
    if not body or not _INSERT_HEAD.match(raw):
        return None
    words = list(_words_outside_quotes(raw))
    has_input = any(w == b"INPUT" and raw[e : e + 1] == b"(" for w, _s, e in words)
    if not has_input or len(words) < 2 or words[-2][0] != b"FORMAT":
        return None
    _word, start, end = words[-2]
    fmt = raw[end:].strip().decode("ascii", "replace")
    if not fmt.isidentifier():
        return None
    return raw[:start].decode("utf-8").strip(), fmt


def file_input(statement: str, path: str, fmt: str) -> str:
    """``statement`` with its `input(` replaced by `file('<path>', '<fmt>', `: chDB cannot stream
    a body into `input()`, so the local endpoint writes the body to ``path`` first."""
    raw = statement.encode()
    for word, start, end in _words_outside_quotes(raw):
        if word == b"INPUT" and raw[end : end + 1] == b"(":
            head, tail = statement[:start], statement[end + 1 :]
            return f"{head}file({quote_string(path)}, {quote_string(fmt)}, {tail}"
    raise ValueError("no input( in the statement")


_INSERT_HEAD = re.compile(rb"^\s*(?:--[^\n]*\n\s*)*INSERT\s+INTO\s", re.IGNORECASE)
_FORMAT_NAME = re.compile(rb"\s+([A-Za-z0-9_]+)[ \t]*(?:\r?\n)?")


def _words_outside_quotes(text: bytes):
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in b"'\"`":
            i += 1
            while i < n and text[i] != ch:
                i += 2 if text[i] == 0x5C else 1  # backslash escapes the next byte
            i += 1
        elif chr(ch).isalpha() or ch == 0x5F:
            start = i
            while i < n and (chr(text[i]).isalnum() or text[i] == 0x5F):
                i += 1
            yield text[start:i].upper(), start, i
        else:
            i += 1


_USE = re.compile(r"^\s*USE\s", re.IGNORECASE)
_SET = re.compile(r"^\s*SET\s+(.*)$", re.IGNORECASE | re.DOTALL)
_SET_NAME = re.compile(r"(?:^|,)\s*([A-Za-z_][A-Za-z0-9_]*)\s*=")


def session_changes(sql: str) -> tuple[bool, list[str]]:
    """Whether `sql` is a `USE`, and which settings a `SET` statement names."""
    if _USE.match(sql):
        return True, []
    match = _SET.match(sql)
    if not match:
        return False, []
    return False, _SET_NAME.findall(match.group(1))


def output_format(query: str, default: str) -> str:
    """The format a SELECT answers in: its trailing FORMAT clause, else the default."""
    match = _TRAILING_FORMAT.search(query)
    return match.group(1) if match else default


def form_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The fields of a multipart/form-data body (``query``, ``param_*``, settings) as text.

    A part with a file name is external data (a temporary table), which the local endpoint does
    not offer: refused with NOT_IMPLEMENTED, as before forms were read at all.
    """
    from email.parser import BytesParser
    from email.policy import HTTP

    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise HttpError(BAD_ARGUMENTS, "malformed multipart/form-data body", "BAD_ARGUMENTS")
    fields: dict[str, str] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        if part.get_filename() is not None or not isinstance(name, str):
            raise HttpError(
                NOT_IMPLEMENTED,
                "external data (file parts of multipart/form-data) is not supported by the local "
                "chDB endpoint",
                "NOT_IMPLEMENTED",
            )
        payload = part.get_payload(decode=True)
        try:
            fields[name] = payload.decode("utf-8") if isinstance(payload, bytes) else ""
        except UnicodeDecodeError as exc:
            raise HttpError(
                BAD_ARGUMENTS, f"form field {name!r} is not UTF-8", "BAD_ARGUMENTS"
            ) from exc
    return fields


def summary(
    read_rows: int,
    read_bytes: int,
    written_rows: int,
    written_bytes: int,
    result_rows: int,
    result_bytes: int,
    elapsed_s: float,
) -> str:
    """The X-ClickHouse-Summary header value (all numbers as strings, as ClickHouse sends them)."""
    return json.dumps(
        {
            "read_rows": str(read_rows),
            "read_bytes": str(read_bytes),
            "written_rows": str(written_rows),
            "written_bytes": str(written_bytes),
            "total_rows_to_read": "0",
            "result_rows": str(result_rows),
            "result_bytes": str(result_bytes),
            "elapsed_ns": str(int(elapsed_s * 1e9)),
        },
        separators=(",", ":"),
    )
