"""Snapshots of existing rows (issue 14, DESIGN.md §9): `pipeline.start: snapshot` reads the
rows the tables already hold in chunks between DBLog watermarks while the binlog streams, and
commits each chunk with the offset. The oracle is the source itself: after the run, the state
rebuilt from row_changes (snapshot rows, then the changes, in commit order) and every mirror
collection must equal `SELECT *` of each table, read with pymysql and compared through the
documented type mapping (README "Types"), never through sdl's output."""
import datetime
import decimal
import json
import multiprocessing
import random
import threading
import time

import pymongo
import pymysql
from bson.decimal128 import Decimal128

from runlib import Daemon, offset, wait_for_offset

# every type family: integers (signed, unsigned, 64-bit), DECIMAL, FLOAT, DOUBLE, DATE,
# DATETIME, TIMESTAMP, TIME, YEAR, text, binary, ENUM, SET, JSON, BIT
COLUMNS = """
  v INT NOT NULL DEFAULT 0,
  ti TINYINT, su INT UNSIGNED, bi BIGINT, de DECIMAL(12,3), fl FLOAT, db DOUBLE,
  d DATE, dt DATETIME(3), ts TIMESTAMP(3) NULL, tm TIME, y YEAR,
  s VARCHAR(40), tx TEXT, bl BLOB, vb VARBINARY(16), en ENUM('red','green','blue'),
  st SET('a','b','c'), js JSON, bt BIT(8)
"""
TABLES = {
    "t_int": "id INT PRIMARY KEY",
    "t_comp": "a INT NOT NULL, b VARCHAR(12) NOT NULL, PRIMARY KEY (a, b)",
    # no PRIMARY KEY: the server takes its first unique key of NOT NULL columns as the
    # primary key (binlog images name it so), and so does the snapshot, which chunks by it
    "t_uniq": "u BIGINT NOT NULL, w INT NULL, UNIQUE KEY wk (w), UNIQUE KEY uk (u)",
}
KEYS = {"t_int": ["id"], "t_comp": ["a", "b"], "t_uniq": ["u"]}
DB = "snap"


def values(rng, key):
    """One row's values (key columns first, then COLUMNS' in order) as SQL parameters."""
    return (*key, rng.randint(0, 1000), rng.randint(-128, 127), rng.randint(0, 4294967295),
            rng.randint(-2**63, 2**63 - 1), decimal.Decimal(rng.randint(-10**11, 10**11)) / 1000,
            rng.choice([1.5, -0.25, 1.1, 3.0e10]), rng.randint(-10**6, 10**6) / 8,
            rng.choice([None, f"20{rng.randint(10, 30)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"]),
            f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)} 1{rng.randint(0, 9)}:34:56.{rng.randint(0, 999):03d}",
            rng.choice([None, "2021-03-04 05:06:07.250"]),
            rng.choice(["12:34:56", "-838:59:59", "100:00:01"]), rng.randint(1901, 2155),
            rng.choice([None, "héllo", "€uro", ""]), rng.choice(["x" * rng.randint(0, 300), None]),
            rng.choice([None, rng.randbytes(rng.randint(0, 40))]), rng.randbytes(rng.randint(0, 16)),
            rng.choice(["red", "green", "blue", None]), rng.choice(["", "a", "a,c", "a,b,c"]),
            rng.choice([None, json.dumps({"k": rng.randint(0, 9), "l": [1, "two", None]})]),
            rng.randint(0, 255))


