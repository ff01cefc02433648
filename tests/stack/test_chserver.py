"""The chDB-backed ClickHouse HTTP endpoint, spoken to the way curl and clickhouse-connect do."""

from __future__ import annotations

import gzip
import json
import zlib

import httpx
import lz4.frame
import pytest

from platestream.settings import CommonSettings

try:
    from backports import zstd
except ImportError:  # pragma: no cover
    from compression import zstd  # type: ignore[no-redef]

pytestmark = pytest.mark.integration


@pytest.fixture
def http(settings: CommonSettings):
    with httpx.Client(
        base_url=settings.clickhouse_url,
        auth=(settings.clickhouse_user, settings.clickhouse_password),
        params={"database": settings.clickhouse_database},
        timeout=30,
    ) as client:
        yield client


def _table(http: httpx.Client) -> None:
    r = http.post(
        "/",
        content=b"CREATE TABLE t (id UInt32, plate String, ts DateTime64(3, 'UTC')) "
        b"ENGINE = MergeTree ORDER BY id",
    )
    assert r.status_code == 200, r.text


def test_ping_and_root_answer_ok(settings: CommonSettings) -> None:
    assert httpx.get(settings.clickhouse_url + "/ping").text == "Ok.\n"
    assert httpx.get(settings.clickhouse_url + "/").text == "Ok.\n"


def test_get_query_with_default_tabseparated(http: httpx.Client) -> None:
    r = http.get("/", params={"query": "SELECT 1 + 1, 'a\tb'"})
    assert r.status_code == 200
    assert r.text == "2\ta\\tb\n"
    assert r.headers["X-ClickHouse-Format"] == "TabSeparated"
    assert r.headers["X-ClickHouse-Query-Id"]
    assert json.loads(r.headers["X-ClickHouse-Summary"])["result_rows"] == "1"
    r = http.get("/", params={"query": "SELECT count() FROM numbers(1000)"})
    summary = json.loads(r.headers["X-ClickHouse-Summary"])
    assert (summary["read_rows"], summary["result_rows"]) == ("1000", "1")


def test_query_parameters_are_typed_and_safe(http: httpx.Client) -> None:
    evil = "x'); DROP DATABASE default; --"
    r = http.post(
        "/",
        params={"param_plate": evil, "param_n": "41"},
        content=b"SELECT {plate:String} AS p, {n:UInt8} + 1 AS n FORMAT JSONEachRow",
    )
    assert r.status_code == 200, r.text
    assert json.loads(r.text) == {"p": evil, "n": 42}
    r = http.post("/", params={"param_n": "abc"}, content=b"SELECT {n:UInt8}")
    assert r.status_code != 200 and "Code:" in r.text


def test_settings_apply_to_one_request_only(http: httpx.Client) -> None:
    r = http.get(
        "/", params={"query": "SELECT getSetting('max_block_size')", "max_block_size": "1234"}
    )
    assert r.text == "1234\n"
    r = http.get("/", params={"query": "SELECT getSetting('max_block_size')"})
    assert r.text != "1234\n"


def test_use_and_set_sent_as_queries_do_not_leak(http: httpx.Client) -> None:
    assert http.post("/", content=b"SET max_block_size = 777").status_code == 200
    assert http.post("/", content=b"USE system").status_code == 200
    r = http.get("/", params={"query": "SELECT getSetting('max_block_size'), currentDatabase()"})
    assert r.text.split("\t")[0] != "777"
    assert r.text.split("\t")[1].strip() != "system"


