"""Every error case of the source side gives a clear message and a non-zero exit status:
server settings, privileges, purged / diverged / ahead GTIDs, a duplicate server_id, bad
credentials, an unreachable server, bad arguments and configuration."""
import subprocess
import time

import pytest

from conftest import Sdl
from mariadb import MariaDB, free_port


def tail_fails(sdl, *args, config=None, start="start", until="now", timeout=60):
    config = config or sdl.write_config()
    argv = ["tail", "-c", config]
    if start is not None:
        argv += ["--from", start]
    if until is not None:
        argv += ["--until", until]
    p = sdl.run(*argv, *args, timeout=timeout)
    assert p.returncode != 0, f"expected failure, got exit 0:\n{p.stdout[:2000]}"
    assert p.stdout == "", "nothing may be printed as data after an error"
    assert "replpw" not in p.stderr and "s3cr3t" not in p.stderr
    return p


@pytest.mark.parametrize("variable,value,expect", [
    ("binlog_format", "STATEMENT", "binlog_format=STATEMENT, sdl needs ROW"),
    ("binlog_format", "MIXED", "binlog_format=MIXED, sdl needs ROW"),
    ("binlog_row_image", "MINIMAL", "binlog_row_image=MINIMAL, sdl needs FULL"),
    ("binlog_row_metadata", "MINIMAL", "binlog_row_metadata=MINIMAL, sdl needs FULL"),
])
def test_server_settings_are_checked(sdl, mariadb, variable, value, expect):
    mariadb.sql(f"SET GLOBAL {variable} = '{value}'")
    try:
        p = tail_fails(sdl)
        assert expect in p.stderr
        assert f"SET GLOBAL {variable}=" in p.stderr  # the message names the fix
    finally:
        default = {"binlog_format": "ROW"}.get(variable, "FULL")
        mariadb.sql(f"SET GLOBAL {variable} = '{default}'")


def test_binary_log_disabled(tmp_path):
    db = MariaDB(basedir=str(tmp_path / "nobinlog"), log_bin=False)
    db.start()
    try:
        db.create_repl_user()
        s = Sdl(tmp_path, db)
        p = tail_fails(s)
        assert "does not write a binary log (log_bin=0)" in p.stderr
        assert "--log-bin" in p.stderr
    finally:
        db.remove()


def test_missing_replication_privileges(sdl, mariadb):
    mariadb.sql("CREATE USER IF NOT EXISTS 'noslave'@'%' IDENTIFIED BY 's3cr3t'",
                "GRANT BINLOG MONITOR, SELECT ON *.* TO 'noslave'@'%'",
                "CREATE USER IF NOT EXISTS 'nomonitor'@'%' IDENTIFIED BY 's3cr3t'",
                "GRANT REPLICATION SLAVE, SELECT ON *.* TO 'nomonitor'@'%'")
    p = tail_fails(sdl, config=sdl.write_config(name="a.yaml", user="noslave", password="s3cr3t"))
    assert "REPLICATION SLAVE is not granted" in p.stderr
    p = tail_fails(sdl, config=sdl.write_config(name="b.yaml", user="nomonitor", password="s3cr3t"))
    assert "lacks a privilege" in p.stderr and "BINLOG MONITOR" in p.stderr


def test_wrong_password_is_clear_and_not_shown(sdl, mariadb):
    p = tail_fails(sdl, config=sdl.write_config(password="s3cr3t"))
    assert "Access denied for user 'repl'" in p.stderr
    assert "password itself is never shown" in p.stderr


def test_unreachable_server(sdl, mariadb, tmp_path):
    s = Sdl(tmp_path, mariadb)
    cfg = s.write_config()
    port = free_port()
    text = open(cfg).read().replace(f"port: {mariadb.port}", f"port: {port}")
    open(cfg, "w").write(text)
    p = tail_fails(s, config=cfg)
    assert f"connecting to '127.0.0.1:{port}'" in p.stderr
    assert "Can't connect" in p.stderr or "Connection refused" in p.stderr


def test_purged_diverged_and_ahead_gtids(tmp_path):
    db = MariaDB(basedir=str(tmp_path / "purge"))
    db.start()
    try:
        db.create_repl_user()
        s = Sdl(tmp_path, db)
        db.sql("CREATE DATABASE p", "CREATE TABLE p.t (id INT PRIMARY KEY)",
               "INSERT INTO p.t VALUES (1)")
        old = db.gtid_binlog_pos()                     # e.g. 0-1-5
        db.sql("INSERT INTO p.t VALUES (2)", "FLUSH BINARY LOGS",
               "INSERT INTO p.t VALUES (3)")
        last = db.sql("SHOW BINARY LOGS")[-1][0]
        # The server keeps a file until its binlog checkpoint moved past it: retry a while.
        for _ in range(100):
            db.sql(f"PURGE BINARY LOGS TO '{last}'")
            if [r[0] for r in db.sql("SHOW BINARY LOGS")] == [last]:
                break
            time.sleep(0.1)
        assert [r[0] for r in db.sql("SHOW BINARY LOGS")] == [last]
        p = tail_fails(s, start=old)
        assert "no longer has the binlog needed to resume after GTID position " + old in p.stderr
        assert "purged" in p.stderr and "sdl offset set --to now" in p.stderr
        assert p.returncode == 65  # no restart brings the files back

        dom, srv, seq = db.gtid_binlog_pos().split("-")
        p = tail_fails(s, start=f"{dom}-77-{seq}")
        assert "diverged" in p.stderr and "1236" in p.stderr

        p = tail_fails(s, start=f"{dom}-{srv}-{int(seq) + 1000}")
        assert f"GTID position {dom}-{srv}-{int(seq) + 1000} is ahead of the source's binlog" in p.stderr

        # "start" still works after the purge: it begins at the oldest remaining file
        docs = s.tail(start="start")
        assert [d["after"]["id"] for d in docs if d["op"] == "insert"] == [3]
    finally:
        db.remove()


def test_duplicate_server_id_stops_the_older_reader(sdl, mariadb):
    """Two readers with one server_id: the source drops the older (4052), which says why. sdl
    tail picks its own server_id, so this happens only when --server-id asks for it."""
    cfg = sdl.write_config()
    argv = [sdl.bin, "tail", "-c", cfg, "--from", "now", "--server-id", "4242"]
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        second = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            rc = first.wait(30)
            err = first.stderr.read()
            assert rc != 0
            assert "same server_id 4242" in err and "4052" in err
            assert "its own source.server_id" in err
        finally:
            second.terminate()
            second.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()


def test_two_tails_with_one_config_do_not_collide(sdl, mariadb):
    cfg = sdl.write_config()
    tails = [subprocess.Popen([sdl.bin, "tail", "-c", cfg, "--from", "now"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    try:
        time.sleep(2.0)
        assert [t.poll() for t in tails] == [None, None], [t.stderr.read() for t in tails]
    finally:
        for t in tails:
            t.terminate()
            assert t.wait(10) == 0


def test_bad_arguments_and_config(sdl, mariadb, tmp_path):
    p = tail_fails(sdl, start="0-1")
    assert "invalid MariaDB GTID '0-1'" in p.stderr
    p = tail_fails(sdl, until="start")
    assert "--until start names no position" in p.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("source:\n  host: 127.0.0.1\n  prot: 3306\n")
    p = sdl.run("tail", "-c", str(bad))
    assert p.returncode == 78
    assert f"{bad}:3:3: unknown key 'prot'" in p.stderr
    p = sdl.run("tail", "--format", "xml", "-c", str(bad))
    assert p.returncode == 2 and "--format must be json or none" in p.stderr
