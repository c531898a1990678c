"""Crash safety of sdl run (DESIGN.md §1.2): kill -9 at random moments during a continuous
workload, and at every durable step through SDL_FAILPOINT; after the final restart
row_changes holds every change exactly once (as the oracle, oracle.py, derives them from
`mariadb-binlog -vv`) and the offset is exact."""
import random
import re
import threading
import time
import urllib.request

import pytest

from mariadb import free_port
from runlib import Daemon, check_row_changes, offset, wait_for_offset
from test_run import random_workload, setup_tables


def test_kill9_at_random_moments_loses_and_duplicates_nothing(sdl, mariadb, target, tmp_path):
    start = mariadb.gtid_binlog_pos()
    setup_tables(mariadb, "k9")
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 300, max_delay: 10ms", start=start)
    stop_load = threading.Event()
    errors = []

    def load():
        rng = random.Random(99)
        try:
            n = 0
            state = {}
            while not stop_load.is_set():
                # a steady stream (some 100 transactions/s), a 2,500-row one now and then
                random_workload(mariadb, "k9", rng, transactions=4,
                                big=(0,) if n % 40 == 5 else (), state=state)
                n += 1
                time.sleep(0.02)
        except Exception as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    t = threading.Thread(target=load)
    t.start()
    rng = random.Random(4242)
    kills = 0
    try:
        d.start()
        for _ in range(32):
            time.sleep(rng.uniform(0.15, 1.2))
            assert d.proc.poll() is None, d.output()[-3000:]
            d.kill9()
            kills += 1
            d.start()
    finally:
        stop_load.set()
        t.join()
    assert not errors, errors
    end = mariadb.gtid_binlog_pos()
    off = wait_for_offset(target, end, d, timeout=300)
    assert d.stop() == 0, d.output()[-3000:]
    summary = check_row_changes(target, mariadb, start, end, daemon=d)
    assert off["gtid"] == end
    assert target.db.row_changes_staging.count_documents({}) == 0
    print(f"kill -9 test: {kills} kills, {summary['documents']} documents, "
          f"{summary['split']} split, {off['batch']} batches, no loss, no duplicate")


FAILPOINTS = ["writer.after_stage", "writer.in_transaction", "writer.after_commit"]


@pytest.mark.parametrize("failpoint", FAILPOINTS)
def test_kill_at_each_durable_step(sdl, mariadb, target, tmp_path, failpoint):
    start = mariadb.gtid_binlog_pos()
    db = "fp" + failpoint.split(".")[1][:8]
    mariadb.sql(f"CREATE DATABASE IF NOT EXISTS {db}", f"CREATE TABLE {db}.t (id INT PRIMARY KEY, v INT)",
                *[f"INSERT INTO {db}.t VALUES ({i}, {i})" for i in range(50)])
    end = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 10", start=start)
    # the 3rd time the step is reached, sdl dies as if killed -9
    d.start(env={"SDL_FAILPOINT": f"{failpoint}:3"})
    assert d.wait(60) == 137, d.output()[-3000:]
    assert "failpoint reached" in d.output()
    d.start()
    wait_for_offset(target, end, d)
    assert d.stop() == 0
    check_row_changes(target, mariadb, start, end, daemon=d, tail=sdl)
    assert target.db.row_changes_staging.count_documents({}) == 0


def test_a_transaction_left_open_by_a_killed_sdl_does_not_block_the_next_one(sdl, mariadb, target,
                                                                              tmp_path):
    """kill -9 between the writes of a commit transaction and commitTransaction leaves that
    transaction open on the server, holding the offset document, until the server's
    transactionLifetimeLimitSeconds (60 s by default, here 600 s). The next sdl must end it
    (killSessions of the sessions the lease names) instead of retrying its WriteConflict
    until then."""
    start = mariadb.gtid_binlog_pos()
    mariadb.sql("CREATE DATABASE IF NOT EXISTS orph", "CREATE TABLE orph.t (id INT PRIMARY KEY)",
                *[f"INSERT INTO orph.t VALUES ({i})" for i in range(40)])
    end = mariadb.gtid_binlog_pos()
    was = target.client.admin.command({"setParameter": 1, "transactionLifetimeLimitSeconds": 600})
    try:
        d = Daemon(sdl, target, tmp_path, batch="max_rows: 10", start=start)
        d.start(env={"SDL_FAILPOINT": "writer.in_transaction:2"})
        assert d.wait(60) == 137, d.output()[-3000:]
        killed = target.db.binlog_offsets.find_one({"_id": "test"})
        assert killed["batch"] == 1 and killed["lease"]["sessions"], killed
        d.start()
        # a tenth of the lifetime: only an ended transaction lets the offset move in time
        wait_for_offset(target, end, d, timeout=60)
        assert d.stop() == 0
        out = d.output()
        assert f"Ended 1 session of the previous holder {killed['lease']['holder']}" in out, out
        check_row_changes(target, mariadb, start, end, daemon=d, tail=sdl)
        assert target.db.row_changes_staging.count_documents({}) == 0
    finally:
        target.client.admin.command({"setParameter": 1,
                                     "transactionLifetimeLimitSeconds": was.get("was", 60)})