def key_of(table, rng, n):
    if table == "t_int":
        return (n,)
    if table == "t_comp":
        return (n // 7, f"k{n % 7}")
    return (n * 3 - 10**6, None)  # u, and w (NULL: the unique key that cannot be the key)


def insert_sql(table):
    ncols = {"t_int": 1, "t_comp": 2, "t_uniq": 2}[table] + 20
    return f"INSERT INTO {DB}.{table} VALUES ({', '.join(['%s'] * ncols)})"


def create(mariadb, rows, seed=7):
    """The tables with @rows rows each (bulk inserts; these are the existing rows)."""
    mariadb.sql(f"DROP DATABASE IF EXISTS {DB}", f"CREATE DATABASE {DB}",
                *[f"CREATE TABLE {DB}.{t} ({k}, {COLUMNS})" for t, k in TABLES.items()])
    rng = random.Random(seed)
    c = mariadb.root()
    try:
        with c.cursor() as cur:
            cur.execute("SET SESSION time_zone = '+00:00'")
            for t in TABLES:
                batch = [values(rng, key_of(t, rng, n)) for n in range(rows)]
                for i in range(0, rows, 2000):
                    cur.executemany(insert_sql(t), batch[i:i + 2000])
                    cur.execute("COMMIT")
    finally:
        c.close()


class Writer(threading.Thread):
    """Inserts, updates (of a version column and of keys) and deletes on every table while
    the snapshot runs, one small transaction after another, until stopped. @mariadb: any
    source with root() (a pymysql connection); @db, @keys, @insert (a table's INSERT IGNORE
    with parameters), @row (values(rng, key)) and @key (key_of(table, rng, n)): the tables'."""

    def __init__(self, mariadb, rows, seed, db=DB, keys=KEYS, insert=None, row=None, key=None):
        super().__init__(daemon=True)
        self.mariadb, self.rows, self.rng = mariadb, rows, random.Random(seed)
        self.db, self.keys = db, keys
        self.insert = insert or (lambda t: insert_sql(t).replace("INSERT", "INSERT IGNORE"))
        self.row, self.key = row or values, key or key_of
        self.stop_flag = threading.Event()
        self.txns = 0
        self.error = None

    def run(self):
        try:
            c = self.mariadb.root()
            db, key_of = self.db, self.key
            with c.cursor() as cur:
                cur.execute("SET SESSION time_zone = '+00:00'")
                nxt = self.rows + 1
                while not self.stop_flag.is_set():
                    t = self.rng.choice(list(self.keys))
                    k = self.keys[t][0]
                    n = self.rng.randrange(nxt)
                    op = self.rng.choice(["ins", "upd", "upd", "upd", "del", "key"])
                    if op == "ins":
                        cur.execute(self.insert(t), self.row(self.rng, key_of(t, self.rng, nxt)))
                        nxt += 1
                    elif op == "upd":
                        cur.execute(f"UPDATE {db}.{t} SET v = v + 1, s = %s WHERE {k} BETWEEN %s AND %s",
                                    (f"u{self.txns}", key_of(t, self.rng, n)[0],
                                     key_of(t, self.rng, n + 3)[0]))
                    elif op == "del":
                        cur.execute(f"DELETE FROM {db}.{t} WHERE {k} = %s", key_of(t, self.rng, n)[:1])
                    else:  # the key moves: to the end of the table, or to the start
                        dest = key_of(t, self.rng, nxt if self.rng.random() < 0.5 else -nxt)[0]
                        cur.execute(f"UPDATE IGNORE {db}.{t} SET {k} = %s WHERE {k} = %s",
                                    (dest, key_of(t, self.rng, n)[0]))
                        nxt += 1
                    cur.execute("COMMIT")
                    self.txns += 1
                    time.sleep(0.002)
            c.close()
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e


# ---- the oracle: SELECT * through the documented mapping ---------------------------------------

def mapped(col, v):
    """A pymysql value as the documented mapping stores it (README "Types")."""
    if v is None:
        return None
    if isinstance(v, decimal.Decimal):
        return Decimal128(str(v))
    if isinstance(v, datetime.timedelta):  # TIME → "[-]HH:MM:SS"
        secs = int(v.total_seconds())
        sign = "-" if secs < 0 else ""
        secs = abs(secs)
        return f"{sign}{secs // 3600:02d}:{secs % 3600 // 60:02d}:{secs % 60:02d}"
    if isinstance(v, datetime.datetime):
        return v.replace(microsecond=v.microsecond // 1000 * 1000)
    if isinstance(v, datetime.date):
        return datetime.datetime(v.year, v.month, v.day)
    if col == "st":  # SET → array of members
        return v.split(",") if v else []
    if col == "js":
        return json.loads(v)
    if col == "bt":  # BIT → int64
        return int.from_bytes(v, "big")
    if col == "en" and v == "":
        return ""
    return v


SPECIAL = ("st", "js", "bt", "en")  # the columns mapped() treats by name
PLAIN = (int, float, str, bytes)


def select_all(mariadb, table, db=DB, keys=None):
    """SELECT * of @db.@table through the documented mapping, by key (@keys: KEYS')."""
    c = mariadb.root()
    try:
        with c.cursor() as cur:
            cur.execute("SET SESSION time_zone = '+00:00'")
            cur.execute(f"SELECT * FROM {db}.{table}")
            names = [d[0] for d in cur.description]
            keys = [names.index(k) for k in (keys or KEYS[table])]
            cols = [(n, n in SPECIAL) for n in names]
            # mapped() returns None, and an int, float, str or bytes of a column not in
            # SPECIAL, as it is: those skip the call
            return {tuple(r[i] for i in keys):
                    {n: v if v is None or (not sp and type(v) in PLAIN) else mapped(n, v)
                     for (n, sp), v in zip(cols, r)} for r in cur.fetchall()}
    finally:
        c.close()


def seqno(gtid):
    return int(gtid.split("-")[2])


def rebuild(target, table, docs=None, db=DB, keys=None, order=seqno):
    """The table as row_changes says: snapshot rows, then the changes, in commit order, the way
    a consumer applies them (a row changed inside a chunk's window is not in the snapshot: its
    change carries it, so a delete or update may name a row the log has not shown yet).
    @docs: the table's row_changes documents if already read, else read here; @keys: the
    table's key columns (KEYS'); @order: a document's GTID -> its place in the commit order."""
    if docs is None:
        docs = list(target.db.row_changes.find({"db": db, "table": table}))
    keys = keys or KEYS[table]
    docs.sort(key=lambda d: (order(d["gtid"]), d["seq"]))
    state = {}
    seen = set()
    for d in docs:
        if d["op"] == "ddl":
            continue  # a statement, not a row
        img = d.get("after") or d.get("before")
        k = tuple(img[c] for c in keys)
        if d["op"] == "snapshot":
            assert (k not in seen), f"{table}: key {k} snapshotted twice"
            seen.add(k)
            state[k] = d["after"]
        elif d["op"] == "insert":
            state[k] = d["after"]
        elif d["op"] == "update":
            state.pop(tuple(d["before"][c] for c in keys), None)
            state[tuple(d["after"][c] for c in keys)] = d["after"]
        elif d["op"] == "delete":
            state.pop(k, None)
    return state, len(seen)


class Root:
    """mariadb.root() of the test's mariadbd, from its socket (for another process)."""

    def __init__(self, sock):
        self.sock = sock

    def root(self):
        return pymysql.connect(unix_socket=self.sock, user="root", password="",
                               autocommit=True, charset="utf8mb4")


def check_table(uri, database, sock, table):
    """@table's checks: the state rebuilt from the audit log, and the mirror collection, equal
    SELECT *; returns the number of snapshot rows (run in a process of its own)."""
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10000)
    try:
        db = client[database]
        want = select_all(Root(sock), table)
        have, n = rebuild(None, table, list(db.row_changes.find({"db": DB, "table": table})))
        compare(table, want, have, "audit log")
        mirror = {key_of_doc(m, table): {k: v for k, v in m.items() if k != "_id"}
                  for m in db[f"{DB}.{table}"].find()}
        compare(table, want, mirror, "mirror")
        return n
    finally:
        client.close()


def key_of_doc(d, table):
    if isinstance(d["_id"], dict):
        return tuple(d["_id"][c] for c in KEYS[table])
    return (d["_id"],)


def compare(table, want, have, what):
    """Every row of @want in @have and no other, equal field by field (Decimal128 by value)."""
    def canon(v):
        return {k: (x.to_decimal() if isinstance(x, Decimal128) else x) for k, x in v.items()}
    missing = [k for k in want if k not in have]
    extra = [k for k in have if k not in want]
    assert not missing, f"{what} {table}: {len(missing)} rows missing, e.g. {missing[:3]}"
    assert not extra, f"{what} {table}: {len(extra)} rows too many, e.g. {extra[:3]}"
    for k, row in want.items():
        # equal as they are (the same Decimal128 bits are the same value: none is a NaN, no
        # column here can hold one), else by value
        assert have[k] == row or canon(have[k]) == canon(row), \
            f"{what} {table} {k}:\n have {have[k]}\n want {row}"


def snapshot_state(target):
    o = offset(target)
    return (o or {}).get("snapshot") or {}


def wait_for_log(daemon, text, timeout=60):
    deadline = time.time() + timeout
    while text not in daemon.output():
        assert time.time() < deadline and daemon.proc.poll() is None, daemon.output()[-3000:]
        time.sleep(0.05)


def grant_watermarks(mariadb):
    """The documented set-up: the watermark table, and INSERT/UPDATE on it for sdl's user."""
    mariadb.sql("CREATE DATABASE IF NOT EXISTS sdl",
                "CREATE TABLE IF NOT EXISTS sdl.watermarks (pipeline VARCHAR(64) NOT NULL "
                "PRIMARY KEY, token VARCHAR(64) NOT NULL) ENGINE=InnoDB",
                "GRANT INSERT, UPDATE ON sdl.watermarks TO 'repl'@'%'")


def run_snapshot(sdl, mariadb, target, tmp_path, rows, kills, chunk_rows, modes):
    grant_watermarks(mariadb)
    create(mariadb, rows)
    writer = Writer(mariadb, rows, seed=11)
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 2000, max_delay: 20ms", start="snapshot",
               pipeline=(f"modes: [{modes}]",),
               extra=f"tables:\n  include: ['{DB}.*']\nsnapshot:\n  chunk_rows: {chunk_rows}\n"
                     f"mirror:\n  no_primary_key: all_columns\n")
    t0 = time.time()
    d.start()
    writer.start()
    rng = random.Random(5)
    killed_mid = 0
    for _ in range(kills):
        # wait until a chunk or two is committed since the last start, then kill -9
        before = snapshot_state(target).get("rows", 0)
        deadline = time.time() + 60
        while time.time() < deadline and snapshot_state(target).get("rows", 0) == before \
                and snapshot_state(target).get("state") != "done":
            assert d.proc.poll() is None, d.output()[-3000:]
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.3))
        if snapshot_state(target).get("state") == "done":
            break
        d.kill9()
        killed_mid += 1
        d.start()
    deadline = time.time() + 600
    while snapshot_state(target).get("state") != "done":
        assert time.time() < deadline, f"snapshot did not finish: {snapshot_state(target)}"
        assert d.proc.poll() is None, d.output()[-3000:]
        time.sleep(0.1)
    took = time.time() - t0
    writer.stop_flag.set()
    writer.join()
    assert writer.error is None, writer.error
    end = mariadb.gtid_binlog_pos()
    wait_for_offset(target, end, d, timeout=300)
    assert d.stop() == 0, d.output()[-3000:]
    return d, killed_mid, took, writer.txns


