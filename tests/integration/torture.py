"""The exactly-once torture test (issue 10): a seeded, randomized workload shaped like real
schemas runs against a real mariadbd while `sdl run` is killed with SIGKILL at random moments
(and at its durable steps through SDL_FAILPOINT), MongoDB fails commands more often than the
driver retries them, and mariadbd itself restarts once. At the end `row_changes` must equal
what the independent oracle (oracle.py: mariadb-binlog -vv) derives for the whole range, the
offset must equal @@gtid_binlog_pos with no partial, staging must be empty, and sdl's peak
RSS (VmHWM, sampled in every process it ran as) must stay within
queue_bytes + 2 x batch.max_bytes + 48 MiB.

The workload (Workload below), per seed:
  * 300 "cold" tables and more created on the way, each written once (the table-map cache
    sees far more than 64 tables, and empties itself past 1,024),
  * four "hot" tables with multi-table UPDATE and DELETE, and triggers writing a log table,
  * CREATE TABLE ... SELECT, ALTER TABLE ... ADD COLUMN mid-stream,
  * DDL and rows on a database and a table the filters exclude,
  * rows of 100 KiB - 4 MiB, source transactions of 20,000 rows (split across batches),
  * rolled-back transactions, and one restart of mariadbd mid-stream,
  * tt.types: every type family of README "Types" but GEOMETRY (signed/unsigned integers,
    DECIMAL(30,6), FLOAT, DOUBLE, DATE, DATETIME(6), TIMESTAMP(3), TIME(4), YEAR, utf8mb4
    CHAR/VARCHAR/TEXT, BLOB/BINARY/VARBINARY, ENUM, SET, BIT, JSON, NULLs) under a composite
    key (k2, k1), with key changes, and a third of its transactions logged with
    binlog_row_image=MINIMAL.
With changes="audit.{db}.{table}" (--changes) the audit log is one collection per table
(target.collections.changes as a template) and their union must equal the oracle, each
document in its table's collection.
With modes=("audit", "mirror") (--modes audit,mirror) sdl also writes mirror collections, and
at the end every one must equal SELECT * of its table (mirror_oracle.py, from the documented
type mapping; a cold table's row older than its ALTER TABLE ADD COLUMN may lack the new column
while it holds the DEFAULT, as docs/DOCUMENTS.md says).
Chaos (Torture.run): at least 30 kill -9 of sdl at random moments, a fifth of its restarts
with an SDL_FAILPOINT death at a durable step, and MongoDB failCommand fail points whose
`times` exceed the driver's own retries (closeConnection and writeConcernError on
commitTransaction, so the ambiguous-commit path runs; WriteConflict on insert; a failing
staging write).

Run by hand (long mode), with Debian's python3 and a built sdl:
    SDL_BIN=build/src/daemon/sdl /usr/bin/python3 tests/integration/torture.py --seed 7 --minutes 10
The suite runs short seeds (tests/integration/test_torture.py). The workload generator keeps
its own record (what it wrote, per kind), printed with the figures.
"""
import argparse
import os
import pathlib
import random
import re
import sys
import tempfile
import threading
import time

import pymysql

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from conftest import Sdl, sdl_bin  # noqa: E402
from mariadb import MariaDB  # noqa: E402
from mirror_oracle import check_mirrors  # noqa: E402
from runlib import Daemon, Target, audit_documents, check_row_changes, offset  # noqa: E402

QUEUE_BYTES = 16 << 20
MAX_BYTES = 8 << 20
MAX_ROWS = 500
RSS_BOUND = QUEUE_BYTES + 2 * MAX_BYTES + (48 << 20)
COLD_TABLES = 300
MIN_KILLS = 30

