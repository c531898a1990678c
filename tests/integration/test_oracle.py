"""The oracle (tests/integration/oracle.py) checked against what a workload generator knows by
itself: the literal values it wrote, the GTIDs the server reported for each transaction
(@@last_gtid), the server's own event list (SHOW BINLOG EVENTS) and the wall clock. No sdl is
involved here. Also: check_against_oracle fails on tampered documents, the DDL-target parser,
and the two ways of reading the binlog agree."""
import copy
import datetime
import time
from decimal import Decimal

import pytest
from bson.decimal128 import Decimal128
from bson.int64 import Int64

from oracle import (ExpectedDoc, Float32Text, JsonValue, NotCompared, Oracle, SchemaMismatch,
                    check_against_oracle, ddl_target, redact)

VALS = """CREATE TABLE orc.vals (
  id INT PRIMARY KEY, ti TINYINT, tu TINYINT UNSIGNED, iu INT UNSIGNED, bi BIGINT,
  bu BIGINT UNSIGNED, d DECIMAL(10,2), dl DECIMAL(40,10), f FLOAT, db DOUBLE, bt BIT(10),
  dt DATETIME(6), da DATE, ts TIMESTAMP(3) NULL, tm TIME(3), y YEAR,
  s VARCHAR(40) CHARACTER SET utf8mb4, l VARCHAR(20) CHARACTER SET latin1,
  c CHAR(4) CHARACTER SET utf8mb4, bn BINARY(4), vb VARBINARY(20), bl BLOB,
  e ENUM('red','green','blue'), st SET('a','b','c'), j JSON, g GEOMETRY)"""
COLUMNS = ["id", "ti", "tu", "iu", "bi", "bu", "d", "dl", "f", "db", "bt", "dt", "da", "ts",
           "tm", "y", "s", "l", "c", "bn", "vb", "bl", "e", "st", "j", "g"]

# The generator's record: each row as SQL literals and as the value the document must hold.
ROW1 = [
    ("1", 1), ("-128", -128), ("255", 255), ("4294967295", Int64(4294967295)),
    ("-9223372036854775808", Int64(-9223372036854775808)),
    ("18446744073709551615", Decimal("18446744073709551615")),
    ("-12345678.90", Decimal("-12345678.90")),
    ("-123456789012345678901234567890.0123456789", "-123456789012345678901234567890.0123456789"),
    ("1.5", Float32Text("1.5")), ("-2.5e-300", -2.5e-300), ("b'1000000001'", Int64(513)),
    ("'2024-02-29 23:59:59.987654'", datetime.datetime(2024, 2, 29, 23, 59, 59, 987000)),
    ("'1999-12-31'", datetime.datetime(1999, 12, 31)),
    ("'2038-01-19 03:14:07.999'", datetime.datetime(2038, 1, 19, 3, 14, 7, 999000)),
    ("'-838:59:59.5'", "-838:59:59.500"), ("2155", 2155),
    ("'Zoë 😀 \"q\" \\'s\\' back\\\\slash\\nnl\\ttab'", "Zoë 😀 \"q\" 's' back\\slash\nnl\ttab"),
    ("'Grüße'", "Grüße"), ("'ab  '", "ab"), ("x'000100'", b"\x00\x01\x00\x00"),
    ("x'00ff0027'", b"\x00\xff\x00\x27"), ("x''", b""), ("'green'", "green"),
    ("'a,c'", ["a", "c"]),
    ("'{\"k\": [1, 2.5, \"x\", null, true]}'", JsonValue({"k": [1, 2.5, "x", None, True]})),
    ("POINT(1.5, -2)", {"type": "Point", "coordinates": [1.5, -2.0], "srid": 0}),
]
ROW3 = [
    ("3", 3), ("127", 127), ("0", 0), ("0", Int64(0)), ("9223372036854775807", Int64(2 ** 63 - 1)),
    ("9223372036854775808", Decimal("9223372036854775808")), ("0.05", Decimal("0.05")),
    ("0", "0.0000000000"),
    ("-0.000123457", Float32Text("-0.000123457")), ("0.1", 0.1), ("b'0'", Int64(0)),
    ("'0000-00-00 00:00:00'", "0000-00-00 00:00:00.000000"), ("'2024-00-10'", "2024-00-10"),
    ("'1970-01-01 00:00:01'", datetime.datetime(1970, 1, 1, 0, 0, 1)),
    ("'00:00:00.001'", "00:00:00.001"), ("'0000'", 0), ("''", ""), ("NULL", None),
    ("'é'", "é"), ("x'00'", b"\x00\x00\x00\x00"), ("NULL", None), ("x'0a0d'", b"\n\r"),
    ("'blue'", "blue"), ("''", []), ("'[12345678901234567890, 2147483648, -0, 1e2]'",
                                       JsonValue([1.2345678901234567e19, Int64(2 ** 31), 0, 100.0])),
    ("ST_GeomFromText('LINESTRING(0 0, 1 1)', 4326)",
     {"type": "LineString", "coordinates": [[0.0, 0.0], [1.0, 1.0]], "srid": 4326}),
]
COPY_DDL = ("CREATE TABLE `orc`.`copy` (\n  `id` int(11) NOT NULL,\n  `s` varchar(40) CHARACTER SET "
            "utf8mb4 COLLATE utf8mb4_general_ci DEFAULT NULL\n)")


