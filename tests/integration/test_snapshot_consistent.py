"""snapshot.mode: consistent (issue 14, DESIGN.md §9) for read-only sources: no watermark
table, only SELECT (and the replication grants). The snapshot's rows come from one
`START TRANSACTION WITH CONSISTENT SNAPSHOT` whose binlog position MariaDB names
(Binlog_snapshot_file/position → BINLOG_GTID_POS()); they go into the target when the stream
is at that position, before any change after it. After a kill -9 the view is gone: the table
under way continues after its last committed key from a new view, whose rows go in where the
stream reaches that view's position. The oracle is the source: the audit log rebuilt
(snapshot rows, then changes, in commit order) and the mirror equal `SELECT *` through pymysql,
and no key is snapshotted twice."""
import pathlib
import threading
import time

import pytest

from runlib import Daemon, offset, wait_for_offset
from test_snapshot import (DB, TABLES, Writer, compare, create, key_of_doc, rebuild,
                           select_all, seqno, snapshot_state)

RO_GRANTS = ["REPLICATION SLAVE", "REPLICATION CLIENT", "BINLOG MONITOR", "SELECT"]


def read_only_user(mariadb):
    mariadb.create_repl_user(user="ro", grants=RO_GRANTS)
    grants = " ".join(r[0] for r in mariadb.sql("SHOW GRANTS FOR 'ro'@'%'"))
    assert "INSERT" not in grants and "UPDATE" not in grants and "CREATE" not in grants, grants


def consistent_daemon(sdl, target, tmp_path, start, include, chunk_rows, name="run.yaml"):
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 2000, max_delay: 20ms", start=start,
               config_name=name, pipeline=("modes: [audit, mirror]",),
               extra=f"tables:\n  include: ['{include}']\nsnapshot:\n  mode: consistent\n"
                     f"  chunk_rows: {chunk_rows}\nmirror:\n  no_primary_key: all_columns\n")
    cfg = pathlib.Path(d.config)
    cfg.write_text(cfg.read_text().replace("  user: repl\n", "  user: ro\n"))
    return d


class Placement(threading.Thread):
    """Samples, while sdl runs, the GTIDs of the snapshot documents committed so far and then
    the offset: a snapshot row belongs at its view's position, so no snapshot document may be
    committed before the offset has reached the GTID it names (a chunk emitted before the
    stream got to its view would be)."""

    def __init__(self, target):
        super().__init__(daemon=True)
        self.target, self.stop_flag, self.samples, self.bad = target, threading.Event(), 0, []

    def run(self):
        while not self.stop_flag.is_set():
            gtids = self.target.db.row_changes.distinct("gtid", {"op": "snapshot"})
            o = offset(self.target)
            if gtids and o and o.get("gtid"):
                self.samples += 1
                ahead = [g for g in gtids if seqno(g) > seqno(o["gtid"])]
                if ahead:
                    self.bad.append((ahead, o["gtid"]))
            time.sleep(0.005)


def wait_done(d, target, ntables=None, timeout=300):
    deadline = time.time() + timeout
    while snapshot_state(target).get("state") != "done" or \
            (ntables is not None and snapshot_state(target).get("done") != ntables):
        assert time.time() < deadline, f"snapshot did not finish: {snapshot_state(target)}"
        assert d.proc.poll() is None, d.output()[-3000:]
        time.sleep(0.05)


