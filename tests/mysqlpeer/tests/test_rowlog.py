"""peerlib/rowlog.py: the ROW transactions the peer appends to its binlog for writes.

Oracles that are not rowlog's own: `mariadb-binlog -vv --base64-output=decode-rows` (MariaDB's
decoder of MySQL row events) for every value, image and event boundary; MySQL 8.0.26's own
bytes (rust_mysql_common/binlog-invisible-columns.000001) for a DDL and a ROW transaction
rebuilt byte for byte, and its JSON rows (8.0.22, 9.0.1); peerlib.binlog (the peer's reader)
for GTIDs, checksums and log_pos; the peer serving the appended file to
`mariadb-binlog --read-from-remote-server`, and a blocking dump (rawclient.py) reading while
the writer appends."""
import datetime as dt
import os
import shutil
import struct
import subprocess
import threading
import uuid as uuidlib
import zlib
from decimal import Decimal

import pytest

from conftest import fixture
from test_dump import chain, file_events
from peerlib import workload
from peerlib.binlog import BinlogDir, Header
from peerlib.gtidset import Gtid, GtidSet
from peerlib.coltypes import json_binary
from peerlib.rowlog import BinlogWriter, Column, ColumnValueError, Table
from rawclient import Client, header

MB = "mariadb-binlog"
U = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
INVISIBLE = "rust_mysql_common/binlog-invisible-columns.000001"


def mariadb_binlog(*args):
    """(rc, stdout, stderr) of mariadb-binlog -vv decode-rows."""
    assert shutil.which(MB), "mariadb-binlog is needed (mariadb-client)"
    p = subprocess.run([MB, "--no-defaults", "-vv", "--base64-output=decode-rows", *args],
                       capture_output=True, timeout=120, env={"TZ": "UTC"})
    return p.returncode, p.stdout.decode("utf-8", "surrogateescape"), \
        p.stderr.decode("utf-8", "replace")


def decoded_statements(out):
    """mariadb-binlog's row lines as [(verb, table, [images])], an image a list of the value
    texts of @1..@n."""
    stmts = []
    for line in out.splitlines():
        if not line.startswith("###"):
            continue
        s = line[3:].strip()
        for verb in ("INSERT INTO ", "UPDATE ", "DELETE FROM "):
            if s.startswith(verb):
                stmts.append((verb.split()[0], s[len(verb):], []))
                break
        else:
            if s in ("SET", "WHERE"):
                stmts[-1][2].append([])
            elif s.startswith("@"):
                val = s.split("=", 1)[1]
                val = val[:val.rindex(" /* ")]
                stmts[-1][2][-1].append(val)
    return stmts


def check_positions(path, crc=True):
    """Every event's log_pos is its end; every CRC32 is right."""
    for off, ev in file_events(path):
        h = Header(ev)
        assert h.log_pos == off + h.size, (path, off)
        if crc:
            assert struct.unpack("<I", ev[-4:])[0] == zlib.crc32(ev[:-4]) & 0xFFFFFFFF


def gtid_fields(ev):
    """(flags, uuid:gno, last_committed, sequence_number, transaction_length) of a GTID event
    (MySQL 8.0 layout, read here from control_events.h's description)."""
    b = ev[19:]
    sid = str(uuidlib.UUID(bytes=b[1:17]))
    gno, _lt, lc, seq = struct.unpack_from("<qBqq", b, 17)
    n = b[49]
    length = n if n < 251 else struct.unpack_from("<H", b, 50)[0]
    return b[0], f"{sid}:{gno}", lc, seq, length


# ---- expected texts, in mariadb-binlog's print format (log_event_client.cc) -----------------
def mb_int(v, bits):
    if v < 0:
        return f"{v} ({v + (1 << bits)})"
    if v >= 1 << (bits - 1):
        return f"{v - (1 << bits)} ({v})"
    return str(v)


def mb_str(b):
    """my_b_write_quoted: bytes below 0x20 as \\xNN, everything else as it is."""
    out = "'"
    for ch in b:
        if ch < 0x20:
            out += f"\\x{ch:02x}"
        else:
            out += chr(ch) if ch < 0x80 else bytes([ch]).decode("latin-1")
    return out + "'"


def mb_frac(us, fsp):
    return "" if fsp == 0 else "." + f"{us:06d}"[:fsp]


def expected_text(col, v):
    if v is None:
        return "NULL"
    t = col.data_type
    if t in ("tinyint", "smallint", "mediumint", "int", "bigint"):
        return mb_int(v, {"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32,
                          "bigint": 64}[t])
    if t == "decimal":
        return f"{v:.{col.scale}f}"
    if t == "double":
        return "%.20g" % v
    if t == "float":
        return "%-20g" % v
    if t == "date":
        return f"'{v.year:04d}:{v.month:02d}:{v.day:02d}'"
    if t == "datetime":
        return f"'{v:%Y-%m-%d %H:%M:%S}{mb_frac(v.microsecond, col.fsp)}'"
    if t == "timestamp":
        secs = int((v - dt.datetime(1970, 1, 1)).total_seconds())
        return f"{secs}{mb_frac(v.microsecond, col.fsp)}"
    if t == "time":
        us = abs(v) // dt.timedelta(microseconds=1)
        s, frac = divmod(us, 1000000)
        sign = "-" if v < dt.timedelta(0) else ""
        return f"'{sign}{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}" \
            f"{mb_frac(frac, col.fsp)}'"
    b = v if isinstance(v, bytes) else v.encode()
    return mb_str(b).encode("latin-1").decode("utf-8", "surrogateescape")


