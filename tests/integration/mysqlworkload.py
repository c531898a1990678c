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
                d.update({"gtid": gtid, "seq": seq,
                          "ts": datetime.datetime.utcfromtimestamp(ts),
                          "binlog": {"file": f, "pos": pos}})
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


class PeerSource:
    """tests/mysqlpeer serving a binlog chain that an Appender writes while it runs."""

    kind = "peer"

    def __init__(self, tmp_path, templates, uuid, **peer_kw):
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
        """Removes every file but the newest (as PURGE BINARY LOGS TO does)."""
        for n in sorted(os.listdir(self.dir))[:-1]:
            os.remove(os.path.join(self.dir, n))
