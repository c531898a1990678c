"""sdl tail as a stream: schema changes between rows, partial row images, several GTID
domains, resuming from every GTID, and following a live server."""
import json
import os
import subprocess
import time

from mariadb import MariaDB


def rows_of(docs, table):
    return [d for d in docs if d.get("table") == table and d["op"] != "ddl"]


def test_alter_table_between_rows_changes_later_rows_only(sdl, mariadb):
    start = mariadb.gtid_binlog_pos()
    mariadb.sql(
        "CREATE DATABASE IF NOT EXISTS ddl",
        "CREATE TABLE ddl.t (id INT PRIMARY KEY, a INT, b VARCHAR(10), c INT)",
        "INSERT INTO ddl.t VALUES (1, 10, 'x', 100)",
        "ALTER TABLE ddl.t ADD COLUMN d DATETIME AFTER a",
        "INSERT INTO ddl.t VALUES (2, 20, '2024-01-01 00:00:00', 'y', 200)",
        "ALTER TABLE ddl.t DROP COLUMN c",
        "INSERT INTO ddl.t VALUES (3, 30, NULL, 'z')",
        "ALTER TABLE ddl.t MODIFY COLUMN a BIGINT UNSIGNED",
        "INSERT INTO ddl.t VALUES (4, 18446744073709551615, NULL, 'w')",
        "ALTER TABLE ddl.t RENAME COLUMN b TO label",
        "UPDATE ddl.t SET label = 'v' WHERE id = 1",
    )
    docs = sdl.tail("--include", "ddl.*", start=start)
    ops = [d["op"] for d in docs]
    assert ops == ["ddl", "ddl", "insert", "ddl", "insert", "ddl", "insert", "ddl", "insert",
                   "ddl", "update"]
    assert docs[3]["statement"] == "ALTER TABLE ddl.t ADD COLUMN d DATETIME AFTER a"
    assert docs[2]["after"] == {"id": 1, "a": 10, "b": "x", "c": 100}
    assert docs[4]["after"] == {"id": 2, "a": 20, "d": {"$date": "2024-01-01T00:00:00Z"},
                                "b": "y", "c": 200}
    assert docs[6]["after"] == {"id": 3, "a": 30, "d": None, "b": "z"}
    assert docs[8]["after"] == {"id": 4, "a": {"$numberDecimal": "18446744073709551615"},
                                "d": None, "b": "w"}
    assert docs[10]["before"] == {"id": 1, "a": 10, "d": None, "label": "x"}
    assert docs[10]["after"] == {"id": 1, "a": 10, "d": None, "label": "v"}
    assert docs[10]["changed"] == ["label"]
    for d in docs:
        if d["op"] == "ddl":
            assert d["seq"] == 1 and d["_id"] == f"test:{d['gtid']}:1"


def test_partial_row_images_leave_out_missing_columns(sdl, mariadb):
    start = mariadb.gtid_binlog_pos()
    mariadb.sql(
        "CREATE DATABASE IF NOT EXISTS img",
        "CREATE TABLE img.t (id INT PRIMARY KEY, a INT, b TEXT, c BLOB)",
        "INSERT INTO img.t VALUES (1, 1, 'one', x'01'), (2, 2, 'two', x'02')",
    )
    c = mariadb.root()
    try:
        with c.cursor() as cur:
            cur.execute("SET SESSION binlog_row_image = 'MINIMAL'")
            cur.execute("UPDATE img.t SET a = 11 WHERE id = 1")
            cur.execute("DELETE FROM img.t WHERE id = 2")
            cur.execute("INSERT INTO img.t (id, b) VALUES (3, 'three')")
            cur.execute("SET SESSION binlog_row_image = 'NOBLOB'")
            cur.execute("UPDATE img.t SET a = 12 WHERE id = 1")
    finally:
        c.close()
    docs = rows_of(sdl.tail("--include", "img.*", start=start), "t")
    upd, dele, ins, upd2 = docs[2], docs[3], docs[4], docs[5]
    # MINIMAL: before = primary key only, after = changed columns only
    assert upd["before"] == {"id": 1}
    assert upd["after"] == {"a": 11}
    assert upd["pk"] == {"id": 1}
    assert upd["changed"] == ["a"]
    assert upd["partial_after"] is True  # the after image lacks columns (mirror: $set)
    assert dele["before"] == {"id": 2} and dele["pk"] == {"id": 2} and "partial_after" not in dele
    # MINIMAL inserts log the columns the statement set (MariaDB 10.11 logs all non-default)
    assert ins["after"]["id"] == 3 and ins["after"]["b"] == "three"
    assert set(ins["after"]) <= {"id", "a", "b", "c"}
    # NOBLOB: every column but the unchanged TEXT/BLOB ones
    assert upd2["before"] == {"id": 1, "a": 11}
    assert upd2["after"] == {"id": 1, "a": 12}
    assert upd2["partial_after"] is True


