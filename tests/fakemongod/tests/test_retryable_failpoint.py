"""Retryable writes and the failCommand fail point (every mode, filter and action)."""
import threading
import time

import pytest
from bson.int64 import Int64
from pymongo.errors import AutoReconnect, OperationFailure, WriteConcernError, ConnectionFailure

import rawwire as W
from conftest import make_client

APP = "fp-target"


def fp(client, mode, **data):
    return client.admin.command({"configureFailPoint": "failCommand", "mode": mode, "data": data})


@pytest.fixture
def target(server):
    """A client whose connections carry appName=fp-target (the fail points filter on it)."""
    c = make_client(server.uri, appname=APP)
    yield c
    c.close()


@pytest.fixture
def raw(server):
    r = W.Raw(server.port, app_name=APP)
    yield r
    r.close()


def test_retryable_insert_after_close_connection_applied_once(client, target, db):
    coll = target[db.name].c
    fp(client, {"times": 1}, failCommands=["insert"], closeConnection=True, appName=APP)
    coll.insert_one({"_id": 1})  # first attempt hangs up before running; the retry succeeds
    assert db.c.count_documents({}) == 1
    # commit applied, reply lost: blockConnection beyond socketTimeoutMS, then the driver retries
    slow = make_client("mongodb://%s:%d/?replicaSet=rs0" % client.address, appname=APP, socketTimeoutMS=300)
    try:
        fp(client, {"times": 1}, failCommands=["update"], blockConnection=True, blockTimeMS=800, appName=APP)
        slow[db.name].ctr.update_one({"_id": "c"}, {"$inc": {"n": 1}}, upsert=True)
        time.sleep(0.8)
        assert db.ctr.find_one({"_id": "c"})["n"] == 1, "the retried $inc must be applied exactly once"
    finally:
        slow.close()


def test_retryable_reply_is_replayed_and_durable(fresh):
    raw = W.Raw(fresh.port)
    lsid = W.new_lsid()
    up = {"update": "c", "updates": [{"q": {"_id": 1}, "u": {"$inc": {"n": 1}}, "upsert": True}]}
    r1 = raw.cmd("x", up, lsid=lsid, txnNumber=Int64(7))
    assert r1["n"] == 1 and r1["upserted"] == [{"index": 0, "_id": 1}]
    r2 = raw.cmd("x", up, lsid=lsid, txnNumber=Int64(7))
    assert r2["upserted"] == r1["upserted"] and r2["n"] == r1["n"]
    raw.cmd("x", {"insert": "c", "documents": [{"_id": 2}]}, lsid=lsid, txnNumber=Int64(8))
    raw.close()
    fresh.kill9()
    fresh.start()
    raw = W.Raw(fresh.port)
    r3 = raw.cmd("x", {"insert": "c", "documents": [{"_id": 2}]}, lsid=lsid, txnNumber=Int64(8))
    assert r3["ok"] == 1 and r3["n"] == 1 and "writeErrors" not in r3  # replayed, not re-executed
    r4 = raw.cmd("x", up, lsid=lsid, txnNumber=Int64(7))
    assert r4["code"] == 225  # older than the session's latest write
    r5 = raw.cmd("x", up, lsid=lsid, txnNumber=Int64(9))
    assert r5["n"] == 1 and "upserted" not in r5
    assert raw.cmd("x", {"find": "c", "filter": {"_id": 1}})["cursor"]["firstBatch"] == [{"_id": 1, "n": 2}]
    r = raw.cmd("x", {"update": "c", "updates": [{"q": {}, "u": {"$set": {"a": 1}}, "multi": True}]},
                lsid=lsid, txnNumber=Int64(10))
    assert r["writeErrors"][0]["code"] == 72
    r = raw.cmd("x", {"find": "c"}, lsid=lsid, txnNumber=Int64(11))
    assert r["code"] == 50768
    raw.close()