# MongoDB faults, each with `times` above the driver's single retry
FAULTS = [
    ("commit closeConnection", dict(failCommands=["commitTransaction"], closeConnection=True), 3),
    ("commit writeConcernError", dict(failCommands=["commitTransaction"],
                                      writeConcernError={"code": 91, "errmsg": "shutdown"}), 3),
    ("insert WriteConflict", dict(failCommands=["insert"], errorCode=112,
                                  errorLabels=["TransientTransactionError"]), 3),
    ("staging update ShutdownInProgress", dict(failCommands=["update"], errorCode=91), 3),
]
# sdl's own durable steps (SDL_FAILPOINT, src/base/failpoint.c)
DURABLE_STEPS = ["writer.after_stage", "writer.in_transaction", "writer.after_commit"]


# every type family of README "Types" but GEOMETRY, under a composite key (k2, k1)
TYPES_TABLE = (
    "CREATE TABLE tt.types (k1 INT UNSIGNED, k2 VARCHAR(20), ti TINYINT, tu TINYINT UNSIGNED, "
    "si SMALLINT, mu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED, "
    "de DECIMAL(30,6), f FLOAT, db DOUBLE, d DATE, dt DATETIME(6), ts TIMESTAMP(3) NULL, "
    "tm TIME(4), y YEAR, c CHAR(10), vc VARCHAR(100), tx TEXT, bl BLOB, bn BINARY(4), "
    "vb VARBINARY(16), e ENUM('a','b','ç'), st SET('x','y','z'), bt BIT(10), j JSON, "
    "PRIMARY KEY (k2, k1)) DEFAULT CHARSET=utf8mb4")
TEXTS = ["", "a", "ünïcödé", "emoji 😀 𝄞", "tab\tnl\nquote' bs\\", "€uro", "  lead"]
JSONS = ['{"a": 1, "b": [true, null, 2.5, "\u00fc"], "big": 12345678901}', '[]', '"str"',
         '{"n": {"deep": [1, {"x": -0.5}]}}', '42', 'null']