def test_snapshot_exact_under_writes_and_kill9(sdl, mariadb, target, tmp_path):
    """Three tables (a primary key, a composite key, only a unique key) of existing rows of
    every type family, written to during the snapshot, sdl killed -9 mid-snapshot again and
    again: the audit log rebuilt (snapshot rows, then changes) and every mirror collection
    equal SELECT *; no key snapshotted twice; offset and staging exact. The issue's size:
    3 × 100,000 rows."""
    rows = 100000
    t0 = time.time()
    d, killed, took, txns = run_snapshot(sdl, mariadb, target, tmp_path, rows, kills=6,
                                         chunk_rows=512, modes="audit, mirror")
    t1 = time.time()
    print(f"snapshot of 3 x {rows} rows under {txns} writes, {killed} kill -9: {took:.1f}s "
          f"(set-up, snapshot and catching up: {t1 - t0:.1f}s)")
    assert killed >= 5, f"only {killed} kill -9 landed mid-snapshot"
    o = offset(target)
    snap = o["snapshot"]
    assert snap["state"] == "done" and snap["done"] == 3, snap
    assert snap["tables"] == [f"{DB}.t_comp", f"{DB}.t_int", f"{DB}.t_uniq"], snap
    assert target.db.row_changes_staging.count_documents({}) == 0
    # every row document counted once in the offset (the tables' DDL came before the start)
    assert o["rows_applied"] == target.db.row_changes.count_documents({}), o
    # each table checked in a process of its own (reading and decoding 3 x 100,000 rows from
    # both sides is Python's work, one core each)
    with multiprocessing.get_context("spawn").Pool(len(TABLES)) as pool:
        counts = pool.starmap(check_table, [(target.uri, target.database, mariadb.sock, t)
                                            for t in TABLES])
    total = sum(counts)
    assert snap["rows"] == total, (snap, total)
    docs = target.db.row_changes.find({"op": "snapshot"}, limit=1)
    doc = next(iter(docs))
    assert doc["snapshot"]["id"] == snap["id"] and doc["snapshot"]["chunk"] >= 1, doc
    # sdl status reads the progress from the offset
    st = sdl.run("status", "-c", d.config, check=True).stdout
    assert f"{snap['id']} done: {total} rows of 3 tables committed" in st, st
    # the watermark table's rows are never row changes
    assert target.db.row_changes.count_documents({"db": "sdl"}) == 0
    print(f"checks: {time.time() - t1:.1f}s")