def test_modes_times_skip_alwayson_off(client, raw, db):
    assert fp(client, "off")["ok"] == 1
    base = client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})["count"]
    fp(client, {"times": 2}, failCommands=["ping"], errorCode=2, appName=APP)
    codes = [raw.cmd("admin", {"ping": 1}).get("code") for _ in range(4)]
    assert codes == [2, 2, None, None]
    fp(client, {"skip": 2}, failCommands=["ping"], errorCode=2, appName=APP)
    codes = [raw.cmd("admin", {"ping": 1}).get("code") for _ in range(4)]
    assert codes == [None, None, 2, 2]
    fp(client, "alwaysOn", failCommands=["ping"], errorCode=2, appName=APP)
    assert all(raw.cmd("admin", {"ping": 1}).get("code") == 2 for _ in range(3))
    r = fp(client, "off")
    assert r["count"] == base + 7  # timesEntered: 2 + 2 + 3
    assert raw.cmd("admin", {"ping": 1})["ok"] == 1
    with pytest.raises(OperationFailure):
        fp(client, {"bogus": 1})


def test_filters_app_name_and_commands(client, raw, db):
    fp(client, "alwaysOn", failCommands=["find"], errorCode=11600, appName=APP)
    assert list(db.c.find()) == []  # other appName: untouched
    r = raw.cmd(db.name, {"find": "c"})
    assert r["code"] == 11600 and r["errmsg"] == "Failing command via 'failCommand' failpoint"
    assert raw.cmd(db.name, {"insert": "c", "documents": [{}]})["ok"] == 1  # other command
    fp(client, "alwaysOn", failCommands=["insert"], errorCode=2, namespace=db.name + ".other")
    assert raw.cmd(db.name, {"insert": "c", "documents": [{}]})["ok"] == 1
    assert raw.cmd(db.name, {"insert": "other", "documents": [{}]})["code"] == 2
    fp(client, "off")


def test_error_labels_computed_and_overridden(client, raw, db):
    lsid = W.new_lsid()
    txn = {"lsid": lsid, "autocommit": False}
    # retryable write + retriable code -> RetryableWriteError
    fp(client, {"times": 1}, failCommands=["insert"], errorCode=91, appName=APP)
    r = raw.cmd(db.name, {"insert": "c", "documents": [{"_id": 1}]}, lsid=lsid, txnNumber=Int64(1))
    assert r["code"] == 91 and r["errorLabels"] == ["RetryableWriteError"]
    # not retryable (no txnNumber) -> no label
    fp(client, {"times": 1}, failCommands=["insert"], errorCode=91, appName=APP)
    r = raw.cmd(db.name, {"insert": "c", "documents": [{"_id": 1}]})
    assert r["code"] == 91 and "errorLabels" not in r
    # statement in a transaction + retriable code -> TransientTransactionError
    fp(client, {"times": 1}, failCommands=["insert"], errorCode=91, appName=APP)
    r = raw.cmd(db.name, {"insert": "c", "documents": [{"_id": 1}]}, txnNumber=Int64(2), startTransaction=True, **txn)
    assert r["errorLabels"] == ["TransientTransactionError"]
    # failpoint ran before session checkout: the transaction was never started
    r = raw.cmd(db.name, {"insert": "c", "documents": [{"_id": 1}]}, txnNumber=Int64(2), **txn)
    assert r["code"] == 251
    raw.cmd(db.name, {"insert": "c", "documents": [{"_id": 1}]}, txnNumber=Int64(3), startTransaction=True, **txn)
    # commit + retriable code -> RetryableWriteError; commit + 251 -> TTE; commit + 112 -> TTE
    for code, want in ((91, ["RetryableWriteError"]), (251, ["TransientTransactionError"]),
                       (112, ["TransientTransactionError"]), (50, None)):
        fp(client, {"times": 1}, failCommands=["commitTransaction"], errorCode=code, appName=APP)
        r = raw.cmd("admin", {"commitTransaction": 1}, txnNumber=Int64(3), **txn)
        assert r["code"] == code and r.get("errorLabels") == want, code
    # override: explicit labels replace computed ones; an empty list removes them
    fp(client, {"times": 1}, failCommands=["commitTransaction"], errorCode=91, errorLabels=["Custom"], appName=APP)
    assert raw.cmd("admin", {"commitTransaction": 1}, txnNumber=Int64(3), **txn)["errorLabels"] == ["Custom"]
    fp(client, {"times": 1}, failCommands=["commitTransaction"], errorCode=91, errorLabels=[], appName=APP)
    assert "errorLabels" not in raw.cmd("admin", {"commitTransaction": 1}, txnNumber=Int64(3), **txn)
    # the transaction survived all the injected errors and still commits
    assert raw.cmd("admin", {"commitTransaction": 1}, txnNumber=Int64(3), **txn)["ok"] == 1
    assert db.c.count_documents({"_id": 1}) == 1


