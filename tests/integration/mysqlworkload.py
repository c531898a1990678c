"""Workloads for the live-MySQL tests, made of copies of real MySQL-written transactions
(tests/mysqlpeer/peer/workload.py), and the documents sdl must store for them.

The expected documents do not come from sdl: the GTIDs, files and offsets are the composer's
own record of what it wrote, and each template transaction's rows are stated here from
tests/data/mysql-binlog/EXPECTED-VALUES.md and the `mariadb-binlog -vv` cross-check of the same
fixture (test_mysql_run.py checks the templates against mariadb-binlog once more).

Templates (fixture, transaction index):
  ess_insert / ess_update / ess_delete   mysql-enum-string-set.000001 (8.0.28), mysql.t
  bit_insert                             mysql_type_bit.000001 (8.0.26), mysql.foo
  tag_insert                             binlog_transaction_with_GTID_TAG.000001 (9.6.0)
  payload row                            transaction_compression.000001 (8.0.32): the inner
                                         TABLE_MAP + WRITE_ROWS of its compressed transaction
  opaque                                 json-opaque.binlog (9.0.1, gtid_mode OFF): its
                                         transaction of 8 single-row JSON inserts, anonymous
"""
import datetime
import os
import re
import struct
from decimal import Decimal

from bson.decimal128 import Decimal128

from mysqlsource import DATA, Gtid, GtidSet, MySQLPeer, workload

RMC = os.path.join(DATA, "rust_mysql_common")
CROSS = os.path.join(DATA, "_crosscheck-mariadb-binlog-10.11")

ESS = os.path.join(RMC, "mysql-enum-string-set.000001")
BIT = os.path.join(RMC, "mysql_type_bit.000001")
TAG = os.path.join(RMC, "binlog_transaction_with_GTID_TAG.000001")
PAYLOAD = os.path.join(RMC, "transaction_compression.000001")
OPAQUE = os.path.join(RMC, "json-opaque.binlog")


def _ess_f2():
    """The long f2 value (298 digits), as mariadb-binlog printed it for the INSERT."""
    text = open(os.path.join(CROSS, "rust_mysql_common__mysql-enum-string-set.000001"
                             ".mariadb-binlog-vv.txt")).read()
    m = re.search(r"### INSERT INTO `mysql`.`t`\n### SET\n###   @1='[0-9]+' .*\n###   @2='([0-9]+)'",
                  text)
    assert m and len(m.group(1)) > 250, "cross-check file changed"
    return m.group(1)


F2 = _ess_f2()
# EXPECTED-VALUES.md §1, mysql-enum-string-set.000001
ESS_ROW1 = {"f1": "0123456789" * 10, "f2": F2, "f3": "var1", "f4": ["one", "three"],
            "f5": "0123456789"}
ESS_ROW2 = {"f1": "field1", "f2": "field_2", "f3": "variant2", "f4": ["two", "four"], "f5": F2}
# EXPECTED-VALUES.md §1, mysql_type_bit.000001: (0b100, 'foo', 0b00100000)
BIT_ROW = {"a": 4, "b": "foo", "c": 32}


# EXPECTED-VALUES.md §1, json-opaque.binlog: the 8 JSON values, in order
OPAQUE_VALUES = [
    {"a": "base64:type15:VQ=="},
    {"b": datetime.datetime(2012, 3, 18)},
    {"c": datetime.datetime(2012, 3, 18, 11, 30, 45)},
    {"c": "87:31:46.654321"},
    {"d": Decimal128("123.456")},
    {"e": Decimal128("9.00")},
    {"e": [0, 1, True, False]},
    {"e": None},
]


class Row:
    """One expected row change: op, db, table, before, after, changed, columns_unnamed."""

    def __init__(self, op, db, table, before=None, after=None, changed=None, unnamed=False):
        self.op, self.db, self.table = op, db, table
        self.before, self.after, self.changed, self.unnamed = before, after, changed, unnamed


