"""Unit tests of the ClickHouse HTTP adapter's pure parts (no server, no chDB)."""

from __future__ import annotations

import gzip
import json
import zlib

import lz4.frame
import pytest

from platestream.stack import httpcodec as hc
from platestream.stack.httpcompression import (
    RESPONSE_ENCODINGS,
    decode_body,
    encode_body,
    pick_response_encoding,
)

try:
    from backports import zstd
except ImportError:  # pragma: no cover
    from compression import zstd  # type: ignore[no-redef]


def test_split_params_sorts_query_params_settings_and_transport() -> None:
    req = hc.split_params(
        {
            "query": "SELECT {a:UInt8}",
            "database": "db1",
            "param_a": "7",
            "param_plate": "AB'C",
            "max_threads": "2",
            "session_id": "s1",
            "query_id": "q1",
            "wait_end_of_query": "1",
            "send_progress_in_http_headers": "1",
            "enable_http_compression": "1",
            "http_headers_progress_interval_ms": "100",
        }
    )
    assert req.query == "SELECT {a:UInt8}"
    assert req.database == "db1"
    assert req.params == {"a": "7", "plate": "AB'C"}
    assert req.settings == {"max_threads": "2"}
    assert (req.session_id, req.query_id) == ("s1", "q1")
    assert req.default_format == "TabSeparated"


def test_split_params_refuses_a_malformed_setting_name() -> None:
    with pytest.raises(hc.HttpError) as info:
        hc.split_params({"max threads; DROP": "1"})
    assert info.value.code == hc.BAD_ARGUMENTS
    assert info.value.status == 400
    assert str(info.value).startswith("Code: 36. DB::Exception: Invalid setting name")


def test_native_block_compression_is_refused_clearly() -> None:
    with pytest.raises(hc.HttpError) as info:
        hc.split_params({"decompress": "1"})
    assert info.value.status == 501
    assert "Content-Encoding" in str(info.value)


def test_set_statement_quotes_values() -> None:
    assert hc.set_statement("max_threads", "2") == "SET max_threads = '2'"
    assert hc.set_statement("format_csv_delimiter", "'") == "SET format_csv_delimiter = '\\''"
    assert hc.set_statement("x", "a\\b") == "SET x = 'a\\\\b'"
    with pytest.raises(hc.HttpError):
        hc.set_statement("x = 1; DROP TABLE t; --", "1")


def test_split_insert_finds_statement_format_and_data() -> None:
    split = hc.split_insert(b"INSERT INTO db.t (a, b) FORMAT CSV\n1,x\n2,y\n")
    assert split is not None
    assert split.statement == "INSERT INTO db.t (a, b)"
    assert split.fmt == "CSV"
    assert split.data == b"1,x\n2,y\n"


def test_split_insert_keeps_binary_data_intact() -> None:
    payload = bytes(range(256)) * 3
    split = hc.split_insert(b"insert into t format RowBinary\n" + payload)
    assert split is not None and split.fmt == "RowBinary" and split.data == payload


def test_split_insert_ignores_other_statements() -> None:
    assert hc.split_insert(b"SELECT 1 FORMAT CSV") is None
    assert hc.split_insert(b"INSERT INTO t VALUES (1, 'FORMAT CSV')") is None
    assert hc.split_insert(b"INSERT INTO t SELECT * FROM s") is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("SELECT 1", "TabSeparated"),
        ("SELECT 1 FORMAT JSONEachRow", "JSONEachRow"),
        ("select 1 format CSVWithNames;", "CSVWithNames"),
        ("SELECT 'FORMAT CSV' AS x FORMAT Native\n", "Native"),
    ],
)
def test_output_format(query: str, expected: str) -> None:
    assert hc.output_format(query, "TabSeparated") == expected


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("lz4", lz4.frame.compress),
        ("zstd", zstd.compress),
        (None, lambda b: b),
        ("identity", lambda b: b),
    ],
)
def test_decode_body_round_trips(encoding: str | None, compress) -> None:
    body = b"1,abc\n" * 1000
    assert decode_body(compress(body), encoding) == body


def test_decode_body_reads_concatenated_lz4_frames() -> None:
    # clickhouse-connect compresses each Native block as its own frame
    parts = [b"a" * 70_000, b"b" * 10, b"c" * 5_000]
    body = b"".join(lz4.frame.compress(p) for p in parts)
    assert decode_body(body, "lz4") == b"".join(parts)


def test_decode_body_errors_are_clickhouse_errors() -> None:
    with pytest.raises(hc.HttpError) as info:
        decode_body(b"not gzip", "gzip")
    assert info.value.code == hc.CANNOT_DECOMPRESS and info.value.status == 400
    with pytest.raises(hc.HttpError) as info:
        decode_body(b"x", "snappy-ish")
    assert info.value.code == hc.UNKNOWN_COMPRESSION_METHOD


