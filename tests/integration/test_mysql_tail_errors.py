"""What a MySQL source answers when sdl cannot resume, and what sdl says: purged GTIDs and
purged files, a position ahead of the source, a GTID set on a source without GTIDs, another
replica with the same server_id, a wrong password; and resuming by GTID set and by file
position gives exactly the rest. The source is tests/mysqlpeer serving a binlog chain made of
copies of real MySQL-written transactions (mysqlworkload.py)."""
import json
import os
import subprocess
import time

import pytest

from conftest import sdl_bin
from mysqlsource import MySQLPeer, sdl_config
from mysqlworkload import Appender, Templates

U = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
OTHER = "0b5e3c1a-7c9d-11ee-8c99-0242ac120002"


@pytest.fixture(scope="module")
def templates():
    return Templates()


def gtid_chain(tmp_path, templates):
    """binlog.000001: U:1-3, binlog.000002: U:4-6 (ESS insert, update, delete)."""
    d = tmp_path / "peer" / "binlog"
    d.mkdir(parents=True)
    a = Appender(str(d), templates, U)
    for _ in range(2):
        a.start_file(templates.ess_fde)
        for k in ("ess_insert", "ess_update", "ess_delete"):
            a.ess(k)
    return a, str(d)


def anonymous_chain(tmp_path, templates):
    """binlog.000001 and binlog.000002, each with json-opaque's transaction (anonymous)."""
    d = tmp_path / "peer" / "binlog"
    d.mkdir(parents=True)
    a = Appender(str(d), templates, U)
    ends = []
    for _ in range(2):
        a.start_file(templates.opaque_fde)
        ends.append(a.opaque())
    return a, str(d), ends


def start_peer(tmp_path, d, **kw):
    return MySQLPeer(tmp_path / "peer", binlog_dir=d, **kw).start()


def config(tmp_path, peer, password=None, **kw):
    return sdl_config(tmp_path, "127.0.0.1", peer.port, peer.user,
                      peer.password if password is None else password,
                      source_extra="  tls: {mode: disabled}\n", **kw)