def test_several_gtid_domains(sdl, mariadb):
    start = mariadb.gtid_binlog_pos()
    c = mariadb.root()
    try:
        with c.cursor() as cur:
            cur.execute("CREATE DATABASE IF NOT EXISTS dom")
            cur.execute("CREATE TABLE dom.t (id INT PRIMARY KEY, d INT)")
            for i in range(6):
                cur.execute(f"SET SESSION gtid_domain_id = {i % 3}")
                cur.execute(f"INSERT INTO dom.t VALUES ({i}, {i % 3})")
    finally:
        c.close()
    docs = rows_of(sdl.tail("--include", "dom.*", start=start), "t")
    assert [d["after"]["id"] for d in docs] == list(range(6))
    for d in docs:
        assert d["gtid"].split("-")[0] == str(d["after"]["d"])
    pos = mariadb.gtid_binlog_pos()
    assert len(pos.split(",")) >= 3


def test_resuming_from_every_gtid_gives_exactly_the_remainder(sdl, mariadb):
    start = mariadb.gtid_binlog_pos()
    c = mariadb.root()
    try:
        with c.cursor() as cur:
            cur.execute("CREATE DATABASE IF NOT EXISTS res")
            cur.execute("CREATE TABLE res.t (id INT PRIMARY KEY, v INT)")
            for i in range(12):
                cur.execute(f"SET SESSION gtid_domain_id = {i % 2}")
                cur.execute(f"INSERT INTO res.t VALUES ({i}, {i}), ({i + 100}, {i})")
                if i % 4 == 3:
                    cur.execute(f"UPDATE res.t SET v = v + 1 WHERE id < {i}")
    finally:
        c.close()
    end = mariadb.gtid_binlog_pos()
    full = sdl.tail("--include", "res.*", start=start, until=end)
    assert len(full) > 24
    # The position after each transaction, as sdl_change_stream resumes from it.
    position = dict(p.split("-", 1) for p in start.split(",") if p)
    seen = []
    for i, d in enumerate(full):
        if i + 1 < len(full) and full[i + 1]["gtid"] == d["gtid"]:
            continue  # not the last change of its transaction
        dom, rest = d["gtid"].split("-", 1)
        position[dom] = rest
        resume = ",".join(f"{k}-{v}" for k, v in sorted(position.items(), key=lambda kv: int(kv[0])))
        rest_docs = sdl.tail("--include", "res.*", start=resume, until=end)
        assert rest_docs == full[i + 1:], f"resuming after {resume}"
        seen.append(resume)
    assert len(seen) == len({d["gtid"] for d in full})


