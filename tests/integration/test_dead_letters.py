"""Issue 15: the dead-letter policy (pipeline.on_error: dead_letter) and the offset tools
(`sdl offset show|set`), end to end against a real mariadbd and tests/fakemongod (or the replica
set of $SDL_TEST_MONGODB_URI). Expected row_changes come from the oracle (oracle.py); the dead
letters from what the test wrote."""
import json
import re
import time

import pytest

from oracle import Oracle, check_against_oracle
from runlib import Daemon, offset, wait_for_offset
from test_exactly_once import run_sql, wait_for_log

BIG = 20 * 1024 * 1024


def dead_letters(target):
    return list(target.db.row_changes_dlq.find({}).sort("_id", 1))


def check_all_but(mariadb, target, start, end, daemon, dead_ids, include=()):
    """row_changes == the oracle's documents for (start, end] minus the dead letters'."""
    expected = [d for d in Oracle(mariadb, include=include).expected(start, end)
                if d["_id"] not in dead_ids]
    return check_against_oracle(target, expected, max_rows=daemon.max_rows,
                                max_bytes=daemon.max_bytes)


@pytest.mark.parametrize("failpoint", [None, "writer.after_stage:1", "writer.in_transaction:1",
                                       "writer.after_commit:1"])
def test_a_20_mib_row_becomes_a_dead_letter_and_sdl_goes_on(sdl, mariadb, target, tmp_path, failpoint):
    db = {None: "dlnone", "writer.after_stage:1": "dlstage", "writer.in_transaction:1": "dltxn",
          "writer.after_commit:1": "dlcommit"}[failpoint]
    mariadb.sql(f"CREATE DATABASE IF NOT EXISTS {db}",
                f"CREATE TABLE {db}.t (id INT PRIMARY KEY, b LONGBLOB, note VARCHAR(20))")
    start = mariadb.gtid_binlog_pos()
    before = run_sql(mariadb, f"INSERT INTO {db}.t VALUES (1, 'small', 'before')")
    huge = run_sql(mariadb, f"INSERT INTO {db}.t VALUES (2, REPEAT('x', {BIG}), 'huge')")
    after = run_sql(mariadb, f"INSERT INTO {db}.t VALUES (3, 'small', 'after')")
    end = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, start=start, batch="max_delay: 1s",
               pipeline=["on_error: dead_letter"])
    if failpoint:  # die around the batch that holds the dead letter, then recover
        d.start(env={"SDL_FAILPOINT": failpoint})
        assert d.wait(120) == 137, d.output()[-3000:]
    d.start()
    off = wait_for_offset(target, end, d, timeout=120)
    assert d.stop() == 0, d.output()[-3000:]
    out = d.output()
    assert f"Row {huge}:1 set aside as a dead letter (too_large)" in out, out[-3000:]
    dl = dead_letters(target)
    assert [x["_id"] for x in dl] == [f"test:{huge}:1"], dl
    x = dl[0]
    assert x["error"]["reason"] == "too_large" and "maps to a document of" in x["error"]["message"]
    assert (x["op"], x["db"], x["table"], x["gtid"], x["seq"]) == ("insert", db, "t", huge, 1)
    assert x["size"] > BIG and x["from"] == before
    assert x["pk"] == [{"column": "id", "value": 2}]
    blob = [v for v in x["after"] if v["column"] == "b"][0]
    assert blob["truncated"] is True and blob["bytes"] == BIG and len(blob["value"]) == 4096
    assert [v["value"] for v in x["after"] if v["column"] == "note"] == ["huge"]
    assert off["dead_letters"] == 1 and off["rows_applied"] == 2
    check_all_but(mariadb, target, start, end, d, {f"test:{huge}:1"})
    assert target.db.row_changes.count_documents({"gtid": after}) == 1
    assert target.db.row_changes_staging.count_documents({}) == 0
    # sdl dlq list shows it
    p = sdl.run("dlq", "list", "-c", d.config)
    assert p.returncode == 0 and f"test:{huge}:1  too_large  {db}.t" in p.stdout, p.stdout + p.stderr
    p = sdl.run("dlq", "list", "-c", d.config, "--json")
    assert json.loads(p.stdout.splitlines()[0])["_id"] == f"test:{huge}:1"
    p = sdl.run("status", "-c", d.config)
    assert re.search(r"dead letters\s+1 waiting", p.stdout), p.stdout


