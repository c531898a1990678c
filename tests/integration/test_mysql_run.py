"""sdl run from a live MySQL source into MongoDB (tests/fakemongod, or $SDL_TEST_MONGODB_URI):
resume by GTID set across kill -9 (inside compressed and split transactions too), tagged GTIDs,
a source without GTIDs (file positions), purged GTIDs, TLS with verify_identity, a
heartbeat-only idle period, a duplicate server_id; snapshots refused on a MySQL source that
cannot give them exactly (binlog_order_commits=OFF; consistent mode without GTIDs).

The source is tests/mysqlpeer serving a binlog chain that the test appends to while sdl runs,
made of copies of real MySQL-written transactions (8.0.28 rows, 8.0.32 compressed
transactions, 9.6.0 tagged GTIDs, 9.0.1 anonymous JSON rows; mysqlworkload.py). The expected
row_changes come from the appender's own record (GTIDs, files, offsets) and the values
EXPECTED-VALUES.md states for each template transaction, never from sdl; the offset must equal
the GTID set written (flavor "mysql"), and the peer's log must show every GTID served.

With $SDL_TEST_MYSQL_HOST (mysqlsource.py) the tests a real server can run use it instead: the
same rows written as SQL (RealSource), compared without the server's own files, offsets and
times. The file-position test needs a source without GTIDs and the TLS test the server's CA
($SDL_TEST_MYSQL_TLS_CA); without them they stay on the peer, as the checks of the peer's own
log do."""
import random
import shutil
import subprocess
import threading
import time

import pytest

from mysqlsource import GtidSet, MySQLSdl, wait_for_gtids
from mysqlsource import real_mysql
from mysqlworkload import LIVE, PeerSource, Templates, make_source
from runlib import Daemon, offset

U = "7f1e2d3c-4b5a-11ef-8000-0242ac110002"


@pytest.fixture(scope="module")
def templates():
    return Templates()


DAEMONS = []


def new_daemon(*args, **kw):
    d = Daemon(*args, **kw)
    DAEMONS.append(d)
    return d


@pytest.fixture(autouse=True)
def stop_sources():
    """sdl processes, sources (peers, a real server's test database) are stopped after each
    test, also when it fails."""
    yield
    while DAEMONS:
        DAEMONS.pop().kill9()
    while LIVE:
        LIVE.pop().stop()


def check_documents(target, expected, max_rows, pipeline="test"):
    """row_changes == the expected documents: every _id once, the same fields and values, and
    split: true exactly on the rows of transactions of more than @max_rows rows."""
    exp = expected.documents(pipeline)
    got = {}
    for d in target.db.row_changes.find({}):
        assert d["_id"] not in got, f"duplicate {d['_id']}"
        got[d["_id"]] = d
    missing = [k for k in exp if k not in got]
    extra = [k for k in got if k not in exp]
    assert not missing, f"{len(missing)} missing, e.g. {missing[:5]}"
    assert not extra, f"{len(extra)} unexpected, e.g. {extra[:5]}"
    split = 0
    for k, (e, nrows) in exp.items():
        g = dict(got[k])
        if "binlog" not in e:   # a real server: its files, offsets and times are its own
            g.pop("binlog", None)
            g.pop("ts", None)
        s = g.pop("split", False)
        assert s == (nrows > max_rows), f"{k}: split {s}, transaction of {nrows} rows"
        split += s
        assert g == e, f"{k} differs:\n got {g}\nwant {e}"
    return {"documents": len(got), "split": split}


def served_gtids(peer):
    return {e["gtid"] for e in peer.events("gtid")}


