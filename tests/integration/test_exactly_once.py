"""Regression tests of issue 10, "Exactly once under real-world workloads": each reproduces one
way the exactly-once promise broke (first starts, statement-based sessions, filtered DDL before
a split transaction, CREATE TABLE ... SELECT, the table-map cache, rows MongoDB cannot store,
ambiguous commits, damaged staging, reloads across reconnects, transactions too large for
MongoDB). Expected documents come from what the test itself wrote (ids, @@last_gtid) and from
the independent oracle (tests/integration/oracle.py, mariadb-binlog --verbose)."""
import calendar
import glob
import json
import re
import signal
import time

import pytest

from runlib import Daemon, check_row_changes, offset, wait_for_offset


# ---- helpers ----------------------------------------------------------------------------------

def run_sql(mariadb, *statements, session=()):
    """Runs @statements on one connection (after the @session statements); returns the
    connection's @@last_gtid: the GTID of its last transaction, as the server says."""
    c = mariadb.root()
    try:
        with c.cursor() as cur:
            for st in (*session, *statements):
                cur.execute(st)
            cur.execute("SELECT @@last_gtid")
            return cur.fetchone()[0]
    finally:
        c.close()


def wait_for_log(daemon, pattern, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = daemon.output()[daemon.log_start:]
        if re.search(pattern, out):
            return
        if daemon.proc.poll() is not None:
            raise AssertionError(f"sdl exited {daemon.proc.returncode} before logging {pattern!r}:\n{out[-3000:]}")
        time.sleep(0.05)
    raise AssertionError(f"sdl never logged {pattern!r}:\n{daemon.output()[-3000:]}")


def docs_of(target, **query):
    return list(target.db.row_changes.find(query).sort([("gtid", 1), ("seq", 1)]))


def row_ids(target, table):
    return sorted(d["after"]["id"] for d in target.db.row_changes.find({"table": table, "op": "insert"}))


def verify(mariadb, target, start, end, daemon, include=(), **kw):
    """row_changes equals what the independent oracle derives for the binlog range (start, end]
    (mariadb-binlog -vv; runlib.check_row_changes)."""
    return check_row_changes(target, mariadb, start, end, daemon=daemon, include=include, **kw)


# ---- 1. the first start -----------------------------------------------------------------------

def test_first_start_keeps_the_rows_read_before_the_first_commit(sdl, mariadb, target, tmp_path):
    """start: now, the staging write fails, kill -9 before batch 1 commits: the restart must
    resume at the position the first start resolved, not at a new "now"."""
    mariadb.sql("CREATE DATABASE IF NOT EXISTS fs", "CREATE TABLE fs.t (id INT PRIMARY KEY)")
    d = Daemon(sdl, target, tmp_path, start="now", batch="max_rows: 100, max_delay: 10ms")
    d.start()
    wait_for_log(d, r"Replicating after GTID position")
    first = mariadb.gtid_binlog_pos()
    target.fail("alwaysOn", failCommands=["update"], errorCode=91)  # the staging write
    gtids = [run_sql(mariadb, f"INSERT INTO fs.t VALUES ({i})") for i in range(1, 6)]
    wait_for_log(d, r"staging batch 1 failed, retrying")
    d.kill9()
    target.fail_off()
    gtids += [run_sql(mariadb, f"INSERT INTO fs.t VALUES ({i})") for i in range(6, 11)]
    d.start()
    wait_for_log(d, r"Replicating after GTID position")
    gtids.append(run_sql(mariadb, "INSERT INTO fs.t VALUES (11)"))
    end = mariadb.gtid_binlog_pos()
    off = wait_for_offset(target, end, d)
    assert d.stop() == 0
    assert row_ids(target, "t") == list(range(1, 12))
    assert [d["_id"] for d in docs_of(target, db="fs")] == sorted(f"test:{g}:1" for g in gtids)
    assert off["gtid"] == end and off["partial"] is None
    verify(mariadb, target, first, end, d)


def test_first_start_stores_batch_0_before_ready(sdl, mariadb, target, tmp_path):
    start = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, start="now")
    d.start()
    wait_for_log(d, r"First start of pipeline 'test': its start position '[^']*' is stored as batch 0")
    off = offset(target)
    assert off["batch"] == 0 and off["gtid"] == start and off["flavor"] == "mariadb"
    assert off["binlog"] is None and off["source_ts"] is None and off["rows_applied"] == 0
    assert d.stop() == 0
    # a second start resumes from it (no second batch 0)
    d.start()
    wait_for_log(d, r"Replicating after GTID position '%s'" % re.escape(start))
    assert d.stop() == 0
    assert "First start" not in d.output()[d.log_start:]