def test_consistent_snapshot_read_only_under_writes_and_kill9(sdl, mariadb, target, tmp_path):
    """Three tables (a primary key, a composite key, only a unique key) of existing rows of
    every type family, written to throughout, read by a user that may not write anywhere;
    sdl killed -9 once mid-snapshot. The restart continues the table under way after its
    last committed key from a new view: no key twice, the audit log and the mirror equal
    SELECT *, the offset exact."""
    read_only_user(mariadb)
    rows = 4000
    create(mariadb, rows)
    writer = Writer(mariadb, rows, seed=13)
    d = consistent_daemon(sdl, target, tmp_path, "snapshot", f"{DB}.*", chunk_rows=100)
    placement = Placement(target)
    writer.start()
    placement.start()
    d.start()
    # kill -9 once some chunks are committed, while tables remain
    deadline = time.time() + 120
    while snapshot_state(target).get("rows", 0) < 2 * 100:
        assert time.time() < deadline and d.proc.poll() is None, d.output()[-3000:]
        time.sleep(0.005)
    d.kill9()
    killed_at = snapshot_state(target)
    assert killed_at.get("state") == "running", killed_at
    d.start()
    wait_done(d, target)
    writer.stop_flag.set()
    writer.join()
    placement.stop_flag.set()
    placement.join()
    assert placement.samples > 0 and not placement.bad, placement.bad[:3]
    assert writer.error is None, writer.error
    end = mariadb.gtid_binlog_pos()
    wait_for_offset(target, end, d, timeout=300)
    assert d.stop() == 0, d.output()[-3000:]
    out = d.output()
    # two views at least: the first start's, and the restart's (the first is gone with its
    # connection); one more when a table's CREATE_TIME is the view's second (the tables were
    # just created: sdl cannot tell they are older, DESIGN.md §9)
    assert out.count("consistent view at position") >= 2, out[-3000:]
    o = offset(target)
    snap = o["snapshot"]
    assert snap["state"] == "done" and snap["done"] == 3, snap
    assert target.db.row_changes_staging.count_documents({}) == 0
    assert o["rows_applied"] == target.db.row_changes.count_documents({}), o
    total = 0
    for t in TABLES:
        want = select_all(mariadb, t)
        have, n = rebuild(target, t)  # asserts that no key is snapshotted twice
        total += n
        compare(t, want, have, "audit log")
        mirror = {key_of_doc(m, t): {k: v for k, v in m.items() if k != "_id"}
                  for m in target.db[f"{DB}.{t}"].find()}
        compare(t, want, mirror, "mirror")
    assert snap["rows"] == total, (snap, total)
    # the chunks committed before the kill are kept, not read again: their documents are the
    # first view's, the rest the second's
    views = target.db.row_changes.distinct("gtid", {"op": "snapshot"})
    print(f"consistent snapshot of 3 x {rows} rows under {writer.txns} writes, views {views}, "
          f"killed at {killed_at.get('rows')} rows")
    assert 1 <= len(views) <= 2, views
    ids = [x["_id"] for x in target.db.row_changes.find({"op": "snapshot"}, {"_id": 1})]
    assert len(ids) == len(set(ids)) == total
    # nothing was written to the source by sdl: no watermark table
    assert not mariadb.sql("SHOW DATABASES LIKE 'sdl'"), "sdl wrote to a read-only source"


def test_consistent_on_demand_snapshot_of_a_running_pipeline(sdl, mariadb, target, tmp_path):
    """`sdl snapshot --tables` in consistent mode on a pipeline started at `now` (so without
    the rows its table held): the request opens a view at the source's current position, the
    stream reads on to it, and the table's rows go in there. Writes go on throughout; at the
    end the audit log and the mirror equal SELECT *."""
    read_only_user(mariadb)
    mariadb.sql("DROP DATABASE IF EXISTS odc", "CREATE DATABASE odc",
                "CREATE TABLE odc.a (id INT PRIMARY KEY, v INT, s VARCHAR(20))")
    c = mariadb.root()
    with c.cursor() as cur:
        cur.executemany("INSERT INTO odc.a VALUES (%s, %s, %s)",
                        [(i, i % 97, f"s{i}") for i in range(3000)])
        cur.execute("COMMIT")
    c.close()
    d = consistent_daemon(sdl, target, tmp_path, "now", "odc.*", chunk_rows=100,
                          name="od.yaml")
    d.start()
    deadline = time.time() + 60
    while not offset(target):
        assert time.time() < deadline and d.proc.poll() is None, d.output()[-3000:]
        time.sleep(0.05)
    stop = threading.Event()

    def writes():
        w = mariadb.root()
        n = 3000
        with w.cursor() as cur:
            while not stop.is_set():
                cur.execute("UPDATE odc.a SET v = v + 1 WHERE id = %s", (n % 3000,))
                cur.execute("INSERT INTO odc.a VALUES (%s, 0, 'new')", (n,))
                cur.execute("DELETE FROM odc.a WHERE id = %s", ((n * 7) % 3000,))
                cur.execute("COMMIT")
                n += 1
                time.sleep(0.002)
        w.close()
    th = threading.Thread(target=writes, daemon=True)
    th.start()
    time.sleep(0.3)
    placement = Placement(target)
    placement.start()
    sdl.run("snapshot", "-c", d.config, "--tables", "odc.a", check=True)
    wait_done(d, target, ntables=1)
    time.sleep(0.3)
    stop.set()
    th.join()
    placement.stop_flag.set()
    placement.join()
    assert placement.samples > 0 and not placement.bad, placement.bad[:3]
    wait_for_offset(target, mariadb.gtid_binlog_pos(), d)
    assert d.stop() == 0, d.output()[-3000:]
    assert "consistent view at position" in d.output(), d.output()[-3000:]
    c = mariadb.root()
    with c.cursor() as cur:
        cur.execute("SELECT id, v, s FROM odc.a")
        want = {(r[0],): {"id": r[0], "v": r[1], "s": r[2]} for r in cur.fetchall()}
    c.close()
    mirror = {(m["_id"],): {k: v for k, v in m.items() if k != "_id"}
              for m in target.db["odc.a"].find()}
    compare("a", want, mirror, "mirror")
    docs = list(target.db.row_changes.find({"db": "odc", "table": "a"}))
    docs.sort(key=lambda x: (seqno(x["gtid"]), x["seq"]))
    state, seen = {}, set()
    for x in docs:
        if x["op"] == "snapshot":
            k = (x["after"]["id"],)
            assert k not in seen, f"key {k} snapshotted twice"
            seen.add(k)
            state[k] = x["after"]
        elif x["op"] in ("insert", "update"):
            if x["op"] == "update":
                state.pop((x["before"]["id"],), None)
            state[(x["after"]["id"],)] = x["after"]
        else:
            state.pop((x["before"]["id"],), None)
    compare("a", want, state, "audit log")
    assert seen, "no snapshot rows"