def check_exact(mariadb, target):
    """Every table's audit log rebuilt and its mirror equal SELECT *, each key snapshotted
    once, the offset and staging exact; the snapshot's progress."""
    o = offset(target)
    snap = o["snapshot"]
    assert snap["state"] == "done" and snap["done"] == 3, snap
    assert target.db.row_changes_staging.count_documents({}) == 0
    assert o["rows_applied"] == target.db.row_changes.count_documents({}), o
    total = 0
    for t in TABLES:
        want = select_all(mariadb, t)
        have, n = rebuild(target, t)
        total += n
        compare(t, want, have, "audit log")
        mirror = {key_of_doc(m, t): {k: v for k, v in m.items() if k != "_id"}
                  for m in target.db[f"{DB}.{t}"].find()}
        compare(t, want, mirror, "mirror")
    assert snap["rows"] == total, (snap, total)
    return snap


def test_kill9_with_two_chunks_in_flight(sdl, mariadb, target, tmp_path):
    """The reader keeps two chunks in flight (the next one read while the stream catches up
    with the previous one's high watermark, DESIGN.md §9). sdl dies (SDL_FAILPOINT
    snapshot.chunks_in_flight: right after the second chunk's high watermark, the first not yet
    emitted) again and again under writes; each restart goes on after the last committed key,
    not after the last key read: at the end the audit log and the mirrors equal SELECT *, no
    key snapshotted twice, none missing."""
    rows = 3000
    grant_watermarks(mariadb)
    create(mariadb, rows)
    writer = Writer(mariadb, rows, seed=13)
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 2000, max_delay: 20ms", start="snapshot",
               pipeline=("modes: [audit, mirror]",),
               extra=f"tables:\n  include: ['{DB}.*']\nsnapshot:\n  chunk_rows: 100\n"
                     f"mirror:\n  no_primary_key: all_columns\n")
    writer.start()
    kills = 0
    for n in (2, 5, 3, 9, 4, 7):
        d.start(env={"SDL_FAILPOINT": f"snapshot.chunks_in_flight:{n}"})
        rc = d.wait(timeout=120)
        if snapshot_state(target).get("state") == "done":
            break
        assert rc == 137, (rc, d.output()[-3000:])
        kills += 1
    assert kills >= 5, kills
    d.start()
    wait_for_snapshot_done(target, d, timeout=300)
    writer.stop_flag.set()
    writer.join()
    assert writer.error is None, writer.error
    wait_for_offset(target, mariadb.gtid_binlog_pos(), d, timeout=300)
    assert d.stop() == 0, d.output()[-3000:]
    check_exact(mariadb, target)


def test_a_failed_high_watermark_write_stops_sdl_instead_of_stalling(sdl, mariadb, target,
                                                                     tmp_path):
    """A chunk's high watermark is sent without waiting for the server's reply (DESIGN.md §9
    "Chunks in flight"). When that write fails (SDL_FAILPOINT snapshot.high_watermark_fails:
    a statement the server refuses instead) on a table's last chunk, after which no further
    chunk is read, sdl must still read the reply and stop naming the watermark table, rather
    than wait for a watermark the binlog will never show. A restart snapshots the rows once."""
    grant_watermarks(mariadb)
    mariadb.sql("DROP DATABASE IF EXISTS hw", "CREATE DATABASE hw",
                "CREATE TABLE hw.t (id INT PRIMARY KEY, s VARCHAR(20))",
                "INSERT INTO hw.t SELECT seq, CONCAT('r', seq) FROM hw.seq_1_to_50")
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 200, max_delay: 5ms", start="snapshot",
               extra="tables:\n  include: ['hw.*']\nsnapshot:\n  chunk_rows: 100\n")
    d.start(env={"SDL_FAILPOINT": "snapshot.high_watermark_fails:1"})
    rc = d.wait(timeout=60)  # a stall would wait forever: TimeoutExpired
    assert rc not in (0, 137), (rc, d.output()[-3000:])
    assert "writing a snapshot watermark into sdl.watermarks" in d.output(), d.output()[-3000:]
    assert target.db.row_changes.count_documents({"op": "snapshot"}) == 0
    d.start()
    wait_for_snapshot_done(target, d)
    assert d.stop() == 0, d.output()[-3000:]
    ids = sorted(x["after"]["id"] for x in target.db.row_changes.find({"op": "snapshot"}))
    assert ids == list(range(1, 51)), ids


def test_year_counts_as_numeric_in_mariadb_signedness(sdl, mariadb):
    """Found by the snapshot's every-type table: MariaDB's SIGNEDNESS metadata has a bit for
    YEAR columns too; sdl counted 8 numeric columns (one byte) where the server sent 9 bits
    (two bytes) and stopped (or, with fewer columns, could read another column's sign)."""
    start = mariadb.gtid_binlog_pos()
    mariadb.sql("CREATE DATABASE IF NOT EXISTS yr",
                "CREATE OR REPLACE TABLE yr.t (a1 INT, a2 INT, a3 INT, a4 INT, a5 INT, a6 INT, "
                "a7 INT, y YEAR, z INT UNSIGNED)",
                "INSERT INTO yr.t (a1, y, z) VALUES (-1, 2024, 4294967295)")
    docs = [d for d in sdl.tail(start=start) if d["op"] == "insert"]
    assert [d["after"] for d in docs] == [{"a1": -1, "a2": None, "a3": None, "a4": None,
                                           "a5": None, "a6": None, "a7": None, "y": 2024,
                                           "z": 4294967295}]