# ---- 2. statement-based changes ---------------------------------------------------------------

@pytest.mark.parametrize("include", [None, "sb.*"])
def test_statement_based_dml_stops_naming_its_gtid_and_first_words(sdl, mariadb, target, tmp_path, include):
    db = "sb" if include else "sbx"
    mariadb.sql(f"CREATE DATABASE IF NOT EXISTS {db}", f"DROP TABLE IF EXISTS {db}.t",
                f"CREATE TABLE {db}.t (id INT PRIMARY KEY, v VARCHAR(10))")
    start = mariadb.gtid_binlog_pos()
    first = run_sql(mariadb, f"INSERT INTO {db}.t VALUES (1, 'row')")
    stmt = run_sql(mariadb, f"INSERT INTO {db}.t VALUES (2, 'secret')",
                   session=["SET SESSION binlog_format=STATEMENT"])
    run_sql(mariadb, f"INSERT INTO {db}.t VALUES (3, 'row')")
    extra = f"tables:\n  include: ['{include}']\n" if include else ""
    d = Daemon(sdl, target, tmp_path, start=start, extra=extra, batch="max_delay: 10ms")
    d.start()
    assert d.wait(60) == 65, d.output()[-3000:]
    out = d.output()
    assert f"transaction {stmt}" in out and f"statement-based row change 'INSERT INTO {db}.t VALUES'" in out
    assert "secret" not in out
    assert row_ids(target, "t") == [1]  # before it: committed; it and after: nothing
    off = offset(target)
    assert off["gtid"] == first and off["partial"] is None
    # sdl tail stops the same way
    p = sdl.run("tail", "-c", sdl.write_config(name="t.yaml"), "--from", start, "--until", "now")
    assert p.returncode == 65 and f"transaction {stmt}" in p.stderr, p.stderr


def test_statement_after_rows_in_one_transaction_stops(sdl, mariadb, target, tmp_path):
    """binlog_format=MIXED: an unsafe statement is logged as rows, a safe one as text, both in
    one transaction."""
    mariadb.sql("CREATE DATABASE IF NOT EXISTS mx", "CREATE TABLE mx.t (id INT PRIMARY KEY, u VARCHAR(40))")
    start = mariadb.gtid_binlog_pos()
    gtid = run_sql(mariadb, "BEGIN", "INSERT INTO mx.t VALUES (1, UUID())",
                   "INSERT INTO mx.t VALUES (2, 'x')", "COMMIT",
                   session=["SET SESSION binlog_format=MIXED"])
    d = Daemon(sdl, target, tmp_path, start=start)
    d.start()
    assert d.wait(60) == 65, d.output()[-3000:]
    assert f"transaction {gtid}" in d.output() and "INSERT INTO mx.t VALUES" in d.output()
    assert target.db.row_changes.count_documents({"db": "mx"}) == 0


# ---- 3. a filtered DDL before a split transaction ---------------------------------------------