TEMPLATE_ROWS = {
    "ess_insert": [Row("insert", "mysql", "t", after=ESS_ROW1)],
    "ess_update": [Row("update", "mysql", "t", before=ESS_ROW1, after=ESS_ROW2,
                       changed=["f1", "f2", "f3", "f4", "f5"])],
    "ess_delete": [Row("delete", "mysql", "t", before=ESS_ROW2)],
    "bit_insert": [Row("insert", "mysql", "foo", after=BIT_ROW)],
    # 9.6.0 test.orders, MINIMAL metadata (SIGNEDNESS only): (3, 100, 250.00) as the
    # mariadb-binlog check in test_mysql_run.py reads it
    "tag_insert": [Row("insert", "test", "orders",
                       after={"@1": 3, "@2": 100, "@3": Decimal128("250.00")}, unnamed=True)],
    # 8.0.32 test.tb1(INT), MINIMAL metadata: 1, likewise
    "payload_row": [Row("insert", "test", "tb1", after={"@1": 1}, unnamed=True)],
    "opaque": [Row("insert", "foo", "test", after={"a": v}) for v in OPAQUE_VALUES],
}


class Templates:
    def __init__(self):
        ess = workload.Fixture(ESS)
        self.ess_fde = ess.fde
        self.ess = {"ess_insert": ess.transactions[2], "ess_update": ess.transactions[3],
                    "ess_delete": ess.transactions[4]}
        bit = workload.Fixture(BIT)
        self.bit = bit.transactions[2]
        self.bit_fde = bit.fde
        tag = workload.Fixture(TAG)
        self.tag = tag.transactions[0]
        self.tag_fde = tag.fde
        pl = workload.Fixture(PAYLOAD)
        self.payload_fde = pl.fde
        self.payload_gtid_event = pl.transactions[0].events[0]   # ANONYMOUS_GTID, 8.0.32
        # Fixture() strips checksums: the payload event is read as one without
        inner = workload.payload_inner_events(pl.transactions[0].events[1], 0)
        assert workload.kinds_named(inner) == ["QUERY", "TABLE_MAP", "WRITE_ROWS", "XID"]
        self.payload_begin, self.payload_map, self.payload_rows, self.payload_xid = inner
        op = workload.Fixture(OPAQUE)
        self.opaque_fde = op.fde
        self.opaque = op.transactions[2]
        assert workload.kinds_named(self.opaque.events).count("WRITE_ROWS") == 8

    def big_ess(self, k):
        """One transaction of k ESS inserts (BEGIN, (TABLE_MAP, WRITE_ROWS) x k, XID), as k
        single-row INSERT statements in one transaction are logged."""
        ev = self.ess["ess_insert"].events  # GTID, QUERY BEGIN, TABLE_MAP, WRITE_ROWS, XID
        return workload.Txn([ev[0], ev[1]] + [ev[2], ev[3]] * k + [ev[4]])

    def payload_inner(self, k):
        return ([self.payload_begin] + [self.payload_map, self.payload_rows] * k
                + [self.payload_xid])


class Expected:
    """Transactions written, in order: (gtid text, [(Row, binlog file, pos, ts)])."""

    def __init__(self):
        self.txns = []

    def add(self, gtid, rows):
        self.txns.append((gtid, rows))

    def gtids(self):
        s = GtidSet()
        for g, _ in self.txns:
            try:
                s.add(Gtid.parse(g))
            except ValueError:
                pass  # an anonymous transaction: "<file>:<offset>"
        return s

    def documents(self, pipeline):
        """{_id: (expected document without split, rows in its transaction)}"""
        out = {}
        for gtid, rows in self.txns:
            for seq, (row, f, pos, ts) in enumerate(rows, 1):
                d = {"_id": f"{pipeline}:{gtid}:{seq}", "op": row.op, "db": row.db,
                     "table": row.table}
                if row.before is not None:
                    d["before"] = row.before
                if row.after is not None:
                    d["after"] = row.after
                if row.changed is not None:
                    d["changed"] = row.changed
                d.update({"gtid": gtid, "seq": seq})
                if f is not None:   # a real server's files and times are its own
                    d["ts"] = datetime.datetime.utcfromtimestamp(ts)
                    d["binlog"] = {"file": f, "pos": pos}
                if row.unnamed:
                    d["columns_unnamed"] = True
                out[d["_id"]] = (d, len(rows))
        return out


def header_ts(ev):
    return struct.unpack_from("<I", ev, 0)[0]