def test_insert_formats_in_the_body_and_select_formats(http: httpx.Client) -> None:
    _table(http)
    bodies = {
        "CSV": b"1,AB123,2026-01-01 00:00:00.000\n",
        "CSVWithNames": b'"id","plate","ts"\n2,CD456,2026-01-01 00:00:01.500\n',
        "TabSeparated": b"3\tEF789\t2026-01-01 00:00:02.000\n",
        "TabSeparatedWithNames": b"id\tplate\tts\n4\tGH012\t2026-01-01 00:00:03.000\n",
        "JSONEachRow": b'{"id":5,"plate":"IJ345","ts":"2026-01-01 00:00:04.000"}\n',
    }
    for fmt, data in bodies.items():
        r = http.post("/", params={"query": f"INSERT INTO t FORMAT {fmt}"}, content=data)
        assert r.status_code == 200, (fmt, r.text)
        assert json.loads(r.headers["X-ClickHouse-Summary"])["written_rows"] == "1"
    # the statement and its data in one body, as `curl --data-binary @file` sends it
    r = http.post("/", content=b"INSERT INTO t FORMAT CSV\n6,KL678,2026-01-01 00:00:05.000\n")
    assert r.status_code == 200, r.text
    r = http.get("/", params={"query": "SELECT id, plate FROM t ORDER BY id FORMAT CSV"})
    assert r.text.splitlines() == [
        f'{i},"{p}"'
        for i, p in enumerate(["AB123", "CD456", "EF789", "GH012", "IJ345", "KL678"], start=1)
    ]
    r = http.get("/", params={"query": "SELECT id, plate FROM t WHERE id = 2 FORMAT JSON"})
    doc = r.json()
    assert doc["data"] == [{"id": 2, "plate": "CD456"}] and doc["rows"] == 1
    assert r.headers["Content-Type"].startswith("application/json")
    r = http.get(
        "/", params={"query": "SELECT id, plate FROM t WHERE id = 1 FORMAT TabSeparatedWithNames"}
    )
    assert r.text == "id\tplate\n1\tAB123\n"
    r = http.get("/", params={"query": "SELECT toUInt32(7) AS x FORMAT RowBinaryWithNamesAndTypes"})
    assert r.content == b"\x01\x01x\x06UInt32\x07\x00\x00\x00"


def test_rowbinary_insert(http: httpx.Client) -> None:
    _table(http)
    row = (9).to_bytes(4, "little") + b"\x05ZZ999" + (1_767_225_600_000).to_bytes(8, "little")
    r = http.post("/", params={"query": "INSERT INTO t FORMAT RowBinary"}, content=row)
    assert r.status_code == 200, r.text
    r = http.get(
        "/", params={"query": "SELECT id, plate, toUnixTimestamp64Milli(ts) FROM t FORMAT CSV"}
    )
    assert r.text == '9,"ZZ999",1767225600000\n'


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("lz4", lz4.frame.compress),
        ("zstd", zstd.compress),
    ],
)
def test_compressed_request_bodies(http: httpx.Client, encoding: str, compress) -> None:
    _table(http)
    data = "".join(f"{i},P{i},2026-01-01 00:00:00\n" for i in range(1000)).encode()
    r = http.post(
        "/",
        params={"query": "INSERT INTO t FORMAT CSV"},
        content=compress(data),
        headers={"Content-Encoding": encoding},
    )
    assert r.status_code == 200, r.text
    assert http.get("/", params={"query": "SELECT count() FROM t"}).text == "1000\n"


def test_compressed_response_when_asked(settings: CommonSettings) -> None:
    query = "SELECT number FROM numbers(1000) FORMAT CSV"
    url = settings.clickhouse_url + "/"
    auth = (settings.clickhouse_user, settings.clickhouse_password)
    # raw bytes: show the wire is compressed, then decompress ourselves
    with httpx.stream(
        "GET",
        url,
        params={"query": query, "enable_http_compression": "1"},
        headers={"Accept-Encoding": "gzip"},
        auth=auth,
    ) as r:
        assert r.headers["Content-Encoding"] == "gzip"
        raw = b"".join(r.iter_raw())
    assert gzip.decompress(raw).decode().splitlines()[-1] == "999"
    r = httpx.get(url, params={"query": query}, headers={"Accept-Encoding": "gzip"}, auth=auth)
    assert "Content-Encoding" not in r.headers  # not asked with enable_http_compression=1


def test_errors_are_clickhouse_texts_with_status_and_code(http: httpx.Client) -> None:
    r = http.post("/", content=b"SELEC 1")
    assert r.status_code == 400
    assert r.headers["X-ClickHouse-Exception-Code"] == "62"
    assert r.text.startswith("Code: 62. DB::Exception: Syntax error")
    r = http.get("/", params={"query": "SELECT * FROM no_such_table"})
    assert r.status_code == 404 and r.headers["X-ClickHouse-Exception-Code"] == "60"
    r = http.post("/", params={"query": "INSERT INTO no_such_table FORMAT CSV"}, content=b"1\n")
    assert r.status_code >= 400 and r.text.startswith("Code: ")
    _table(http)
    r = http.post("/", params={"query": "INSERT INTO t FORMAT CSV"}, content=b"not-a-number,x,y\n")
    assert r.status_code >= 400 and "Code:" in r.text
    # the server still answers after errors
    assert http.get("/", params={"query": "SELECT 1"}).text == "1\n"