def test_filtered_ddl_before_a_split_transaction_resumes(sdl, mariadb, target, tmp_path):
    mariadb.sql("CREATE DATABASE IF NOT EXISTS other3", "CREATE DATABASE IF NOT EXISTS shop3",
                "CREATE TABLE shop3.t (id INT PRIMARY KEY, v INT)")
    start = mariadb.gtid_binlog_pos()
    mariadb.sql("CREATE TABLE other3.x (id INT)")
    mariadb.sql("INSERT INTO shop3.t SELECT seq, seq FROM shop3.seq_1_to_2000")
    end = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, start=start, batch="max_rows: 100",
               extra="tables:\n  include: ['shop3.*']\n")
    # the 2nd commit is a part of the split transaction (the 1st moves past the DDL)
    d.start(env={"SDL_FAILPOINT": "writer.after_commit:2"})
    assert d.wait(60) == 137, d.output()[-3000:]
    assert offset(target)["partial"] is not None
    d.start()
    off = wait_for_offset(target, end, d)
    assert d.stop() == 0, d.output()[-3000:]
    assert off["gtid"] == end and off["partial"] is None
    assert row_ids(target, "t") == list(range(1, 2001))
    assert all(doc.get("split") for doc in docs_of(target, db="shop3"))
    summary = verify(mariadb, target, start, end, d, include=["shop3.*"])
    assert summary["split"] == 2000


# ---- 4. CREATE TABLE ... SELECT ---------------------------------------------------------------

def test_create_table_select_is_one_transaction(sdl, mariadb, target, tmp_path):
    mariadb.sql("CREATE DATABASE IF NOT EXISTS ct", "CREATE TABLE ct.src (id INT PRIMARY KEY, v INT)",
                "INSERT INTO ct.src SELECT seq, seq FROM ct.seq_1_to_50")
    start = mariadb.gtid_binlog_pos()
    ctas = run_sql(mariadb, "CREATE TABLE ct.copy (PRIMARY KEY (id)) AS SELECT * FROM ct.src")
    run_sql(mariadb, "INSERT INTO ct.src VALUES (51, 51)")
    end = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, start=start, batch="max_rows: 1000")
    d.start(env={"SDL_FAILPOINT": "writer.after_commit:1"})
    assert d.wait(60) == 137, d.output()[-3000:]
    d.start()
    off = wait_for_offset(target, end, d)
    assert d.stop() == 0, d.output()[-3000:]
    assert off["gtid"] == end
    txn = docs_of(target, gtid=ctas)
    assert [x["seq"] for x in txn] == list(range(1, 52))
    assert txn[0]["op"] == "ddl" and txn[0]["table"] == "copy"
    assert [x["after"]["id"] for x in txn[1:]] == list(range(1, 51))
    assert not any(x.get("split") for x in txn)
    verify(mariadb, target, start, end, d)


# ---- 5. the table-map cache -------------------------------------------------------------------

def test_statements_mapping_many_tables_after_many_tables(sdl, mariadb, target, tmp_path):
    n = 100
    mariadb.sql("CREATE DATABASE IF NOT EXISTS tm",
                *[f"CREATE TABLE tm.t{i} (id INT PRIMARY KEY, v INT)" for i in range(n)],
                "CREATE TABLE tm.hub (id INT PRIMARY KEY)",
                "CREATE TRIGGER tm.fan AFTER INSERT ON tm.hub FOR EACH ROW BEGIN "
                + " ".join(f"INSERT INTO tm.t{i} VALUES (NEW.id + 1000, {i});" for i in range(70))
                + " END")
    start = mariadb.gtid_binlog_pos()
    mariadb.sql(*[f"INSERT INTO tm.t{i} VALUES (1, 0)" for i in range(n)])  # >64 tables seen
    mariadb.sql(*[f"UPDATE tm.t{i} a JOIN tm.t{i + 50} b ON a.id = b.id SET a.v = a.v + 1, b.v = b.v + 1"
                  for i in range(40)])
    mariadb.sql("INSERT INTO tm.hub VALUES (1)")  # one statement, 71 tables
    end = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, start=start)
    d.start()
    wait_for_offset(target, end, d)
    assert d.stop() == 0, d.output()[-3000:]
    assert target.db.row_changes.count_documents({"db": "tm", "op": "insert"}) == n + 1 + 70
    assert target.db.row_changes.count_documents({"db": "tm", "op": "update"}) == 80
    verify(mariadb, target, start, end, d)


# ---- 7. a row MongoDB cannot store ------------------------------------------------------------