def test_kill9_resumes_by_gtid_set_inside_compressed_and_split_transactions(
        tmp_path, templates, target):
    src = make_source(tmp_path, templates, U)
    src.new_file("ess")
    src.start()
    for k in ("ess_insert", "ess_update", "ess_delete"):
        src.ess(k)
    # a dead sdl's open transaction blocks its successor until the server aborts it (as on
    # mongod): a short lifetime keeps the kills within seconds
    target.client.admin.command({"setParameter": 1, "transactionLifetimeLimitSeconds": 2})
    max_rows = 10
    sdl = MySQLSdl(tmp_path, src)
    d = new_daemon(sdl, target, tmp_path, batch=f"max_rows: {max_rows}, max_delay: 10ms",
               **src.daemon_kw())
    big_payloads = set()
    stop_load = threading.Event()
    errors = []

    def load():
        """Some 30 transactions/s: files of ESS rows (a 35-row transaction now and then),
        of compressed transactions (a 150-row one now and then), of tagged GTIDs."""
        rng = random.Random(16)
        try:
            phase = 0
            while not stop_load.is_set():
                kind = ("ess", "payload", "tag")[phase % 3]
                if phase:
                    src.new_file(kind)
                for n in range(40):
                    if stop_load.is_set():
                        break
                    if kind == "ess":
                        if n % 15 == 7:
                            src.big_ess(35)
                        else:
                            src.ess(rng.choice(["ess_insert", "ess_update", "ess_delete"]))
                    elif kind == "payload":
                        if n % 10 == 3:
                            big_payloads.add(src.payload(150))
                        else:
                            src.payload(rng.randint(1, 3))
                    else:
                        src.tagged()
                    time.sleep(0.03)
                phase += 1
        except Exception as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    t = threading.Thread(target=load)
    t.start()
    rng = random.Random(1616)
    kills = []   # (partial offset at the kill or None, whether this run had committed a batch)
    try:
        d.start()
        for i in range(14):
            before = (offset(target) or {}).get("batch", -1)
            if i % 2:
                # wait until this run commits part of a split transaction (the offset then
                # names it; every other time one of the big compressed ones), then kill
                deadline = time.time() + 6
                while time.time() < deadline:
                    o = offset(target)
                    if (o and o.get("partial") and o["batch"] > before
                            and (i % 4 != 1 or o["partial"]["gtid"] in big_payloads)):
                        break
                    time.sleep(0.01)
            else:
                time.sleep(rng.uniform(0.2, 1.0))
            assert d.proc.poll() is None, d.output()[-3000:]
            o = offset(target) or {}
            d.kill9()
            kills.append((o.get("partial"), o.get("batch", -1) > before))
            d.start()
    finally:
        stop_load.set()
        t.join()
    assert not errors, errors
    want = src.executed()
    off = wait_for_gtids(target, want, d)
    assert d.stop() == 0, d.output()[-3000:]
    src.stop()

    summary = check_documents(target, src.expected, max_rows)
    assert off["flavor"] == "mysql"
    assert GtidSet.parse(off["gtid"]) == want and ":mytag:" in off["gtid"]
    assert target.db.row_changes_staging.count_documents({}) == 0
    if src.peer:
        # the peer's own record: it served every GTID written, and nothing else
        assert served_gtids(src.peer) == {str(g) for g in want.gtids()}
        assert not src.peer.internal_errors()
    inside = [p for p, progressed in kills if p and progressed]
    inside_payload = [p for p in inside if p["gtid"] in big_payloads]
    print(f"kill -9 x{len(kills)} ({len(inside)} inside split transactions, "
          f"{len(inside_payload)} inside compressed ones); {summary['documents']} documents, "
          f"{summary['split']} split; {len(src.expected.txns)} transactions")
    assert len(kills) >= 10
    assert len(inside) >= 3, kills
    assert len(inside_payload) >= 1, kills
    if src.peer:
        # most runs got as far as streaming (others died in recovery, a kill point too)
        assert len(src.peer.events("dump_gtid")) > len(kills) // 2


