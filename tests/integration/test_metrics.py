"""/metrics, /health and `sdl status` end to end: real mariadbd → `sdl run` (http.listen on a
free loopback port) → tests/fakemongod. The counters must match what was replicated, the
exposition must pass `promtool check metrics` (Debian's prometheus package), /health/ready
must turn 503 while the target is down and 200 again after, and `sdl status` (human and
--json) must show the offset the pipeline committed."""
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from mariadb import free_port
from runlib import Daemon, Target, offset, wait_for_offset

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def get(port, path, method="GET"):
    """(status, content-type, body) of one request."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def parse_metrics(text):
    """A strict reader of the text format: returns {(name, frozenset(labels)): value} and
    checks that every sample belongs to a family declared by # TYPE before it."""
    samples = {}
    types = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            assert name not in types, f"family {name} declared twice"
            types[name] = typ
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, _, labels, value = m.groups()
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, f"{name} has no # TYPE"
        lab = {}
        rest = labels or ""
        while rest:
            lm = LABEL.match(rest)
            assert lm, f"bad labels in {line!r}"
            lab[lm.group(1)] = lm.group(2)
            rest = rest[lm.end():]
        assert lab.get("pipeline") == "test", line
        key = (name, frozenset(lab.items()))
        assert key not in samples, f"duplicate series {line!r}"
        samples[key] = float(value)
    return samples, types


def value(samples, name, **labels):
    want = set(labels.items()) | {("pipeline", "test")}
    hits = [v for (n, lab), v in samples.items() if n == name and want <= set(lab)]
    assert len(hits) == 1, f"{name}{labels}: {len(hits)} series"
    return hits[0]


def info_labels(samples, name):
    hits = [dict(lab) for (n, lab), _ in samples.items() if n == name]
    assert len(hits) == 1
    return hits[0]


def promtool_check(text):
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.fail("promtool not found: scripts/install-deps installs Debian's prometheus package")
    p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(), \
        f"promtool check metrics: rc {p.returncode}\n{p.stdout}\n{p.stderr}"


def wait_http(port, path, status, daemon, timeout=60, contains=None):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        if daemon.proc.poll() is not None:
            raise AssertionError(f"sdl exited with {daemon.proc.returncode}:\n{daemon.output()[-4000:]}")
        try:
            last = get(port, path)
            if last[0] == status and (contains is None or contains in last[2]):
                return last
        except (urllib.error.URLError, ConnectionError):
            last = None
        time.sleep(0.2)
    raise AssertionError(f"{path} did not answer {status} (last: {last}); sdl log:\n"
                         + daemon.output()[-4000:])


def insert_rows(mariadb, db, first, n, per_txn):
    """n rows in transactions of per_txn rows; returns the number of transactions."""
    c = mariadb.root()
    txns = 0
    try:
        with c.cursor() as cur:
            i = first
            while i < first + n:
                k = min(per_txn, first + n - i)
                cur.execute("BEGIN")
                for j in range(i, i + k):
                    cur.execute(f"INSERT INTO {db}.t VALUES ({j}, 'row {j}')")
                cur.execute("COMMIT")
                txns += 1
                i += k
    finally:
        c.close()
    return txns


@pytest.fixture
def target(tmp_path, request):
    if os.environ.get("SDL_TEST_MONGODB_URI"):
        pytest.fail("this test stops and starts the target: it needs tests/fakemongod")
    t = Target(tmp_path, request.node.name[:20])
    yield t
    t.close()