def test_row_over_16_mib_stops_with_exit_65_naming_it(sdl, mariadb, target, tmp_path):
    mariadb.sql("CREATE DATABASE IF NOT EXISTS big", "CREATE TABLE big.t (id INT PRIMARY KEY, b LONGBLOB)")
    start = mariadb.gtid_binlog_pos()
    before = run_sql(mariadb, "INSERT INTO big.t VALUES (1, 'small')")
    huge = run_sql(mariadb, "BEGIN", "INSERT INTO big.t VALUES (2, 'small too')",
                   "INSERT INTO big.t VALUES (3, REPEAT('x', 20 * 1024 * 1024))", "COMMIT")
    run_sql(mariadb, "INSERT INTO big.t VALUES (4, 'after')")
    d = Daemon(sdl, target, tmp_path, start=start)
    d.start()
    assert d.wait(120) == 65, d.output()[-3000:]
    out = d.output()
    m = re.search(r"row (\d+) of transaction (\S+) in 'big\.t' \(binlog '[^']+':\d+\) maps to a "
                  r"document of (\d+) bytes", out)
    assert m, out[-3000:]
    assert m[1] == "2" and m[2] == huge and int(m[3]) > 20 * 1024 * 1024
    assert row_ids(target, "t") == [1]
    off = offset(target)
    assert off["gtid"] == before and off["partial"] is None
    assert target.db.row_changes_staging.count_documents({}) == 0
    # the unit does not restart it
    unit = open(sdl.bin.replace("src/daemon/sdl", "systemd/sdl.service")).read()
    assert re.search(r"^RestartPreventExitStatus=.*\b65\b", unit, re.M), unit


# ---- lower severity ---------------------------------------------------------------------------

def test_ambiguous_commit_is_settled_by_the_position_not_the_batch_number(sdl, mariadb, target, tmp_path):
    """While batch n's commit is in doubt, another writer stores its own batch n: sdl must not
    take that for its own commit (its rows would be lost) but stop on fencing."""
    mariadb.sql("CREATE DATABASE IF NOT EXISTS am", "CREATE TABLE am.t (id INT PRIMARY KEY)")
    start = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, start=start, batch="max_delay: 10ms")
    d.start()
    wait_for_log(d, r"Replicating after GTID position")
    n = offset(target)["batch"] + 1
    target.fail("alwaysOn", failCommands=["commitTransaction"], closeConnection=True)
    mariadb.sql("INSERT INTO am.t VALUES (1)")
    wait_for_log(d, r"committing batch %d failed, retrying" % n)
    # the other writer: batch n at another position
    target.db.binlog_offsets.update_one({"_id": "test"}, {"$set": {"batch": n, "gtid": "0-1-999999"}})
    target.fail_off()
    assert d.wait(60) == 1, d.output()[-3000:]
    out = d.output()
    assert "fencing" in out and "0-1-999999" in out, out[-3000:]
    assert target.db.row_changes.count_documents({"db": "am"}) == 0


def test_damaged_staged_batch_stops_recovery_loudly(sdl, mariadb, target, tmp_path):
    mariadb.sql("CREATE DATABASE IF NOT EXISTS ds", "CREATE TABLE ds.t (id INT PRIMARY KEY)")
    start = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, start=start, batch="max_rows: 10")
    d.start(env={"SDL_FAILPOINT": "writer.after_stage:1"})
    mariadb.sql("INSERT INTO ds.t VALUES (1), (2), (3)")
    assert d.wait(60) == 137, d.output()[-3000:]
    part = target.db.row_changes_staging.find_one({})
    assert part["count"] == 3
    target.db.row_changes_staging.update_one({"_id": part["_id"]}, {"$pop": {"changes": 1}})
    d.start()
    assert d.wait(60) == 65, d.output()[-3000:]
    out = d.output()
    assert re.search(r"staged batch 1 of pipeline 'test' is damaged: part 0: it holds 2 changes "
                     r"where its count says 3", out), out[-3000:]
    assert target.db.row_changes.count_documents({}) == 0
    assert target.db.row_changes_staging.count_documents({}) == 1  # not dropped silently