def test_close_connection_before_running(client, raw, db):
    fp(client, {"times": 1}, failCommands=["insert"], closeConnection=True, appName=APP)
    assert raw.cmd(db.name, {"insert": "c", "documents": [{"_id": 1}]}) is None
    assert db.c.count_documents({}) == 0, "closeConnection must hang up before the command runs"
    raw.connect()
    assert raw.cmd(db.name, {"insert": "c", "documents": [{"_id": 1}]})["n"] == 1


def test_block_connection(client, raw, db):
    fp(client, {"times": 1}, failCommands=["insert"], blockConnection=True, blockTimeMS=400, appName=APP)
    t0 = time.monotonic()
    assert raw.cmd(db.name, {"insert": "c", "documents": [{"_id": 1}]})["n"] == 1
    assert time.monotonic() - t0 >= 0.39
    # block + error: waits, then fails without running
    fp(client, {"times": 1}, failCommands=["insert"], blockConnection=True, blockTimeMS=200, errorCode=2,
       appName=APP)
    t0 = time.monotonic()
    assert raw.cmd(db.name, {"insert": "c", "documents": [{"_id": 2}]})["code"] == 2
    assert time.monotonic() - t0 >= 0.19 and db.c.count_documents({}) == 1
    # other connections are not blocked meanwhile; waitForFailPoint sees the activation
    fp(client, {"times": 1}, failCommands=["find"], blockConnection=True, blockTimeMS=700, appName=APP)
    before = fp(client, {"times": 1}, failCommands=["find"], blockConnection=True, blockTimeMS=700,
                appName=APP)["count"]
    th = threading.Thread(target=lambda: raw.cmd(db.name, {"find": "c"}))
    th.start()
    client.admin.command({"waitForFailPoint": "failCommand", "timesEntered": before + 1, "maxTimeMS": 5000})
    t0 = time.monotonic()
    assert db.c.count_documents({}) == 1
    assert time.monotonic() - t0 < 0.5
    th.join()


def test_write_concern_error_applies_then_reports(client, raw, db, target):
    fp(client, {"times": 1}, failCommands=["insert"], writeConcernError={"code": 91, "errmsg": "injected"},
       appName=APP)
    r = raw.cmd(db.name, {"insert": "c", "documents": [{"_id": 1}]}, lsid=W.new_lsid(), txnNumber=Int64(1))
    assert r["ok"] == 1 and r["n"] == 1 and r["writeConcernError"]["code"] == 91
    assert r["errorLabels"] == ["RetryableWriteError"]
    assert db.c.count_documents({}) == 1
    # commit: applied, WCE reported; the driver's commit retry then succeeds (idempotent)
    fp(client, {"times": 1}, failCommands=["commitTransaction"],
       writeConcernError={"code": 64, "errmsg": "waiting for replication timed out", "errInfo": {"wtimeout": True}},
       appName=APP)
    with target.start_session() as s:
        s.start_transaction()
        target[db.name].c.insert_one({"_id": 2}, session=s)
        with pytest.raises(OperationFailure) as e:
            s.commit_transaction()
        assert e.value.has_error_label("UnknownTransactionCommitResult")
        assert db.c.count_documents({"_id": 2}) == 1, "WCE: the commit was applied"
        s.commit_transaction()  # retry: ok
    assert db.c.count_documents({}) == 2


def test_close_connection_on_commit_with_transaction_api(client, target, db):
    fp(client, {"times": 1}, failCommands=["commitTransaction"], closeConnection=True, appName=APP)
    calls = []

    def body(s):
        calls.append(1)
        target[db.name].c.insert_one({"_id": len(calls)}, session=s)
        target[db.name].d.insert_one({"_id": len(calls)}, session=s)
    with target.start_session() as s:
        s.with_transaction(body)
    assert db.c.count_documents({}) == 1 and db.d.count_documents({}) == 1
    fp(client, {"times": 1}, failCommands=["insert"], errorCode=112, appName=APP)
    calls.clear()
    with target.start_session() as s:
        s.with_transaction(body)
    assert len(calls) == 2 and db.c.count_documents({}) == 2