def image(row):
    return dict(zip(COLUMNS, [v for _, v in row]))


def insert(row):
    return f"INSERT INTO orc.vals VALUES ({', '.join(sql for sql, _ in row)})"


class Workload:
    """Runs transactions on one connection and records the GTID of each."""

    def __init__(self, mariadb):
        self.c = mariadb.root()
        self.cur = self.c.cursor()
        self.cur.execute("SET SESSION time_zone = '+00:00'")
        self.gtids = {}

    def txn(self, name, *statements, wrap=False):
        if wrap:
            self.cur.execute("BEGIN")
        for st in statements:
            self.cur.execute(st)
        if wrap:
            self.cur.execute("COMMIT")
        self.cur.execute("SELECT @@last_gtid")
        self.gtids[name] = self.cur.fetchone()[0]

    def close(self):
        self.c.close()


def doc(gtids, name, seq, **fields):
    return {"_id": f"test:{gtids[name]}:{seq}", **fields, "gtid": gtids[name], "seq": Int64(seq)}


def run_workload(mariadb):
    w = Workload(mariadb)
    w.txn("db", "CREATE DATABASE orc")
    w.txn("vals", VALS)
    w.txn("ins", insert(ROW1), "INSERT INTO orc.vals (id) VALUES (2)", insert(ROW3), wrap=True)
    w.txn("upd", "UPDATE orc.vals SET ti = ti + 1, s = 'upd' WHERE id IN (1, 2)")
    w.txn("del", "DELETE FROM orc.vals WHERE id = 3")
    w.txn("ctas", "CREATE TABLE orc.copy SELECT id, s FROM orc.vals")
    w.txn("skipdb", "CREATE DATABASE orc_skip")
    w.txn("skiptab", "CREATE TABLE orc_skip.t (id INT PRIMARY KEY)")
    w.txn("mixed", "INSERT INTO orc_skip.t VALUES (1)", "INSERT INTO orc.copy VALUES (7, 'after skip')",
          wrap=True)
    w.txn("alter", "ALTER TABLE orc.copy ADD COLUMN extra INT")
    w.txn("ins2", "INSERT INTO orc.copy VALUES (8, 'x', 5)")
    w.cur.execute("SET SESSION binlog_row_image = MINIMAL")
    w.txn("min", "UPDATE orc.vals SET s = 'min' WHERE id = 1")
    w.cur.execute("SET SESSION binlog_row_image = FULL")
    w.cur.execute("USE orc")
    w.txn("use", "ALTER TABLE `vals` COMMENT 'c'")
    w.close()
    w2 = Workload(mariadb)  # a session without a default database
    w2.txn("user", "CREATE USER 'orc_u'@'localhost' IDENTIFIED BY 'secret'")
    w2.close()
    w.gtids.update(w2.gtids)
    return w.gtids


