"""sdl run end to end: real mariadbd → sdl → MongoDB (tests/fakemongod, or the replica set
of $SDL_TEST_MONGODB_URI). Every test ends with row_changes holding exactly the documents the
oracle (oracle.py, from `mariadb-binlog -vv`) expects for the same binlog range, each once and
split as the batch limits require, and the offset equal to the source's last GTID; where it is
cheap, also exactly what `sdl tail` prints."""
import json
import random
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import Sdl
from mariadb import MariaDB, free_port
from oracle import Oracle, check_against_oracle
from runlib import Daemon, Target, check_row_changes, offset, wait_for_offset

TABLES = """
CREATE DATABASE IF NOT EXISTS {db};
CREATE TABLE {db}.nums (id INT PRIMARY KEY, i BIGINT, u INT UNSIGNED, d DECIMAL(12,3),
                        f DOUBLE, b BIT(5));
CREATE TABLE {db}.texts (id INT PRIMARY KEY, s VARCHAR(64), t TEXT, l VARCHAR(20) CHARACTER SET latin1,
                         e ENUM('a','b','c'), st SET('x','y'));
CREATE TABLE {db}.times (id INT PRIMARY KEY, dt DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME(2), y YEAR);
CREATE TABLE {db}.docs (id INT PRIMARY KEY, j JSON, bl BLOB, g POINT);
CREATE TABLE {db}.nopk (a INT, b VARCHAR(10));
"""


def setup_tables(db, name):
    db.sql(*[s.strip().format(db=name) for s in TABLES.split(";") if s.strip()])


def random_workload(db, name, rng, transactions=60, big=(), state=None):
    """Inserts, updates and deletes over several tables and type families, in single-row and
    multi-row transactions; the transactions numbered in @big are large (2,500 rows).
    @state carries the next ids between calls on the same tables."""
    c = db.root()
    next_id = state if state is not None else {}
    for t in ("nums", "texts", "times", "docs"):
        next_id.setdefault(t, 1)
    try:
        with c.cursor() as cur:
            cur.execute("SET SESSION time_zone = '+00:00'")
            for t in range(transactions):
                cur.execute("BEGIN")
                if t in big:
                    base = next_id["nums"]
                    cur.execute(f"INSERT INTO {name}.nums SELECT seq, seq * 7, seq, seq / 8, seq / 3, "
                                f"seq % 32 FROM {name}.seq_{base}_to_{base + 2499}")
                    next_id["nums"] = base + 2500
                for _ in range(rng.randint(1, 6)):
                    table = rng.choice(["nums", "texts", "times", "docs", "nopk"])
                    op = rng.choice(["insert", "insert", "update", "delete"])
                    if table == "nopk":
                        cur.execute(f"INSERT INTO {name}.nopk VALUES ({rng.randint(1, 9)}, 'x{t}')")
                        continue
                    i = next_id[table]
                    if op == "insert" or i == 1:
                        n = rng.randint(1, 4)
                        for k in range(n):
                            row = i + k
                            if table == "nums":
                                cur.execute(f"INSERT INTO {name}.nums VALUES ({row}, {rng.randint(-10**12, 10**12)}, "
                                            f"{rng.randint(0, 4294967295)}, {rng.randint(-10**8, 10**8) / 1000}, "
                                            f"{rng.random()}, {rng.randint(0, 31)})")
                            elif table == "texts":
                                cur.execute(f"INSERT INTO {name}.texts VALUES ({row}, 'Zoë {row}', "
                                            f"REPEAT('t', {rng.randint(0, 300)}), 'Grüße', "
                                            f"'{rng.choice('abc')}', 'x,y')")
                            elif table == "times":
                                cur.execute(f"INSERT INTO {name}.times VALUES ({row}, "
                                            f"'2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)} 12:34:56.{rng.randint(0, 999999):06d}', "
                                            f"'2030-01-01 00:00:0{rng.randint(0, 9)}.5', '-{rng.randint(0, 838)}:00:00.25', 2024)")
                            else:
                                cur.execute(f"INSERT INTO {name}.docs VALUES ({row}, "
                                            f"'{{\"k\": {row}, \"a\": [1, \"two\", {{\"x\": null}}]}}', x'00ff{row % 256:02x}', "
                                            f"POINT({row}, -{row}))")
                        next_id[table] = i + n
                    elif op == "update":
                        col = {"nums": "i = i + 1", "texts": "s = LEFT(CONCAT(s, '!'), 64)",
                               "times": "y = y + 1", "docs": "j = JSON_SET(j, '$.k', 0)"}[table]
                        lo = rng.randint(1, i)  # a bounded range: a long load stays linear
                        cur.execute(f"UPDATE {name}.{table} SET {col} WHERE id BETWEEN "
                                    f"{lo} AND {lo + rng.randint(0, 20)}")
                    else:
                        cur.execute(f"DELETE FROM {name}.{table} WHERE id = {rng.randint(1, i)}")
                cur.execute("COMMIT")
    finally:
        c.close()