def tail(cfg, *args, timeout=60):
    p = subprocess.run([sdl_bin(), "tail", "-c", cfg, *args], capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, [json.loads(x) for x in p.stdout.splitlines() if x.strip()], p.stderr


def gtids_of(docs):
    out = []
    for d in docs:
        if d["gtid"] not in out:
            out.append(d["gtid"])
    return out


def test_resume_by_gtid_set_gives_the_rest_and_purged_gtids_stop(tmp_path, templates):
    a, d = gtid_chain(tmp_path, templates)
    with start_peer(tmp_path, d) as peer:
        cfg = config(tmp_path, peer)
        rc, docs, err = tail(cfg, "--from", "start", "--until", "now")
        assert rc == 0, err
        assert gtids_of(docs) == [f"{U}:{n}" for n in range(1, 7)]
        rc, docs, err = tail(cfg, "--from", f"{U}:1-4", "--until", "now")
        assert rc == 0, err
        assert gtids_of(docs) == [f"{U}:5", f"{U}:6"]
        # GTIDs of another server in the set are not this source's business (MySQL
        # compares only its own uuid's GTIDs with what it has)
        rc, docs, err = tail(cfg, "--from", f"{OTHER}:1-9,{U}:1-2", "--until", "now")
        assert rc == 0, err
        assert gtids_of(docs) == [f"{U}:{n}" for n in range(3, 7)]

        os.remove(os.path.join(d, "binlog.000001"))   # purged: gtid_purged is now U:1-3
        rc, docs, err = tail(cfg, "--from", f"{U}:1", "--until", "now")
        assert rc == 65 and docs == []
        assert (f"the source no longer has the binlog needed to resume after GTID position "
                f"{U}:1: it was purged") in err, err
        assert "Cannot replicate because the source purged required binary logs" in err
        assert f"the missing transactions are '{U}:2-3'" in err
        assert "sdl offset set --to now" in err
        # "start" begins after what was purged
        rc, docs, err = tail(cfg, "--from", "start", "--until", "now")
        assert rc == 0, err
        assert gtids_of(docs) == [f"{U}:{n}" for n in range(4, 7)]


def test_purged_option_stops_like_a_purged_file(tmp_path, templates):
    a, d = gtid_chain(tmp_path, templates)
    with start_peer(tmp_path, d, purged=f"{OTHER}:1-100") as peer:
        rc, docs, err = tail(config(tmp_path, peer), "--from", f"{U}:1-6", "--until", "now")
        assert rc == 65 and docs == []
        assert "it was purged" in err and f"{OTHER}:1-100" in err, err


def test_a_position_ahead_of_the_source_stops(tmp_path, templates):
    a, d = gtid_chain(tmp_path, templates)
    with start_peer(tmp_path, d) as peer:
        rc, docs, err = tail(config(tmp_path, peer), "--from", f"{U}:1-100", "--until", "now")
    assert rc == 1 and docs == []
    assert f"GTID position {U}:1-100 is ahead of the source's binlog" in err, err
    assert "Replica has more GTIDs than the source has" in err


def test_resume_by_file_position_and_purged_files_on_a_source_without_gtids(tmp_path,
                                                                            templates):
    a, d, ends = anonymous_chain(tmp_path, templates)
    with start_peer(tmp_path, d, sets={"binlog_row_metadata": "FULL"}) as peer:
        cfg = config(tmp_path, peer)
        rc, docs, err = tail(cfg, "--from", "start", "--until", "now")
        assert rc == 0, err
        first, second = ends[0][0], ends[1][0]
        assert gtids_of(docs) == [first, second]
        assert [e["ev"] for e in peer.events() if e["ev"] in ("dump", "dump_gtid")] == ["dump"]
        # the position after the first transaction resumes with the second
        after_first = f"binlog.000001:{ends[0][1]}"
        rc, docs, err = tail(cfg, "--from", after_first, "--until", "now")
        assert rc == 0, err
        assert gtids_of(docs) == [second]
        # --until a file position stops after the transaction that reaches it
        rc, docs, err = tail(cfg, "--from", "start", "--until", after_first)
        assert rc == 0, err
        assert gtids_of(docs) == [first]
        # a GTID set means nothing to a source with gtid_mode OFF: the server says so
        rc, docs, err = tail(cfg, "--from", f"{U}:1-3", "--until", f"{U}:1-4")
        assert rc == 1 and "GTID_MODE = OFF" in err, err
        # a position past the end of its file
        rc, docs, err = tail(cfg, "--from", "binlog.000001:99999999", "--until", "now")
        assert rc == 1 and docs == []
        assert "binlog position binlog.000001:99999999 is past the end of the source's binlog" \
            in err, err
        os.remove(os.path.join(d, "binlog.000001"))
        rc, docs, err = tail(cfg, "--from", after_first, "--until", "now")
        assert rc == 65 and docs == []
        assert (f"the source no longer has the binlog needed to resume after binlog position "
                f"{after_first}: it was purged") in err, err


def test_another_replica_with_the_same_server_id_drops_the_first(tmp_path, templates):
    a, d = gtid_chain(tmp_path, templates)
    with start_peer(tmp_path, d) as peer:
        cfg = config(tmp_path, peer)
        first = subprocess.Popen([sdl_bin(), "tail", "-c", cfg, "--from", "now",
                                  "--server-id", "4242"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        second = None
        try:
            deadline = time.time() + 20
            while not peer.events("dump_gtid") and time.time() < deadline:
                time.sleep(0.05)
            second = subprocess.Popen([sdl_bin(), "tail", "-c", cfg, "--from", "now",
                                       "--server-id", "4242"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            rc = first.wait(30)
            err = first.stderr.read()
            assert rc == 1
            assert ("another replica connected to the source with the same server_id 4242 and "
                    "the source dropped this connection") in err, err
            assert "its own source.server_id" in err
            assert "A replica with the same server_uuid/server_id" in err
            assert second.poll() is None, "the newer replica keeps streaming"
            kills = peer.events("zombie_kill")
            assert len(kills) == 1 and kills[0]["uuid"] == "00000000-0000-4000-8000-000000001092"
        finally:
            for p in (first, second):
                if p and p.poll() is None:
                    p.terminate()
                    p.wait(10)


def test_wrong_password(tmp_path, templates):
    a, d = gtid_chain(tmp_path, templates)
    with start_peer(tmp_path, d) as peer:
        rc, docs, err = tail(config(tmp_path, peer, password="nope"), "--from", "start",
                             "--until", "now")
    assert rc == 1
    assert "Access denied for user 'repl'@'127.0.0.1' (using password: YES)" in err
    assert "check source.user and the password" in err and "nope" not in err


def test_source_flavor_overrides_the_version_string(tmp_path, templates):
    """A server may announce any version (MariaDB's `version` variable, proxies): with
    source.flavor set, sdl speaks that flavour whatever the version string says."""
    a, d = gtid_chain(tmp_path, templates)
    with start_peer(tmp_path, d, server_version="8.4.3-MariaDB-lookalike") as peer:
        auto = config(tmp_path, peer, name="auto.yaml")
        rc, docs, err = tail(auto, "--from", "start", "--until", "now")
        assert rc == 1 and "BINLOG_GTID_POS" in err, err   # taken for MariaDB
        forced = sdl_config(tmp_path, "127.0.0.1", peer.port, peer.user, peer.password,
                            source_extra="  tls: {mode: disabled}\n  flavor: mysql\n",
                            name="forced.yaml")
        rc, docs, err = tail(forced, "--from", "start", "--until", "now")
        assert rc == 0, err
        assert gtids_of(docs) == [f"{U}:{n}" for n in range(1, 7)]