@pytest.mark.parametrize("ddl", ["COPY", "INSTANT", "DROP"])
def test_a_table_changed_after_the_view_opened_is_read_from_a_new_view(sdl, mariadb, target,
                                                                       tmp_path, ddl):
    """A table the consistent view has not read yet is changed after the view opened (the
    view holds no lock on it). Its CREATE_TIME, which an ALTER renews, says so before it is
    read: a copying ALTER would fail the read (error 1412, "Table definition has changed"), an
    instant one would let the view read it in its new shape, placed before the ALTER. Then
    sdl opens a new view, the stream reads on to it (past the ALTER), and the table is read
    from there with its new column. A table dropped is found gone when described, and left
    out. The table read before keeps its rows. The audit log and the mirrors
    equal SELECT *, no key twice. The view is held still before its first chunk of ddlc.a by a
    LOCK TABLES ddlc.a WRITE of the test (its SELECT waits for the metadata lock) meanwhile."""
    read_only_user(mariadb)
    mariadb.sql("DROP DATABASE IF EXISTS ddlc", "CREATE DATABASE ddlc",
                "CREATE TABLE ddlc.a (id INT PRIMARY KEY, s VARCHAR(20))",
                "CREATE TABLE ddlc.b (id INT PRIMARY KEY, s VARCHAR(20))",
                "INSERT INTO ddlc.a SELECT seq, CONCAT('a', seq) FROM ddlc.seq_1_to_2000",
                "INSERT INTO ddlc.b SELECT seq, CONCAT('b', seq) FROM ddlc.seq_1_to_500")
    time.sleep(1.1)  # CREATE_TIME has whole seconds: the tables older than the view
    d = consistent_daemon(sdl, target, tmp_path, "snapshot", "ddlc.*", chunk_rows=20)
    lock = mariadb.root()
    with lock.cursor() as cur:
        cur.execute("LOCK TABLES ddlc.a WRITE")
        d.start()
        # the view is open, its SELECT of ddlc.a waits: ddlc.b is not locked by it
        deadline = time.time() + 60
        while not mariadb.sql("SELECT 1 FROM information_schema.PROCESSLIST WHERE STATE = "
                              "'Waiting for table metadata lock' AND INFO LIKE 'SELECT %ddlc%'"):
            assert time.time() < deadline and d.proc.poll() is None, d.output()[-3000:]
            time.sleep(0.02)
        assert "consistent view at position" in d.output(), d.output()[-3000:]
        if ddl == "DROP":
            mariadb.sql("DROP TABLE ddlc.b")
        else:
            mariadb.sql("ALTER TABLE ddlc.b ADD COLUMN extra INT NOT NULL DEFAULT 7, "
                        f"ALGORITHM={ddl}")
        ddl_at = mariadb.gtid_binlog_pos()
        cur.execute("UNLOCK TABLES")
    lock.close()
    wait_done(d, target, ntables=2, timeout=300)
    wait_for_offset(target, mariadb.gtid_binlog_pos(), d)
    assert d.stop() == 0, d.output()[-3000:]
    out = d.output()
    if ddl == "DROP":  # found gone when described: left out, no new view needed
        assert "table 'ddlc.b' no longer exists; it is left out" in out, out[-3000:]
        assert out.count("consistent view at position") == 1, out[-3000:]
    else:
        assert "table ddlc.b changed after the consistent view opened" in out, out[-3000:]
        assert out.count("consistent view at position") == 2, out[-3000:]
    tables = (("a", ("id", "s")),) + ((("b", ("id", "s", "extra")),) if ddl != "DROP" else ())
    for t, cols in tables:
        c = mariadb.root()
        with c.cursor() as cur:
            cur.execute(f"SELECT {', '.join(cols)} FROM ddlc.{t}")
            want = {(r[0],): dict(zip(cols, r)) for r in cur.fetchall()}
        c.close()
        have, n = rebuild(target, t, db="ddlc", keys=["id"])
        assert n == len(want), (t, n, len(want))
        compare(t, want, have, "audit log")
        mirror = {(m["_id"],): {k: v for k, v in m.items() if k != "_id"}
                  for m in target.db[f"ddlc.{t}"].find()}
        compare(t, want, mirror, "mirror")
    views = target.db.row_changes.distinct("gtid", {"op": "snapshot", "table": "b"})
    if ddl == "DROP":
        assert views == [], views
    else:  # ddlc.b's rows come from the second view: after the ALTER in the log
        assert len(views) == 1 and seqno(views[0]) >= seqno(ddl_at), (views, ddl_at)