def test_on_demand_snapshot_and_a_request_during_a_snapshot(sdl, mariadb, target, tmp_path):
    """`sdl snapshot --tables` asks a running pipeline (started at `now`, so without the rows
    its tables held) to snapshot od.a; a second request (od.b) arrives while od.a is still
    being read and is appended to that snapshot. Writes go on throughout. At the end both
    mirrors and the audit log equal SELECT *."""
    grant_watermarks(mariadb)
    mariadb.sql("DROP DATABASE IF EXISTS od", "CREATE DATABASE od",
                *[f"CREATE TABLE od.{t} (id INT PRIMARY KEY, v INT, s VARCHAR(20))"
                  for t in ("a", "b")])
    c = mariadb.root()
    with c.cursor() as cur:
        for t in ("a", "b"):
            cur.executemany(f"INSERT INTO od.{t} VALUES (%s, %s, %s)",
                            [(i, i % 97, f"s{i}") for i in range(20000)])
            cur.execute("COMMIT")
    c.close()
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 2000, max_delay: 20ms", start="now",
               pipeline=("modes: [audit, mirror]",),
               extra="tables:\n  include: ['od.*']\nsnapshot:\n  chunk_rows: 100\n")
    d.start()
    deadline = time.time() + 60
    while not offset(target):
        assert time.time() < deadline and d.proc.poll() is None, d.output()[-3000:]
        time.sleep(0.05)
    stop = threading.Event()

    def writes():
        w = mariadb.root()
        rng = random.Random(3)
        with w.cursor() as cur:
            n = 20000
            while not stop.is_set():
                t = rng.choice("ab")
                op = rng.random()
                if op < 0.4:
                    cur.execute(f"UPDATE od.{t} SET v = v + 1 WHERE id = %s", (rng.randrange(n),))
                elif op < 0.7:
                    cur.execute(f"INSERT INTO od.{t} VALUES (%s, 0, 'new')", (n,))
                    n += 1
                else:
                    cur.execute(f"DELETE FROM od.{t} WHERE id = %s", (rng.randrange(n),))
                cur.execute("COMMIT")
                time.sleep(0.002)
        w.close()
    th = threading.Thread(target=writes, daemon=True)
    th.start()
    # od.a's snapshot is held at its first chunk (a write lock blocks its SELECT) while od.b
    # is requested: od.b joins the snapshot under way
    lock = mariadb.root()
    with lock.cursor() as cur:
        cur.execute("LOCK TABLES od.a WRITE")
        p = sdl.run("snapshot", "-c", d.config, "--tables", "od.a", check=True)
        first = p.stdout.split()[2]
        wait_for_log(d, f"Snapshot request {first}: 1 table")
        sdl.run("snapshot", "-c", d.config, "--tables", "od.b,nosuch.*", check=True)
        time.sleep(2.5)  # the pipeline reads the requests every second
        # nothing of either is committed yet: both wait, as sdl status says
        st = json.loads(sdl.run("status", "-c", d.config, "--json", check=True).stdout)
        assert st["snapshot_requests_waiting"] == 2, st
        human = sdl.run("status", "-c", d.config, check=True).stdout
        assert "2 requests waiting (sdl snapshot)" in human, human
        cur.execute("UNLOCK TABLES")
    lock.close()
    deadline = time.time() + 300
    while snapshot_state(target).get("state") != "done" or snapshot_state(target).get("done") != 2:
        assert time.time() < deadline and d.proc.poll() is None, \
            (snapshot_state(target), d.output()[-3000:])
        time.sleep(0.1)
    stop.set()
    th.join()
    end = mariadb.gtid_binlog_pos()
    wait_for_offset(target, end, d)
    assert d.stop() == 0, d.output()[-3000:]
    snap = offset(target)["snapshot"]
    assert snap["id"] == first and snap["tables"] == ["od.a", "od.b"], snap
    assert snap["last_request"] > first, snap
    assert "(snapshot " + first + ", 2 tables in all)" in d.output(), d.output()[-3000:]
    for t in ("a", "b"):
        want = {}
        c = mariadb.root()
        with c.cursor() as cur:
            cur.execute(f"SELECT id, v, s FROM od.{t}")
            want = {(r[0],): {"id": r[0], "v": r[1], "s": r[2]} for r in cur.fetchall()}
        c.close()
        mirror = {(m["_id"],): {k: v for k, v in m.items() if k != "_id"}
                  for m in target.db[f"od.{t}"].find()}
        compare(t, want, mirror, "mirror")
        docs = list(target.db.row_changes.find({"db": "od", "table": t}))
        docs.sort(key=lambda x: (seqno(x["gtid"]), x["seq"]))
        state = {}
        for x in docs:
            if x["op"] in ("snapshot", "insert"):
                state[(x["after"]["id"],)] = x["after"]
            elif x["op"] == "update":
                state.pop((x["before"]["id"],), None)
                state[(x["after"]["id"],)] = x["after"]
            else:
                state.pop((x["before"]["id"],), None)
        compare(t, want, state, "audit log")
    st = sdl.run("status", "-c", d.config, "--json", check=True).stdout
    assert json.loads(st)["snapshot"]["tables_done"] == 2, st


