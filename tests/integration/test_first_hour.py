"""The operator's first hour (issue 11), tested the way a user meets each step:

  demo:         scripts/demo (the README's first command) ends with its "done" line, exit 0
  tail:         `sdl tail -c <the service's config>` beside a running `sdl run` never disturbs
                it (tail has a replica identity of its own; --server-id picks one)
  secrets:      `sdl check-config` finds the secrets where `sdl run` finds them: the packaged
                layout (sdl.yaml + sdl.credentials/), --credentials DIR, $CREDENTIALS_DIRECTORY,
                the environment; the hint for a missing URI names the credential file
  packaged:     packaging/sdl.yaml as shipped replicates every table
  start:        a malformed pipeline.start is a configuration error (exit 78, file:line:col),
                in check-config and in run
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time

from conftest import ROOT
from runlib import Daemon, wait_for_offset

PACKAGED = os.path.join(ROOT, "packaging", "sdl.yaml")


def packaged_config(tmp_path, db, name="sdl", replace=()):
    """packaging/sdl.yaml with the source pointed at @db, as an operator edits it, next to its
    credentials directory <name>.credentials/ (empty; the caller writes what it needs)."""
    text = open(PACKAGED).read()
    text = text.replace("  port: 3306\n", f"  port: {db.port}\n")
    for old, new in replace:
        assert old in text, old
        text = text.replace(old, new)
    conf = tmp_path / f"{name}.yaml"
    conf.write_text(text)
    creds = tmp_path / f"{name}.credentials"
    creds.mkdir(mode=0o700)
    return conf, creds


def wait_replicating(d, timeout=30):
    """Until `sdl run` has stored its start position (batch 0) and streams."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert d.proc.poll() is None, d.output()[-4000:]
        if "Replicating after GTID position" in d.output():
            return
        time.sleep(0.05)
    raise AssertionError("sdl run did not start replicating:\n" + d.output()[-4000:])


# ---- the demo ------------------------------------------------------------------------------
def test_demo_ends_with_done_and_exit_0():
    t0 = time.monotonic()
    p = subprocess.run([os.path.join(ROOT, "scripts", "demo")], capture_output=True, text=True,
                       timeout=600, cwd=ROOT)
    took = time.monotonic() - t0
    print(f"scripts/demo took {took:.1f}s")
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-6000:]
    last = p.stdout.rstrip().splitlines()[-1]
    assert last.startswith("== done"), out[-3000:]
    # the pipeline was not disturbed by the demo's sdl tail, and stopped cleanly
    assert "same server_id" not in out and "4052" not in out, out[-6000:]
    assert "Stopped at batch" in out, out[-3000:]