def test_dead_letter_retry_after_raising_the_limit(sdl, mariadb, target, tmp_path):
    mariadb.sql("CREATE DATABASE IF NOT EXISTS dlr",
                "CREATE TABLE dlr.t (id INT PRIMARY KEY, b LONGBLOB)")
    start = mariadb.gtid_binlog_pos()
    run_sql(mariadb, "INSERT INTO dlr.t VALUES (1, 'a')")
    mid = run_sql(mariadb, "BEGIN", "INSERT INTO dlr.t VALUES (2, REPEAT('y', 2 * 1024 * 1024))",
                  "INSERT INTO dlr.t VALUES (3, 'c')", "COMMIT")
    end = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, start=start, batch="max_delay: 200ms",
               pipeline=["on_error: dead_letter"], extra="  max_document_bytes: 1MiB\n")
    d.start()
    wait_for_offset(target, end, d)
    assert [x["_id"] for x in dead_letters(target)] == [f"test:{mid}:1"]
    # still too large: retry leaves it where it is (exit 65)
    p = sdl.run("dlq", "retry", "-c", d.config, "--all")
    assert p.returncode == 65, p.stdout + p.stderr
    assert "still cannot be written" in p.stderr and len(dead_letters(target)) == 1
    # raise the limit (reloadable: the running pipeline takes it too) and retry
    text = open(d.config).read()
    open(d.config, "w").write(text.replace("  max_document_bytes: 1MiB\n", ""))
    p = sdl.run("dlq", "retry", "-c", d.config, "--id", f"test:{mid}:1")
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"test:{mid}:1: moved into row_changes" in p.stdout
    assert dead_letters(target) == []
    assert d.stop() == 0, d.output()[-3000:]
    check_all_but(mariadb, target, start, end, d, set())  # now exactly the binlog


def test_a_value_sdl_cannot_map_becomes_a_dead_letter(sdl, mariadb, target, tmp_path):
    """A MariaDB JSON column holds what its CHECK (json_valid) accepted; one written while the
    check was off is not JSON: sdl cannot map it."""
    mariadb.sql("CREATE DATABASE IF NOT EXISTS dlu",
                "CREATE TABLE dlu.t (id INT PRIMARY KEY, j JSON)")
    start = mariadb.gtid_binlog_pos()
    bad = run_sql(mariadb, "INSERT INTO dlu.t VALUES (1, '{\"a\": tru')",
                  session=["SET SESSION check_constraint_checks=0"])
    ok = run_sql(mariadb, "INSERT INTO dlu.t VALUES (2, '{\"a\": true}')")
    end = mariadb.gtid_binlog_pos()
    # with stop (the default): exit 65, naming the row
    d = Daemon(sdl, target, tmp_path, start=start)
    d.start()
    assert d.wait(60) == 65, d.output()[-3000:]
    assert f"mapping row {bad}:1 of 'dlu.t'" in d.output()
    # with dead_letter: set aside, the next row written
    text = open(d.config).read()
    open(d.config, "w").write(text.replace("  batch: {", "  on_error: dead_letter\n  batch: {"))
    d.start()
    wait_for_offset(target, end, d)
    assert d.stop() == 0, d.output()[-3000:]
    x = dead_letters(target)[0]
    assert x["_id"] == f"test:{bad}:1" and x["error"]["reason"] == "unmappable"
    j = [v for v in x["after"] if v["column"] == "j"][0]
    assert j["unmapped"] is True and j["value"] == b'{"a": tru'
    assert [v["value"] for v in x["after"] if v["column"] == "id"] == [1]
    assert target.db.row_changes.find_one({"gtid": ok})["after"] == {"id": 2, "j": {"a": True}}