def test_kill9_resumes_by_file_position_on_a_source_without_gtids(tmp_path, templates, target):
    src = PeerSource(tmp_path, templates, U)
    src.new_file("opaque")
    src.opaque()
    src.start()
    target.client.admin.command({"setParameter": 1, "transactionLifetimeLimitSeconds": 2})
    max_rows = 5   # json-opaque's transaction has 8 rows: every one is split
    d = new_daemon(MySQLSdl(tmp_path, src), target, tmp_path,
               batch=f"max_rows: {max_rows}, max_delay: 10ms", start="start")
    rng = random.Random(7)
    d.start()
    kills = 0
    for i in range(5):
        for _ in range(rng.randint(3, 8)):
            src.opaque()
        if i % 2:
            src.new_file("opaque")
        time.sleep(rng.uniform(0.2, 0.8))
        d.kill9()
        kills += 1
        d.start()
    last = src.opaque()
    end = src.a.comp.record[-1]["end"]
    want = f"{src.a.name}:{end}"
    wait_for_position(target, want, d)
    assert d.stop() == 0, d.output()[-3000:]
    src.stop()
    o = offset(target)
    assert o["gtid"] == want and o["flavor"] == "mysql", o
    summary = check_documents(target, src.expected, max_rows)
    assert summary["split"] == summary["documents"]
    assert last in {doc["gtid"] for doc in target.db.row_changes.find({})}
    dumps = src.peer.events("dump")
    assert dumps and not src.peer.events("dump_gtid")
    assert dumps[0]["file"] == "binlog.000001" and dumps[0]["pos"] == 4
    print(f"file positions: {kills} kills, {summary['documents']} documents, {len(dumps)} dumps")


def test_purged_gtids_stop_the_pipeline_with_the_advice(tmp_path, templates, target):
    src = make_source(tmp_path, templates, U)
    src.new_file("ess")
    src.start()
    for k in ("ess_insert", "ess_update", "ess_delete"):
        src.ess(k)
    d = new_daemon(MySQLSdl(tmp_path, src), target, tmp_path, **src.daemon_kw())
    d.start()
    first = wait_for_gtids(target, src.executed(), d)
    assert d.stop() == 0
    for _ in range(2):
        src.new_file("ess")
        for k in ("ess_insert", "ess_update", "ess_delete"):
            src.ess(k)
    purged = src.purge_before_current()   # the two files sdl has not read
    missing = purged.subtract(GtidSet.parse(first["gtid"]))
    assert missing.count() >= 3
    d.start()
    rc = d.wait(60)
    out = d.output()
    assert rc == 65, out[-3000:]   # EX_DATAERR: no restart brings the files back
    assert (f"the source no longer has the binlog needed to resume after GTID position "
            f"{GtidSet.parse(first['gtid']).text()}: it was purged") in out, out[-3000:]
    assert f"the missing transactions are '{missing.text()}'" in out
    assert "sdl offset set --to now" in out
    assert offset(target)["gtid"] == first["gtid"]
    assert target.db.row_changes.count_documents({}) == 3
    src.stop()


def make_cert(d):
    """A throwaway CA and a server certificate for 127.0.0.1 (subjectAltName IP)."""
    def run(*a):
        subprocess.run(a, check=True, capture_output=True)
    for name in ("ca", "otherca"):
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            f"/CN={name}", "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.pem")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", f"{d}/server.key", "-out", f"{d}/server.csr")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.pem", "-CAkey",
        f"{d}/ca.key", "-CAcreateserial", "-days", "2", "-extfile", f"{d}/ext.cnf", "-out",
        f"{d}/server.pem")