class Appender:
    """Writes a binlog chain into a peer's directory while it serves it: transactions are
    appended to the current file (each with one write), rotate() closes it with a ROTATE and
    starts the next (FDE of the given server, PREVIOUS_GTIDS of everything before)."""

    def __init__(self, directory, templates, uuid, basename="binlog"):
        self.dir = directory
        self.t = templates
        self.uuid = uuid
        self.basename = basename
        self.n = 0
        self.gno = {}           # tag -> last gno
        self.written = GtidSet()
        self.expected = Expected()
        self.comp = None
        self.name = None
        self.flushed = 0

    def next_gtid(self, tag=""):
        self.gno[tag] = self.gno.get(tag, 0) + 1
        return Gtid(self.uuid, self.gno[tag], tag)

    def start_file(self, fde):
        if self.comp is not None:
            nxt = f"{self.basename}.{self.n + 1:06d}"
            self.comp.rotate(nxt)
            self._flush()
        self.n += 1
        self.name = f"{self.basename}.{self.n:06d}"
        self.comp = workload.Composer(fde)
        self.comp.previous(self.written)
        self.previous = self.written.copy()   # what the files before this one hold
        self.flushed = 0
        self._flush()

    def _flush(self):
        data = self.comp.bytes()
        with open(os.path.join(self.dir, self.name), "ab") as f:
            f.write(data[self.flushed:])
        self.flushed = len(data)

    def _rows(self, rec, rows_per_event, ts_of):
        out = []
        for i, pos in enumerate(rec["rows_events"]):
            for r in rows_per_event[i]:
                out.append((r, self.name, pos, ts_of(i)))
        return out

    def ess(self, kind):
        g = self.next_gtid()
        txn = self.t.ess[kind]
        rec = self.comp.add(txn, g)
        ts = header_ts(txn.events[3])
        self.expected.add(str(g), self._rows(rec, [TEMPLATE_ROWS[kind]], lambda i: ts))
        self.written.add(g)
        self._flush()
        return g

    def bit(self):
        g = self.next_gtid()
        rec = self.comp.add(self.t.bit, g)
        ts = header_ts(self.t.bit.events[3])
        self.expected.add(str(g), self._rows(rec, [TEMPLATE_ROWS["bit_insert"]], lambda i: ts))
        self.written.add(g)
        self._flush()
        return g

    def big_ess(self, k):
        g = self.next_gtid()
        txn = self.t.big_ess(k)
        rec = self.comp.add(txn, g)
        ts = header_ts(txn.events[3])
        self.expected.add(str(g), self._rows(rec, [TEMPLATE_ROWS["ess_insert"]] * k,
                                             lambda i: ts))
        self.written.add(g)
        self._flush()
        return g

    def tagged(self, tag="mytag"):
        g = self.next_gtid(tag)
        rec = self.comp.add(self.t.tag, g)
        ts = header_ts(self.t.tag.events[3])
        self.expected.add(str(g), self._rows(rec, [TEMPLATE_ROWS["tag_insert"]], lambda i: ts))
        self.written.add(g)
        self._flush()
        return g

    def payload(self, k):
        g = self.next_gtid()
        rec = self.comp.add_payload(self.t.payload_gtid_event, self.t.payload_inner(k), g)
        ts = header_ts(self.t.payload_rows)
        pos = rec["payloads"][0]
        # rows inside a payload carry the payload event's offset and their own header time
        self.expected.add(str(g), [(TEMPLATE_ROWS["payload_row"][0], self.name, pos, ts)] * k)
        self.written.add(g)
        self._flush()
        return g

    def opaque(self):
        """json-opaque's transaction, anonymous (a source with gtid_mode OFF): its id is
        "<file>:<offset of its ANONYMOUS_GTID event>"."""
        txn = self.t.opaque
        rec = self.comp.add(txn, None)
        gid = f"{self.name}:{rec['pos']}"
        rows = []
        rows_events = [e for e in txn.events if struct.unpack_from("<B", e, 4)[0] == 30]
        for i, pos in enumerate(rec["rows_events"]):
            rows.append((TEMPLATE_ROWS["opaque"][i], self.name, pos, header_ts(rows_events[i])))
        self.expected.add(gid, rows)
        self._flush()
        return gid, rec["end"]


# Every source a test made, so a fixture can stop them whatever the test's outcome.
LIVE = []