def record(g):
    """The documents the workload must produce with tables.include = ['orc.*']."""
    r1, r2, r3 = image(ROW1), {c: (2 if c == "id" else None) for c in COLUMNS}, image(ROW3)
    r1u = dict(r1, ti=-127, s="upd")
    r2u = dict(r2, s="upd")
    return [
        doc(g, "db", 1, op="ddl", db="orc", statement="CREATE DATABASE orc"),
        doc(g, "vals", 1, op="ddl", db="orc", table="vals", statement=VALS),
        doc(g, "ins", 1, op="insert", db="orc", table="vals", pk={"id": 1}, after=r1),
        doc(g, "ins", 2, op="insert", db="orc", table="vals", pk={"id": 2}, after=r2),
        doc(g, "ins", 3, op="insert", db="orc", table="vals", pk={"id": 3}, after=r3),
        doc(g, "upd", 1, op="update", db="orc", table="vals", pk={"id": 1}, before=r1, after=r1u,
            changed=["ti", "s"]),
        doc(g, "upd", 2, op="update", db="orc", table="vals", pk={"id": 2}, before=r2, after=r2u,
            changed=["s"]),
        doc(g, "del", 1, op="delete", db="orc", table="vals", pk={"id": 3}, before=r3),
        doc(g, "ctas", 1, op="ddl", db="orc", table="copy", statement=COPY_DDL),
        doc(g, "ctas", 2, op="insert", db="orc", table="copy", after={"id": 1, "s": "upd"}),
        doc(g, "ctas", 3, op="insert", db="orc", table="copy", after={"id": 2, "s": "upd"}),
        doc(g, "mixed", 2, op="insert", db="orc", table="copy", after={"id": 7, "s": "after skip"}),
        doc(g, "alter", 1, op="ddl", db="orc", table="copy",
            statement="ALTER TABLE orc.copy ADD COLUMN extra INT"),
        doc(g, "ins2", 1, op="insert", db="orc", table="copy",
            after={"id": 8, "s": "x", "extra": 5}),
        dict(doc(g, "min", 1, op="update", db="orc", table="vals", pk={"id": 1},
                 before={"id": 1}, after={"s": "min"}, changed=["s"]), partial_after=True),
        doc(g, "use", 1, op="ddl", db="orc", table="vals", statement="ALTER TABLE `vals` COMMENT 'c'"),
    ]


def same(a, b, path="doc"):
    """Equal, type for type (Int64 is not int, Decimal keeps its exponent), dicts in order."""
    if isinstance(a, dict) or isinstance(b, dict):
        assert isinstance(a, dict) and isinstance(b, dict), f"{path}: {a!r} vs {b!r}"
        assert list(a) == list(b), f"{path}: keys {list(a)} vs {list(b)}"
        for k in a:
            same(a[k], b[k], f"{path}.{k}")
        return
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{path}: {a!r} vs {b!r}"
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{path}[{i}]")
        return
    assert type(a) is type(b), f"{path}: {a!r} ({type(a).__name__}) vs {b!r} ({type(b).__name__})"
    if isinstance(a, Decimal):
        assert a.as_tuple() == b.as_tuple(), f"{path}: {a!r} vs {b!r}"
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"


def strip(d):
    """A document without ts and binlog (checked separately: the generator cannot know them)."""
    return {k: v for k, v in d.items() if k not in ("ts", "binlog")}


def binlog_events(mariadb):
    out = {}
    for (log,) in [(r[0],) for r in mariadb.sql("SHOW BINARY LOGS")]:
        for r in mariadb.sql(f"SHOW BINLOG EVENTS IN '{log}'"):
            out[(r[0], r[1])] = r[2]
    return out


@pytest.fixture(scope="module")
def workload(mariadb):
    start = mariadb.gtid_binlog_pos()
    t0 = int(time.time())
    gtids = run_workload(mariadb)
    t1 = int(time.time()) + 1
    end = mariadb.gtid_binlog_pos()
    assert end == gtids["user"]
    return start, end, gtids, t0, t1