def test_randomized_workload_exactly_once(sdl, mariadb, target, tmp_path):
    rng = random.Random(20261123)
    start = mariadb.gtid_binlog_pos()
    setup_tables(mariadb, "rw")
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 500, max_delay: 50ms", start=start)
    d.start()
    random_workload(mariadb, "rw", rng, transactions=80, big=(10, 50))
    end = mariadb.gtid_binlog_pos()
    off = wait_for_offset(target, end, d)
    assert d.stop() == 0, d.output()[-3000:]
    summary = check_row_changes(target, mariadb, start, end, daemon=d, tail=sdl)
    assert summary["split"] >= 5000  # the two 2,500-row transactions were split (max_rows 500)
    assert off["gtid"] == end and off["partial"] is None
    assert off["rows_applied"] == summary["rows"]
    assert target.db.row_changes_staging.count_documents({}) == 0
    print(f"randomized workload: {summary['documents']} documents, {summary['split']} split, "
          f"{off['batch']} batches, offset {off['gtid']}")


def test_sigterm_under_load_stops_cleanly_and_resumes(sdl, mariadb, target, tmp_path):
    start = mariadb.gtid_binlog_pos()
    setup_tables(mariadb, "st")
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 200, max_delay: 20ms", start=start)
    d.start()
    stop_load = threading.Event()

    def load():
        rng = random.Random(7)
        state = {}
        while not stop_load.is_set():
            random_workload(mariadb, "st", rng, transactions=5, state=state)

    t = threading.Thread(target=load)
    t.start()
    try:
        time.sleep(3)
        t0 = time.time()
        assert d.stop(timeout=30) == 0, d.output()[-3000:]
        assert time.time() - t0 < 30
    finally:
        stop_load.set()
        t.join()
    end = mariadb.gtid_binlog_pos()
    d.start()
    wait_for_offset(target, end, d)
    assert d.stop() == 0
    # some 50,000 documents: the oracle only (comparing with sdl tail too would triple the cost)
    check_row_changes(target, mariadb, start, end, daemon=d)


def test_target_down_at_start_up_is_waited_for(sdl, mariadb, tmp_path):
    if __import__("os").environ.get("SDL_TEST_MONGODB_URI"):
        pytest.fail("this test stops and starts the target: it needs tests/fakemongod")
    t = Target(tmp_path, "down")
    try:
        t.fake.stop()
        start = mariadb.gtid_binlog_pos()
        mariadb.sql("CREATE DATABASE IF NOT EXISTS dn", "CREATE TABLE dn.t (id INT PRIMARY KEY)",
                    "INSERT INTO dn.t VALUES (1), (2)")
        d = Daemon(sdl, t, tmp_path, start=start)
        d.start()
        time.sleep(3)
        assert d.proc.poll() is None, d.output()
        t.fake.start()
        end = mariadb.gtid_binlog_pos()
        wait_for_offset(t, end, d)
        assert d.stop() == 0
        assert "connecting to the target failed, retrying" in d.output()
        check_row_changes(t, mariadb, start, end, daemon=d, tail=sdl)
    finally:
        t.close()