def test_split_offset_on_first_start_names_its_binlog_and_time(sdl, mariadb, target, tmp_path):
    mariadb.sql("CREATE DATABASE IF NOT EXISTS so", "CREATE TABLE so.t (id INT PRIMARY KEY)")
    d = Daemon(sdl, target, tmp_path, start="now", batch="max_rows: 100")
    d.start(env={"SDL_FAILPOINT": "writer.after_commit:1"})
    wait_for_log(d, r"Replicating after GTID position")
    t0 = time.time()
    mariadb.sql("INSERT INTO so.t SELECT seq FROM so.seq_1_to_1000")
    assert d.wait(60) == 137, d.output()[-3000:]
    off = offset(target)
    assert off["partial"] and off["partial"]["seq"] == 100
    binlog_file = mariadb.sql("SHOW MASTER STATUS")[0][0]
    assert off["binlog"]["file"] == binlog_file and off["binlog"]["pos"] > 4
    assert abs(calendar.timegm(off["source_ts"].utctimetuple()) - t0) < 60


def test_offset_after_a_ddl_is_the_end_of_its_event(sdl, mariadb, target, tmp_path):
    start = mariadb.gtid_binlog_pos()
    mariadb.sql("CREATE DATABASE IF NOT EXISTS dp", "CREATE TABLE dp.t (id INT PRIMARY KEY)")
    binlog_file, binlog_end = mariadb.sql("SHOW MASTER STATUS")[0][:2]
    end = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, start=start)
    d.start()
    off = wait_for_offset(target, end, d)
    assert d.stop() == 0
    assert off["binlog"] == {"file": binlog_file, "pos": binlog_end}
    verify(mariadb, target, start, end, d)


def test_reload_after_a_reconnect_inside_a_transaction_keeps_its_filters(sdl, mariadb, target, tmp_path):
    """SIGHUP while a big transaction is being read, then the source connection drops inside
    it: the transaction is read again with the filters it began with."""
    mariadb.sql("CREATE DATABASE IF NOT EXISTS rl", "CREATE TABLE rl.a (id INT PRIMARY KEY, pad VARCHAR(255))",
                "CREATE TABLE rl.b (id INT PRIMARY KEY, pad VARCHAR(255))")
    start = mariadb.gtid_binlog_pos()
    run_sql(mariadb, "INSERT INTO rl.a VALUES (0, 'first')")  # what the writer stalls on
    big = run_sql(mariadb, "BEGIN",
                  *[f"INSERT INTO rl.{t} SELECT seq + {k * 10000}, REPEAT('p', 250) FROM rl.seq_1_to_5000"
                    for k in range(8) for t in ("a", "b")], "COMMIT")
    run_sql(mariadb, "INSERT INTO rl.b VALUES (999999, 'later')")
    end = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, start=start,
               batch="max_rows: 100000, max_bytes: 1MiB, max_delay: 10ms",
               extra="tables:\n  include: ['rl.a']\n")
    text = open(d.config).read()
    open(d.config, "w").write(text.replace("  batch: {", "  queue_bytes: 2MiB\n  batch: {"))
    target.fail("alwaysOn", failCommands=["update"], errorCode=91)  # the writer stalls on staging
    d.start()
    wait_for_log(d, r"staging batch \d+ failed, retrying", timeout=120)
    time.sleep(2)  # the reader fills the queue and waits inside the big transaction
    text = open(d.config).read()
    open(d.config, "w").write(text.replace("include: ['rl.a']", "include: ['rl.a', 'rl.b']"))
    d.proc.send_signal(signal.SIGHUP)
    wait_for_log(d, r"Configuration reloaded")
    # drop the replication connection while sdl is inside the big transaction
    killed = 0
    for row in mariadb.sql("SHOW PROCESSLIST"):
        if row[4] and "Binlog Dump" in row[4]:
            mariadb.sql(f"KILL {row[0]}")
            killed += 1
    assert killed == 1
    target.fail_off()
    wait_for_log(d, r"Lost the source connection", timeout=120)
    wait_for_offset(target, end, d, timeout=300)
    assert d.stop() == 0, d.output()[-3000:]
    in_big = target.db.row_changes.count_documents({"gtid": big, "table": "b"})
    assert in_big == 0, f"{in_big} rows of rl.b in the transaction that began under the old filters"
    assert target.db.row_changes.count_documents({"gtid": big, "table": "a"}) == 40000
    assert target.db.row_changes.count_documents({"table": "b"}) == 1  # the next transaction
    assert target.db.row_changes.count_documents({"table": "a"}) == 40001