def test_tables_without_a_key_to_chunk_by(sdl, mariadb, target, tmp_path):
    """snapshot.no_key: a table with neither a primary key nor a unique NOT NULL key, and one
    whose key is an ENUM (it sorts by member number but compares as a string, so "after the
    last key" would not follow the order): error (the default) stops sdl with exit 78 naming
    the table; skip leaves their rows out with a warning and snapshots the others."""
    grant_watermarks(mariadb)
    mariadb.sql("DROP DATABASE IF EXISTS nk", "CREATE DATABASE nk",
                "CREATE TABLE nk.a_loose (x INT, y INT)", "INSERT INTO nk.a_loose VALUES (1, 2)",
                "CREATE TABLE nk.b_enum (e ENUM('z','y','x') PRIMARY KEY, v INT)",
                "INSERT INTO nk.b_enum VALUES ('x', 1), ('z', 2)",
                "CREATE TABLE nk.c_ok (id INT PRIMARY KEY, v INT)",
                "INSERT INTO nk.c_ok VALUES (1, 1), (2, 2)")
    d = Daemon(sdl, target, tmp_path, start="snapshot",
               extra="tables:\n  include: ['nk.*']\n")
    d.start()
    assert d.wait(60) == 78, d.output()[-3000:]
    assert "table 'nk.a_loose' has neither a primary key nor a unique key" in d.output()
    target.db.binlog_offsets.delete_many({})
    # batch.max_rows 1: chunks of one row (a chunk is never split across batches)
    d = Daemon(sdl, target, tmp_path, start="snapshot", config_name="skip.yaml",
               batch="max_rows: 1",
               extra="tables:\n  include: ['nk.*']\nsnapshot:\n  no_key: skip\n")
    d.start()
    deadline = time.time() + 60
    while snapshot_state(target).get("state") != "done":
        assert time.time() < deadline and d.proc.poll() is None, d.output()[-3000:]
        time.sleep(0.05)
    assert d.stop() == 0, d.output()[-3000:]
    out = d.output()
    assert "'nk.a_loose' has no key to read it in chunks by" in out, out[-3000:]
    assert "'nk.b_enum' has no key to read it in chunks by" in out, out[-3000:]
    docs = list(target.db.row_changes.find({"op": "snapshot"}))
    assert sorted((x["table"], x["after"]["id"]) for x in docs) == [("c_ok", 1), ("c_ok", 2)]
    assert [x["snapshot"]["chunk"] for x in sorted(docs, key=lambda x: x["after"]["id"])] == [1, 2]
    assert not any(x.get("split") for x in docs), docs
    assert offset(target)["snapshot"]["done"] == 3


def test_watermarks_left_out_of_the_binlog_are_refused(target, tmp_path):
    """A source whose binlog leaves the watermark table's database out (binlog_ignore_db)
    would never show sdl its watermarks: sdl refuses with exit 78 naming the setting, rather
    than wait forever for the first chunk."""
    from conftest import Sdl
    from mariadb import MariaDB
    db = MariaDB(basedir=str(tmp_path / "ignoring"), extra_args=("--binlog-ignore-db=sdl",))
    db.start()
    try:
        db.create_repl_user()
        grant_watermarks(db)
        db.sql("CREATE DATABASE w", "CREATE TABLE w.t (id INT PRIMARY KEY)",
               "INSERT INTO w.t VALUES (1)")
        d = Daemon(Sdl(tmp_path, db), target, tmp_path, start="snapshot",
                   extra="tables:\n  include: ['w.*']\n")
        d.start()
        assert d.wait(60) == 78, d.output()[-3000:]
        assert "binlog_ignore_db 'sdl'" in d.output(), d.output()[-3000:]
    finally:
        db.remove()


def test_snapshot_rows_are_counted_in_metrics_without_table_metrics(sdl, mariadb, target,
                                                                    tmp_path):
    """sdl_snapshot_rows_total counts the committed snapshot rows with the default
    observability settings (no http.table_metrics), as the audit log holds them."""
    import urllib.request

    from mariadb import free_port

    port = free_port()
    grant_watermarks(mariadb)
    mariadb.sql("CREATE DATABASE IF NOT EXISTS snapm",
                "CREATE TABLE snapm.t (id INT PRIMARY KEY, s VARCHAR(20))",
                "INSERT INTO snapm.t SELECT seq, CONCAT('r', seq) FROM snapm.seq_1_to_300")
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 100, max_delay: 20ms", start="snapshot",
               extra=f"tables:\n  include: ['snapm.*']\nsnapshot:\n  chunk_rows: 64\n"
                     f"http:\n  listen: 127.0.0.1:{port}\n")
    d.start()
    deadline = time.time() + 120
    while snapshot_state(target).get("state") != "done":
        assert time.time() < deadline, f"snapshot did not finish: {snapshot_state(target)}"
        assert d.proc.poll() is None, d.output()[-3000:]
        time.sleep(0.05)
    have = target.db.row_changes.count_documents({"op": "snapshot", "db": "snapm"})
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    assert d.stop() == 0, d.output()[-3000:]
    assert have == 300
    samples = [ln for ln in text.splitlines() if ln.startswith("sdl_snapshot_rows_total")]
    assert samples == ['sdl_snapshot_rows_total{pipeline="test"} 300'], samples