def test_kill_during_recovery_before_committing_a_staged_batch(sdl, mariadb, target, tmp_path):
    start = mariadb.gtid_binlog_pos()
    mariadb.sql("CREATE DATABASE IF NOT EXISTS rcb", "CREATE TABLE rcb.t (id INT PRIMARY KEY)",
                *[f"INSERT INTO rcb.t VALUES ({i})" for i in range(30)])
    end = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 10", start=start)
    # leave a staged batch behind: die right after staging the 2nd batch
    d.start(env={"SDL_FAILPOINT": "writer.after_stage:2"})
    assert d.wait(60) == 137
    assert target.db.row_changes_staging.count_documents({}) >= 1
    d.start(env={"SDL_FAILPOINT": "recovery.before_commit:1"})
    assert d.wait(60) == 137, d.output()[-3000:]
    d.start()
    wait_for_offset(target, end, d)
    assert d.stop() == 0
    assert "Committing staged batch 2 left by the previous run" in d.output()
    check_row_changes(target, mariadb, start, end, daemon=d, tail=sdl)
    assert target.db.row_changes_staging.count_documents({}) == 0


def test_kill_during_recovery_while_deleting_stale_staged_batches(sdl, mariadb, target, tmp_path):
    start = mariadb.gtid_binlog_pos()
    mariadb.sql("CREATE DATABASE IF NOT EXISTS rcd", "CREATE TABLE rcd.t (id INT PRIMARY KEY)",
                *[f"INSERT INTO rcd.t VALUES ({i})" for i in range(30)])
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 10", start=start)
    d.start()
    wait_for_offset(target, mariadb.gtid_binlog_pos(), d)
    assert d.stop() == 0
    committed = target.db.binlog_offsets.find_one({"_id": "test"})["batch"]
    # Leftovers recovery must delete: a part of a batch the offset covers, and an incomplete
    # batch after it (one of its two parts) whose rows must be read again from the binlog.
    target.db.row_changes_staging.insert_many([
        {"_id": {"pipeline": "test", "batch": committed, "part": 0}, "status": "pending",
         "parts": 1, "changes": []},
        {"_id": {"pipeline": "test", "batch": committed + 1, "part": 0}, "status": "pending",
         "parts": 2, "changes": []},
    ])
    mariadb.sql(*[f"INSERT INTO rcd.t VALUES ({i})" for i in range(30, 45)])
    end = mariadb.gtid_binlog_pos()
    d.start(env={"SDL_FAILPOINT": "recovery.after_delete:1"})
    assert d.wait(60) == 137, d.output()[-3000:]
    d.start()
    wait_for_offset(target, end, d)
    assert d.stop() == 0
    assert f"Discarding staged batch {committed + 1} (1 of 2 parts)" in d.output()
    check_row_changes(target, mariadb, start, end, daemon=d, tail=sdl)
    assert target.db.row_changes_staging.count_documents({}) == 0


def test_target_faults_are_retried_without_loss_or_duplicates(sdl, mariadb, target, tmp_path):
    # (against a real replica set, failCommand needs mongod --setParameter enableTestCommands=1)
    start = mariadb.gtid_binlog_pos()
    mariadb.sql("CREATE DATABASE IF NOT EXISTS tf", "CREATE TABLE tf.t (id INT PRIMARY KEY)")
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 5", start=start)
    d.start()
    faults = [
        # transient error on insert inside the transaction
        dict(failCommands=["insert"], errorCode=112, errorLabels=["TransientTransactionError"]),
        # transient error on commit
        dict(failCommands=["commitTransaction"], errorCode=91,
             errorLabels=["TransientTransactionError"]),
        # connection closed on commit: ambiguous, settled by reading the offset
        dict(failCommands=["commitTransaction"], closeConnection=True),
        # commit applied, then a write concern error (the reply is "lost")
        dict(failCommands=["commitTransaction"], writeConcernError={"code": 91, "errmsg": "shutdown"}),
        # the server hangs longer than socket_timeout (5s)
        dict(failCommands=["insert"], blockConnection=True, blockTimeMS=7000),
    ]
    n = 0
    for f in faults:
        target.fail({"times": 1}, **f)
        mariadb.sql(*[f"INSERT INTO tf.t VALUES ({n + i})" for i in range(7)])
        n += 7
        wait_for_offset(target, mariadb.gtid_binlog_pos(), d, timeout=90)
    end = mariadb.gtid_binlog_pos()
    assert d.stop() == 0
    out = d.output()
    assert "retrying in" in out
    check_row_changes(target, mariadb, start, end, daemon=d, tail=sdl)