def all_types_table():
    cols = [
        Column("id", "int unsigned", nullable=False),
        Column("ti", "tinyint"), Column("tu", "TINYINT UNSIGNED"),
        Column("si", "smallint"), Column("mi", "mediumint unsigned"),
        Column("i", "int"), Column("bi", "bigint"), Column("bu", "bigint unsigned"),
        Column("dc", "decimal(40,12)"), Column("d2", "decimal(5,2)"), Column("d0", "DECIMAL(18)"),
        Column("db", "double"), Column("fl", "float"),
        Column("da", "date"), Column("dt0", "datetime"), Column("dt6", "datetime(6)"),
        Column("dt3", "datetime(3)"), Column("ts", "timestamp(6)"), Column("ts1", "timestamp(1)"),
        Column("tm", "time"), Column("tm2", "time(2)"), Column("tm4", "time(4)"),
        Column("tm6", "time(6)"),
        Column("vc", "varchar(64)"), Column("vl", "varchar(300)"), Column("ch", "char(10)"),
        Column("vb", "varbinary(20)"), Column("bl", "blob"), Column("tx", "text"),
        Column("lb", "longblob"),
    ]
    return Table("shop", "all_types", cols, ["id"])


ROW_MAX = (1, 127, 255, 32767, 16777215, 2147483647, 9223372036854775807,
           18446744073709551615, Decimal("9999999999999999999999999999.999999999999"),
           Decimal("999.99"), Decimal("999999999999999999"), 1.5e300, 3.5,
           dt.date(9999, 12, 31), dt.datetime(9999, 12, 31, 23, 59, 59),
           dt.datetime(2024, 2, 29, 23, 59, 59, 999999), dt.datetime(1000, 1, 1, 0, 0, 0, 1000),
           dt.datetime(2038, 1, 19, 3, 14, 7, 999999), dt.datetime(1970, 1, 1, 0, 0, 1, 100000),
           dt.timedelta(hours=838, minutes=59, seconds=59), dt.timedelta(seconds=1.5),
           dt.timedelta(hours=12, microseconds=123400), dt.timedelta(microseconds=1),
           "héllo wörld € 😀 日本語", "x" * 300, "abc", b"\x00\x01\xff'\\", b"",
           "ünïcødé text 😀", bytes(range(256)) * 300)
ROW_MIN = (2, -128, 0, -32768, 0, -2147483648, -9223372036854775808, 0,
           Decimal("-1234567890123456789012345678.123456789012"), Decimal("-0.01"),
           Decimal("-1"), -2.25e-300, -0.125,
           dt.date(1000, 1, 1), dt.datetime(1000, 1, 1), dt.datetime(1970, 1, 1),
           dt.datetime(2001, 2, 3, 4, 5, 6, 7000), dt.datetime(1970, 1, 1, 0, 0, 1),
           dt.datetime(2000, 1, 1), -dt.timedelta(hours=838, minutes=59, seconds=59),
           -dt.timedelta(seconds=1.5), -dt.timedelta(hours=1, microseconds=100),
           -dt.timedelta(microseconds=1), "", "", "", b"", b"x", "", b"")
ROW_NULL = (3,) + (None,) * 29


def test_every_type_decodes_with_mariadb_binlog(tmp_path):
    t = all_types_table()
    w = BinlogWriter(str(tmp_path), server_uuid=U)
    w.write_query("shop", "CREATE DATABASE shop")
    w.write_query("shop", "CREATE TABLE all_types (id int unsigned primary key, …)")
    rows = [ROW_MAX, ROW_MIN, ROW_NULL]
    w.write_rows(t, "insert", rows)
    after = (1, -1, 1, 1, 1, -1, -1, 1, Decimal("0.000000000001"), Decimal("0.5"), Decimal(0),
             0.0, 0.0, dt.date(2000, 2, 29), dt.datetime(2000, 2, 29, 12, 0, 0),
             dt.datetime(2000, 2, 29, 12, 0, 0, 500000), dt.datetime(2000, 2, 29),
             dt.datetime(2000, 2, 29, 12, 0, 0, 1), dt.datetime(2000, 2, 29),
             dt.timedelta(0), dt.timedelta(0), dt.timedelta(0), dt.timedelta(0),
             "ŝ", "'quoted'", "a b", b"\n", b"\t", "\u00e9", None)
    w.write_rows(t, "update", [(ROW_MAX, after), (ROW_NULL, ROW_MIN[:1] + ROW_MAX[1:])])
    w.write_rows(t, "delete", [after, ROW_MIN])
    path = str(tmp_path / "binlog.000001")

    rc, out, err = mariadb_binlog(path)
    assert rc == 0 and err == "", err
    stmts = decoded_statements(out)
    ins = [s for s in stmts if s[0] == "INSERT"]
    upd = [s for s in stmts if s[0] == "UPDATE"]
    dele = [s for s in stmts if s[0] == "DELETE"]
    assert all(s[1] == "`shop`.`all_types`" for s in stmts)
    # the TABLE_MAP's NULL bitmap: only id is NOT NULL
    vals = [ln for ln in out.splitlines() if ln.startswith("###   @")]
    assert len(vals) == 30 * 9  # 3 inserted, 2 updated (before, after), 2 deleted
    assert all(("nullable=0" if ln.startswith("###   @1=") else "nullable=1") in ln
               for ln in vals)

    def image(row):
        return [expected_text(c, t.columns[i].check(v)) for i, (c, v)
                in enumerate(zip(t.columns, row))]

    # the long blob: mariadb-binlog prints it whole
    assert [s[2][0] for s in ins] == [image(r) for r in rows]
    assert [s[2] for s in upd] == [[image(ROW_MAX), image(after)],
                                   [image(ROW_NULL), image(ROW_MIN[:1] + ROW_MAX[1:])]]
    assert [s[2][0] for s in dele] == [image(after), image(ROW_MIN)]
    # rows events were split past 8 KiB (the long blob is a row of its own)
    assert out.count("Write_rows: table id") >= 2
    assert out.count("flags: STMT_END_F") == out.count("Xid =") == 3