class PeerSource:
    """tests/mysqlpeer serving a binlog chain that an Appender writes while it runs."""

    kind = "peer"

    def __init__(self, tmp_path, templates, uuid, **peer_kw):
        LIVE.append(self)
        self.dir = str(tmp_path / "peer" / "binlog")
        os.makedirs(self.dir, exist_ok=True)
        sets = {"binlog_row_metadata": "FULL"}
        sets.update(peer_kw.pop("sets", {}))
        self.peer = MySQLPeer(tmp_path / "peer", binlog_dir=self.dir, sets=sets, **peer_kw)
        self.t = templates
        self.a = Appender(self.dir, templates, uuid)
        self.host = "127.0.0.1"
        self.user = self.peer.user
        self.password = self.peer.password
        self.file_kind = None

    @property
    def port(self):
        return self.peer.port

    def start(self):
        self.peer.start()
        return self

    def stop(self):
        self.peer.stop()

    # workload: each call is one source transaction
    def new_file(self, kind):
        """kind: 'ess' (8.0.28), 'payload' (8.0.32), 'tag' (9.6.0), 'opaque' (9.0.1)."""
        fde = {"ess": self.t.ess_fde, "payload": self.t.payload_fde, "tag": self.t.tag_fde,
               "opaque": self.t.opaque_fde}[kind]
        self.a.start_file(fde)
        self.file_kind = kind

    def ess(self, kind):
        return str(self.a.ess(kind))

    def big_ess(self, k):
        return str(self.a.big_ess(k))

    def payload(self, k):
        return str(self.a.payload(k))

    def tagged(self):
        return str(self.a.tagged())

    def opaque(self):
        return self.a.opaque()[0]

    def executed(self):
        return self.a.written.copy()

    @property
    def expected(self):
        return self.a.expected

    def purge_before_current(self):
        """Removes every file but the newest (as PURGE BINARY LOGS TO does); returns
        gtid_purged."""
        for n in sorted(os.listdir(self.dir))[:-1]:
            os.remove(os.path.join(self.dir, n))
        return self.a.previous.copy()

    def daemon_kw(self):
        return {"start": "start"}