def test_source_restarted_mid_stream(sdl, tmp_path, target):
    db = MariaDB(basedir=str(tmp_path / "src"))
    db.start()
    try:
        db.create_repl_user()
        s = Sdl(tmp_path, db)
        start = db.gtid_binlog_pos()
        db.sql("CREATE DATABASE r", "CREATE TABLE r.t (id INT PRIMARY KEY, v VARCHAR(10))")
        port = free_port()
        d = Daemon(s, target, tmp_path, start=start, extra=f"http:\n  listen: 127.0.0.1:{port}\n")
        d.start()
        db.sql(*[f"INSERT INTO r.t VALUES ({i}, 'a')" for i in range(20)])
        time.sleep(1)
        db.kill9()
        # while the source is away, /health/ready says so (the reader is reconnecting)
        deadline = time.time() + 20
        body = None
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2)
            except urllib.error.HTTPError as e:
                body = json.loads(e.read())
                break
            except OSError:
                pass
            time.sleep(0.1)
        assert body and "source down" in body["reasons"] and body["source_up"] is False, body
        db.start()
        db.sql(*[f"INSERT INTO r.t VALUES ({i}, 'b')" for i in range(20, 40)])
        end = db.gtid_binlog_pos()
        wait_for_offset(target, end, d)
        assert d.stop() == 0
        check_row_changes(target, db, start, end, daemon=d, tail=s)
    finally:
        db.remove()