def test_values_a_decoder_prints_exactly(tmp_path):
    """Spot checks written out by hand (not through expected_text)."""
    t = Table("d", "t", [Column("a", "decimal(12,2)"), Column("b", "datetime(6)"),
                         Column("c", "varchar(10)"), Column("d", "int unsigned"),
                         Column("e", "time(3)")], [])
    w = BinlogWriter(str(tmp_path), server_uuid=U)
    w.write_rows(t, "insert", [(Decimal("-1234567890.12"), dt.datetime(2024, 1, 2, 3, 4, 5, 6),
                                "é😀", 4294967295, -dt.timedelta(hours=25, milliseconds=5))])
    rc, out, err = mariadb_binlog(str(tmp_path / "binlog.000001"))
    assert rc == 0 and err == ""
    assert decoded_statements(out)[0][2] == [[
        "-1234567890.12", "'2024-01-02 03:04:05.000006'", "'é😀'", "-1 (4294967295)",
        "'-25:00:00.005'"]]


def test_gtids_logical_clock_and_what_the_peer_reads(tmp_path):
    t = Table("s", "t", [Column("id", "bigint", nullable=False), Column("v", "varchar(8)")],
              ["id"])
    w = BinlogWriter(str(tmp_path), server_uuid=U, server_id=7)
    recs = [w.write_query("s", "CREATE DATABASE s")]
    for i in range(5):
        recs.append(w.write_rows(t, "insert", [(i, str(i))], ts=1700000000 + i))
    recs.append(w.write_rows(t, "update", [((1, "1"), (1, "x"))]))
    recs.append(w.write_rows(t, "delete", [(1, "x")]))
    assert [r["gtid"] for r in recs] == [f"{U}:{n}" for n in range(1, 9)]
    assert all(r["file"] == "binlog.000001" for r in recs)
    assert all(a["end"] == b["pos"] for a, b in zip(recs, recs[1:]))
    path = str(tmp_path / "binlog.000001")
    assert recs[-1]["end"] == os.path.getsize(path)
    check_positions(path)

    evs = file_events(path)
    assert [Header(e).type for _, e in evs[:2]] == [15, 35]
    assert evs[0][1][21:26] == b"8.4.3" and evs[0][1][-5] == 1  # CRC32
    gtid_evs = [(off, e) for off, e in evs if Header(e).type == 33]
    for i, (off, e) in enumerate(gtid_evs):
        flags, g, lc, seq, length = gtid_fields(e)
        assert (g, lc, seq) == (f"{U}:{i + 1}", i, i + 1)
        assert flags == (1 if i == 0 else 0)  # DDL may have statements
        assert off == recs[i]["pos"] and length == recs[i]["end"] - recs[i]["pos"]
        assert Header(e).server_id == 7
    assert Header(gtid_evs[1][1]).timestamp == 1700000000

    f = BinlogDir(str(tmp_path)).scan()[-1]
    assert f.gtids == GtidSet(f"{U}:1-8") and f.previous == GtidSet()
    assert f.column_names is True and f.alg == 1 and f.has_gtid and not f.has_anonymous

    rc, out, err = mariadb_binlog(path)
    assert rc == 0 and err == ""
    assert [s[0] for s in decoded_statements(out)] == ["INSERT"] * 5 + ["UPDATE", "DELETE"]


def test_a_new_writer_continues_the_numbering_and_rotates(tmp_path):
    t = Table("s", "t", [Column("id", "int", nullable=False)], ["id"])
    BinlogWriter(str(tmp_path), server_uuid=U).write_rows(t, "insert", [(1,)])
    w = BinlogWriter(str(tmp_path))  # uuid from the files
    assert w.write_rows(t, "insert", [(2,)])["gtid"] == f"{U}:2"
    assert w.rotate() == "binlog.000002"
    r = w.write_rows(t, "insert", [(3,)])
    assert (r["gtid"], r["file"]) == (f"{U}:3", "binlog.000002")
    files = BinlogDir(str(tmp_path)).scan()
    assert [f.name for f in files] == ["binlog.000001", "binlog.000002"]
    assert files[0].ends_with_rotate and files[1].previous == GtidSet(f"{U}:1-2")
    assert files[1].gtids == GtidSet(f"{U}:3")
    evs = file_events(str(tmp_path / "binlog.000002"))
    gt = [e for _, e in evs if Header(e).type == 33]
    assert gtid_fields(gt[0])[2:4] == (0, 1)  # the logical clock starts again in a new file
    for f in files:
        check_positions(f.path)
    rc, out, err = mariadb_binlog("--to-last-log", str(tmp_path / "binlog.000001"),
                                  str(tmp_path / "binlog.000002"))
    assert rc == 0 and err == ""
    assert len(decoded_statements(out)) == 3


def ess_chain(d):
    """binlog.000001-3 with U:1-9 copied from the 8.0.28 ESS fixture (as test_dump builds)."""
    return chain(d)