def test_metrics_health_and_status(sdl, mariadb, target, tmp_path):
    port = free_port()
    mariadb.sql("CREATE DATABASE IF NOT EXISTS mx", "CREATE TABLE mx.t (id INT PRIMARY KEY, s VARCHAR(20))",
                "CREATE TABLE mx.skipped (id INT PRIMARY KEY, s VARCHAR(20))",
                "CREATE TABLE mx.other (id INT PRIMARY KEY)")
    start = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 50, max_delay: 20ms", start=start,
               extra=f"http:\n  listen: 127.0.0.1:{port}\n  table_metrics: 1\n"
                     "tables:\n  exclude: ['mx.skipped']\n")
    d.start()
    try:
        wait_http(port, "/health/ready", 200, d)
        status, ctype, body = get(port, "/health/live")
        assert status == 200 and ctype == "application/json", body
        assert json.loads(body)["status"] == "ok"
        ready = json.loads(get(port, "/health/ready")[2])
        assert ready == {
            "status": "ok", "reasons": [], "ready": True, "target_up": True, "source_up": True,
            "pipeline": "test", "reader": "running", "writer": json.loads(body)["writer"],
            "lag_seconds": ready["lag_seconds"], "position": ready["position"]}

        # N rows in T transactions
        n = 230
        txns = insert_rows(mariadb, "mx", 1, n, per_txn=7)
        # 2 updates and a delete; 4 rows of an excluded table (read, filtered); 3 rows of a
        # second table (beyond table_metrics: 1, counted as untracked)
        mariadb.sql("UPDATE mx.t SET s = 'u' WHERE id IN (1, 2)", "DELETE FROM mx.t WHERE id = 3",
                    "INSERT INTO mx.skipped VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')",
                    "INSERT INTO mx.other VALUES (1), (2), (3)")
        txns += 4
        end = mariadb.gtid_binlog_pos()
        off = wait_for_offset(target, end, d)
        status, ctype, text = get(port, "/metrics")
        assert status == 200
        assert ctype == "text/plain; version=0.0.4; charset=utf-8"
        promtool_check(text)
        s, types = parse_metrics(text)
        assert value(s, "sdl_rows_applied_total", op="insert") == n + 3
        assert value(s, "sdl_rows_applied_total", op="update") == 2
        assert value(s, "sdl_rows_applied_total", op="delete") == 1
        assert value(s, "sdl_ddl_applied_total") == 0  # the tables came before the start
        assert value(s, "sdl_transactions_applied_total") == txns
        # read from the source: every row, those of the excluded table too
        assert value(s, "sdl_source_rows_total") == n + 3 + 4 + 3
        assert value(s, "sdl_source_rows_filtered_total") == 4
        assert value(s, "sdl_source_events_total") >= txns * 4  # GTID, TABLE_MAP, ROWS, XID
        assert value(s, "sdl_source_read_bytes_total") > value(s, "sdl_source_events_total") * 19
        assert value(s, "sdl_source_reconnects_total") == 0
        assert value(s, "sdl_queue_capacity_bytes") == 16 << 20  # pipeline.queue_bytes default
        # per table, opt-in and bounded: the first table committed, the rest counted together
        tables = {(dict(lab)["db"], dict(lab)["table"], dict(lab)["op"]): v
                  for (name, lab), v in s.items() if name == "sdl_table_rows_applied_total"}
        assert tables == {("mx", "t", "insert"): n, ("mx", "t", "update"): 2,
                          ("mx", "t", "delete"): 1}, tables
        assert value(s, "sdl_table_rows_untracked_total") == 3
        # the process, as every Prometheus client library exports it
        assert 0 < value(s, "process_cpu_seconds_total") < 600
        assert value(s, "process_resident_memory_bytes") > 1 << 20
        assert value(s, "process_open_fds") >= 3 and value(s, "process_max_fds") >= 64
        assert abs(value(s, "process_start_time_seconds") - time.time()) < 300
        # no label that changes with every commit: the position is in /health instead
        assert not [k for k in s if "gtid" in dict(k[1]) or "file" in dict(k[1])], s.keys()
        batches = value(s, "sdl_batches_committed_total")
        assert batches >= 1 and batches == off["batch"]
        assert value(s, "sdl_commit_duration_seconds_count") == batches
        assert value(s, "sdl_commit_duration_seconds_bucket", le="+Inf") == batches
        buckets = sorted(((float(dict(lab)["le"]), v) for (name, lab), v in s.items()
                          if name == "sdl_commit_duration_seconds_bucket"))
        assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), "buckets not cumulative"
        assert value(s, "sdl_commit_duration_seconds_sum") > 0
        health = json.loads(get(port, "/health/ready")[2])
        assert health["position"] == {"gtid": end, "binlog": off["binlog"]}, health
        assert end == off["gtid"]
        assert isinstance(health["lag_seconds"], (int, float)) and health["lag_seconds"] >= 0
        assert value(s, "sdl_staging_batches") == 0
        for name in ("sdl_target_up", "sdl_source_up", "sdl_ready"):
            assert value(s, name) == 1, name
        assert value(s, "sdl_reader_state", state="running") == 1
        assert sum(v for (name, _), v in s.items() if name == "sdl_writer_state") == 1
        assert value(s, "sdl_lag_seconds") >= 0
        assert value(s, "sdl_last_commit_timestamp_seconds") > time.time() - 120
        assert info_labels(s, "sdl_build_info")["version"]
        assert types["sdl_rows_applied_total"] == "counter"
        assert types["sdl_commit_duration_seconds"] == "histogram"
        assert get(port, "/nope")[0] == 404
        assert get(port, "/metrics", method="POST")[0] == 405
        assert "password" not in text and "mongodb://" not in text

        # sdl status against the same target shows that offset
        p = sdl.run("status", "-c", d.config, check=True)
        assert f"gtid position {end} (batch {off['batch']})" in p.stdout, p.stdout
        assert f"rows applied  {n + 6}\n" in p.stdout
        assert "staged        0 batches" in p.stdout
        p = sdl.run("status", "-c", d.config, "--json", check=True)
        st = json.loads(p.stdout)
        assert st["pipeline"] == "test"
        assert st["offset"]["gtid"] == end and st["offset"]["batch"] == off["batch"]
        assert st["offset"]["rows_applied"] == n + 6 and st["offset"]["partial"] is None
        assert st["offset"]["binlog"] == {"file": off["binlog"]["file"], "pos": off["binlog"]["pos"]}
        assert st["staged"]["batches"] == 0
        assert 0 <= st["last_commit_age_seconds"] < 120

        # the target goes down while sdl is idle: its idle ping notices, ready turns 503
        target.close()
        status, _, body = wait_http(port, "/health/ready", 503, d, contains="target down")
        assert json.loads(body)["target_up"] is False
        assert "The target does not answer (idle check)" in d.output()
        # a new row cannot be written: the writer retries
        insert_rows(mariadb, "mx", 1000, 1, per_txn=1)
        deadline = time.time() + 60
        while True:
            s, _ = parse_metrics(get(port, "/metrics")[2])
            if value(s, "sdl_writer_state", state="retrying") == 1 or time.time() > deadline:
                break
            time.sleep(0.2)
        assert get(port, "/health/live")[0] == 200  # retrying is alive
        assert value(s, "sdl_target_up") == 0
        assert value(s, "sdl_writer_state", state="retrying") == 1
        assert sum(v for (name, lab), v in s.items() if name == "sdl_retries_total") >= 1
        p = sdl.run("status", "-c", d.config, timeout=60)
        assert p.returncode == 1 and "cannot read pipeline 'test' from the target" in p.stderr, p

        # ... and comes back: ready again, the row committed, the counters follow
        target.fake.start()
        end2 = mariadb.gtid_binlog_pos()
        wait_http(port, "/health/ready", 200, d, timeout=90)
        wait_for_offset(target, end2, d)
        s, _ = parse_metrics(get(port, "/metrics")[2])
        assert value(s, "sdl_rows_applied_total", op="insert") == n + 3 + 1
        assert value(s, "sdl_target_up") == 1
        assert json.loads(get(port, "/health/ready")[2])["position"]["gtid"] == end2
        assert offset(target)["rows_applied"] == n + 6 + 1
    finally:
        rc = d.stop()
    assert rc == 0, d.output()[-3000:]
    log = d.output()
    assert f"Serving /metrics, /health/live and /health/ready on 127.0.0.1:{port}" in log
    # after the stop the port is free again
    with pytest.raises(urllib.error.URLError):
        get(port, "/metrics")


def test_status_without_offset_and_bad_listen(sdl, mariadb, target, tmp_path):
    d = Daemon(sdl, target, tmp_path)
    p = sdl.run("status", "-c", d.config, check=True)
    assert p.stdout == ("pipeline      test\n"
                        "offset        none yet: no batch committed (sdl run begins at pipeline.start)\n"
                        "staged        0 batches\n"), p.stdout
    st = json.loads(sdl.run("status", "-c", d.config, "--json", check=True).stdout)
    assert st["offset"] is None and st["staged"]["batches"] == 0
    # sdl status only reads: it created no collection (and so no index) in the target
    assert target.db.list_collection_names() == [], target.db.list_collection_names()

    # an address in use: sdl run exits 1 at once with a clear message
    import socket
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        d2 = Daemon(sdl, target, tmp_path, extra=f"http:\n  listen: 127.0.0.1:{port}\n")
        d2.start()
        assert d2.wait(30) == 1
        assert f"Failed to start the HTTP server (http.listen): cannot serve HTTP on 127.0.0.1:{port}: Address already in use" in d2.output()