def test_oracle_yields_exactly_the_generators_record(mariadb, workload):
    start, end, gtids, t0, t1 = workload
    docs = Oracle(mariadb, include=["orc.*"]).expected(start, end)
    want = record(gtids)
    assert [d["_id"] for d in docs] == [d["_id"] for d in want]
    for got, w in zip(docs, want):
        same(strip(got), w, got["_id"])
        # FLOAT prints with 6 digits: equal texts may be different floats, so `f` may or may
        # not be in `changed` (the check accepts either and counts it)
        maybe = ("f",) if got["_id"] == f"test:{gtids['upd']}:1" else ()
        assert got.changed_maybe == maybe and got.db_choices is None
    # times: the events' header times, whole seconds, while the workload ran
    for d in docs:
        secs = (d["ts"] - datetime.datetime(1970, 1, 1)).total_seconds()
        assert d["ts"].microsecond == 0 and t0 <= secs <= t1, (d["_id"], d["ts"], t0, t1)
    # positions: the server's own event list says what starts there
    events = binlog_events(mariadb)
    for d in docs:
        kind = events.get((d["binlog"]["file"], d["binlog"]["pos"]))
        if d["op"] == "ddl":
            assert kind == "Query", (d["_id"], d["binlog"], kind)
        else:
            assert kind == {"insert": "Write_rows_v1", "update": "Update_rows_v1",
                            "delete": "Delete_rows_v1"}[d["op"]], (d["_id"], d["binlog"], kind)


def test_without_filters_the_filtered_changes_appear_with_their_seq(mariadb, workload):
    start, end, gtids, _, _ = workload
    docs = Oracle(mariadb).expected(start, end)
    by_id = {d["_id"]: d for d in docs}
    extra = [d for d in docs if d["_id"] not in {w["_id"] for w in record(gtids)}]
    assert [d["_id"] for d in extra] == [
        f"test:{gtids['skipdb']}:1", f"test:{gtids['skiptab']}:1", f"test:{gtids['mixed']}:1",
        f"test:{gtids['user']}:1"]
    same(strip(extra[0]), doc(gtids, "skipdb", 1, op="ddl", db="orc_skip",
                              statement="CREATE DATABASE orc_skip"))
    same(strip(extra[1]), doc(gtids, "skiptab", 1, op="ddl", db="orc_skip", table="t",
                              statement="CREATE TABLE orc_skip.t (id INT PRIMARY KEY)"))
    same(strip(extra[2]), doc(gtids, "mixed", 1, op="insert", db="orc_skip", table="t",
                              pk={"id": 1}, after={"id": 1}))
    # a statement on no table, from a session without a default database, right after one
    # with `use orc`: mariadb-binlog prints no `use` line, so db may be orc or absent
    user = by_id[f"test:{gtids['user']}:1"]
    assert user["statement"] == "CREATE USER 'orc_u'@'localhost' IDENTIFIED BY '<redacted>'"
    assert user.db_choices == ("orc", None) and "table" not in user
    assert by_id[f"test:{gtids['mixed']}:2"]["after"]["s"] == "after skip"
    # exclude works the same way
    ex = Oracle(mariadb, exclude=["orc_skip.*"]).expected(start, end)
    assert [d["_id"] for d in ex] == [d["_id"] for d in docs
                                      if d["_id"] not in (f"test:{gtids['skiptab']}:1",
                                                          f"test:{gtids['mixed']}:1")]


def test_remote_and_file_mode_agree(mariadb, workload):
    start, end, _, _, _ = workload
    remote = Oracle(mariadb).expected(start, end)
    files = Oracle(mariadb, mode="files").expected(start, end)
    assert len(remote) == len(files)
    for a, b in zip(remote, files):
        same(dict(a), dict(b), a["_id"])