def test_a_document_mongodb_refuses_becomes_a_dead_letter(sdl, mariadb, target, tmp_path):
    # (against a real replica set, failCommand needs mongod --setParameter enableTestCommands=1)
    mariadb.sql("CREATE DATABASE IF NOT EXISTS dlj", "CREATE TABLE dlj.t (id INT PRIMARY KEY)")
    start = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, start=start, batch="max_delay: 500ms",
               pipeline=["on_error: dead_letter"])
    d.start()
    wait_for_log(d, r"Replicating after GTID position")
    # KeyTooLong (17280), as a mongod before 4.2 answers for an index key over 1024 bytes: the
    # first document of the batch's insert
    target.fail({"times": 1}, failCommands=["insert"], errorCode=17280)
    first = run_sql(mariadb, "INSERT INTO dlj.t VALUES (1)")
    run_sql(mariadb, "INSERT INTO dlj.t VALUES (2)")
    end = mariadb.gtid_binlog_pos()
    wait_for_offset(target, end, d)
    assert d.stop() == 0, d.output()[-3000:]
    assert f"Document test:{first}:1 set aside as a dead letter (rejected)" in d.output()
    x = dead_letters(target)
    assert [(y["_id"], y["error"]["reason"]) for y in x] == [(f"test:{first}:1", "rejected")]
    check_all_but(mariadb, target, start, end, d, {f"test:{first}:1"})
    assert offset(target)["dead_letters"] == 1


# ---- offset tools ---------------------------------------------------------------------------

def test_offset_set_is_refused_while_running_and_fenced_against_a_returning_writer(sdl, mariadb, target, tmp_path):
    mariadb.sql("CREATE DATABASE IF NOT EXISTS os", "CREATE TABLE os.t (id INT PRIMARY KEY)")
    start = mariadb.gtid_binlog_pos()
    mariadb.sql("INSERT INTO os.t VALUES (1)")
    d = Daemon(sdl, target, tmp_path, start=start, batch="max_delay: 10ms")
    d.start()
    wait_for_offset(target, mariadb.gtid_binlog_pos(), d)
    # refused while it runs
    p = sdl.run("offset", "set", "-c", d.config, "--to", "now", "--yes")
    assert p.returncode == 1 and "is running" in p.stderr, p.stdout + p.stderr
    p = sdl.run("offset", "show", "-c", d.config)
    assert p.returncode == 0 and re.search(r"lease\s+\S+, held until", p.stdout), p.stdout
    # a writer that is stopped (SIGSTOP: it comes back later) whose lease ran out
    d.proc.send_signal(19)
    target.db.binlog_offsets.update_one({"_id": "test"}, {"$set": {"lease.until": 0}})
    old = offset(target)
    mariadb.sql("INSERT INTO os.t VALUES (2)")
    skipped_to = mariadb.gtid_binlog_pos()
    p = sdl.run("offset", "set", "-c", d.config, "--to", "now")  # without --yes: nothing
    assert p.returncode == 0 and "Nothing changed" in p.stdout and offset(target)["batch"] == old["batch"]
    assert f"to    {skipped_to} (mariadb, batch {old['batch'] + 1})" in p.stdout, p.stdout
    p = sdl.run("offset", "set", "-c", d.config, "--to", "now", "--yes")
    assert p.returncode == 0 and "Moved." in p.stdout, p.stdout + p.stderr
    new = offset(target)
    assert (new["gtid"], new["batch"], new["partial"]) == (skipped_to, old["batch"] + 1, None)
    assert new["set_by"]["from_gtid"] == old["gtid"]
    # the writer comes back with the row after its old position: fenced, it stops
    d.proc.send_signal(18)
    assert d.wait(60) == 1, d.output()[-3000:]
    assert "fencing" in d.output()
    assert target.db.row_changes.count_documents({"db": "os", "after.id": 2}) == 0
    # restarted, it resumes at the new position
    mariadb.sql("INSERT INTO os.t VALUES (3)")
    end = mariadb.gtid_binlog_pos()
    d.start()
    wait_for_offset(target, end, d)
    assert d.stop() == 0, d.output()[-3000:]
    check_against_oracle(target, Oracle(mariadb).expected(start, old["gtid"]) +
                         Oracle(mariadb).expected(skipped_to, end))