class Workload:
    """Writes the seeded workload into @db; self.record counts what it did, by kind."""

    def __init__(self, db, rng, big_rows, bulk_txns):
        self.db = db
        self.rng = rng
        self.big_rows = big_rows
        self.bulk_txns = bulk_txns
        self.record = {}
        self.next_id = {"hot1": 1, "hot2": 1, "hot3": 1, "hot4": 1, "big": 1, "bulk": 1,
                        "skip_log": 1}
        self.cold_next = 0
        self.n_ctas = 0
        self.n_alters = 0
        self.other = 0
        self.restarted = False
        self.types_keys = []  # (k2, k1) of the rows tt.types holds
        self.added_columns = {}  # cold table -> {column ALTER TABLE added: its DEFAULT}

    def count(self, kind, n=1):
        self.record[kind] = self.record.get(kind, 0) + n

    @staticmethod
    def schema():
        hot = "(id INT PRIMARY KEY, n INT, s VARCHAR(100), d DECIMAL(12,2), dt DATETIME(3))"
        return [
            "CREATE DATABASE IF NOT EXISTS tt",
            "CREATE DATABASE IF NOT EXISTS other",
            *[f"CREATE TABLE tt.hot{i} {hot}" for i in range(1, 5)],
            "CREATE TABLE tt.trig_log (id INT AUTO_INCREMENT PRIMARY KEY, src VARCHAR(10), "
            "ref INT, n INT)",
            "CREATE TRIGGER tt.hot1_ins AFTER INSERT ON tt.hot1 FOR EACH ROW "
            "INSERT INTO tt.trig_log (src, ref, n) VALUES ('hot1', NEW.id, NEW.n)",
            "CREATE TRIGGER tt.hot2_upd AFTER UPDATE ON tt.hot2 FOR EACH ROW "
            "INSERT INTO tt.trig_log (src, ref, n) VALUES ('hot2', NEW.id, NEW.n - OLD.n)",
            *[f"CREATE TABLE tt.c{i:03d} (id INT PRIMARY KEY, v VARCHAR(50), x BIGINT)"
              for i in range(1, COLD_TABLES + 1)],
            "CREATE TABLE tt.big (id INT PRIMARY KEY, b LONGBLOB, note VARCHAR(20))",
            "CREATE TABLE tt.bulk (id INT PRIMARY KEY, a INT, pad VARCHAR(40))",
            "CREATE TABLE tt.skip_log (id INT PRIMARY KEY, v VARCHAR(20))",
            TYPES_TABLE,
        ]

    def _exec(self, *statements):
        c = self.db.root("tt")
        try:
            with c.cursor() as cur:
                for st in statements:
                    cur.execute(st)
        finally:
            c.close()

    # ---- the kinds of transactions ----
    def cold_insert(self):
        """A row into a table nothing has written yet: each cold table is touched once (the
        first COLD_TABLES exist from the start; later ones are created on the way)."""
        self.cold_next += 1
        i = self.cold_next
        stmts = []
        if i > COLD_TABLES:
            stmts.append(f"CREATE TABLE tt.c{i:03d} (id INT PRIMARY KEY, v VARCHAR(50), x BIGINT)")
        stmts.append(f"INSERT INTO tt.c{i:03d} (id, v, x) VALUES ({i}, 'cold {i}', "
                     f"{self.rng.randint(-2**62, 2**62)})")
        self._exec(*stmts)
        self.count("cold table written once")

    def hot_txn(self):
        r = self.rng
        stmts = ["BEGIN"]
        for _ in range(r.randint(1, 8)):
            t = f"hot{r.randint(1, 4)}"
            op = r.choice(["insert", "insert", "update", "delete"])
            if op == "insert" or self.next_id[t] < 3:
                k = self.next_id[t]
                self.next_id[t] += 1
                stmts.append(f"INSERT INTO tt.{t} VALUES ({k}, {r.randint(0, 1000)}, "
                             f"'{t} {k} ünïcödé', {r.randint(-10**8, 10**8) / 100}, "
                             f"'2026-0{r.randint(1, 9)}-1{r.randint(0, 9)} 10:11:12.{r.randint(0, 999):03d}')")
            elif op == "update":
                lo = r.randint(1, self.next_id[t] - 1)
                stmts.append(f"UPDATE tt.{t} SET n = n + 1, s = CONCAT(LEFT(s, 90), '+') "
                             f"WHERE id BETWEEN {lo} AND {lo + r.randint(0, 5)}")
            else:
                stmts.append(f"DELETE FROM tt.{t} WHERE id = {r.randint(1, self.next_id[t] - 1)}")
        stmts.append("COMMIT")
        self._exec(*stmts)
        self.count("hot transaction")

    def multi_table(self):
        r = self.rng
        lo = r.randint(1, max(1, min(self.next_id["hot1"], self.next_id["hot2"]) - 1))
        if r.random() < 0.5:
            self._exec(f"UPDATE tt.hot1 a JOIN tt.hot2 b ON a.id = b.id SET a.n = a.n + 1, "
                       f"b.n = b.n + 2 WHERE a.id BETWEEN {lo} AND {lo + 10}")
            self.count("multi-table update")
        else:
            lo = r.randint(1, max(1, min(self.next_id["hot3"], self.next_id["hot4"]) - 1))
            self._exec(f"DELETE a, b FROM tt.hot3 a JOIN tt.hot4 b ON a.id = b.id "
                       f"WHERE a.id BETWEEN {lo} AND {lo + 3}")
            self.count("multi-table delete")

    def ctas(self):
        self.n_ctas += 1
        self._exec(f"CREATE TABLE tt.ctas_{self.n_ctas} (PRIMARY KEY (id)) AS "
                   f"SELECT id, n, s FROM tt.hot2 WHERE id <= {self.rng.randint(1, 200)}")
        self.count("CREATE TABLE ... SELECT")

    def alter(self):
        """ADD COLUMN to a table already written, then a row with the new column."""
        if self.cold_next < 1:
            return self.hot_txn()
        self.n_alters += 1
        i = self.rng.randint(1, min(self.cold_next, COLD_TABLES))
        self._exec(f"ALTER TABLE tt.c{i:03d} ADD COLUMN extra{self.n_alters} INT DEFAULT "
                   f"{self.n_alters}")
        self.added_columns.setdefault(("tt", f"c{i:03d}"), {})[f"extra{self.n_alters}"] = \
            self.n_alters
        self._exec(f"INSERT INTO tt.c{i:03d} (id, v, x) VALUES ({1000000 + self.n_alters}, "
                   f"'after alter', {self.n_alters})")
        self.count("ALTER TABLE")

    # ---- tt.types: every type family, composite key, key changes, MINIMAL images
    def _lit(self, col):
        """A random SQL literal for tt.types' column @col (NULL now and then)."""
        r = self.rng
        if r.random() < 0.15:
            return "NULL"
        ints = {"ti": (-128, 127), "tu": (0, 255), "si": (-32768, 32767), "mu": (0, 2**24 - 1),
                "i": (-2**31, 2**31 - 1), "iu": (0, 2**32 - 1), "bi": (-2**63, 2**63 - 1),
                "bu": (0, 2**64 - 1)}
        if col in ints:
            lo, hi = ints[col]
            return str(r.choice([lo, hi, 0, r.randint(lo, hi)]))
        if col == "de":
            return f"{r.randint(-10**24, 10**24)}.{r.randint(0, 999999):06d}"
        if col == "f":
            return repr(r.choice([1.1, -0.0001234, 3.4e38, r.uniform(-1e6, 1e6)]))
        if col == "db":
            return repr(r.choice([0.1, -1.5e-300, 1.7976931348623157e308, r.uniform(-1e12, 1e12)]))
        date = f"{r.randint(1000, 2999)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"
        clock = f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}"
        if col == "d":
            return f"'{date}'"
        if col == "dt":
            return f"'{date} {clock}.{r.randint(0, 999999):06d}'"
        if col == "ts":
            return f"'{r.randint(1971, 2037)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} " \
                   f"{clock}.{r.randint(0, 999):03d}'"
        if col == "tm":
            return f"'{r.choice(['-', ''])}{r.randint(0, 838)}:{r.randint(0, 59):02d}:" \
                   f"{r.randint(0, 59):02d}.{r.randint(0, 9999):04d}'"
        if col == "y":
            return str(r.randint(1901, 2155))
        if col in ("c", "vc", "tx"):
            t = r.choice(TEXTS)
            t = t.rstrip(" ")[:10] if col == "c" else t * (r.randint(1, 30) if col == "tx" else 1)
            return "'" + pymysql.converters.escape_string(t) + "'"
        if col in ("bl", "bn", "vb"):
            n = {"bl": r.randint(0, 300), "bn": r.randint(0, 4), "vb": r.randint(0, 16)}[col]
            return "X'" + bytes(r.randrange(256) for _ in range(n)).hex() + "'"
        if col == "e":
            return r.choice(["'a'", "'b'", "'ç'"])
        if col == "st":
            return "'" + ",".join(m for m in "xyz" if r.random() < 0.5) + "'"
        if col == "bt":
            return f"b'{r.randrange(1024):b}'"
        if col == "j":
            return "'" + pymysql.converters.escape_string(r.choice(JSONS)) + "'"
        raise ValueError(col)

    TYPES_COLUMNS = ["ti", "tu", "si", "mu", "i", "iu", "bi", "bu", "de", "f", "db", "d", "dt",
                     "ts", "tm", "y", "c", "vc", "tx", "bl", "bn", "vb", "e", "st", "bt", "j"]

    def _types_key(self):
        return (self.rng.choice(["k", "ключ", "clé😀", "z"]) + str(self.rng.randint(0, 9)),
                self.rng.choice([0, 2**32 - 1, self.rng.randint(1, 10**6)]))

    def types_txn(self):
        """Inserts, updates (some of the key), deletes on tt.types; a third of the transactions
        with binlog_row_image=MINIMAL (partial images: the mirror $sets what was logged)."""
        r = self.rng
        keys = self.types_keys
        image = "MINIMAL" if r.random() < 0.33 else "FULL"
        stmts = [f"SET SESSION binlog_row_image = {image}", "BEGIN"]

        def where(k):
            return f"k2 = '{k[0]}' AND k1 = {k[1]}"
        for _ in range(r.randint(1, 4)):
            op = r.choice(["insert", "insert", "update", "update", "key", "delete"])
            if op == "insert" or not keys:
                k = self._types_key()
                if k in keys:
                    continue
                vals = ", ".join(self._lit(c) for c in self.TYPES_COLUMNS)
                stmts.append(f"INSERT INTO tt.types VALUES ({k[1]}, '{k[0]}', {vals})")
                keys.append(k)
            elif op == "update":
                k = r.choice(keys)
                cols = r.sample(self.TYPES_COLUMNS, r.randint(1, 5))
                sets = ", ".join(f"{c} = {self._lit(c)}" for c in cols)
                stmts.append(f"UPDATE tt.types SET {sets} WHERE {where(k)}")
            elif op == "key":
                k = r.choice(keys)
                n = self._types_key()
                if n in keys:
                    continue
                stmts.append(f"UPDATE tt.types SET k2 = '{n[0]}', k1 = {n[1]}, "
                             f"{r.choice(self.TYPES_COLUMNS)} = NULL WHERE {where(k)}")
                keys[keys.index(k)] = n
                self.count("types key change")
            else:
                k = r.choice(keys)
                stmts.append(f"DELETE FROM tt.types WHERE {where(k)}")
                keys.remove(k)
        stmts.append("COMMIT")
        self._exec(*stmts)
        self.count(f"types transaction ({image})")

    def excluded(self):
        self.other += 1
        k = self.next_id["skip_log"]
        self.next_id["skip_log"] += 1
        self._exec(f"CREATE TABLE other.t{self.other} (id INT PRIMARY KEY)",
                   f"INSERT INTO other.t{self.other} VALUES (1), (2)",
                   f"INSERT INTO tt.skip_log VALUES ({k}, 'skipped')")
        if self.other > 1:
            self._exec(f"DROP TABLE other.t{self.other - 1}")
        self.count("excluded DDL and rows")

    def big_row(self):
        k = self.next_id["big"]
        self.next_id["big"] += 1
        # 100 KiB .. 4 MiB, log-uniform; the first one is 4 MiB
        size = 4 << 20 if k == 1 else int(2 ** self.rng.uniform(16.65, 22))
        self._exec(f"INSERT INTO tt.big VALUES ({k}, REPEAT(CHAR({65 + k % 26}), {size}), "
                   f"'{size} bytes')")
        self.count("big row")
        self.count("big row bytes", size)

    def bulk(self):
        base = self.next_id["bulk"]
        self.next_id["bulk"] += 20000
        self._exec(f"INSERT INTO tt.bulk SELECT seq + {base - 1}, seq, 'bulk row' "
                   f"FROM tt.seq_1_to_20000")
        self.count("20,000-row transaction")

    def rollback(self):
        k = self.next_id["hot3"] + 100000
        self._exec("BEGIN", f"INSERT INTO tt.hot3 VALUES ({k}, 0, 'rolled back', 0, NOW())",
                   "ROLLBACK")
        self.count("rolled back")

    def restart_source(self):
        self.db.restart()
        self.restarted = True
        self.count("mariadbd restart")

    def step(self, progress):
        """One transaction (or two) of a kind drawn by weight; the big rows, bulk transactions
        and the restart are spread over the run by @progress (0..1)."""
        r = self.rng
        if not self.restarted and progress >= 0.5:
            return self.restart_source()
        if self.record.get("big row", 0) < self.big_rows * progress:
            return self.big_row()
        if self.record.get("20,000-row transaction", 0) < self.bulk_txns * progress:
            return self.bulk()
        kinds = [(self.cold_insert, 15), (self.hot_txn, 30), (self.types_txn, 10),
                 (self.multi_table, 10),
                 (self.ctas, 2), (self.alter, 2), (self.excluded, 4), (self.rollback, 4)]
        fn = r.choices([k for k, _ in kinds], weights=[w for _, w in kinds])[0]
        return fn()


