"""Snapshots from a live MySQL source (issue 14, DESIGN.md §9): the watermark snapshot
(binlog_order_commits=ON checked, watermarks written into sdl.watermarks, chunks read with
prepared statements between them) and the consistent snapshot (FLUSH TABLES WITH READ LOCK,
START TRANSACTION WITH CONSISTENT SNAPSHOT, @@GLOBAL.gtid_executed, UNLOCK TABLES), each
under concurrent writes and kill -9.

The source is tests/mysqlpeer with its tables (peerlib/tables.py): every write a test sends
is a row transaction appended to the binlog the peer serves, in the order the writes become
visible — a MySQL source with binlog_order_commits=ON. With $SDL_TEST_MYSQL_HOST the same
tests run against a real MySQL server (the sdl user needs SELECT on the test's database and
INSERT, UPDATE on sdl.watermarks; the root user creates them). The oracle is the source: the
audit log rebuilt (snapshot rows, then the changes, in commit order) and every mirror
collection must equal `SELECT *` read with pymysql, compared through the documented type
mapping (README "Types"); no key is snapshotted twice; the offset is the source's
@@GLOBAL.gtid_executed."""
import decimal
import json
import os
import random
import subprocess
import time

import pymysql
import pytest

from mysqlsource import GtidSet, MySQLPeer, MySQLSdl, real_mysql, wait_for_gtids
from runlib import Daemon, offset
from test_snapshot import (Writer, compare, rebuild, select_all, snapshot_state,
                           wait_for_snapshot_done)

U = "5a0c7e2e-9b1d-11ef-8a51-0242ac1100aa"

COLUMNS = ("v INT NOT NULL DEFAULT 0, ti TINYINT, su INT UNSIGNED, bi BIGINT, "
           "de DECIMAL(12,3), db DOUBLE, d DATE, dt DATETIME(3), ts TIMESTAMP(6) NULL, "
           "tm TIME, s VARCHAR(40), tx TEXT, bl BLOB, vb VARBINARY(16), mi MEDIUMINT, "
           "en ENUM('red','green','blue'), st SET('a','b','c'), js JSON")
TABLES = {
    "t_int": "id INT NOT NULL PRIMARY KEY",
    "t_comp": "a INT NOT NULL, b VARCHAR(12) NOT NULL",
}
PKS = {"t_int": "", "t_comp": ", PRIMARY KEY (a, b)"}
KEYS = {"t_int": ["id"], "t_comp": ["a", "b"]}
LIVE = []


class Source:
    """The peer with its tables, or a real MySQL server ($SDL_TEST_MYSQL_*)."""

    def __init__(self, tmp_path):
        LIVE.append(self)
        self.real = real_mysql()
        if self.real:
            self.host, self.port = self.real["host"], self.real["port"]
            self.user, self.password = self.real["user"], self.real["password"]
            self.root_user, self.root_password = self.real["root_user"], \
                self.real["root_password"]
            self.db = f"sdlsnap_{os.getpid()}_{random.randrange(1 << 30)}"
            self.peer = None
        else:
            self.peer = MySQLPeer(tmp_path / "peer", server_uuid=U).start()
            self.host, self.port = self.peer.host, self.peer.port
            self.user = self.root_user = self.peer.user
            self.password = self.root_password = self.peer.password
            self.db = "app"

    def root(self):
        return self.connect()

    def connect(self):
        return pymysql.connect(host=self.host, port=self.port, user=self.root_user,
                               password=self.root_password, autocommit=True,
                               charset="utf8mb4")

    def sql(self, *statements):
        c = self.connect()
        try:
            with c.cursor() as cur:
                rows = None
                for s in statements:
                    cur.execute(s)
                    rows = cur.fetchall()
                return rows
        finally:
            c.close()

    def executed(self):
        return GtidSet.parse(self.sql("SELECT @@GLOBAL.gtid_executed")[0][0])

    def stop(self):
        if self.peer:
            self.peer.stop()
            assert not self.peer.internal_errors(), self.peer.internal_errors()
        else:
            self.sql(f"DROP DATABASE IF EXISTS {self.db}")


@pytest.fixture(autouse=True)
def stop_sources():
    yield
    while DAEMONS:
        DAEMONS.pop().kill9()
    while LIVE:
        LIVE.pop().stop()


DAEMONS = []