def test_appending_to_a_composed_chain_continues_it(tmp_path):
    d = tmp_path / "chain"
    ess_chain(str(d))
    last = str(d / "binlog.000003")
    before = os.path.getsize(last)
    t = Table("mysql", "t", [Column("f1", "char(128)"), Column("id", "int", nullable=False)],
              ["id"])
    r = BinlogWriter(str(d)).write_rows(t, "insert", [("a", 1)])
    assert r == {"gtid": f"{U}:10", "file": "binlog.000003", "pos": before,
                 "end": os.path.getsize(last)}
    check_positions(last)
    files = BinlogDir(str(d)).scan()
    assert files[-1].gtids == GtidSet(f"{U}:7-10")
    ev = [e for off, e in file_events(last) if off == before][0]
    _, _, lc, seq, _ = gtid_fields(ev)
    # the copied events keep their fixture's clock (1..5): the next one is above
    assert seq > max(gtid_fields(e)[3] for off, e in file_events(last)
                     if Header(e).type == 33 and off < before)
    assert lc == seq - 1
    at = 19 + 49 + (1 if ev[19 + 49] < 251 else 3)
    assert struct.unpack_from("<I", ev, at)[0] == 80028  # the file's server version
    # (from the appended transaction: the copied QUERY events have collation 255, which
    # mariadb-binlog 10.11 warns about)
    rc, out, err = mariadb_binlog(f"--start-position={before}", last)
    assert rc == 0 and err == ""
    assert decoded_statements(out) == [("INSERT", "`mysql`.`t`", [["'a'", "1"]])]


def test_appending_to_a_file_without_checksums(tmp_path):
    fx = workload.Fixture(fixture("mysql-binlog-connector-java/mysql-bin.checksum-none"))
    items = [("txn", fx.rows_transactions()[0], Gtid(U, 1))]
    workload.chain(str(tmp_path), [(fx.fde, items)])
    path = str(tmp_path / "binlog.000001")
    before = os.path.getsize(path)
    t = Table("s", "t", [Column("id", "int", nullable=False), Column("n", "varchar(5)")],
              ["id"])
    r = BinlogWriter(str(tmp_path)).write_rows(t, "insert", [(5, "five")])
    assert (r["gtid"], r["pos"]) == (f"{U}:2", before)
    check_positions(path, crc=False)
    f = BinlogDir(str(tmp_path)).scan()[-1]
    assert f.alg == 0 and f.gtids == GtidSet(f"{U}:1-2")
    rc, out, err = mariadb_binlog(path)
    assert rc == 0 and err == ""
    assert decoded_statements(out)[-1] == ("INSERT", "`s`.`t`", [["5", "'five'"]])


def invisible_columns_table():
    """mysql.t1 of the fixture: CREATE TABLE t1 (f1 INT UNSIGNED INVISIBLE, f2 INT UNSIGNED
    INVISIBLE, f3 INT , f4 TEXT, f5 BLOB, f6 BIGINT UNSIGNED INVISIBLE)."""
    return Table("mysql", "t1", [
        Column("f1", "int unsigned", visible=False), Column("f2", "int unsigned", visible=False),
        Column("f3", "int"), Column("f4", "text"), Column("f5", "blob"),
        Column("f6", "bigint unsigned", visible=False)], [], table_id=0x7C)


def commit_ts(ev):
    us = int.from_bytes(ev[19 + 42:19 + 49], "little")
    return us / 1e6


def test_transactions_are_byte_identical_to_mysql_8_0_26(tmp_path):
    """The fixture's CREATE TABLE (491..787) and its second INSERT (1120..1438) rebuilt by
    BinlogWriter appending to the fixture's own prefix: same bytes, CRCs and log_pos."""
    data = open(fixture(INVISIBLE), "rb").read()
    sql = ("CREATE TABLE t1 (f1 INT UNSIGNED INVISIBLE, f2 INT UNSIGNED INVISIBLE, f3 INT , "
           "f4 TEXT, f5 BLOB, f6 BIGINT UNSIGNED INVISIBLE)")
    for start, end, write in [
        (491, 787, lambda w, ts: w.write_query("mysql", sql, ts=ts)),
        (1120, 1438, lambda w, ts: w.write_rows(invisible_columns_table(), "insert",
                                                [(None, None, -33, "44", b"\x55", None)],
                                                ts=ts)),
    ]:
        d = tmp_path / str(start)
        d.mkdir()
        (d / "binlog.000001").write_bytes(data[:start])
        w = BinlogWriter(str(d), thread_id=9, charsets=(255, 255, 255))
        w.xid = 51  # the server's XID counter before the DDL (its Q_DDL_LOGGED_WITH_XID: 52)
        r = write(w, commit_ts(data[start:]))
        assert (r["pos"], r["end"]) == (start, end)
        got = (d / "binlog.000001").read_bytes()
        assert got[start:].hex() == data[start:end].hex()


def test_table_map_of_a_real_table_is_byte_identical():
    data = open(fixture(INVISIBLE), "rb").read()
    real = data[942 + 19:1027 - 4]
    assert invisible_columns_table().table_map_body() == real


def test_charset_metadata_choices(tmp_path):
    """DEFAULT_CHARSET when it is shorter, else COLUMN_CHARSET (init_charset_field), and
    mariadb-binlog decodes both."""
    one = Table("s", "a", [Column("a", "varchar(4)"), Column("b", "varbinary(4)"),
                           Column("c", "text")], [])
    two = Table("s", "b", [Column("a", "varchar(4)"), Column("b", "varbinary(4)")], [])
    assert b"\x02\x05\xfc\xff\x00\x01\x3f" in one.optional_metadata()  # default 255, col 1: 63
    assert b"\x03\x04\xfc\xff\x00\x3f" in two.optional_metadata()      # per column
    w = BinlogWriter(str(tmp_path), server_uuid=U)
    w.write_rows(one, "insert", [("ab", b"cd", "ef")])
    w.write_rows(two, "insert", [("ab", b"cd")])
    rc, out, err = mariadb_binlog(str(tmp_path / "binlog.000001"))
    assert rc == 0 and err == ""
    assert [s[2] for s in decoded_statements(out)] == [[["'ab'", "'cd'", "'ef'"]],
                                                       [["'ab'", "'cd'"]]]