def test_follow_prints_changes_as_they_happen_and_stops_on_sigterm(sdl, mariadb):
    mariadb.sql("CREATE DATABASE IF NOT EXISTS live", "CREATE TABLE IF NOT EXISTS live.t (id INT PRIMARY KEY)")
    cfg = sdl.write_config()
    p = subprocess.Popen([sdl.bin, "tail", "-c", cfg, "--from", "now", "--include", "live.*"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        mariadb.sql("INSERT INTO live.t VALUES (1)", "INSERT INTO live.t VALUES (2)")
        lines = [json.loads(p.stdout.readline()) for _ in range(2)]
        assert [line["after"]["id"] for line in lines] == [1, 2]
        p.terminate()
        assert p.wait(10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_reconnects_after_the_source_restarts_without_duplicates(tmp_path):
    db = MariaDB(basedir=str(tmp_path / "src"))
    db.start()
    try:
        db.create_repl_user()
        from conftest import Sdl
        s = Sdl(tmp_path, db)
        cfg = s.write_config()
        db.sql("CREATE DATABASE r", "CREATE TABLE r.t (id INT PRIMARY KEY)")
        start = db.gtid_binlog_pos()
        out = open(tmp_path / "out.jsonl", "w")
        p = subprocess.Popen([s.bin, "tail", "-c", cfg, "--from", start, "--include", "r.*"],
                             stdout=out, stderr=subprocess.PIPE, text=True)
        try:
            db.sql(*[f"INSERT INTO r.t VALUES ({i})" for i in range(5)])
            time.sleep(0.5)
            db.restart()  # same port and datadir
            db.sql(*[f"INSERT INTO r.t VALUES ({i})" for i in range(5, 10)])
            deadline = time.time() + 30
            while time.time() < deadline:
                with open(tmp_path / "out.jsonl") as f:
                    if len(f.read().splitlines()) >= 10:
                        break
                time.sleep(0.2)
            p.terminate()
            p.wait(10)
        finally:
            if p.poll() is None:
                p.kill()
            out.close()
        with open(tmp_path / "out.jsonl") as f:
            ids = [json.loads(line)["after"]["id"] for line in f if line.strip()]
        stderr = p.stderr.read()
        assert ids == list(range(10)), stderr
        assert "reconnecting" in stderr
    finally:
        db.remove()


def test_ddl_follows_the_table_filters(sdl, mariadb):
    start = mariadb.gtid_binlog_pos()
    mariadb.sql("CREATE DATABASE IF NOT EXISTS fa", "CREATE DATABASE IF NOT EXISTS fb",
                "CREATE TABLE fa.keep (id INT PRIMARY KEY)",
                "CREATE TABLE fa.tmp_x (id INT PRIMARY KEY)",
                "CREATE TABLE fb.other (id INT PRIMARY KEY)",
                "CREATE USER IF NOT EXISTS 'ddlfilter'@'%' IDENTIFIED BY 'hunter2'",
                "INSERT INTO fa.keep VALUES (1)", "INSERT INTO fa.tmp_x VALUES (1)",
                "INSERT INTO fb.other VALUES (1)")
    docs = sdl.tail("--include", "fa.*", "--exclude", "fa.tmp_*", start=start)
    stmts = [d["statement"] for d in docs if d["op"] == "ddl"]
    assert stmts == ["CREATE DATABASE IF NOT EXISTS fa", "CREATE TABLE fa.keep (id INT PRIMARY KEY)"]
    ddls = [d for d in docs if d["op"] == "ddl"]
    assert ddls[0]["db"] == "fa" and "table" not in ddls[0]
    assert ddls[1]["db"] == "fa" and ddls[1]["table"] == "keep"
    assert [(d["table"], d["after"]["id"]) for d in docs if d["op"] == "insert"] == [("keep", 1)]
    # Without filters every DDL is printed, and account passwords are redacted.
    everything = sdl.tail(start=start)
    user = [d for d in everything if d["op"] == "ddl" and "CREATE USER" in d["statement"]]
    assert user and user[0]["statement"] == \
        "CREATE USER IF NOT EXISTS 'ddlfilter'@'%' IDENTIFIED BY '<redacted>'"
    assert "hunter2" not in "".join(json.dumps(d) for d in everything)


def test_a_closed_pipe_ends_tail_quietly(sdl, mariadb):
    """`sdl tail | head -1`: when the reader goes away sdl stops at once, exit 0, without an
    error message (like any Unix filter)."""
    start = mariadb.gtid_binlog_pos()
    mariadb.sql("CREATE DATABASE IF NOT EXISTS pipe",
                "CREATE TABLE pipe.t (id INT PRIMARY KEY, s VARCHAR(100))",
                "INSERT INTO pipe.t SELECT seq, REPEAT('x', 100) FROM pipe.seq_1_to_20000")
    p = subprocess.Popen([sdl.bin, "tail", "-c", sdl.write_config(), "--from", start,
                          "--until", "now"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.readline()
    assert b'"op":"ddl"' in first, first
    p.stdout.close()  # more than a pipe buffer of lines is still to come
    _, err = p.communicate(timeout=60)
    assert p.returncode == 0, err.decode()
    assert err.decode() == "", err.decode()


def test_read_ahead_gives_what_one_thread_gives(sdl, mariadb):
    """The read-ahead thread (binlog-reader.c, base/ring.c) hands the decoder exactly the events
    a single thread reads: many small events, events larger than a quarter of the 1 MiB ring
    (kept on the heap) and enough bytes to wrap the ring many times."""
    mariadb.sql("CREATE DATABASE IF NOT EXISTS ra",
                "CREATE TABLE ra.t (id INT PRIMARY KEY, b LONGBLOB, s VARCHAR(200))")
    start = mariadb.gtid_binlog_pos()
    c = mariadb.root()
    try:
        with c.cursor() as cur:
            for i in range(40):
                # one big row (300 KiB .. 1.5 MiB) and a burst of small ones per transaction
                cur.execute("BEGIN")
                cur.execute("INSERT INTO ra.t VALUES (%s, REPEAT(CHAR(65 + %s MOD 26), %s), 'big')",
                            (i * 1000, i, 300_000 + (i % 5) * 300_000))
                for k in range(1, 200):
                    cur.execute("INSERT INTO ra.t VALUES (%s, NULL, %s)", (i * 1000 + k, f"small-{i}-{k}"))
                cur.execute("COMMIT")
    finally:
        c.close()
    end = mariadb.gtid_binlog_pos()
    cfg = sdl.write_config()
    args = ["tail", "-c", cfg, "--from", start, "--until", end, "--include", "ra.*", "--stats"]
    ahead = sdl.run(*args, check=True)
    one = sdl.run(*args, "--one-thread", check=True)
    assert ahead.stdout == one.stdout
    assert len(ahead.stdout.splitlines()) == 40 * 200
    assert "8000 row changes" in ahead.stderr and "8000 row changes" in one.stderr
    big = [json.loads(line) for line in ahead.stdout.splitlines() if '"big"' in line]
    assert len(big) == 40
    assert len(big[7]["after"]["b"]["$binary"]["base64"]) > 400_000


def test_sigterm_stops_tail_waiting_on_an_idle_source_at_once(sdl, mariadb):
    """With the read-ahead thread blocked in a read of an idle connection, a SIGTERM still ends
    `sdl tail` within a fraction of a second (the reader waits on its ring with a 100 ms look
    at the stop flag; freeing it shuts the socket down)."""
    cfg = sdl.write_config()
    p = subprocess.Popen([sdl.bin, "tail", "-c", cfg, "--from", "now"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)  # connected and idle: heartbeats every 5 s
        assert p.poll() is None
        t0 = time.monotonic()
        p.terminate()
        assert p.wait(10) == 0
        # not a benchmark: far below the 5 s heartbeat that would otherwise end the wait
        assert time.monotonic() - t0 < 3.0, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