class RealSource:
    """A real MySQL server ($SDL_TEST_MYSQL_*, mysqlsource.real_mysql()) running the same
    workload as SQL in a database of its own: the same rows as the templates, with the server's
    own GTIDs (read from @@gtid_executed around each transaction), table and column names
    (binlog_row_metadata=FULL names them). Binlog files, offsets and times are the server's:
    the documents are compared without them. Tagged GTIDs need MySQL 8.4+."""

    kind = "mysql"

    def __init__(self, tmp_path, templates, uuid=None, **_):
        import random as _random
        LIVE.append(self)

        import pymysql
        from mysqlsource import real_mysql
        self.cfg = real_mysql()
        assert self.cfg, "RealSource needs SDL_TEST_MYSQL_HOST"
        self.host, self.port = self.cfg["host"], self.cfg["port"]
        self.user, self.password = self.cfg["user"], self.cfg["password"]
        self.db = f"sdltest_{os.getpid()}_{_random.randrange(1 << 30)}"
        self.conn = pymysql.connect(host=self.host, port=self.port, user=self.cfg["root_user"],
                                    password=self.cfg["root_password"], autocommit=True,
                                    charset="utf8mb4")
        self.expected = Expected()
        self.rows1 = self.rows2 = 0
        self.file_kind = None
        self.peer = None
        self.sql(f"CREATE DATABASE {self.db}",
                 f"CREATE TABLE {self.db}.t (f1 CHAR(128), f2 VARCHAR(300), "
                 "f3 ENUM('var1', 'variant2', 'foo'), f4 SET('one', 'two', 'three', 'four'), "
                 "f5 TEXT) DEFAULT CHARSET=utf8mb4",
                 f"CREATE TABLE {self.db}.tb1 (a INT)",
                 f"CREATE TABLE {self.db}.orders (id INT, qty INT, price DECIMAL(10,2))",
                 f"CREATE TABLE {self.db}.test (a JSON)")
        self.start_position = self.executed().text()

    def sql(self, *statements):
        rows = None
        with self.conn.cursor() as cur:
            for st in statements:
                cur.execute(st)
                rows = cur.fetchall()
        return rows

    def executed(self):
        return GtidSet.parse(self.sql("SELECT @@GLOBAL.gtid_executed")[0][0])

    def start(self):
        v = self.sql("SELECT @@version, @@gtid_mode, @@binlog_row_metadata")[0]
        assert v[1] == "ON" and v[2] == "FULL", f"the MySQL server must run with gtid_mode=ON " \
                                                 f"and binlog_row_metadata=FULL: {v}"
        self.version = v[0]
        return self

    def stop(self):
        if self.conn.open:
            self.sql(f"DROP DATABASE IF EXISTS {self.db}")
            self.conn.close()

    def _txn(self, statements, rows, pre=(), post=()):
        before = self.executed()
        self.sql(*pre, "BEGIN", *statements, "COMMIT", *post)
        new = self.executed().subtract(before)
        assert new.count() == 1, f"expected one new GTID, got {new}"
        g = str(next(new.gtids()))
        self.expected.add(g, [(r, None, None, None) for r in rows])
        return g

    @staticmethod
    def _q(v):
        return "'" + str(v).replace("'", "''") + "'"

    def _ess_values(self, r):
        return ", ".join([self._q(r["f1"]), self._q(r["f2"]), self._q(r["f3"]),
                          self._q(",".join(r["f4"])), self._q(r["f5"])])

    def _rename(self, rows, table=None, names=None):
        out = []
        for r in rows:
            def named(img):
                return None if img is None else (
                    {names[int(k[1:]) - 1]: v for k, v in img.items()} if names else img)
            out.append(Row(r.op, self.db, table or r.table, named(r.before), named(r.after),
                           r.changed))
        return out

    def new_file(self, kind):
        self.sql("FLUSH BINARY LOGS")
        self.file_kind = kind

    def ess(self, kind):
        if kind == "ess_update" and not self.rows1 or kind == "ess_delete" and not self.rows2:
            kind = "ess_insert"
        t = f"{self.db}.t"
        if kind == "ess_insert":
            st = f"INSERT INTO {t} VALUES ({self._ess_values(ESS_ROW1)})"
            self.rows1 += 1
        elif kind == "ess_update":
            r = ESS_ROW2
            st = (f"UPDATE {t} SET f1 = {self._q(r['f1'])}, f2 = {self._q(r['f2'])}, "
                  f"f3 = {self._q(r['f3'])}, f4 = {self._q(','.join(r['f4']))}, "
                  f"f5 = {self._q(r['f5'])} WHERE f1 = {self._q(ESS_ROW1['f1'])} LIMIT 1")
            self.rows1 -= 1
            self.rows2 += 1
        else:
            st = f"DELETE FROM {t} WHERE f1 = 'field1' LIMIT 1"
            self.rows2 -= 1
        return self._txn([st], self._rename(TEMPLATE_ROWS[kind]))

    def big_ess(self, k):
        st = f"INSERT INTO {self.db}.t VALUES ({self._ess_values(ESS_ROW1)})"
        self.rows1 += k
        return self._txn([st] * k, self._rename(TEMPLATE_ROWS["ess_insert"]) * k)

    def payload(self, k):
        return self._txn([f"INSERT INTO {self.db}.tb1 VALUES (1)"] * k,
                         self._rename(TEMPLATE_ROWS["payload_row"], names=["a"]) * k,
                         pre=["SET SESSION binlog_transaction_compression = ON"],
                         post=["SET SESSION binlog_transaction_compression = OFF"])

    def tagged(self, tag="mytag"):
        return self._txn([f"INSERT INTO {self.db}.orders VALUES (3, 100, 250.00)"],
                         self._rename(TEMPLATE_ROWS["tag_insert"], names=["id", "qty", "price"]),
                         pre=[f"SET gtid_next = 'AUTOMATIC:{tag}'"],
                         post=["SET gtid_next = 'AUTOMATIC'"])

    def purge_before_current(self):
        last = self.sql("SHOW BINARY LOGS")[-1][0]
        self.sql(f"PURGE BINARY LOGS TO '{last}'")
        return GtidSet.parse(self.sql("SELECT @@GLOBAL.gtid_purged")[0][0])

    def daemon_kw(self):
        """Start after the set-up, replicate only this test's database."""
        return {"start": self.start_position,
                "extra": f"tables:\n  include: ['{self.db}.*']\n"}


def make_source(tmp_path, templates, uuid, peer_only=False, **peer_kw):
    """A RealSource when $SDL_TEST_MYSQL_HOST is set (unless the test needs the peer by
    nature: @peer_only), else a PeerSource."""
    from mysqlsource import real_mysql
    if real_mysql() and not peer_only:
        return RealSource(tmp_path, templates, uuid)
    return PeerSource(tmp_path, templates, uuid, **peer_kw)