def test_response_encoding_follows_client_preference() -> None:
    assert pick_response_encoding("lz4, zstd, gzip") == "lz4"
    assert pick_response_encoding("gzip;q=1.0, deflate") == "gzip"
    assert pick_response_encoding("identity") is None
    assert pick_response_encoding(None) is None
    for enc in RESPONSE_ENCODINGS:
        assert decode_body(encode_body(b"hello" * 100, enc), enc) == b"hello" * 100


def test_engine_errors_keep_code_name_and_status() -> None:
    err = hc.from_engine_error(
        "Code: 60. DB::Exception: Unknown table expression identifier 'nope'. (UNKNOWN_TABLE)"
    )
    assert (err.code, err.name, err.status) == (60, "UNKNOWN_TABLE", 404)
    assert err.body.startswith(b"Code: 60. DB::Exception: Unknown table")
    syntax = hc.from_engine_error(
        "Code: 62. DB::Exception: Syntax error: failed at position 1. (SYNTAX_ERROR)"
    )
    assert syntax.status == 400
    other = hc.from_engine_error("something odd happened")
    assert other.status == 500 and str(other).startswith("Code: 1001. DB::Exception: something odd")


def test_auth_error_answers_401() -> None:
    err = hc.HttpError(
        hc.AUTHENTICATION_FAILED, "u: Authentication failed", "AUTHENTICATION_FAILED"
    )
    assert err.status == 401
    assert str(err) == "Code: 516. DB::Exception: u: Authentication failed. (AUTHENTICATION_FAILED)"


def test_summary_is_clickhouse_shaped() -> None:
    summary = json.loads(hc.summary(1, 2, 3, 4, 5, 6, 0.5))
    assert summary["written_rows"] == "3"
    assert summary["result_rows"] == "5"
    assert summary["elapsed_ns"] == "500000000"


def test_session_changes_are_recognised() -> None:
    assert hc.session_changes("USE other") == (True, [])
    assert hc.session_changes("  set max_threads = 1, max_block_size=10") == (
        False,
        ["max_threads", "max_block_size"],
    )
    assert hc.session_changes("SELECT 'SET x = 1'") == (False, [])


def _form(*parts: tuple[str, str | None, bytes]) -> tuple[str, bytes]:
    body = b""
    for name, filename, value in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--XyZ\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
    return "multipart/form-data; boundary=XyZ", body + b"--XyZ--\r\n"


def test_form_fields_give_query_parameters_and_settings() -> None:
    content_type, body = _form(
        ("query", None, b"SELECT {p:Array(String)}"),
        ("param_p", None, "['粤B12345','A\\nB']".encode()),
        ("max_execution_time", None, b"10"),
    )
    assert hc.form_fields(content_type, body) == {
        "query": "SELECT {p:Array(String)}",
        "param_p": "['粤B12345','A\\nB']",
        "max_execution_time": "10",
    }


def test_form_file_parts_and_bad_text_are_refused() -> None:
    content_type, body = _form(("data", "t.tsv", b"1\n"))
    with pytest.raises(hc.HttpError) as exc:
        hc.form_fields(content_type, body)
    assert exc.value.code == hc.NOT_IMPLEMENTED
    content_type, body = _form(("param_x", None, b"\xff\xfe"))
    with pytest.raises(hc.HttpError) as exc:
        hc.form_fields(content_type, body)
    assert exc.value.code == hc.BAD_ARGUMENTS


def test_input_insert_finds_a_select_from_input_with_its_data_in_the_body() -> None:
    q = "INSERT INTO db.t (a, b) SELECT x AS a, 'input(' AS b FROM input('x Int32') WHERE x > 0 FORMAT Avro"
    assert hc.input_insert(q, b"Obj\x01...") == (
        "INSERT INTO db.t (a, b) SELECT x AS a, 'input(' AS b FROM input('x Int32') WHERE x > 0",
        "Avro",
    )
    assert hc.input_insert(q, b"") is None  # no body: nothing to read
    assert hc.input_insert("INSERT INTO t SELECT 1 FORMAT Avro", b"x") is None
    assert hc.input_insert("SELECT * FROM input('x Int32') FORMAT Avro", b"x") is None
    assert hc.input_insert("INSERT INTO t SELECT * FROM input('x Int32')", b"x") is None


def test_file_input_points_the_statement_at_the_body_written_to_a_file() -> None:
    statement = "INSERT INTO t SELECT x, 'input(' FROM input('x Int32')"
    assert (
        hc.file_input(statement, "/var/it's.avro", "Avro")
        == "INSERT INTO t SELECT x, 'input(' FROM file('/var/it\\'s.avro', 'Avro', 'x Int32')"
    )
    with pytest.raises(ValueError):
        hc.file_input("INSERT INTO t SELECT 1", "/p", "Avro")