def test_tls_with_verify_identity(tmp_path, templates, target):
    assert shutil.which("openssl"), "openssl is needed (Debian's openssl package)"
    certs = tmp_path / "certs"
    certs.mkdir()
    make_cert(certs)
    real = real_mysql()
    ca = real["tls_ca"] if real and real["tls_ca"] else f"{certs}/ca.pem"
    src = make_source(tmp_path, templates, U, peer_only=not (real and real["tls_ca"]),
                      tls_cert=str(certs / "server.pem"), tls_key=str(certs / "server.key"),
                      require_tls=True)
    src.new_file("ess")
    src.start()
    for k in ("ess_insert", "ess_update", "ess_delete"):
        src.ess(k)
    tls = f"  tls:\n    mode: verify_identity\n    ca: {ca}\n"
    d = new_daemon(MySQLSdl(tmp_path, src, source_extra=tls), target, tmp_path, **src.daemon_kw())
    d.start()
    wait_for_gtids(target, src.executed(), d)
    assert d.stop() == 0
    check_documents(target, src.expected, 5000)
    if src.peer:
        auths = src.peer.events("auth")
        assert auths and all(a["ok"] and a["tls"] for a in auths)
        # caching_sha2_password: the first login sends the password in clear over TLS (full
        # authentication), later ones pass from the server's cache
        assert auths[0]["how"] == "full-tls" and {a["how"] for a in auths[1:]} == {"fast"}
        for extra, why in [(f"  tls:\n    mode: verify_identity\n    ca: {certs}/otherca.pem\n",
                            "certificate"),
                           ("  tls: {mode: disabled}\n", "Access denied")]:
            cfg = MySQLSdl(tmp_path, src, source_extra=extra).write_config(name="neg.yaml")
            p = subprocess.run([d.sdl.bin, "tail", "-c", cfg, "--from", "start", "--until",
                                "now"], capture_output=True, text=True, timeout=60)
            assert p.returncode != 0 and why.lower() in p.stderr.lower(), p.stderr
    src.stop()


def test_heartbeats_keep_an_idle_stream_alive(tmp_path, templates, target):
    src = make_source(tmp_path, templates, U)
    src.new_file("ess")
    src.start()
    src.ess("ess_insert")
    d = new_daemon(MySQLSdl(tmp_path, src, source_extra="  tls: {mode: disabled}\n"
                                                    "  heartbeat_period: 1s\n"),
               target, tmp_path, **src.daemon_kw())
    d.start()
    wait_for_gtids(target, src.executed(), d)
    idle_from = time.time()
    # idle: only heartbeats on the wire. sdl's read timeout is 3 periods + 5 s (8 s): a real
    # server is watched longer than that, the peer's log shows the heartbeats themselves
    time.sleep(5.5 if src.peer else 9)
    if src.peer:
        beats = [e for e in src.peer.events("heartbeat") if e["t"] >= idle_from]
        dumps = src.peer.events("dump_gtid")
        assert len(dumps) == 1, dumps            # one stream all along: no reconnect
        assert dumps[0]["flags"] == 0            # blocking, and no other bit
        assert len(beats) >= 4, beats
        assert {b["conn"] for b in beats} == {dumps[0]["conn"]}
        assert all(b["file"] == "binlog.000001" and not b["v2"] for b in beats)
    src.ess("ess_update")
    src.ess("ess_delete")
    wait_for_gtids(target, src.executed(), d)
    assert d.stop() == 0
    assert "reconnecting" not in d.output()
    check_documents(target, src.expected, 5000)
    src.stop()


def test_a_second_pipeline_with_the_same_server_id_drops_the_first(tmp_path, templates, target):
    src = make_source(tmp_path, templates, U)
    src.new_file("ess")
    src.start()
    src.ess("ess_insert")
    kw = src.daemon_kw()
    first = new_daemon(MySQLSdl(tmp_path, src), target, tmp_path, **kw)
    first.start()
    wait_for_gtids(target, src.executed(), first)
    second = new_daemon(MySQLSdl(tmp_path, src, pipeline="second"), target, tmp_path,
                    config_name="second.yaml", **kw)
    second.log_path = tmp_path / "second.log"
    second.start()
    try:
        rc = first.wait(60)
        out = first.output()
        assert rc == 1, out[-3000:]
        assert ("another replica connected to the source with the same server_id 4242 and the "
                "source dropped this connection") in out, out[-3000:]
        assert "its own source.server_id" in out
        assert second.proc.poll() is None, second.output()[-3000:]
    finally:
        second.stop()
    src.stop()