def test_the_peer_serves_appended_transactions(make_peer, tmp_path):
    """Rows appended while the peer runs reach a replication client (mariadb-binlog
    --read-from-remote-server) as they are in the file."""
    d = tmp_path / "dir"
    d.mkdir()
    w = BinlogWriter(str(d), server_uuid=U)
    t = Table("s", "t", [Column("id", "int", nullable=False), Column("v", "text")], ["id"])
    w.write_rows(t, "insert", [(1, "one")])
    peer = make_peer(auth="mysql_native_password", server_version="5.7.44-log",
                     binlog_dir=str(d))
    w.write_rows(t, "update", [((1, "one"), (1, "uno"))])
    w.write_rows(t, "delete", [(1, "uno")])
    rc, out, err = mariadb_binlog("--read-from-remote-server", "-h127.0.0.1",
                                  f"-P{peer.port}", f"-u{peer.user}", f"-p{peer.password}",
                                  "binlog.000001")
    assert rc == 0, err
    lrc, lout, _ = mariadb_binlog(str(d / "binlog.000001"))
    assert decoded_statements(out) == decoded_statements(lout)
    assert [s[0] for s in decoded_statements(out)] == ["INSERT", "UPDATE", "DELETE"]


# ---- columns ------------------------------------------------------------------------------
@pytest.mark.parametrize("text, sqltype, data_type, charset, csname, prec, scale, fsp, code", [
    ("INT", "int", "int", None, None, 10, 0, None, 3),
    ("int(11) unsigned", "int unsigned", "int", None, None, 10, 0, None, 3),
    ("tinyint(1)", "tinyint(1)", "tinyint", None, None, 3, 0, None, 1),
    ("bigint unsigned", "bigint unsigned", "bigint", None, None, 20, 0, None, 8),
    ("bigint", "bigint", "bigint", None, None, 19, 0, None, 8),
    ("mediumint unsigned", "mediumint unsigned", "mediumint", None, None, 8, 0, None, 9),
    ("smallint", "smallint", "smallint", None, None, 5, 0, None, 2),
    ("decimal(12, 2)", "decimal(12,2)", "decimal", None, None, 12, 2, None, 246),
    ("numeric", "decimal(10,0)", "decimal", None, None, 10, 0, None, 246),
    ("double", "double", "double", None, None, 22, None, None, 5),
    ("float", "float", "float", None, None, 12, None, None, 4),
    ("varchar(64)", "varchar(64)", "varchar", "utf8mb4", "utf8mb4", None, None, None, 15),
    ("char", "char(1)", "char", "utf8mb4", "utf8mb4", None, None, None, 254),
    ("varbinary(16)", "varbinary(16)", "varbinary", "binary", None, None, None, None, 15),
    ("blob", "blob", "blob", "binary", None, None, None, None, 252),
    ("text", "text", "text", "utf8mb4", "utf8mb4", None, None, None, 252),
    ("date", "date", "date", None, None, None, None, None, 10),
    ("datetime(6)", "datetime(6)", "datetime", None, None, None, None, 6, 18),
    ("datetime", "datetime", "datetime", None, None, None, None, 0, 18),
    ("timestamp(3)", "timestamp(3)", "timestamp", None, None, None, None, 3, 17),
    ("time(2)", "time(2)", "time", None, None, None, None, 2, 19),
])
def test_column_attributes(text, sqltype, data_type, charset, csname, prec, scale, fsp, code):
    c = Column("c", text)
    assert (c.sqltype, c.data_type, c.charset, c.character_set_name, c.precision, c.scale,
            c.fsp, c.mysql_type) == (sqltype, data_type, charset, csname, prec, scale, fsp,
                                     code)
    assert c.unsigned == ("unsigned" in sqltype)


@pytest.mark.parametrize("text", ["bit(3)", "year", "enum()", "set('a,b')", "enum('a','A')",
                                  "varchar", "decimal(70,2)",
                                  "datetime(7)", "varchar(10) character set latin1",
                                  "double unsigned", "char(256)"])
def test_unsupported_or_bad_types_are_refused(text):
    with pytest.raises(ValueError) as e:
        Column("c", text)
    assert "'c'" in str(e.value)


@pytest.mark.parametrize("sqltype, text, value", [
    ("int", "-12", -12), ("int", "'42'", 42), ("int", "1.5", 2), ("int", "TRUE", 1),
    ("int unsigned", "4294967295", 4294967295), ("bigint", "-9223372036854775808", -(1 << 63)),
    ("decimal(5,2)", "-1.005", Decimal("-1.01")), ("decimal(5,2)", "'12'", Decimal("12.00")),
    ("double", "1e10", 1e10), ("float", "0.1", 0.10000000149011612),
    ("varchar(4)", "'it''s'", "it's"), ("varchar(4)", "'a\\nb'", "a\nb"),
    ("varchar(3)", "'日本語'", "日本語"), ("char(5)", "'ab  '", "ab"),
    ("varbinary(4)", "X'00ff'", b"\x00\xff"), ("varbinary(4)", "'ab'", b"ab"),
    ("blob", "0x0102", b"\x01\x02"), ("text", "\"dq\"", "dq"),
    ("date", "'2024-02-29'", dt.date(2024, 2, 29)),
    ("datetime(3)", "'2024-01-02 03:04:05.12345'", dt.datetime(2024, 1, 2, 3, 4, 5, 123000)),
    ("datetime", "'2024-01-02 23:59:59.5'", dt.datetime(2024, 1, 3)),
    ("timestamp", "'2024-01-02T03:04:05'", dt.datetime(2024, 1, 2, 3, 4, 5)),
    ("time(1)", "'-1 02:03:04.56'", -dt.timedelta(hours=26, minutes=3, seconds=4.6)),
    ("time", "'838:59:59'", dt.timedelta(hours=838, minutes=59, seconds=59)),
    ("int", "NULL", None), ("text", "null", None),
])
def test_parse_literals(sqltype, text, value):
    assert Column("c", sqltype).parse(text) == value