class Torture:
    def __init__(self, workdir, seed, seconds, report=print, big_rows=8, bulk_txns=3,
                 modes=("audit",), changes="row_changes"):
        """@modes: pipeline.modes; with "mirror" every mirror collection must equal SELECT *
        of its table at the end (mirror_oracle.py). @changes: target.collections.changes (a
        template such as "audit.{db}.{table}": one audit collection per table)."""
        self.modes = tuple(modes)
        self.changes = changes
        self.dir = pathlib.Path(workdir)
        self.seed = seed
        self.seconds = seconds
        self.report = report
        self.big_rows = big_rows
        self.bulk_txns = bulk_txns
        self.rng = random.Random(seed)
        self.figures = {"seed": seed, "kills": 0, "failpoint deaths": 0, "faults": 0}
        self.peak_hwm = 0

    # ---- sdl as a process, watched ----
    def sample(self, d):
        """VmHWM of the running sdl (kB → bytes), kept as the peak over every process."""
        if not d.proc or d.proc.poll() is not None:
            return
        try:
            with open(f"/proc/{d.proc.pid}/status") as f:
                m = re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M)
        except OSError:
            return
        if m:
            self.peak_hwm = max(self.peak_hwm, int(m[1]) * 1024)

    def check_alive(self, d):
        rc = d.proc.poll()
        if rc is None:
            return True
        if rc == 137 and "failpoint reached" in d.output()[d.log_start:]:
            self.figures["failpoint deaths"] += 1
            return False
        raise AssertionError(f"sdl exited {rc} on its own (seed {self.seed}):\n"
                             + d.output()[-5000:])

    def restart(self, d, chaos=True):
        env = {}
        if chaos and self.rng.random() < 0.2:
            step = self.rng.choice(DURABLE_STEPS)
            env["SDL_FAILPOINT"] = f"{step}:{self.rng.randint(1, 4)}"
        d.start(env=env)

    @staticmethod
    def check_mirrors(target, src, wl):
        """Every replicated table's mirror collection equals SELECT * of it; the excluded
        ones have none."""
        tables = [("tt", t) for (t,) in src.sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'tt' "
            "AND table_type = 'BASE TABLE' AND table_name NOT LIKE 'skip\\_%' "
            "ORDER BY table_name")]
        names = target.db.list_collection_names()
        stray = [n for n in names if n.startswith(("other.", "tt.skip_"))]
        assert not stray, f"mirror collections of excluded tables: {stray}"
        return check_mirrors(target, src, tables, absent_ok=wl.added_columns)

    def run(self):
        t_start = time.time()
        src = MariaDB(basedir=str(self.dir / "mariadb"),
                      extra_args=["--max-binlog-size=16M"]).start()
        src.create_repl_user()
        target = Target(self.dir, f"torture{self.seed}")
        worker_error = []
        try:
            # a dead sdl's open transaction blocks its successor until the server aborts it:
            # a short lifetime keeps 30 kills within minutes (on the fake and on mongod alike)
            target.client.admin.command({"setParameter": 1, "transactionLifetimeLimitSeconds": 5})
            src.sql(*Workload.schema())
            start = src.gtid_binlog_pos()
            sdl = Sdl(self.dir, src)
            d = Daemon(sdl, target, self.dir,
                       batch=f"max_rows: {MAX_ROWS}, max_bytes: {MAX_BYTES >> 20}MiB, max_delay: 50ms",
                       pipeline=[f"queue_bytes: {QUEUE_BYTES >> 20}MiB",
                                 f"modes: [{', '.join(self.modes)}]"], start=start,
                       extra=f"  collections: {{changes: \"{self.changes}\"}}\n"
                             "tables:\n  include: ['tt.*']\n  exclude: ['tt.skip_*']\n")
            wl = Workload(src, random.Random(self.seed * 7919 + 1), self.big_rows, self.bulk_txns)
            stop = threading.Event()

            def work():
                t0 = time.time()
                try:
                    while not stop.is_set():
                        progress = (time.time() - t0) / self.seconds
                        if progress >= 1:
                            break
                        wl.step(progress)
                        time.sleep(self.rng.uniform(0, 0.02))
                except Exception as e:  # noqa: BLE001 - reported below
                    worker_error.append(e)

            worker = threading.Thread(target=work)
            d.start()
            worker.start()
            next_fault = time.time() + 1
            faults = 0
            while worker.is_alive() or self.figures["kills"] < MIN_KILLS:
                until = time.time() + self.rng.uniform(0.3, 1.5)
                while time.time() < until:
                    self.sample(d)
                    if not self.check_alive(d):
                        self.restart(d)
                    time.sleep(0.05)
                if time.time() >= next_fault:
                    name, data, times = FAULTS[faults % len(FAULTS)]
                    target.fail({"times": times}, **data)
                    faults += 1
                    next_fault = time.time() + self.rng.uniform(1, 4)
                self.sample(d)
                if self.check_alive(d):
                    d.kill9()
                    self.figures["kills"] += 1
                self.restart(d)
            worker.join()
            if worker_error:
                raise worker_error[0]
            self.figures["faults"] = faults
            target.fail_off()
            # the last run: no chaos; everything must arrive
            if d.proc.poll() is None:
                d.kill9()
                self.figures["kills"] += 1
            d.start()
            end = src.gtid_binlog_pos()
            deadline = time.time() + 600
            while True:
                self.sample(d)
                self.check_alive(d)
                off = offset(target)
                if off and off["gtid"] == end and not off.get("partial"):
                    break
                if time.time() > deadline:
                    raise AssertionError(f"offset {off} did not reach {end}:\n{d.output()[-5000:]}")
                time.sleep(0.2)
            self.sample(d)
            rc = d.stop()
            assert rc == 0, f"sdl stop exited {rc}:\n{d.output()[-3000:]}"
            assert target.db.row_changes_staging.count_documents({}) == 0
            t_check = time.time()
            summary = {}
            if "audit" in self.modes:
                summary = check_row_changes(target, src, start, end, daemon=d,
                                            include=["tt.*"], exclude=["tt.skip_*"],
                                            changes=self.changes)
            else:
                assert audit_documents(target, self.changes) == []
            if "mirror" in self.modes:
                self.figures["mirror"] = self.check_mirrors(target, src, wl)
            self.figures.update(
                documents=summary.get("documents", 0), split=summary.get("split", 0),
                transactions=summary.get("transactions"), offset_batch=off["batch"],
                peak_rss_mib=round(self.peak_hwm / 2**20, 1),
                rss_bound_mib=RSS_BOUND >> 20, seconds=round(time.time() - t_start),
                check_seconds=round(time.time() - t_check), workload=wl.record)
            assert off["gtid"] == end and off["partial"] is None
            assert self.peak_hwm <= RSS_BOUND, \
                f"peak VmHWM {self.peak_hwm >> 20} MiB > bound {RSS_BOUND >> 20} MiB"
            assert self.figures["kills"] >= MIN_KILLS
            self.report(f"torture seed {self.seed}: {self.figures}")
            return self.figures
        finally:
            try:
                target.fail_off()
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass
            target.close()
            src.remove()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--minutes", type=float, default=1.0, help="how long the workload runs")
    ap.add_argument("--big-rows", type=int, default=None, help="rows of 100 KiB - 4 MiB")
    ap.add_argument("--bulk", type=int, default=None, help="20,000-row transactions")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--modes", default="audit", help="pipeline.modes, e.g. audit,mirror")
    ap.add_argument("--changes", default="row_changes",
                    help="target.collections.changes, e.g. 'audit.{db}.{table}'")
    a = ap.parse_args()
    sdl_bin()  # fails loudly without a built sdl
    minutes = a.minutes
    work = tempfile.mkdtemp(prefix=f"sdl-torture-{a.seed}-")
    t = Torture(work, a.seed, minutes * 60, big_rows=a.big_rows or max(8, int(8 * minutes)),
                bulk_txns=a.bulk or max(3, int(3 * minutes)), modes=a.modes.split(","),
                changes=a.changes)
    try:
        t.run()
    finally:
        if not a.keep:
            import shutil
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