def wait_for_position(target, want, daemon, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        o = offset(target)
        if o and o["gtid"] == want and not o.get("partial"):
            return o
        assert daemon.proc.poll() is None, daemon.output()[-3000:]
        time.sleep(0.1)
    raise AssertionError(f"offset {offset(target)} did not reach {want}")


@pytest.mark.parametrize("kind", ["gtid", "file_position"])
def test_a_source_restart_is_survived(tmp_path, templates, target, kind):
    """kill -9 of the source (the peer) while sdl streams, by GTID set or by file position:
    sdl reconnects with backoff and resumes after its last complete transaction, skipping the
    rows of a split transaction it already committed; nothing lost, nothing twice."""
    src = PeerSource(tmp_path, templates, U)
    src.new_file("ess" if kind == "gtid" else "opaque")

    def some():
        if kind == "gtid":
            for k in ("ess_insert", "ess_update", "ess_delete"):
                src.ess(k)
            src.big_ess(30)
        else:
            for _ in range(4):
                src.opaque()    # 8 rows each: split at max_rows 5

    some()
    src.start()
    max_rows = 8 if kind == "gtid" else 5
    d = new_daemon(MySQLSdl(tmp_path, src), target, tmp_path,
               batch=f"max_rows: {max_rows}, max_delay: 10ms", start="start")
    d.start()
    for _ in range(3):
        some()
        time.sleep(0.3)
        src.peer.kill9()
        time.sleep(0.5)
        src.peer.start()
    if kind == "gtid":
        wait_for_gtids(target, src.executed(), d)
    else:
        wait_for_position(target, f"{src.a.name}:{src.a.comp.record[-1]['end']}", d)
    assert d.stop() == 0
    assert "reconnecting" in d.output()
    check_documents(target, src.expected, max_rows)
    assert len(src.peer.events("dump_gtid" if kind == "gtid" else "dump")) >= 2
    src.stop()


def refused_snapshot(tmp_path, target, src, extra=""):
    """sdl run with pipeline.start: snapshot against @src: its exit status and output."""
    d = new_daemon(MySQLSdl(tmp_path, src), target, tmp_path, start="snapshot",
                   extra=f"tables:\n  include: ['*.*']\n{extra}")
    d.start()
    rc = d.wait(60)
    return rc, d.output()


def test_a_snapshot_on_mysql_without_binlog_order_commits_is_refused(tmp_path, templates,
                                                                       target):
    """A watermark snapshot is exact only when transactions become visible in binlog order
    (DESIGN.md §9): a MySQL source with binlog_order_commits=OFF is refused at start-up (exit
    78, EX_CONFIG) with the fix named, before a watermark is written or a row read."""
    src = PeerSource(tmp_path, templates, U, sets={"binlog_order_commits": "0"})
    src.new_file("ess")
    src.ess("ess_insert")
    src.start()
    rc, out = refused_snapshot(tmp_path, target, src)
    assert rc == 78, out[-3000:]
    assert "snapshots need binlog_order_commits=ON on a MySQL source" in out, out[-3000:]
    assert "SET GLOBAL binlog_order_commits=ON" in out
    assert target.db.row_changes.count_documents({}) == 0


def test_a_consistent_snapshot_on_mysql_without_gtids_is_refused(tmp_path, templates, target):
    """snapshot.mode: consistent on MySQL reads gtid_executed under the shortest global read
    lock; without GTIDs (gtid_mode OFF: a source of anonymous transactions) there is no
    position to stitch the snapshot to, and the start is refused (exit 78) naming gtid_mode."""
    src = PeerSource(tmp_path, templates, U)
    src.new_file("opaque")
    src.opaque()
    src.start()
    rc, out = refused_snapshot(tmp_path, target, src, extra="snapshot:\n  mode: consistent\n")
    assert rc == 78, out[-3000:]
    assert "snapshot.mode: consistent needs GTIDs on a MySQL source (gtid_mode=ON" in out, \
        out[-3000:]
    assert target.db.row_changes.count_documents({}) == 0