@pytest.mark.parametrize("code", [257, 290, 334])
def test_transaction_too_large_for_mongodb_is_committed_in_smaller_batches(sdl, mariadb, target, tmp_path, code):
    db = f"tl{code}"
    mariadb.sql(f"CREATE DATABASE IF NOT EXISTS {db}", f"CREATE TABLE {db}.t (id INT PRIMARY KEY)")
    start = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, start=start, batch="max_rows: 400, max_delay: 2s")
    d.start()
    wait_for_log(d, r"Replicating after GTID position")
    target.fail({"times": 3}, failCommands=["commitTransaction"], errorCode=code)
    # 40 transactions of 10 rows, and one of 300 (split once the limits are lowered)
    mariadb.sql(*[f"INSERT INTO {db}.t SELECT seq + {k * 10} FROM {db}.seq_1_to_10" for k in range(40)])
    mariadb.sql(f"INSERT INTO {db}.t SELECT seq + 1000 FROM {db}.seq_1_to_300")
    end = mariadb.gtid_binlog_pos()
    wait_for_offset(target, end, d, timeout=120)
    assert d.stop() == 0, d.output()[-3000:]
    out = d.output()
    assert "too large or too slow for one MongoDB transaction" in out, out[-3000:]
    assert f"error {code}" in out
    assert len(row_ids(target, "t")) == 700
    verify(mariadb, target, start, end, d, allow_extra_split=True)


def test_staged_batch_too_large_for_mongodb_is_read_again_in_smaller_batches(sdl, mariadb, target, tmp_path):
    mariadb.sql("CREATE DATABASE IF NOT EXISTS tr", "CREATE TABLE tr.t (id INT PRIMARY KEY)")
    start = mariadb.gtid_binlog_pos()
    mariadb.sql(*[f"INSERT INTO tr.t VALUES ({i})" for i in range(1, 101)])
    end = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, start=start, batch="max_rows: 1000, max_delay: 1s")
    d.start(env={"SDL_FAILPOINT": "writer.after_stage:1"})
    assert d.wait(60) == 137, d.output()[-3000:]
    assert target.db.row_changes_staging.count_documents({}) == 1
    target.fail({"times": 1}, failCommands=["commitTransaction"], errorCode=257)
    d.start()
    wait_for_offset(target, end, d)
    assert d.stop() == 0, d.output()[-3000:]
    assert "its changes are read again from the binlog into smaller batches" in d.output()
    assert row_ids(target, "t") == list(range(1, 101))
    verify(mariadb, target, start, end, d, allow_extra_split=True)


# ---- found by the torture test ------------------------------------------------------------------

def test_source_restart_then_a_ddl_reconnects_the_metadata_connection(sdl, tmp_path, target):
    """After mariadbd restarts, the first table map that needs information_schema (its cache
    was emptied by a DDL) must not fail on the dead metadata connection."""
    from mariadb import MariaDB
    src = MariaDB(basedir=str(tmp_path / "m")).start()
    src.create_repl_user()
    try:
        from conftest import Sdl
        s = Sdl(tmp_path, src)
        src.sql("CREATE DATABASE rs", "CREATE TABLE rs.t (id INT PRIMARY KEY, j JSON)")
        start = src.gtid_binlog_pos()
        src.sql("INSERT INTO rs.t VALUES (1, '{\"a\": 1}')")
        d = Daemon(s, target, tmp_path, start=start, batch="max_delay: 10ms")
        d.start()
        wait_for_offset(target, src.gtid_binlog_pos(), d)
        src.restart()
        src.sql("ALTER TABLE rs.t ADD COLUMN n INT", "INSERT INTO rs.t VALUES (2, '{\"b\": 2}', 7)")
        end = src.gtid_binlog_pos()
        wait_for_offset(target, end, d)
        assert d.stop() == 0, d.output()[-3000:]
        assert "Lost the source connection" in d.output()
        docs = [x for x in docs_of(target, db="rs") if x["op"] == "insert"]
        assert [x["after"] for x in docs] == [{"id": 1, "j": {"a": 1}}, {"id": 2, "j": {"b": 2}, "n": 7}]
        verify(src, target, start, end, d)
    finally:
        src.remove()