def test_snapshot_progress_estimates_the_rows_in_all_and_the_time_left(sdl, mariadb, target,
                                                                        tmp_path):
    """A running snapshot's estimate (the server's row estimates of its tables, its rows so
    far) and time left: on /metrics (sdl_snapshot_rows_estimated, sdl_snapshot_seconds_left)
    and in `sdl status` (from the offset: the share committed, the time left at its rate so
    far), and in STATUS= (sd_notify, read here from $NOTIFY_SOCKET: the table's share, the
    snapshot's, the time left). The snapshot is held still mid-way (the watermark row locked);
    the tables hold 2000 and 3000 rows, which ANALYZE TABLE makes the server's estimates."""
    import re
    import socket
    import urllib.request

    from mariadb import free_port

    port = free_port()
    grant_watermarks(mariadb)
    mariadb.sql("DROP DATABASE IF EXISTS eta", "CREATE DATABASE eta",
                "CREATE TABLE eta.a (id INT PRIMARY KEY, s VARCHAR(20))",
                "CREATE TABLE eta.b (id INT PRIMARY KEY, s VARCHAR(20))",
                "INSERT INTO eta.a SELECT seq, CONCAT('r', seq) FROM eta.seq_1_to_2000",
                "INSERT INTO eta.b SELECT seq, CONCAT('r', seq) FROM eta.seq_1_to_3000",
                "ANALYZE TABLE eta.a, eta.b")
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 100, max_delay: 5ms", start="snapshot",
               extra=f"tables:\n  include: ['eta.*']\nsnapshot:\n  chunk_rows: 50\n"
                     f"http:\n  listen: 127.0.0.1:{port}\n")

    def metrics():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
        return {m.group(1): int(m.group(2)) for m in re.finditer(
            r'^(sdl_snapshot_(?:rows_estimated|seconds_left)){pipeline="test"} (\d+)$', text,
            re.M)}

    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(0.5)
    with WatermarkLock(mariadb) as held:
        d.start(env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock")})
        held.step_until(lambda: snapshot_rows(target, "a") >= 300)
        time.sleep(1.5)  # a rate needs a second of reading
        # STATUS= goes out every 5 s; the one after the snapshot's step
        status, deadline = None, time.time() + 15
        while status is None and time.time() < deadline:
            try:
                msg = notify.recv(4096).decode()
            except socket.timeout:
                continue
            for line in msg.splitlines():
                if line.startswith("STATUS=") and "of the table's" in line:
                    status = line
        m = metrics()
        st = json.loads(sdl.run("status", "-c", d.config, "--json", check=True).stdout)
        human = sdl.run("status", "-c", d.config, check=True).stdout
    notify.close()
    print(status)
    assert status and re.search(r"; snapshot: eta\.a \(table 1 of 2\), \d+ rows; \d+% of the "
                                r"table's ~\d+, \d+% of ~\d+ rows in all, ~\d+ s left$", status), \
        status
    snap = st["snapshot"]
    assert snap["state"] == "running" and snap["table"] == "eta.a", snap
    # the estimates are the server's (InnoDB's statistics): near 5000, not exact
    assert 2500 <= m["sdl_snapshot_rows_estimated"] <= 10000, m
    assert m["sdl_snapshot_seconds_left"] >= 1, m
    assert 2500 <= snap["rows_estimated"] <= 10000, snap
    assert snap["seconds_left"] >= 1 and snap["started"], snap
    pct = snap["rows"] * 100 // snap["rows_estimated"]
    assert re.search(rf"rows committed; {pct}% of ~{snap['rows_estimated']} rows, ~\S+ left at "
                     "its rate so far", human), human
    wait_for_snapshot_done(target, d)
    m = metrics()
    assert d.stop() == 0, d.output()[-3000:]
    assert m == {"sdl_snapshot_rows_estimated": 0, "sdl_snapshot_seconds_left": 0}, m
    st = json.loads(sdl.run("status", "-c", d.config, "--json", check=True).stdout)
    assert st["snapshot"]["state"] == "done" and st["snapshot"]["seconds_left"] is None, st
    assert st["snapshot"]["rows"] == 5000 == st["snapshot"]["rows_estimated"], st


def wait_for_snapshot_done(target, d, timeout=180):
    deadline = time.time() + timeout
    while snapshot_state(target).get("state") != "done":
        assert time.time() < deadline and d.proc.poll() is None, d.output()[-3000:]
        time.sleep(0.05)


class WatermarkLock:
    """Holds the row lock of the pipeline's watermark row (the documented watermark table;
    before sdl's first watermark, the gap where it goes): the snapshot's next watermark write
    waits for it, so the snapshot stands still between two statements while the stream goes
    on. Nothing is locked on the tables being snapshotted (the watermark writes and chunk
    SELECTs are autocommit statements), so DDL on them can run meanwhile."""

    def __init__(self, mariadb, pipeline="test"):
        self.conn = mariadb.root()
        self.cur = self.conn.cursor()
        self.pipeline = pipeline
        self._lock()

    def _lock(self):
        self.cur.execute("BEGIN")
        self.cur.execute("SELECT token FROM sdl.watermarks WHERE pipeline = %s FOR UPDATE",
                         (self.pipeline,))

    def step_until(self, done, timeout=60):
        """Lets the snapshot through one watermark write at a time (the one waiting is queued
        before the lock is taken again) until done() holds; the lock is held on return."""
        deadline = time.time() + timeout
        while not done():
            assert time.time() < deadline, "the snapshot made no progress"
            self.cur.execute("COMMIT")
            self._lock()
            wait = time.time() + 0.2
            while time.time() < wait and not done():
                time.sleep(0.01)

    def release(self):
        self.cur.execute("COMMIT")
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def snapshot_rows(target, table):
    return target.db.row_changes.count_documents({"op": "snapshot", "table": table})


# the tables the DDL tests change mid-snapshot: 250 chunks of 20 rows; the snapshot is held
# still once a chunk is in, so the DDL comes after some and before most of them
DDL_ROWS = 5000


def test_alter_table_during_its_snapshot(sdl, mariadb, target, tmp_path):
    """ALTER TABLE ADD COLUMN while the table is being snapshotted: every snapshot row placed
    after the ALTER in the log has the new column (its value as SELECT * shows it), every one
    before it has not; each row is snapshotted once, and sdl goes on."""
    grant_watermarks(mariadb)
    mariadb.sql("CREATE DATABASE IF NOT EXISTS ddl1",
                "CREATE TABLE ddl1.t (id INT PRIMARY KEY, s VARCHAR(20))",
                f"INSERT INTO ddl1.t SELECT seq, CONCAT('r', seq) FROM ddl1.seq_1_to_{DDL_ROWS}")
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 20, max_delay: 5ms", start="snapshot",
               extra="tables:\n  include: ['ddl1.*']\nsnapshot:\n  chunk_rows: 20\n")
    with WatermarkLock(mariadb) as held:
        d.start()
        held.step_until(lambda: snapshot_rows(target, "t") > 0)
        mariadb.sql("ALTER TABLE ddl1.t ADD COLUMN extra INT NOT NULL DEFAULT 7")
    wait_for_snapshot_done(target, d)
    assert d.stop() == 0, d.output()[-3000:]
    # the stream met the ALTER with two chunks in flight (the next one is read as soon as
    # one is emitted): both were dropped and read again with the new column
    assert "changed (DDL) while 2 chunks of it were in flight" in d.output(), d.output()[-3000:]
    ddl = list(target.db.row_changes.find({"op": "ddl", "table": "t"}))
    assert len(ddl) == 1, ddl
    at = seqno(ddl[0]["gtid"])
    c = mariadb.root()
    try:
        with c.cursor() as cur:
            cur.execute("SELECT id, s, extra FROM ddl1.t")
            want = {r[0]: {"id": r[0], "s": r[1], "extra": r[2]} for r in cur.fetchall()}
    finally:
        c.close()
    docs = list(target.db.row_changes.find({"op": "snapshot", "table": "t"}))
    assert sorted(x["after"]["id"] for x in docs) == sorted(want)
    before = [x for x in docs if seqno(x["gtid"]) < at]
    after = [x for x in docs if seqno(x["gtid"]) > at]
    assert len(before) + len(after) == len(docs)
    assert before and after, (len(before), len(after))  # the ALTER came mid-snapshot
    for x in before:
        row = dict(want[x["after"]["id"]])
        del row["extra"]
        assert x["after"] == row, x
    for x in after:
        assert x["after"] == want[x["after"]["id"]], x