def test_rows_of_multi_event_statements_get_their_own_event(mariadb):
    """mariadb-binlog prints all rows of a statement after all of its event headers; the
    oracle assigns them back by size. The server's event list confirms each position."""
    mariadb.sql("CREATE DATABASE IF NOT EXISTS orcbig",
                "CREATE TABLE orcbig.t (id INT PRIMARY KEY, s VARCHAR(300) CHARACTER SET utf8mb4, "
                "d DECIMAL(30,7), dt DATETIME(4))")
    start = mariadb.gtid_binlog_pos()
    mariadb.sql("INSERT INTO orcbig.t SELECT seq, REPEAT('é', seq % 97), seq + 0.1234567, "
                "'2024-01-01 00:00:00.1234' + INTERVAL seq SECOND FROM orcbig.seq_1_to_3000",
                "UPDATE orcbig.t SET s = CONCAT(s, '!'), d = -d WHERE id % 3 = 0",
                "DELETE FROM orcbig.t WHERE id > 1000")
    end = mariadb.gtid_binlog_pos()
    docs = Oracle(mariadb).expected(start, end)
    assert [d["op"] for d in docs] == ["insert"] * 3000 + ["update"] * 1000 + ["delete"] * 2000
    events = binlog_events(mariadb)
    by_kind = {}
    for d in docs:
        key = (d["binlog"]["file"], d["binlog"]["pos"])
        assert events.get(key) == {"insert": "Write_rows_v1", "update": "Update_rows_v1",
                                   "delete": "Delete_rows_v1"}[d["op"]], (d["_id"], key)
        by_kind.setdefault(d["op"], []).append(key)
    for op, keys in by_kind.items():
        assert keys == sorted(keys)
        # every rows event of the statement got rows
        first, last = keys[0], keys[-1]
        in_between = [k for k, v in events.items() if first <= k <= last and v.endswith("_rows_v1")]
        assert set(in_between) == set(keys), op
        assert len(set(keys)) > 3, f"{op}: expected a multi-event statement"
    assert docs[5]["after"] == {"id": 6, "s": "é" * 6, "d": Decimal("6.1234567"),
                                "dt": datetime.datetime(2024, 1, 1, 0, 0, 6, 123000)}


def test_a_changed_or_dropped_table_needs_the_schema_override(mariadb):
    """The schema comes from information_schema as it is now: a table dropped or changed
    since is an error naming it, never a guess; schema= supplies the old one."""
    start = mariadb.gtid_binlog_pos()
    mariadb.sql("CREATE DATABASE orcdrop", "CREATE TABLE orcdrop.t (id INT PRIMARY KEY, "
                "v VARCHAR(10) CHARACTER SET latin1)", "INSERT INTO orcdrop.t VALUES (1, 'Grüße')",
                "CREATE TABLE orcdrop.m (id INT PRIMARY KEY, v VARCHAR(10))",
                "INSERT INTO orcdrop.m VALUES (1, '42')", "DROP TABLE orcdrop.t",
                "ALTER TABLE orcdrop.m MODIFY v INT")
    end = mariadb.gtid_binlog_pos()
    with pytest.raises(SchemaMismatch, match="no schema for orcdrop.t"):
        Oracle(mariadb).expected(start, end)
    old_t = {"columns": [("id", "int(11)"), ("v", "varchar(10)", "latin1")], "pk": ["id"]}
    with pytest.raises(SchemaMismatch, match="'v' is int.* logged as VARSTRING"):
        Oracle(mariadb, schema={"orcdrop.t": old_t}).expected(start, end)
    docs = Oracle(mariadb, schema={"orcdrop.t": old_t, "orcdrop.m": {
        "columns": ["id int(11)", "v varchar(10)"], "pk": ["id"]}}).expected(start, end)
    rows = [(d["table"], d["after"]) for d in docs if d["op"] == "insert"]
    assert rows == [("t", {"id": 1, "v": "Grüße"}), ("m", {"id": 1, "v": "42"})]


# ---- check_against_oracle refuses what differs ----------------------------------------------
def materialize(v):
    """What MongoDB holds for an expected value (for the negative tests)."""
    if isinstance(v, ExpectedDoc) or isinstance(v, dict):
        return {k: materialize(x) for k, x in v.items()}
    if isinstance(v, list):
        return [materialize(x) for x in v]
    if isinstance(v, Float32Text):
        return float(v.text)
    if isinstance(v, JsonValue):
        return v.value
    if isinstance(v, Decimal):
        return Decimal128(v)
    assert not isinstance(v, NotCompared)
    return v