def test_a_second_loss_while_reading_a_transaction_again_hands_out_nothing_twice(sdl, mariadb):
    """Found in review: a connection lost again while the stream re-reads a transaction (before
    it is past what it had handed out) must not lower the skip point. SDL_FAILPOINT's
    source.lose_connection breaks the connection before the n-th event, as if the source went
    away there."""
    mariadb.sql("CREATE DATABASE IF NOT EXISTS rr", "CREATE TABLE rr.t (id INT PRIMARY KEY)")
    start = mariadb.gtid_binlog_pos()
    gtid = run_sql(mariadb, "BEGIN", *[f"INSERT INTO rr.t VALUES ({i})" for i in range(1, 2001)],
                   "COMMIT")
    end = mariadb.gtid_binlog_pos()
    # one TABLE_MAP and one rows event per statement: the 2000th event is inside the
    # transaction, the 2500th inside its second reading, before the rows handed out
    p = sdl.run("tail", "-c", sdl.write_config(name="rr.yaml"), "--from", start, "--until", end,
                env={"SDL_FAILPOINT": "source.lose_connection:2000,source.lose_connection:2500"})
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("reconnecting in") == 2, p.stderr
    docs = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    ids = [d["_id"] for d in docs]
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} documents handed out twice"
    assert ids == [f"test:{gtid}:{i}" for i in range(1, 2001)]


def test_ddl_on_an_included_table_passes_the_filters_with_comments_and_lists(sdl, mariadb, target, tmp_path):
    """Found in review: a DDL whose text starts with a comment, or that names several tables,
    passes the include filter when one of its tables does."""
    mariadb.sql("CREATE DATABASE IF NOT EXISTS fshop", "CREATE DATABASE IF NOT EXISTS fother",
                "CREATE TABLE fother.z (id INT)")
    start = mariadb.gtid_binlog_pos()
    first = run_sql(mariadb, "/* app 42 */ CREATE TABLE fshop.cmt (id INT PRIMARY KEY)")
    second = run_sql(mariadb, "DROP TABLE fother.z, fshop.cmt")
    third = run_sql(mariadb, "SET STATEMENT max_statement_time=60 FOR CREATE TABLE fshop.s (id INT)")
    end = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, start=start, extra="tables:\n  include: ['fshop.*']\n")
    d.start()
    wait_for_offset(target, end, d)
    assert d.stop() == 0, d.output()[-3000:]
    ddl = [(x["gtid"], x.get("db"), x.get("table")) for x in docs_of(target, op="ddl")]
    assert ddl == [(first, "fshop", "cmt"), (second, "fother", "z"), (third, "fshop", "s")]
    verify(mariadb, target, start, end, d, include=["fshop.*"])


def test_tail_files_from_skips_a_statement_based_transaction_it_covers(sdl, mariadb):
    """Found in review: `--from` marks a statement-based transaction as done in file mode; it
    must not stop tail."""
    mariadb.sql("CREATE DATABASE IF NOT EXISTS fsk", "CREATE TABLE fsk.t (id INT PRIMARY KEY)")
    before = mariadb.gtid_binlog_pos()
    stmt = run_sql(mariadb, "INSERT INTO fsk.t VALUES (1)", session=["SET SESSION binlog_format=STATEMENT"])
    after = run_sql(mariadb, "INSERT INTO fsk.t VALUES (2)")
    mariadb.sql("FLUSH BINARY LOGS")
    files = sorted(f for f in glob.glob(mariadb.binlog + ".[0-9]*"))
    p = sdl.run("tail", "--file", *files, "--from", stmt)
    assert p.returncode == 0, p.stderr
    docs = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    assert [(x["gtid"], x["op"]) for x in docs] == [(after, "insert")]
    p = sdl.run("tail", "--file", *files, "--from", before)  # from before it: it stops there
    assert p.returncode == 65 and f"transaction {stmt}: statement-based row change" in p.stderr