def values(rng, key):
    """One row's values (key columns first, then COLUMNS' in order) as SQL parameters."""
    return (*key, rng.randint(0, 1000), rng.randint(-128, 127), rng.randint(0, 4294967295),
            rng.randint(-2**63, 2**63 - 1), decimal.Decimal(rng.randint(-10**11, 10**11)) / 1000,
            rng.choice([1.5, -0.25, 1.1, 3.0e10, None]),
            rng.choice([None, f"20{rng.randint(10, 30)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"]),
            f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)} 1{rng.randint(0, 9)}:34:56."
            f"{rng.randint(0, 999):03d}",
            rng.choice([None, f"2021-03-04 05:06:07.{rng.randint(0, 999999):06d}"]),
            rng.choice(["12:34:56", "-838:59:59", "100:00:01", None]),
            rng.choice([None, "héllo", "€uro", "", "𝄞 clef"]),
            rng.choice(["x" * rng.randint(0, 300), None]),
            rng.choice([None, rng.randbytes(rng.randint(0, 40))]), rng.randbytes(rng.randint(0, 16)),
            rng.randint(-2**23, 2**23 - 1), rng.choice(["red", "green", "blue", None]),
            rng.choice(["", "a", "a,c", "a,b,c"]),
            rng.choice([None, json.dumps({"k": rng.randint(0, 9), "l": [1, "two", None, 2.5],
                                          "s": "é\"x"})]))