@pytest.fixture(scope="module")
def stored(mariadb, workload):
    start, end, gtids, _, _ = workload
    expected = Oracle(mariadb, include=["orc.*"]).expected(start, end)
    return expected, [materialize(d) for d in expected], gtids


def test_check_passes_on_the_faithful_documents(stored):
    expected, docs, _ = stored
    s = check_against_oracle(docs, expected, max_rows=10)
    assert s["documents"] == len(expected) == 16 and s["split"] == 0
    assert s["not_compared"] == {}
    for fam in ("integer", "decimal", "float", "double", "string", "binary", "date", "set",
                "json", "geometry", "null"):
        assert s["values_compared"].get(fam), fam


def tampered(docs, how):
    docs = copy.deepcopy(docs)
    how(docs)
    return docs


@pytest.mark.parametrize("what,how,message", [
    ("changed value", lambda ds: ds[2]["after"].__setitem__("ti", -127), "after.ti"),
    ("changed decimal scale", lambda ds: ds[2]["after"].__setitem__("d", Decimal128("-12345678.9")),
     "after.d"),
    ("int32 stored as int64", lambda ds: ds[2]["after"].__setitem__("ti", Int64(-128)), "after.ti"),
    ("float off in the 6th digit", lambda ds: ds[4]["after"].__setitem__("f", -0.000123458),
     "after.f"),
    ("date off by 1 ms", lambda ds: ds[2]["after"].__setitem__(
        "dt", datetime.datetime(2024, 2, 29, 23, 59, 59, 988000)), "after.dt"),
    ("missing document", lambda ds: ds.pop(5), "missing"),
    ("extra document", lambda ds: ds.append(dict(ds[0], _id="test:0-1-999999:1")), "unexpected"),
    ("duplicate document", lambda ds: ds.append(dict(ds[0])), "duplicate"),
    ("wrong seq", lambda ds: ds[3].__setitem__("seq", Int64(3)), "seq"),
    ("seq as int32", lambda ds: ds[3].__setitem__("seq", 2), "seq"),
    ("wrong binlog pos", lambda ds: ds[3]["binlog"].__setitem__("pos", ds[3]["binlog"]["pos"] + 1),
     "binlog"),
    ("wrong ts", lambda ds: ds[3].__setitem__("ts", ds[3]["ts"] + datetime.timedelta(seconds=1)),
     "ts"),
    ("extra key", lambda ds: ds[3].__setitem__("columns_unnamed", True), "keys"),
    ("missing column", lambda ds: ds[3]["after"].pop("j"), "after columns"),
    ("changed list", lambda ds: ds[5].__setitem__("changed", ["s"]), "changed"),
    ("one row of a transaction split", lambda ds: ds[3].__setitem__("split", True),
     "all rows or none"),
    ("split without need", lambda ds: [d.__setitem__("split", True) for d in ds[2:5]],
     "not split"),
])
def test_check_fails_on_tampered_documents(stored, what, how, message):
    expected, docs, _ = stored
    with pytest.raises(AssertionError) as e:
        check_against_oracle(tampered(docs, how), expected)
    assert message in str(e.value), (what, str(e.value))


def test_check_requires_the_split_of_large_transactions(stored):
    expected, docs, _ = stored
    # 3 documents in the insert transaction and in the CTAS one (its DDL and 2 rows): with
    # max_rows 2 both must be split, with max_rows 3 (exactly their size) neither may be
    with pytest.raises(AssertionError, match="split"):
        check_against_oracle(docs, expected, max_rows=2)
    check_against_oracle(docs, expected, max_rows=3)
    marked = tampered(docs, lambda ds: [d.__setitem__("split", True) for d in ds[2:5]])
    with pytest.raises(AssertionError, match="split"):
        check_against_oracle(marked, expected, max_rows=2)
    with pytest.raises(AssertionError, match="split"):
        check_against_oracle(marked, expected, max_rows=3)
    marked = tampered(marked, lambda ds: [d.__setitem__("split", True) for d in ds[9:11]])
    s = check_against_oracle(marked, expected, max_rows=2)
    assert s["split_transactions"] == 2 and s["split"] == 5
    # a DDL document never carries split
    ddl = tampered(marked, lambda ds: ds[8].__setitem__("split", True))
    with pytest.raises(AssertionError, match="absent"):
        check_against_oracle(ddl, expected, max_rows=2)
    # max_bytes: the documents of the insert transaction are some 2 KB
    with pytest.raises(AssertionError, match="split"):
        check_against_oracle(docs, expected, max_bytes=1000)