def test_one_million_row_transaction_in_bounded_memory(sdl, mariadb, target, tmp_path):
    start = mariadb.gtid_binlog_pos()
    mariadb.sql("CREATE DATABASE IF NOT EXISTS big",
                "CREATE TABLE big.t (id INT PRIMARY KEY, v BIGINT, s VARCHAR(20))",
                "INSERT INTO big.t SELECT seq, seq * 3, CONCAT('row ', seq) FROM big.seq_1_to_1000000")
    end = mariadb.gtid_binlog_pos()
    # The production socket timeout: one 20,000-document insert into the Python fake can take
    # seconds on a busy 2-core machine, and a client-side timeout in the middle of it leaves
    # the server running the abandoned transaction (holding its documents, WriteConflict for
    # the retries) until transactionLifetimeLimitSeconds, as a real mongod would.
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 20000", start=start, socket_timeout="60s")
    d.start()
    peak = 0
    deadline = time.time() + 900
    while time.time() < deadline:
        try:
            with open(f"/proc/{d.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
        off = offset(target)
        if off and off.get("gtid") == end and not off.get("partial"):
            break
        assert d.proc.poll() is None, d.output()[-3000:]
        time.sleep(0.5)
    assert d.stop() == 0
    n = target.db.row_changes.count_documents({"db": "big", "table": "t", "op": "insert"})
    split = target.db.row_changes.count_documents({"db": "big", "split": True})
    print(f"1,000,000-row transaction: {n} documents, {split} split, sdl peak RSS {peak // 1024} MiB")
    assert n == 1000000 and split == 1000000
    assert peak < 256 * 1024, f"peak RSS {peak} KiB"
    assert offset(target)["rows_applied"] >= 1000000


def test_sighup_reloads_table_filters_and_refuses_other_changes(sdl, mariadb, target, tmp_path):
    """SIGHUP applies the reloadable keys (here tables.exclude) from the next transaction on;
    a file that changes a key which is not reloadable is refused and the pipeline goes on
    with the configuration in force."""
    import os
    import signal

    start = mariadb.gtid_binlog_pos()
    mariadb.sql("CREATE DATABASE IF NOT EXISTS rl", "CREATE TABLE rl.keep (id INT PRIMARY KEY)",
                "CREATE TABLE rl.skip (id INT PRIMARY KEY)",
                "INSERT INTO rl.keep VALUES (1)", "INSERT INTO rl.skip VALUES (1)")
    d = Daemon(sdl, target, tmp_path, batch="max_delay: 20ms", start=start)
    d.start()
    try:
        wait_for_offset(target, mariadb.gtid_binlog_pos(), d)
        text = open(d.config).read()

        def sighup_and_wait(marker, nth):
            os.kill(d.proc.pid, signal.SIGHUP)
            deadline = time.time() + 30
            while d.output().count(marker) < nth:
                assert time.time() < deadline, d.output()[-3000:]
                assert d.proc.poll() is None, d.output()[-3000:]
                time.sleep(0.1)

        # A change the reload must refuse: the target's socket timeout.
        open(d.config, "w").write(text.replace("socket_timeout: 5s", "socket_timeout: 6s"))
        sighup_and_wait("Reload refused", 1)
        assert "'target.socket_timeout' cannot change on reload" in d.output()
        mariadb.sql("INSERT INTO rl.skip VALUES (2)")
        wait_for_offset(target, mariadb.gtid_binlog_pos(), d)

        # A reloadable change: exclude rl.skip from now on.
        open(d.config, "w").write(text + "tables:\n  exclude: ['rl.skip']\n")
        sighup_and_wait("Configuration reloaded", 1)
        mid = mariadb.gtid_binlog_pos()
        mariadb.sql("INSERT INTO rl.skip VALUES (3)", "INSERT INTO rl.keep VALUES (3)")
        end = mariadb.gtid_binlog_pos()
        wait_for_offset(target, end, d)
        rows = {(doc["table"], doc["pk"]["id"])
                for doc in target.db.row_changes.find({"op": "insert", "db": "rl"})}
        assert rows == {("keep", 1), ("skip", 1), ("skip", 2), ("keep", 3)}, rows
        # the oracle: no filter up to the reload, rl.skip excluded after it
        check_against_oracle(target, Oracle(mariadb).expected(start, mid)
                             + Oracle(mariadb, exclude=["rl.skip"]).expected(mid, end),
                             max_rows=d.max_rows, max_bytes=d.max_bytes)
    finally:
        assert d.stop() == 0, d.output()[-3000:]


def test_a_standalone_target_is_refused_with_exit_78(sdl, mariadb, tmp_path):
    """sdl commits in transactions: a target that is not a replica set is a configuration
    error (exit 78, which systemd does not restart), said in one clear line."""
    from harness import FakeMongod  # on sys.path through runlib

    class Standalone:
        database = "sdltest_standalone"

    fake = FakeMongod(tmp_path / "standalone", replset=None).start()
    try:
        t = Standalone()
        t.uri = fake.uri
        d = Daemon(sdl, t, tmp_path, start=mariadb.gtid_binlog_pos())
        d.start()
        assert d.wait(60) == 78, d.output()[-3000:]
        out = d.output()
        assert "is a standalone server: sdl needs a replica set" in out, out
        assert "retrying" not in out, out
    finally:
        fake.stop()


def test_two_pipelines_share_a_target(sdl, mariadb, target, tmp_path):
    """Several pipelines may share one target database (DESIGN §7): each has its own offset
    document, its own staged batches and its own _id prefix, and neither disturbs the
    other."""
    start = mariadb.gtid_binlog_pos()
    mariadb.sql("CREATE DATABASE IF NOT EXISTS two", "CREATE TABLE two.a (id INT PRIMARY KEY)",
                "CREATE TABLE two.b (id INT PRIMARY KEY)")
    da = Daemon(sdl, target, tmp_path, start=start,
                extra="tables:\n  include: ['two.a']\n", config_name="run-a.yaml")
    db_ = Daemon(sdl, target, tmp_path, start=start, config_name="run-b.yaml",
                 extra="tables:\n  include: ['two.b']\n")
    text = open(db_.config).read()
    open(db_.config, "w").write(text.replace("name: test", "name: second")
                                .replace("server_id: 4242", "server_id: 4243"))
    db_.log_path = tmp_path / "sdl-run-b.log"
    da.start()
    db_.start()
    try:
        for i in range(1, 31):
            mariadb.sql(f"INSERT INTO two.a VALUES ({i})", f"INSERT INTO two.b VALUES ({i})")
        end = mariadb.gtid_binlog_pos()
        oa = wait_for_offset(target, end, da)
        ob = wait_for_offset(target, end, db_, pipeline="second")
    finally:
        assert da.stop() == 0, da.output()[-3000:]
        assert db_.stop() == 0, db_.output()[-3000:]
    assert oa["rows_applied"] == 30 and ob["rows_applied"] == 30
    check_against_oracle(target, Oracle(mariadb, include=["two.a"]).expected(start, end)
                         + Oracle(mariadb, pipeline="second", include=["two.b"]).expected(start, end),
                         max_rows=da.max_rows, max_bytes=da.max_bytes)
    docs = list(target.db.row_changes.find({"db": "two", "op": "insert"}))
    by = {(d["_id"].split(":")[0], d["table"]) for d in docs}
    assert by == {("test", "a"), ("second", "b")}, by
    assert len(docs) == 60
    assert target.db.row_changes_staging.count_documents({}) == 0