def test_permanent_target_error_exits_and_the_next_start_commits_from_staging(sdl, mariadb, target, tmp_path):
    start = mariadb.gtid_binlog_pos()
    mariadb.sql("CREATE DATABASE IF NOT EXISTS pe", "CREATE TABLE pe.t (id INT PRIMARY KEY)")
    d = Daemon(sdl, target, tmp_path, start=start)
    d.start()
    wait_for_offset(target, mariadb.gtid_binlog_pos(), d)
    # Unauthorized (13) on the transaction's insert: not retryable
    target.fail("alwaysOn", failCommands=["insert"], errorCode=13)
    mariadb.sql("INSERT INTO pe.t VALUES (1), (2), (3)")
    assert d.wait(60) == 1
    out = d.output()
    assert "Pipeline 'test' stopped" in out and "13" in out
    assert target.db.row_changes_staging.count_documents({}) >= 1  # the batch is safe
    target.fail_off()
    end = mariadb.gtid_binlog_pos()
    d.start()
    wait_for_offset(target, end, d)
    assert d.stop() == 0
    assert "Committing staged batch" in d.output()
    check_row_changes(target, mariadb, start, end, daemon=d, tail=sdl)


def source_rows(port):
    """sdl_source_rows_total of /metrics: the row changes the reader has read."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        m = re.search(r"^sdl_source_rows_total(?:\{[^}]*\})? (\d+)$", r.read().decode(), re.M)
    return int(m.group(1)) if m else 0


def test_a_burst_leaves_committed_staged_parts_which_the_next_start_and_the_last_commit_delete(
        sdl, mariadb, target, tmp_path):
    """Deferred staging cleanup (DESIGN.md §3.2). The writer stalls on staging batch 1 until the
    reader has queued all 41 transactions behind it, so batches 2.. are cut with items queued:
    their commits leave their staged parts. kill -9 after the 5th commit: staging holds only
    committed batches (numbered at or below the offset's), 2..5 among them. The next start
    deletes them without committing them again; the burst's last commit (the queue empty)
    leaves staging empty before any stop, and every row is in row_changes exactly once."""
    mariadb.sql("CREATE DATABASE IF NOT EXISTS dc", "CREATE TABLE dc.t (id INT PRIMARY KEY)")
    start = mariadb.gtid_binlog_pos()
    port = free_port()
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 10, max_delay: 20ms", start=start,
               extra=f"http:\n  listen: 127.0.0.1:{port}\n")
    d.start(env={"SDL_FAILPOINT": "writer.after_commit:5"})
    deadline = time.time() + 60
    while "Replicating after GTID position" not in d.output():
        assert time.time() < deadline and d.proc.poll() is None, d.output()[-3000:]
        time.sleep(0.05)
    target.fail("alwaysOn", failCommands=["update"], errorCode=91)  # staging batch 1 fails
    mariadb.sql(*[f"INSERT INTO dc.t SELECT seq + {k * 10} FROM dc.seq_1_to_10" for k in range(41)])
    end = mariadb.gtid_binlog_pos()
    deadline = time.time() + 120
    while "staging batch 1 failed, retrying" not in d.output() or source_rows(port) < 410:
        assert time.time() < deadline and d.proc.poll() is None, d.output()[-3000:]
        time.sleep(0.05)
    target.fail_off()
    assert d.wait(timeout=120) == 137, d.output()[-3000:]  # the failpoint after commit 5
    off = offset(target)
    assert off["batch"] == 5
    staged = sorted({p["_id"]["batch"] for p in target.db.row_changes_staging.find({})})
    assert {2, 3, 4, 5} <= set(staged) and max(staged) <= 5, staged
    # the next start deletes them (committed), commits nothing of them again
    d.start()
    off = wait_for_offset(target, end, d, timeout=120)
    assert target.db.row_changes_staging.count_documents({}) == 0  # the last commit cleaned
    assert d.stop() == 0, d.output()[-3000:]
    out = d.output()[d.log_start:]
    assert "Committing staged batch" not in out, out[-3000:]
    check_row_changes(target, mariadb, start, end, daemon=d)
    assert off["gtid"] == end and off["partial"] is None and off["rows_applied"] == 410