def key_of(table, n):
    return (n,) if table == "t_int" else (n // 7, f"k{n % 7}")


def insert_sql(src, table, ignore=False):
    ncols = len(KEYS[table]) + 18
    return (f"INSERT {'IGNORE ' if ignore else ''}INTO {src.db}.{table} VALUES "
            f"({', '.join(['%s'] * ncols)})")


def create(src, rows, seed=7):
    src.sql(f"CREATE DATABASE {src.db}",
            *[f"CREATE TABLE {src.db}.{t} ({k}, {COLUMNS}{PKS[t]})" for t, k in TABLES.items()])
    rng = random.Random(seed)
    c = src.connect()
    try:
        with c.cursor() as cur:
            cur.execute("SET SESSION time_zone = '+00:00'")
            for t in TABLES:
                batch = [values(rng, key_of(t, n)) for n in range(rows)]
                for i in range(0, rows, 500):
                    cur.executemany(insert_sql(src, t), batch[i:i + 500])
    finally:
        c.close()


# ---- the oracle: SELECT * through the documented mapping ---------------------------------------

def gno(gtid):
    """A change's GTID number; a consistent snapshot's rows name their view's GTID set (one
    uuid here): its last number, where they go in."""
    return int(gtid.rsplit(":", 1)[1].rsplit("-", 1)[-1])


def key_of_doc(d, table):
    if isinstance(d["_id"], dict):
        return tuple(d["_id"][c] for c in KEYS[table])
    return (d["_id"],)


def check_exact(src, target):
    o = offset(target)
    snap = o["snapshot"]
    assert snap["state"] == "done" and snap["done"] == len(TABLES), snap
    assert snap["tables"] == [f"{src.db}.{t}" for t in sorted(TABLES)], snap
    assert target.db.row_changes_staging.count_documents({}) == 0
    assert o["rows_applied"] == target.db.row_changes.count_documents({}), o
    total = 0
    for t in TABLES:
        want = select_all(src, t, db=src.db, keys=KEYS[t])
        have, n = rebuild(target, t, db=src.db, keys=KEYS[t], order=gno)
        total += n
        compare(t, want, have, "audit log")
        mirror = {key_of_doc(m, t): {k: v for k, v in m.items() if k != "_id"}
                  for m in target.db[f"{src.db}.{t}"].find()}
        compare(t, want, mirror, "mirror")
    assert snap["rows"] == total, (snap, total)
    ids = [x["_id"] for x in target.db.row_changes.find({"op": "snapshot"}, {"_id": 1})]
    assert len(ids) == len(set(ids)) == total
    return snap


def check_rows_at_their_gtid(src, target):
    """Every snapshot row equals its row in the source as of the GTID it is placed at (its
    document's gtid: the chunk's high watermark, or the consistent view): its key existed
    there with that version (column v). The source's history is the peer's own record of every
    row it wrote ("write" events, with GTIDs), replayed here; sdl is not asked. Returns the
    number of rows checked."""
    writes = sorted((e for e in src.peer.events("write") if "rows" in e),
                    key=lambda e: gno(e["gtid"]))
    docs = sorted(target.db.row_changes.find({"op": "snapshot"}),
                  key=lambda d: gno(d["gtid"]))
    state = {t: {} for t in TABLES}
    wi = 0
    for d in docs:
        g = gno(d["gtid"])
        while wi < len(writes) and gno(writes[wi]["gtid"]) <= g:
            w = writes[wi]
            wi += 1
            if w["db"] != src.db:
                continue
            cols = w["columns"]
            keys = [cols.index(k) for k in KEYS[w["table"]]]
            tab = state[w["table"]]

            def key(row):
                return tuple(int(row[i]) if cols[i] in ("id", "a") else row[i] for i in keys)
            for r in w["rows"]:
                if w["kind"] == "insert":
                    tab[key(r)] = int(r[cols.index("v")])
                elif w["kind"] == "delete":
                    del tab[key(r)]
                else:
                    del tab[key(r[0])]
                    tab[key(r[1])] = int(r[1][cols.index("v")])
        k = tuple(d["after"][c] for c in KEYS[d["table"]])
        assert k in state[d["table"]], f"{d['table']} {k}: snapshotted at {d['gtid']}, " \
            "where the source did not have it"
        assert state[d["table"]][k] == d["after"]["v"], \
            f"{d['table']} {k}: v {d['after']['v']} snapshotted at {d['gtid']}, where the " \
            f"source had v {state[d['table']][k]}"
    return len(docs)


def new_writer(src, rows, seed):
    """test_snapshot's Writer on these tables of @src."""
    return Writer(src, rows, seed, db=src.db, keys=KEYS,
                  insert=lambda t: insert_sql(src, t, ignore=True), row=values,
                  key=lambda t, _rng, n: key_of(t, n))


def finish(src, target, d, writer):
    """Once the snapshot is done: the writes stopped, the offset at the source's
    gtid_executed, sdl stopped (exit 0)."""
    wait_for_snapshot_done(target, d, timeout=600)
    writer.stop_flag.set()
    writer.join()
    assert writer.error is None, writer.error
    wait_for_gtids(target, src.executed(), d)
    assert d.stop() == 0, d.output()[-3000:]


def daemon(src, target, tmp_path, mode, chunk_rows):
    d = Daemon(MySQLSdl(tmp_path, src), target, tmp_path, batch="max_rows: 2000, max_delay: 20ms",
               start="snapshot", pipeline=("modes: [audit, mirror]",),
               extra=f"tables:\n  include: ['{src.db}.*']\nsnapshot:\n  mode: {mode}\n"
                     f"  chunk_rows: {chunk_rows}\n")
    DAEMONS.append(d)
    return d


def run_under_writes(src, target, tmp_path, mode, rows, failpoints, chunk_rows):
    """The snapshot of @rows rows per table under writes, sdl killed -9 by each of
    @failpoints in turn (SDL_FAILPOINT: the process kills itself there, mid-snapshot), then
    run to the end; returns the daemon (stopped), the kills that landed, the writes."""
    create(src, rows)
    writer = new_writer(src, rows, seed=11)
    d = daemon(src, target, tmp_path, mode, chunk_rows)
    writer.start()
    killed = 0
    for fp in failpoints:
        d.start(env={"SDL_FAILPOINT": fp})
        rc = d.wait(timeout=120)
        if snapshot_state(target).get("state") == "done":
            break
        assert rc == 137, (fp, rc, d.output()[-3000:])
        assert snapshot_state(target).get("state") == "running", snapshot_state(target)
        killed += 1
    # between the runs, what `sdl status` says of the snapshot under way (from the offset)
    p = subprocess.run([d.sdl.bin, "status", "-c", d.config, "--json"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    d.status_between = json.loads(p.stdout).get("snapshot")
    d.start()
    finish(src, target, d, writer)
    return d, killed, writer.txns


def test_mysql_watermark_snapshot_under_writes_and_kill9(tmp_path, target):
    """The watermark snapshot on MySQL: sdl checks binlog_order_commits, creates
    sdl.watermarks, and reads each chunk with a prepared statement between a low and a high
    watermark while the tables are written to; killed -9 four times mid-snapshot (with two
    chunks in flight, and right after a commit). The audit log rebuilt and every mirror equal
    SELECT *, no key twice, the offset the source's gtid_executed."""
    src = Source(tmp_path)
    d, killed, txns = run_under_writes(
        src, target, tmp_path, "watermark", rows=3000, chunk_rows=100,
        failpoints=["snapshot.chunks_in_flight:3", "writer.after_commit:6",
                    "snapshot.chunks_in_flight:8", "writer.after_commit:3"])
    print(f"MySQL watermark snapshot of 2 x 3000 rows under {txns} writes, {killed} kill -9")
    assert killed == 4, killed
    # the rows estimated in all: the source's TABLE_ROWS of both tables (the peer's are exact
    # counts; a real server's are InnoDB's estimates) when the first was described, ± writes
    snap = d.status_between
    assert snap["state"] == "running" and snap["started"], snap
    lo, hi = (5500, 6600) if src.peer else (3000, 12000)
    assert lo <= snap["rows_estimated"] <= hi, snap
    check_exact(src, target)
    assert target.db.row_changes.count_documents({"db": "sdl"}) == 0
    if src.peer:
        assert check_rows_at_their_gtid(src, target) > 0
        queries = [e["sql"] for e in src.peer.events("query")]
        assert "SELECT @@GLOBAL.binlog_order_commits" in queries
        assert any(q.startswith("INSERT INTO `sdl`.`watermarks`") for q in queries)
        prepared = [e["sql"] for e in src.peer.events("prepare")]
        assert any(" WHERE " in p for p in prepared), prepared
        # every watermark the peer wrote was served to sdl
        assert src.peer.events("execute"), "no chunk was read"


def test_mysql_consistent_snapshot_under_writes_and_kill9(tmp_path, target):
    """snapshot.mode: consistent on MySQL: the shortest global read lock that yields a
    consistent GTID set (FLUSH TABLES WITH READ LOCK; START TRANSACTION WITH CONSISTENT
    SNAPSHOT; @@GLOBAL.gtid_executed; UNLOCK TABLES), the rows read in that transaction, no
    watermark table; killed -9 once mid-snapshot (a new view for the table under way)."""
    src = Source(tmp_path)
    d, killed, txns = run_under_writes(src, target, tmp_path, "consistent", rows=3000,
                                       chunk_rows=100, failpoints=["writer.after_commit:2"])
    print(f"MySQL consistent snapshot of 2 x 3000 rows under {txns} writes, {killed} kill -9")
    assert killed == 1, killed
    check_exact(src, target)
    assert d.output().count("consistent view at position") >= 2, d.output()[-3000:]
    if src.peer:
        assert check_rows_at_their_gtid(src, target) > 0
        events = src.peer.events("query")
        assert not any("watermarks" in e["sql"] for e in events), \
            "a watermark in consistent mode"
        locks = [e for e in events if e["sql"] == "FLUSH TABLES WITH READ LOCK"]
        assert len(locks) >= 2, locks  # a view per start
        queries = [e["sql"] for e in events if e["conn"] == locks[0]["conn"]]
        i = queries.index("FLUSH TABLES WITH READ LOCK")
        assert queries[i + 1].startswith("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        assert queries[i + 2] == "SELECT @@GLOBAL.gtid_executed"
        assert queries[i + 3] == "UNLOCK TABLES"


def test_mysql_on_demand_snapshot_of_a_running_pipeline(tmp_path, target):
    """`sdl snapshot --tables` asks a pipeline that started at `now` on a MySQL source (so
    without the rows its tables held) to snapshot them while they are written to: picked up
    from the offset, read between watermarks, and at the end the audit log and the mirrors
    equal SELECT *, each snapshot row the source's row at its GTID."""
    src = Source(tmp_path)
    create(src, 2000)
    d = Daemon(MySQLSdl(tmp_path, src), target, tmp_path, batch="max_rows: 2000, max_delay: 20ms",
               start="now", pipeline=("modes: [audit, mirror]",),
               extra=f"tables:\n  include: ['{src.db}.*']\nsnapshot:\n  chunk_rows: 100\n")
    DAEMONS.append(d)
    d.start()
    deadline = time.time() + 60
    while not offset(target):
        assert time.time() < deadline and d.proc.poll() is None, d.output()[-3000:]
        time.sleep(0.05)
    assert target.db.row_changes.count_documents({}) == 0  # the existing rows are not changes
    writer = new_writer(src, 2000, seed=17)
    writer.start()
    p = subprocess.run([d.sdl.bin, "snapshot", "-c", d.config, "--tables", f"{src.db}.*"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    finish(src, target, d, writer)
    snap = check_exact(src, target)
    assert snap["rows"] > 0 and snap["tables"] == [f"{src.db}.t_comp", f"{src.db}.t_int"], snap
    if src.peer:
        assert check_rows_at_their_gtid(src, target) == snap["rows"]
