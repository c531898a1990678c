"""The MongoDB writer against a real wire-protocol server: runs the C program
$SDL_BUILD_DIR/tests/mongo/test-mongo-writer (TAP) against fakemongod (or the replica set
named by $SDL_TEST_MONGODB_URI), with a standalone fakemongod for the standalone case, then
checks with pymongo what the writer left in the database of its batches test.
Nothing is skipped: a missing binary or server fails loudly."""
import datetime
import os
import re
import subprocess
import sys

import pymongo
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakemongod"))
from harness import start_fakemongod  # noqa: E402


def writer_test_bin():
    build = os.environ.get("SDL_BUILD_DIR") or os.path.join(ROOT, "build")
    path = os.path.join(build, "tests", "mongo", "test-mongo-writer")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} not found: build sdl (ninja -C build) or set SDL_BUILD_DIR")
    return path


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    started = []
    uri = os.environ.get("SDL_TEST_MONGODB_URI")
    if not uri:
        rs = start_fakemongod(tmp_path_factory.mktemp("rs"))
        started.append(rs)
        uri = rs.uri
    standalone = start_fakemongod(tmp_path_factory.mktemp("standalone"), replset=None)
    started.append(standalone)
    yield uri, standalone.uri
    for m in started:
        m.stop()


def run_tap(cmd, timeout=600):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    out = p.stdout
    plan = re.search(r"^1\.\.(\d+)$", out, re.M)
    assert plan, f"no TAP plan; stdout:\n{out}\nstderr:\n{p.stderr}"
    oks = re.findall(r"^ok \d+ - (\S+)", out, re.M)
    failed = re.findall(r"^not ok \d+ - .*(?:\n#.*)*", out, re.M)
    assert not failed, "failed:\n" + "\n".join(failed) + "\nstderr:\n" + p.stderr
    assert len(oks) == int(plan.group(1)), out
    assert p.returncode == 0, out + p.stderr
    return oks


def test_writer_against_a_server(servers, tmp_path):
    uri, standalone_uri = servers
    prefix = "sdlw%d" % os.getpid()
    oks = run_tap([writer_test_bin(), uri, standalone_uri, prefix])
    print("%d writer tests passed" % len(oks))
    assert len(oks) >= 16
    for name in ("open_standalone_is_a_clear_permanent_error", "fencing_second_writer",
                 "commit_applied_reply_lost_write_concern_error",
                 "large_batch_is_split_and_reassembled_in_order"):
        assert name in oks

    # What the batches test left, as any other client sees it.
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10000)
    try:
        db = client[prefix + "_batches"]
        rows = list(db.row_changes.find().sort([("gtid", 1), ("seq", 1)]))
        assert len(rows) == 5 + 10 + 15 + 2
        ids = [r["_id"] for r in rows]
        assert len(set(ids)) == len(ids)
        assert ids[0] == "main:0-1-1:1"
        assert rows[0]["ts"] == datetime.datetime(2023, 11, 14, 22, 13, 21)
        assert db.row_changes_staging.count_documents({}) == 0
        offsets = list(db.binlog_offsets.find())
        assert len(offsets) == 1
        off = offsets[0]
        assert set(off) == {"_id", "flavor", "gtid", "partial", "binlog", "batch", "source_ts",
                            "updated_at", "rows_applied", "dead_letters"}  # no holder: no lease
        assert off["dead_letters"] == 0
        assert off["_id"] == "main"
        assert off["batch"] == 4 and isinstance(off["batch"], int)
        assert off["gtid"] == "0-1-4"
        assert off["partial"] == {"gtid": "0-1-5", "seq": 2}
        assert off["binlog"] == {"file": "binlog.000042", "pos": 1004}
        assert off["rows_applied"] == 32
        assert isinstance(off["source_ts"], datetime.datetime)
        assert isinstance(off["updated_at"], datetime.datetime)
        names = {ix["name"] for ix in db.row_changes.list_indexes()}
        assert {"ts_1", "db_1_table_1_pk_1", "gtid_1"} <= names
        assert "created_at_1" in {ix["name"] for ix in db.row_changes_staging.list_indexes()}

        # Fault tests: every batch exactly once, offsets exact.
        for name in ("close1", "close2", "close9", "wce1", "wce9", "utcr", "nosuchtxn"):
            fdb = client["%s_%s" % (prefix, name)]
            assert fdb.row_changes.count_documents({}) == 7, name
            assert fdb.binlog_offsets.find_one({"_id": "main"})["batch"] == 4, name
            assert fdb.row_changes_staging.count_documents({}) == 0, name
        # Fencing: only the first writer's rows.
        fdb = client[prefix + "_fencing"]
        assert fdb.row_changes.count_documents({"gtid": {"$in": ["0-1-101", "0-1-102"]}}) == 0
        assert fdb.row_changes.count_documents({}) == 6
        for name in client.list_database_names():
            if name.startswith(prefix + "_"):
                client.drop_database(name)
    finally:
        client.close()