# ---- sdl tail beside sdl run -------------------------------------------------------------
def test_tail_with_the_services_config_does_not_disturb_sdl_run(sdl, mariadb, target, tmp_path):
    mariadb.sql("CREATE DATABASE IF NOT EXISTS beside",
                "CREATE TABLE IF NOT EXISTS beside.t (id INT PRIMARY KEY, v VARCHAR(20))")
    d = Daemon(sdl, target, tmp_path, batch="max_delay: 20ms", start="now").start()
    try:
        wait_replicating(d)
        mariadb.sql("INSERT INTO beside.t VALUES (1, 'before')")
        wait_for_offset(target, mariadb.gtid_binlog_pos(), d)
        # The operator follows the binlog with the very file the service runs with.
        tail = subprocess.Popen([sdl.bin, "tail", "-c", d.config, "--from", "now"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(1)
            for i in range(2, 12):
                mariadb.sql(f"INSERT INTO beside.t VALUES ({i}, 'beside')")
                time.sleep(0.1)
            end = mariadb.gtid_binlog_pos()
            wait_for_offset(target, end, d, timeout=30)
            assert tail.poll() is None, tail.stderr.read()
        finally:
            tail.send_signal(signal.SIGINT)
            out, err = tail.communicate(timeout=30)
        assert tail.returncode == 0, err
        printed = [json.loads(line)["pk"]["id"] for line in out.splitlines() if line.strip()]
        assert printed == list(range(2, 12)), (printed, err)
        assert d.proc.poll() is None, d.output()[-4000:]
        rows = sorted(doc["pk"]["id"] for doc in target.db.row_changes.find({"table": "t"}))
        assert rows == list(range(1, 12)), rows
        log = d.output()
        assert "Lost the source connection" not in log and "same server_id" not in log, log[-4000:]
        assert d.stop() == 0, d.output()[-4000:]
    finally:
        d.kill9()


def test_tail_server_id_option(sdl, mariadb, target, tmp_path):
    """--server-id is the identity tail connects with: given the pipeline's own, the source
    drops the pipeline's connection (what the default never does)."""
    p = sdl.run("tail", "-c", sdl.write_config(), "--server-id", "0", "--until", "now")
    assert p.returncode == 2 and "--server-id must be between 1 and 4294967295" in p.stderr
    p = sdl.run("tail", "-c", sdl.write_config(), "--server-id", "4294967296")
    assert p.returncode == 2, p.stderr
    d = Daemon(sdl, target, tmp_path, batch="max_delay: 20ms", start="now").start()
    try:
        wait_replicating(d)
        tail = subprocess.Popen([sdl.bin, "tail", "-c", d.config, "--from", "now",
                                 "--server-id", "4242"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 20
            while time.time() < deadline and "server_id 4242" not in d.output():
                time.sleep(0.1)
        finally:
            tail.send_signal(signal.SIGINT)
            tail.communicate(timeout=30)
        assert "another replica connected to the source with the same server_id 4242" in \
            d.output(), d.output()[-4000:]
    finally:
        d.kill9()


# ---- check-config and the secrets ----------------------------------------------------------
def test_check_config_reads_the_packaged_layout(sdl, mariadb, target, tmp_path):
    """The documented check, on the packaged file: the secrets in sdl.credentials/ next to
    it are found without any option, as sdl.service hands them to sdl run."""
    conf, creds = packaged_config(tmp_path, mariadb)
    p = sdl.run("check-config", "-c", str(conf))
    assert p.returncode == 78, p.stdout + p.stderr
    # The hint names the recommended way: the credential file of this configuration.
    assert f"write it to the credential file {creds}/target-uri" in p.stderr, p.stderr
    (creds / "source-password").write_text(mariadb.password + "\n")
    (creds / "target-uri").write_text(target.uri + "\n")
    p = sdl.run("check-config", "-c", str(conf))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "# password: <from credential source-password>" in p.stdout, p.stdout
    assert "# uri: <from credential target-uri>" in p.stdout, p.stdout
    assert mariadb.password not in p.stdout + p.stderr
    # as shipped: every table
    assert re.search(r"^tables:\n  include: \[\]\n  exclude: \[\]$", p.stdout, re.M), p.stdout
    # sdl status finds them the same way
    p = sdl.run("status", "-c", str(conf))
    assert p.returncode == 0 and "offset" in p.stdout, p.stdout + p.stderr


def test_check_config_takes_every_source_of_secrets(sdl, mariadb, tmp_path):
    conf = tmp_path / "pipe.yaml"
    conf.write_text(f"source: {{port: {mariadb.port}, user: repl, server_id: 9}}\n"
                    "target: {database: x}\n")
    elsewhere = tmp_path / "creds"
    elsewhere.mkdir()
    (elsewhere / "target-uri").write_text("mongodb://u:s3cret@db1:27017/?replicaSet=rs0\n")
    (elsewhere / "source-password").write_text("pw-from-dir\n")
    # --credentials DIR
    p = sdl.run("check-config", "-c", str(conf), "--credentials", str(elsewhere))
    assert p.returncode == 0, p.stderr
    assert "<from credential target-uri>" in p.stdout and "s3cret" not in p.stdout
    # $CREDENTIALS_DIRECTORY (systemd's)
    p = sdl.run("check-config", "-c", str(conf), env={"CREDENTIALS_DIRECTORY": str(elsewhere)})
    assert p.returncode == 0 and "<from credential source-password>" in p.stdout, p.stderr
    # --credentials wins over $CREDENTIALS_DIRECTORY
    empty = tmp_path / "empty"
    empty.mkdir()
    p = sdl.run("check-config", "-c", str(conf), "--credentials", str(empty),
                env={"CREDENTIALS_DIRECTORY": str(elsewhere)})
    assert p.returncode == 78 and f"{empty}/target-uri" in p.stderr, p.stderr
    # the environment
    p = sdl.run("check-config", "-c", str(conf),
                env={"SDL_TARGET_URI": "mongodb://db1/?replicaSet=rs0"})
    assert p.returncode == 0 and "<from environment SDL_TARGET_URI>" in p.stdout, p.stderr
    # sdl run without a target names the credential file to write
    conf.write_text(f"source: {{port: {mariadb.port}, user: repl, server_id: 9}}\n")
    p = sdl.run("run", "-c", str(conf), timeout=30)
    assert p.returncode == 78, p.stderr
    assert f"{tmp_path}/pipe.credentials/target-uri" in p.stderr, p.stderr


def test_malformed_start_is_a_configuration_error(sdl, mariadb, target, tmp_path):
    uri = tmp_path / "mongodb.uri"
    uri.write_text(target.uri + "\n")
    for bad in ("0-1-x", "0-1", "1-2-3,1-4-5", "3E11FA47-71CA-11E1-9E33-C80AA9429562:0"):
        conf = tmp_path / "bad.yaml"
        conf.write_text(f"source: {{port: {mariadb.port}, user: repl, server_id: 9}}\n"
                        f"target: {{uri_file: {uri}}}\npipeline:\n  start: '{bad}'\n")
        p = sdl.run("check-config", "-c", str(conf))
        assert p.returncode == 78, (bad, p.stdout, p.stderr)
        # (its first line, or the first after libmongoc's own start-up warning, which the
        # library prints before sdl runs when a stale /dev/shm/mongoc-<pid> has this pid)
        assert re.search(rf"^{re.escape(str(conf))}:4:10: invalid value '{re.escape(bad)}' for "
                         r"'start' in 'pipeline'", p.stderr, re.M), p.stderr
        # sdl run stops the same way, before connecting (no exit 1, no restart loop)
        p = sdl.run("run", "-c", str(conf), timeout=30)
        assert p.returncode == 78, (bad, p.stderr)
    for good in ("now", "start", "0-1-5", "0-1-5,1-1-2",
                 "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5"):
        conf.write_text(f"source: {{port: {mariadb.port}, user: repl, server_id: 9}}\n"
                        f"target: {{uri_file: {uri}}}\npipeline:\n  start: '{good}'\n")
        p = sdl.run("check-config", "-c", str(conf))
        assert p.returncode == 0, (good, p.stderr)


def test_packaged_config_replicates_every_table(sdl, mariadb, target, tmp_path):
    """packaging/sdl.yaml as shipped, only the source's port and the target's database
    edited: a table of any database reaches row_changes."""
    conf, creds = packaged_config(tmp_path, mariadb, replace=[
        ("  database: audit\n", f"  database: {target.database}\n"),
        ("  listen: 127.0.0.1:9632", "  listen: null")])
    (creds / "source-password").write_text(mariadb.password + "\n")
    (creds / "target-uri").write_text(target.uri + "\n")
    mariadb.sql("CREATE DATABASE IF NOT EXISTS anything",
                "CREATE TABLE IF NOT EXISTS anything.t (id INT PRIMARY KEY)")
    proc = subprocess.Popen([sdl.bin, "run", "-c", str(conf)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not target.db.binlog_offsets.find_one({"_id": "main"}):
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.1)
        mariadb.sql("INSERT INTO anything.t VALUES (7)")
        end = mariadb.gtid_binlog_pos()
        wait_for_offset(target, end, pipeline="main", timeout=30)
        docs = list(target.db.row_changes.find({"db": "anything", "table": "t"}))
        assert [d["op"] for d in docs] == ["insert"] and docs[0]["pk"] == {"id": 7}, docs
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out


# ---- logs outside the journal ----------------------------------------------------------------
# libmongoc's own start-up warning (printed by the library before sdl runs, when a stale
# /dev/shm/mongoc-<pid> of a killed process has this pid) is not sdl's to format
MONGOC_EARLY = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+: \[\d+\]: +WARNING: +mongoc: ")
RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"


def run_briefly(sdl, mariadb, target, tmp_path, log_section):
    mariadb.sql("CREATE DATABASE IF NOT EXISTS logs",
                "CREATE TABLE IF NOT EXISTS logs.t (id INT PRIMARY KEY AUTO_INCREMENT)")
    d = Daemon(sdl, target, tmp_path, batch="max_delay: 20ms", start="now", extra=log_section)
    d.start()
    try:
        wait_replicating(d)
        mariadb.sql("INSERT INTO logs.t VALUES (NULL)")
        wait_for_offset(target, mariadb.gtid_binlog_pos(), d)
    finally:
        assert d.stop() == 0, d.output()[-3000:]
    return [line for line in d.output().splitlines() if not MONGOC_EARLY.match(line)]


def test_stderr_lines_have_rfc3339_times(sdl, mariadb, target, tmp_path):
    lines = run_briefly(sdl, mariadb, target, tmp_path, "log:\n  level: debug\n")
    assert len(lines) > 5, lines
    bad = [line for line in lines
           if not re.match(rf"^{RFC3339} sdl\[\d+\] (error|warning|notice|info|debug): \S", line)]
    assert not bad, bad
    assert any(" notice: Replicating after GTID position" in line for line in lines), lines


def test_log_format_json_has_the_journal_fields(sdl, mariadb, target, tmp_path):
    lines = run_briefly(sdl, mariadb, target, tmp_path, "log:\n  format: json\n")
    records = [json.loads(line) for line in lines]  # every line one object
    assert len(records) > 3, lines
    for r in records:
        assert re.fullmatch(RFC3339, r["TIMESTAMP"]), r
        assert r["LEVEL"] in ("error", "warning", "notice", "info", "debug"), r
        assert r["PRIORITY"] == {"error": "3", "warning": "4", "notice": "5", "info": "6",
                                 "debug": "7"}[r["LEVEL"]], r
        assert r["SYSLOG_IDENTIFIER"] == "sdl" and r["CODE_FILE"] and r["CODE_LINE"].isdigit(), r
        assert set(r) <= {"TIMESTAMP", "LEVEL", "MESSAGE", "PRIORITY", "CODE_FILE", "CODE_LINE",
                          "CODE_FUNC", "SYSLOG_IDENTIFIER", "SDL_PIPELINE", "SDL_GTID",
                          "SDL_TABLE"}, r
    started = [r for r in records if r["MESSAGE"].startswith("Replicating after GTID position")]
    assert started and started[0]["SDL_PIPELINE"] == "test", records