def test_offset_set_starts_a_new_pipeline_at_a_known_position(sdl, mariadb, target, tmp_path):
    mariadb.sql("CREATE DATABASE IF NOT EXISTS on2", "CREATE TABLE on2.t (id INT PRIMARY KEY)")
    mariadb.sql("INSERT INTO on2.t VALUES (1)")
    known = mariadb.gtid_binlog_pos()  # e.g. a restored backup's position
    mariadb.sql("INSERT INTO on2.t VALUES (2)")
    end = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, start="now")  # start: now would skip row 2
    p = sdl.run("offset", "set", "-c", d.config, "--to", known, "--yes")
    assert p.returncode == 0, p.stdout + p.stderr
    assert offset(target)["batch"] == 0 and offset(target)["gtid"] == known
    d.start()
    wait_for_offset(target, end, d)
    assert d.stop() == 0
    check_against_oracle(target, Oracle(mariadb).expected(known, end))
    p = sdl.run("offset", "set", "-c", d.config, "--to", "0-1-999999999", "--yes")
    assert p.returncode != 0 and "ahead of the source" in p.stderr, p.stderr


def test_purged_binlog_recovery_procedure(sdl, tmp_path, target):
    """README, "A purged binlog": sdl stops with 1236 (exit 65) -> sdl offset set --to now ->
    restart; nothing staged is lost or replayed twice."""
    from mariadb import MariaDB
    src = MariaDB(basedir=str(tmp_path / "m")).start()
    src.create_repl_user()
    try:
        from conftest import Sdl
        s = Sdl(tmp_path, src)
        src.sql("CREATE DATABASE pg", "CREATE TABLE pg.t (id INT PRIMARY KEY)")
        start = src.gtid_binlog_pos()
        src.sql("INSERT INTO pg.t VALUES (1)")
        d = Daemon(s, target, tmp_path, start=start, batch="max_delay: 10ms")
        d.start()
        committed = wait_for_offset(target, src.gtid_binlog_pos(), d)["gtid"]
        assert d.stop() == 0
        # while sdl is stopped: more rows, and their binlogs purged
        src.sql("INSERT INTO pg.t VALUES (2)", "FLUSH BINARY LOGS", "INSERT INTO pg.t VALUES (3)",
                "FLUSH BINARY LOGS")
        last = src.sql("SHOW BINARY LOGS")[-1][0]
        for _ in range(100):  # MariaDB keeps a file until its binlog checkpoint moved past it
            src.sql(f"PURGE BINARY LOGS TO '{last}'")
            if len(src.sql("SHOW BINARY LOGS")) == 1:
                break
            time.sleep(0.1)
        assert [r[0] for r in src.sql("SHOW BINARY LOGS")] == [last]
        d.start()
        assert d.wait(60) == 65, d.output()[-3000:]
        assert "it was purged (server error 1236" in d.output()
        assert "sdl offset set --to now" in d.output()
        p = s.run("offset", "set", "-c", d.config, "--to", "now", "--yes")
        assert p.returncode == 0, p.stdout + p.stderr
        moved_to = offset(target)["gtid"]
        src.sql("INSERT INTO pg.t VALUES (4)")
        end = src.gtid_binlog_pos()
        d.start()
        wait_for_offset(target, end, d)
        assert d.stop() == 0, d.output()[-3000:]
        ids = sorted(x["after"]["id"] for x in target.db.row_changes.find({"db": "pg", "op": "insert"}))
        assert ids == [1, 4]  # 2 and 3 were purged before sdl read them: a snapshot's job
        # what sdl wrote after the move is exactly the binlog after it (the oracle)
        after_move = [x for x in Oracle(src).expected(moved_to, end)]
        assert [x["_id"] for x in after_move] == \
            [x["_id"] for x in target.db.row_changes.find({"gtid": {"$ne": committed}}).sort("_id", 1)]
        assert target.db.row_changes_staging.count_documents({}) == 0
    finally:
        src.remove()