@pytest.mark.parametrize("sqltype, text, errno", [
    ("tinyint", "128", 1264), ("tinyint unsigned", "-1", 1264), ("int", "'abc'", 1366),
    ("decimal(5,2)", "1000", 1264), ("varchar(2)", "'abc'", 1406), ("char(1)", "'日本'", 1406),
    ("varbinary(1)", "X'0102'", 1406), ("date", "'2023-02-29'", 1292),
    ("date", "'0000-00-00'", 1292), ("datetime", "'2024-01-01 24:00:00'", 1292),
    ("timestamp", "'1970-01-01 00:00:00'", 1292), ("timestamp", "'2038-01-19 03:14:08'", 1292),
    ("time", "'839:00:00'", 1292), ("double", "'x'", 1366),
])
def test_parse_refuses_what_strict_mode_refuses(sqltype, text, errno):
    with pytest.raises(ColumnValueError) as e:
        Column("col", sqltype).parse(text)
    assert e.value.errno == errno and "'col'" in str(e.value)


def test_null_into_not_null_and_bad_rows(tmp_path):
    c = Column("id", "int", nullable=False)
    with pytest.raises(ColumnValueError) as e:
        c.parse("NULL")
    assert e.value.errno == 1048 and str(e.value) == "Column 'id' cannot be null"
    t = Table("s", "t", [c], ["id"])
    w = BinlogWriter(str(tmp_path), server_uuid=U)
    with pytest.raises(ValueError):
        w.write_rows(t, "insert", [(1, 2)])
    with pytest.raises(ColumnValueError):
        w.write_rows(t, "insert", [("1",)])
    with pytest.raises(ColumnValueError):
        w.write_rows(t, "update", [((1,), (None,))])
    with pytest.raises(ValueError):
        w.write_rows(t, "upsert", [(1,)])
    with pytest.raises(ValueError):
        w.write_rows(t, "insert", [])
    assert os.listdir(tmp_path) == []  # nothing was written
    with pytest.raises(ValueError):
        Table("s", "t", [c], ["nope"])


# ---- JSON ---------------------------------------------------------------------------------
def rows_of(path, pos):
    """The row images of the rows event at @pos of a CRC32 file with one-byte column
    bitmaps (after table_id, flags, extra-data length, column count and the bitmap)."""
    data = open(fixture(path), "rb").read()
    size = struct.unpack_from("<I", data, pos + 9)[0]
    return data[pos + 19 + 6 + 2 + 2 + 1 + 1:pos + size - 4]


def test_json_rows_are_byte_identical_to_mysql():
    """json.binlog.000001 (MySQL 8.0.22): t(id INT PK, json_col JSON, name VARCHAR(100),
    age INT) rows, and json-opaque.binlog (9.0.1) {"e": [0, 1, true, false]} and
    {"e": null}: the row images rowlog makes for the same documents are MySQL's bytes."""
    t = Table("mysql", "t", [Column("id", "int", nullable=False), Column("json_col", "json"),
                             Column("name", "varchar(100)"), Column("age", "int")], ["id"])
    people = [(1, "x", "Joe", 24), (2, "y", "Sue", 32), (3, "z", "Pete", 40)]

    def row(i, ch, name, age):
        doc = f'{{"name": "{name}", "data": "{ch * 10}", "age": {age}}}'
        return (i, t.columns[1].parse(f"'{doc}'"), name, age)

    for pos, who in [(1059, people[:1]), (1409, people[1:2]), (1759, people[2:3])]:
        assert b"".join(t.row_image(row(*p)) for p in who) == rows_of(
            "rust_mysql_common/json.binlog.000001", pos)
    many = [row(i + 3, *p[1:]) for i, p in enumerate(people, 1)]
    assert b"".join(t.row_image(r) for r in many) == rows_of(
        "rust_mysql_common/json.binlog.000001", 2111)
    e = Table("foo", "test", [Column("a", "json")], [])
    assert e.row_image(('{"e": [0, 1, true, false]}',)) == rows_of(
        "rust_mysql_common/json-opaque.binlog", 1428)
    assert e.row_image(('{"e": null}',)) == rows_of("rust_mysql_common/json-opaque.binlog",
                                                     1551)


def test_json_values_and_formats():
    c = Column("j", "json")
    assert (c.sqltype, c.data_type, c.charset, c.mysql_type) == ("json", "json", None, 245)
    assert c.parse("'{\"b\": 1, \"a\": [1.5, \"x\", null], \"aa\": {}}'") == \
        '{"a": [1.5, "x", null], "b": 1, "aa": {}}'
    assert c.parse("NULL") is None
    for bad in ("'{'", "'[1,]'", "'NaN'", "'{\"a\" 1}'"):
        with pytest.raises(ColumnValueError) as e:
            c.parse(bad)
        assert e.value.errno == 3140
    # scalars: int16 / int32 / int64 / uint64 / double / string with a 2-byte length
    assert json_binary(5) == b"\x05\x05\x00"
    assert json_binary(-70000) == b"\x07" + struct.pack("<i", -70000)
    assert json_binary(1 << 40) == b"\x0a" + struct.pack("<Q", 1 << 40)
    assert json_binary(-(1 << 40)) == b"\x09" + struct.pack("<q", -(1 << 40))
    assert json_binary(0.5) == b"\x0b" + struct.pack("<d", 0.5)
    assert json_binary("é" * 100) == b"\x0c\xc8\x01" + "é".encode() * 100
    # a document past 64 KiB takes the large format; its small children stay small
    big = ["x" * 70000, [1]]
    b = json_binary(big)
    assert b[0] == 3 and struct.unpack_from("<II", b, 1) == (2, len(b) - 1)
    assert b[9:19] == b"\x0c" + struct.pack("<I", 18) + b"\x02" + struct.pack("<I", 70021)
    assert b[19:22] == b"\xf0\xa2\x04" and b[22:70022] == b"x" * 70000
    assert b[70022:] == b"\x01\x00\x07\x00\x05\x01\x00"  # count 1, size 7, int16 1