def test_drop_table_during_its_snapshot(sdl, mariadb, target, tmp_path):
    """DROP TABLE while the table is being snapshotted ends that table's snapshot (nothing
    more to read) with a log line; the next table is snapshotted and sdl goes on."""
    grant_watermarks(mariadb)
    mariadb.sql("CREATE DATABASE IF NOT EXISTS ddl2",
                "CREATE TABLE ddl2.a (id INT PRIMARY KEY, s VARCHAR(20))",
                f"INSERT INTO ddl2.a SELECT seq, CONCAT('r', seq) FROM ddl2.seq_1_to_{DDL_ROWS}",
                "CREATE TABLE ddl2.b (id INT PRIMARY KEY, s VARCHAR(20))",
                "INSERT INTO ddl2.b SELECT seq, CONCAT('b', seq) FROM ddl2.seq_1_to_50")
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 20, max_delay: 5ms", start="snapshot",
               extra="tables:\n  include: ['ddl2.*']\nsnapshot:\n  chunk_rows: 20\n")
    with WatermarkLock(mariadb) as held:
        d.start()
        held.step_until(lambda: snapshot_rows(target, "a") > 0)
        mariadb.sql("DROP TABLE ddl2.a")
    wait_for_snapshot_done(target, d)
    mariadb.sql("INSERT INTO ddl2.b VALUES (1000, 'after')")
    wait_for_offset(target, mariadb.gtid_binlog_pos(), daemon=d)
    assert d.stop() == 0, d.output()[-3000:]
    out = d.output()
    assert "'ddl2.a' no longer exists" in out, out[-3000:]
    a = target.db.row_changes.count_documents({"op": "snapshot", "table": "a"})
    assert 20 <= a < DDL_ROWS, a
    b = sorted(x["after"]["id"] for x in target.db.row_changes.find({"op": "snapshot",
                                                                       "table": "b"}))
    assert b == list(range(1, 51))
    assert target.db.row_changes.count_documents({"op": "insert", "table": "b"}) == 1
    assert offset(target)["snapshot"]["done"] == 2


def test_a_snapshot_row_too_large_becomes_a_dead_letter(sdl, mariadb, target, tmp_path):
    """pipeline.on_error: dead_letter: a snapshot row whose document exceeds
    target.max_document_bytes becomes a dead letter (op snapshot, its table and key) in its
    chunk's place; the other rows are snapshotted and sdl goes on."""
    grant_watermarks(mariadb)
    mariadb.sql("CREATE DATABASE IF NOT EXISTS snapdl",
                "CREATE TABLE snapdl.t (id INT PRIMARY KEY, b LONGBLOB)",
                "INSERT INTO snapdl.t SELECT seq, 'small' FROM snapdl.seq_1_to_5",
                "UPDATE snapdl.t SET b = REPEAT('y', 2 * 1024 * 1024) WHERE id = 3")
    d = Daemon(sdl, target, tmp_path, batch="max_delay: 20ms", start="snapshot",
               pipeline=["on_error: dead_letter"],
               extra="  max_document_bytes: 1MiB\ntables:\n  include: ['snapdl.*']\n"
                     "snapshot:\n  chunk_rows: 2\n")
    d.start()
    wait_for_snapshot_done(target, d)
    assert d.stop() == 0, d.output()[-3000:]
    docs = list(target.db.row_changes.find({"op": "snapshot", "table": "t"}))
    assert sorted(x["after"]["id"] for x in docs) == [1, 2, 4, 5]
    dl = list(target.db.row_changes_dlq.find({}))
    assert len(dl) == 1, dl
    x = dl[0]
    assert (x["op"], x["db"], x["table"]) == ("snapshot", "snapdl", "t"), x
    assert x["pk"] == [{"column": "id", "value": 3}], x
    assert x["error"]["reason"] == "too_large", x
    assert x["from"] is None, x  # the binlog does not hold a snapshot row: no retry from it
    assert x["_id"] not in {y["_id"] for y in docs}
    assert offset(target)["dead_letters"] == 1
    assert "set aside as a dead letter (too_large)" in d.output()