# ---- pure parts -------------------------------------------------------------------------------
@pytest.mark.parametrize("sql,default,want", [
    ("CREATE TABLE t (id INT)", "shop", ("table", "shop", "t")),
    ("create table if not exists `my db`.`we``ird` (id int)", None, ("table", "my db", "we`ird")),
    ("CREATE OR REPLACE TEMPORARY TABLE s.t LIKE s.u", None, ("table", "s", "t")),
    ("ALTER ONLINE IGNORE TABLE x.y ADD COLUMN z INT", "d", ("table", "x", "y")),
    ("DROP TABLE IF EXISTS `a`, `b` /* generated by server */", "d", ("table", "d", "a")),
    ("DROP TEMPORARY TABLE t1", "d", ("table", "d", "t1")),
    ("TRUNCATE TABLE shop.orders", None, ("table", "shop", "orders")),
    ("TRUNCATE orders", "shop", ("table", "shop", "orders")),
    ("RENAME TABLE a TO b, c TO d", "x", ("table", "x", "a")),
    ("CREATE UNIQUE INDEX ix USING BTREE ON `s`.`t` (a)", None, ("table", "s", "t")),
    ("CREATE INDEX IF NOT EXISTS ix ON t (a)", "d", ("table", "d", "t")),
    ("DROP INDEX ix ON s.t", None, ("table", "s", "t")),
    ("CREATE DATABASE IF NOT EXISTS shop", None, ("database", "shop", None)),
    ("DROP SCHEMA `we``ird`", "x", ("database", "we`ird", None)),
    ("ALTER DATABASE CHARACTER SET utf8mb4", "cur", ("database", "cur", None)),
    ("/* lead */ CREATE TABLE t2 (a INT)", "d", ("table", "d", "t2")),
    ("CREATE USER u@localhost", "d", (None, None, None)),
    ("CREATE VIEW v AS SELECT 1", "d", (None, None, None)),
    ("CREATE DEFINER=`root`@`localhost` TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET @a = 1",
     "d", (None, None, None)),
])
def test_ddl_target(sql, default, want):
    assert ddl_target(sql, default) == want


def test_redact():
    assert redact("CREATE USER 'u'@'%' IDENTIFIED BY 'pw'") == \
        "CREATE USER 'u'@'%' IDENTIFIED BY '<redacted>'"
    assert redact("ALTER USER u IDENTIFIED VIA ed25519 USING PASSWORD('pw')") == \
        "ALTER USER u IDENTIFIED VIA ed25519 USING PASSWORD('<redacted>')"
    assert redact("CHANGE MASTER TO MASTER_PASSWORD='x\\'y', MASTER_USER='r'") == \
        "CHANGE MASTER TO MASTER_PASSWORD='<redacted>', MASTER_USER='r'"
    assert redact("CREATE TABLE t AS SELECT 'pw' AS p") == "CREATE TABLE t AS SELECT 'pw' AS p"


def test_a_statement_based_change_has_no_documents(mariadb):
    """What a statement changed is not in the binlog: the oracle refuses to guess (sdl stops
    there too, tests/integration/test_exactly_once.py)."""
    from oracle import StatementBasedChange
    mariadb.sql("CREATE DATABASE IF NOT EXISTS osb", "CREATE TABLE IF NOT EXISTS osb.t (id INT PRIMARY KEY)")
    start = mariadb.gtid_binlog_pos()
    c = mariadb.root()
    try:
        with c.cursor() as cur:
            cur.execute("SET SESSION binlog_format=STATEMENT")
            cur.execute("INSERT INTO osb.t VALUES (1)")
    finally:
        c.close()
    end = mariadb.gtid_binlog_pos()
    with pytest.raises(StatementBasedChange, match="INSERT INTO osb.t"):
        Oracle(mariadb).expected(start, end)