def test_form_encoded_query_and_parameters(http: httpx.Client) -> None:
    """clickhouse-connect sends parameters over 4 KiB as multipart form fields."""
    many = "[" + ",".join(f"'P{i:05d}'" for i in range(2000)) + "]"
    r = http.post(
        "/",
        files={
            "query": (None, "SELECT length({a:Array(String)}), {n:UInt8} + 1"),
            "param_a": (None, many),
            "param_n": (None, "41"),
        },
    )
    assert r.status_code == 200 and r.text == "2000\t42\n"


def test_concurrent_queries_run_side_by_side(settings: CommonSettings) -> None:
    """Four half-second queries at once take about one half second, not two."""
    import threading
    import time

    auth = (settings.clickhouse_user, settings.clickhouse_password)
    codes: list[int] = []

    def one() -> None:
        r = httpx.get(settings.clickhouse_url, params={"query": "SELECT sleep(0.5)"}, auth=auth)
        codes.append(r.status_code)

    threads = [threading.Thread(target=one) for _ in range(4)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 4
    assert time.perf_counter() - started < 1.6  # one at a time would take 2 s


def test_unsupported_requests_say_so(http: httpx.Client) -> None:
    r = http.post("/", files={"data": ("t.tsv", b"1\n")}, params={"query": "SELECT 1"})
    assert r.status_code == 501 and "external data" in r.text
    r = http.get("/", params={"query": "SELECT 1", "compress": "1"})
    assert r.status_code == 501 and "compress=1" in r.text
    r = http.post("/play", content=b"x" * 10_000)
    assert r.status_code == 404 and "There is no handle /play" in r.text
    assert http.get("/", params={"query": "SELECT 1"}).text == "1\n"  # same kept-alive connection


def test_insert_with_data_in_the_url_and_the_body(http: httpx.Client) -> None:
    _table(http)
    query = "INSERT INTO t FORMAT CSV 1,URL,2026-01-01 00:00:00"
    r = http.post("/", params={"query": query}, content=b"2,BODY,2026-01-01 00:00:00\n")
    assert r.status_code == 200, r.text
    r = http.get("/", params={"query": "SELECT plate FROM t ORDER BY id FORMAT CSV"})
    assert r.text == '"URL"\n"BODY"\n'


def test_authentication(settings: CommonSettings) -> None:
    url = settings.clickhouse_url + "/"
    q = {"query": "SELECT 1"}
    assert (
        httpx.get(url, params=q, auth=(settings.clickhouse_user, settings.clickhouse_password)).text
        == "1\n"
    )
    for r in (
        httpx.get(url, params=q, auth=(settings.clickhouse_user, "wrong")),
        httpx.get(url, params=q),  # no credentials at all
        httpx.get(
            url,
            params=q,
            headers={"X-ClickHouse-User": settings.clickhouse_user, "X-ClickHouse-Key": "nope"},
        ),
        httpx.get(url, params={**q, "user": "intruder", "password": settings.clickhouse_password}),
    ):
        assert r.status_code == 401
        assert r.headers["X-ClickHouse-Exception-Code"] == "516"
        assert "Authentication failed" in r.text
    headers = {
        "X-ClickHouse-User": settings.clickhouse_user,
        "X-ClickHouse-Key": settings.clickhouse_password,
    }
    assert httpx.get(url, params=q, headers=headers).text == "1\n"
    params = {
        **q,
        "user": settings.clickhouse_user,
        "password": settings.clickhouse_password,
        "session_id": "abc",
    }
    assert httpx.get(url, params=params).text == "1\n"


def test_clickhouse_connect_defaults_work(settings: CommonSettings) -> None:
    from platestream.clickhouse import make_clickhouse

    client = make_clickhouse(settings)
    assert client.server_version.split(".")[0].isdigit()
    client.command(
        "CREATE TABLE kv (k String, v Float64, m Map(String, UInt32)) ENGINE = MergeTree ORDER BY k"
    )
    client.insert("kv", [["a", 1.5, {"x": 1}], ["b", 2.5, {"y": 2}]], column_names=["k", "v", "m"])
    rows = client.query(
        "SELECT k, v, m FROM kv WHERE v > {lo:Float64} ORDER BY k", parameters={"lo": 1.0}
    ).result_rows
    assert rows == [("a", 1.5, {"x": 1}), ("b", 2.5, {"y": 2})]
    assert client.command("SELECT count() FROM kv") == 2
    df = client.query_df("SELECT k, v FROM kv ORDER BY k")
    assert list(df["k"]) == ["a", "b"]
    with pytest.raises(Exception, match=r"UNKNOWN_TABLE|Unknown table"):
        client.query("SELECT * FROM nope")