def test_a_blocking_dump_streams_transactions_written_while_it_reads(make_peer, tmp_path):
    """The peer's dump thread reads the file while BinlogWriter appends (and rotates): every
    transaction reaches the replica whole, byte for byte as in the file."""
    d = tmp_path / "dir"
    d.mkdir()
    w = BinlogWriter(str(d), server_uuid=U)
    t = Table("s", "t", [Column("id", "int", nullable=False), Column("v", "longtext")], ["id"])
    first = w.write_rows(t, "insert", [(0, "x")])
    peer = make_peer(auth="mysql_native_password", binlog_dir=str(d))
    c = Client(peer.port)
    c.query("SET @source_binlog_checksum = 'CRC32'")
    c.dump_gtid(GtidSet(first["gtid"]).encode())  # blocking
    recs = []

    def writer():
        for i in range(1, 61):
            if i == 30:
                w.rotate()
            rows = [(i * 100 + j, "é" * (i * 97 + j)) for j in range(1 + i % 4)]
            recs.append(w.write_rows(t, "insert", rows))

    th = threading.Thread(target=writer)
    th.start()
    txns, cur = [], None
    while len(txns) < 60:
        e = c.next_event()
        h = header(e)
        if h["type"] == 33:
            cur = [e]
        elif cur is not None and h["type"] in (2, 19, 30, 16):
            cur.append(e)
            if h["type"] == 16:
                txns.append(b"".join(cur))
                cur = None
    th.join()
    c.close()
    assert len(recs) == 60 and {r["file"] for r in recs} == {"binlog.000001", "binlog.000002"}
    for r, got in zip(recs, txns):
        data = (d / r["file"]).read_bytes()
        assert got == data[r["pos"]:r["end"]], r["gtid"]


def test_rows_events_are_split_as_mysql_splits_them(tmp_path):
    """binlog_row_event_max_size 8192: a rows event takes rows while its data (10 bytes of
    post-header, column count and bitmap, rows) stays within it; STMT_END_F on the last."""
    t = Table("s", "t", [Column("id", "int", nullable=False), Column("v", "varbinary(3000)")],
              ["id"])
    w = BinlogWriter(str(tmp_path), server_uuid=U)
    # images of 1 + 4 + 2 + 2038 = 2045 bytes: 4 rows make exactly 10 + 2 + 8180 = 8192
    rows = [(i, bytes([i]) * 2038) for i in range(10)]
    w.write_rows(t, "insert", rows)
    rc, out, err = mariadb_binlog(str(tmp_path / "binlog.000001"))
    assert rc == 0 and err == ""
    lines = [ln.split("\t")[-1] for ln in out.splitlines() if "Write_rows:" in ln]
    assert lines == ["Write_rows: table id %d" % t.table_id] * 2 + \
        ["Write_rows: table id %d flags: STMT_END_F" % t.table_id]
    # event sizes from mariadb-binlog's end_log_pos (TABLE_MAP, then the rows events, one
    # after the other): 4 rows, 4 rows, 2 rows
    ends = [int(ln.split("end_log_pos ")[1].split()[0]) for ln in out.splitlines()
            if "Table_map:" in ln or "Write_rows:" in ln]
    sizes = [b - a for a, b in zip(ends, ends[1:])]
    assert sizes == [19 + 12 + 4 * 2045 + 4] * 2 + [19 + 12 + 2 * 2045 + 4]
    assert [s[2][0][0] for s in decoded_statements(out)] == [str(i) for i in range(10)]
    # one byte more: 3 rows of 2727 bytes make 8193, so 2 rows an event
    d2 = tmp_path / "2"
    d2.mkdir()
    BinlogWriter(str(d2), server_uuid=U).write_rows(t, "insert", [(i, b"y" * 2720)
                                                                 for i in range(4)])
    rc, out, err = mariadb_binlog(str(d2 / "binlog.000001"))
    assert rc == 0 and err == ""
    ends = [int(ln.split("end_log_pos ")[1].split()[0]) for ln in out.splitlines()
            if "Table_map:" in ln or "Write_rows:" in ln]
    assert [b - a for a, b in zip(ends, ends[1:])] == [19 + 12 + 2 * 2727 + 4] * 2


# ---- ENUM and SET -------------------------------------------------------------------------
ESS_FILE = "rust_mysql_common/mysql-enum-string-set.000001"


def ess_table():
    """mysql.t of the fixture: t(f1 CHAR(128), f2 VARCHAR(300), f3 ENUM('var1','variant2',
    'foo'), f4 SET('one','two','three','four'), f5 TEXT)."""
    return Table("mysql", "t", [
        Column("f1", "CHAR(128)"), Column("f2", "VARCHAR(300)"),
        Column("f3", "ENUM('var1','variant2','foo')"),
        Column("f4", "SET('one', 'two', 'three', 'four')"), Column("f5", "TEXT")], [],
        table_id=0x7C)