def test_discarded_staging_without_an_offset_is_not_restarted_at_now(sdl, mariadb, target, tmp_path):
    """Found in review: a batch staged by a version without batch 0 (no offset document) that
    recovery discards must not make the pipeline start at a new "now"."""
    target.db.row_changes_staging.insert_one(
        {"_id": {"pipeline": "test", "batch": 1, "part": 0}, "status": "pending", "parts": 2,
         "count": 0, "changes": []})
    d = Daemon(sdl, target, tmp_path, start="now")
    d.start()
    assert d.wait(60) == 78, d.output()[-3000:]
    assert "its staged batches were discarded: with pipeline.start: now" in d.output()
    assert offset(target) is None


def test_batch_slower_than_the_transaction_lifetime_is_committed_in_smaller_batches(sdl, mariadb, target, tmp_path):
    """A commit transaction that outlives transactionLifetimeLimitSeconds is aborted by the
    server (NoSuchTransaction, "... exceeded transactionLifetimeLimitSeconds"): the same batch
    would fail again, a smaller one passes."""
    mariadb.sql("CREATE DATABASE IF NOT EXISTS lt", "CREATE TABLE lt.t (id INT PRIMARY KEY)")
    start = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, start=start, batch="max_rows: 400, max_delay: 2s")
    d.start()
    wait_for_log(d, r"Replicating after GTID position")
    # one batch first: it names sdl's server session in the lease (an update outside any
    # transaction), so that the two stalled updates below are the batch's own
    mariadb.sql("INSERT INTO lt.t VALUES (1000)")
    wait_for_offset(target, mariadb.gtid_binlog_pos(), d, timeout=60)
    was = target.client.admin.command({"setParameter": 1, "transactionLifetimeLimitSeconds": 1})
    try:
        # the staging write (an update), then the offset write inside the commit transaction
        # (a findAndModify, begun by its insert) stall past the lifetime once each
        target.fail({"times": 2}, failCommands=["update", "findAndModify"], blockConnection=True,
                    blockTimeMS=2500)
        mariadb.sql(*[f"INSERT INTO lt.t SELECT seq + {k * 10} FROM lt.seq_1_to_10" for k in range(30)])
        end = mariadb.gtid_binlog_pos()
        wait_for_offset(target, end, d, timeout=120)
    finally:
        target.client.admin.command({"setParameter": 1,
                                     "transactionLifetimeLimitSeconds": was.get("was", 60)})
    assert d.stop() == 0, d.output()[-3000:]
    out = d.output()
    assert "too large or too slow for one MongoDB transaction" in out, out[-3000:]
    assert "transactionLifetimeLimitSeconds" in out
    assert len(row_ids(target, "t")) == 301
    verify(mariadb, target, start, end, d, allow_extra_split=True)


def test_an_offset_written_for_another_flavour_is_refused(sdl, mariadb, target, tmp_path):
    """The offset records the source's flavour (no longer the literal "mariadb"); resuming a
    MySQL offset from a MariaDB source is refused."""
    d = Daemon(sdl, target, tmp_path, start="now")
    d.start()
    wait_for_log(d, r"Replicating after GTID position")
    assert d.stop() == 0
    assert offset(target)["flavor"] == "mariadb"
    target.db.binlog_offsets.update_one(
        {"_id": "test"}, {"$set": {"flavor": "mysql", "gtid": "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5"}})
    d.start()
    assert d.wait(60) == 78, d.output()[-3000:]
    assert ("the position '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5' was written for a mysql "
            "source; this source is mariadb") in d.output()