def ess_f2():
    """The long f2 of the fixture's insert, as the cross-check decode prints it."""
    path = os.path.join(os.path.dirname(fixture(ESS_FILE)), "..",
                        "_crosscheck-mariadb-binlog-10.11",
                        "rust_mysql_common__mysql-enum-string-set.000001.mariadb-binlog-vv.txt")
    line = [ln for ln in open(path) if ln.startswith("###   @2='")][0]
    return line.split("'")[1]


def test_enum_and_set_tables_and_rows_are_byte_identical_to_mysql_8_0_28():
    t = ess_table()
    data = open(fixture(ESS_FILE), "rb").read()
    assert t.table_map_body() == data[946 + 19:1077 - 4]
    f1, f2 = "0123456789" * 10, ess_f2()
    assert len(f2) == 298  # (EXPECTED-VALUES.md calls it "the 300-char string")
    ins = (f1, f2, "var1", "three,one", "0123456789")  # a set is kept in definition order
    upd = ("field1", "field_2", t.columns[2].parse("2"), t.columns[3].parse("'Four,TWO'"), f2)
    assert t.row_image(ins) == rows_of(ESS_FILE, 1077)
    data_u = rows_of(ESS_FILE, 1855)[1:]  # the after image's column bitmap is one byte more
    assert t.row_image(ins) + t.row_image(upd) == data_u
    assert t.row_image(upd) == rows_of(ESS_FILE, 2945)


def test_enum_and_set_values(tmp_path):
    e = Column("e", "enum('a','it''s', 'B  ')")
    st = Column("s", "set('x','y','z')", nullable=False)
    assert (e.sqltype, e.data_type, e.charset, e.character_set_name, e.max_length,
            e.members) == ("enum('a','it''s','B')", "enum", "utf8mb4", "utf8mb4", 4,
                           ["a", "it's", "B"])
    assert (st.sqltype, st.max_length, st.octet_length) == ("set('x','y','z')", 5, 20)
    assert [e.parse(x) for x in ("'A'", "'b '", "2", "NULL")] == ["a", "B", "it's", None]
    assert [st.parse(x) for x in ("'z,x'", "''", "7", "'Y,y'")] == ["x,z", "", "x,y,z", "y"]
    for c, bad in ((e, "''"), (e, "'c'"), (e, "4"), (e, "0"), (st, "'w'"), (st, "8")):
        with pytest.raises(ColumnValueError) as err:
            c.parse(bad)
        assert err.value.errno == 1265
    t = Table("s", "t", [Column("id", "int", nullable=False), e, st], ["id"])
    w = BinlogWriter(str(tmp_path), server_uuid=U)
    w.write_rows(t, "insert", [(1, "a", "x,z"), (2, None, ""), (3, "B", "x,y,z")])
    rc, out, err = mariadb_binlog(str(tmp_path / "binlog.000001"))
    assert rc == 0 and err == ""
    # mariadb-binlog prints an enum's index and a set's bits
    assert [s[2][0] for s in decoded_statements(out)] == [
        ["1", "1", "b'00000101'"], ["2", "NULL", "b'00000000'"], ["3", "3", "b'00000111'"]]


def test_a_failed_write_uses_no_gtid(tmp_path, monkeypatch):
    """A write that fails (disk full) leaves the file and the numbering as they were."""
    from peerlib import rowlog
    t = Table("s", "t", [Column("id", "int", nullable=False)], ["id"])
    w = BinlogWriter(str(tmp_path), server_uuid=U)
    w.write_rows(t, "insert", [(1,)])
    size = os.path.getsize(tmp_path / "binlog.000001")
    real = os.write

    def full(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rowlog.os, "write", full)
    with pytest.raises(OSError):
        w.write_rows(t, "insert", [(2,)])
    monkeypatch.setattr(rowlog.os, "write", real)
    assert os.path.getsize(tmp_path / "binlog.000001") == size
    r = w.write_rows(t, "insert", [(2,)])
    assert r["gtid"] == f"{U}:2" and r["pos"] == size
    evs = file_events(str(tmp_path / "binlog.000001"))
    gt = [e for _, e in evs if Header(e).type == 33]
    assert [gtid_fields(e)[1:4] for e in gt] == [(f"{U}:1", 0, 1), (f"{U}:2", 1, 2)]
    xids = [struct.unpack_from("<Q", e, 19)[0] for _, e in evs if Header(e).type == 16]
    assert xids == [1, 2]


@pytest.mark.parametrize("pos", [235, 433, 1509])
def test_ddl_query_events_are_mysql_9_0_1s(tmp_path, pos):
    """CREATE DATABASE, CREATE TABLE and DROP DATABASE of vector.binlog (9.0.1): the QUERY
    event rowlog writes for the same statement has MySQL's flags, status variables and text
    (the GTID events there are anonymous, so only the QUERY is compared)."""
    data = open(fixture("rust_mysql_common/vector.binlog"), "rb").read()
    h = Header(data, pos)
    real = data[pos:pos + h.size]
    body = real[19:-4]
    thread_id, _, dblen, _, slen = struct.unpack_from("<IIBHH", body, 0)
    db = body[13 + slen:13 + slen + dblen].decode()
    sql = body[13 + slen + dblen + 1:].decode()
    # Q_DDL_LOGGED_WITH_XID (0x11) follows Q_UPDATED_DB_NAMES' NUL-terminated name
    xid = struct.unpack_from("<Q", body, body.index(b"\0\x11", 13) + 2)[0]
    w = BinlogWriter(str(tmp_path), server_uuid=U, thread_id=thread_id, charsets=(8, 8, 255))
    w.xid = xid - 1
    r = w.write_query(db, sql)
    evs = [e for off, e in file_events(str(tmp_path / "binlog.000001")) if off >= r["pos"]]
    assert Header(evs[1]).type == 2 and Header(evs[1]).flags == h.flags
    assert evs[1][19:-4] == body
