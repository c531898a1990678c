"""Multi-document transactions: isolation, commit/abort, conflicts, state machine, lifetime."""
import threading
import time

import pytest
from bson.int64 import Int64
from pymongo.errors import OperationFailure

import rawwire as W
from conftest import make_client


def T(n):
    return Int64(n)


def labels(r):
    return r.get("errorLabels", [])


@pytest.fixture
def raw(server):
    r = W.Raw(server.port)
    yield r
    r.close()


def test_writes_invisible_until_commit_and_snapshot_reads(client, db):
    db.c.insert_one({"_id": "pre", "v": 0})
    with client.start_session() as s:
        s.start_transaction()
        db.c.insert_one({"_id": "a"}, session=s)
        db.d.insert_one({"_id": "b"}, session=s)  # implicit collection creation inside the txn
        db.c.update_one({"_id": "pre"}, {"$set": {"v": 1}}, session=s)
        # read your own writes
        assert db.c.find_one({"_id": "a"}, session=s) == {"_id": "a"}
        assert db.c.find_one({"_id": "pre"}, session=s)["v"] == 1
        assert db.c.count_documents({}, session=s) == 2
        # nobody else sees them
        assert db.c.find_one({"_id": "a"}) is None
        assert db.c.find_one({"_id": "pre"})["v"] == 0
        assert "d" not in db.list_collection_names()
        # snapshot: a commit by someone else after our first statement stays invisible
        db.c.insert_one({"_id": "later"})
        assert db.c.find_one({"_id": "later"}, session=s) is None
        assert sorted(d["_id"] for d in db.c.find({}, session=s)) == ["a", "pre"]
        assert list(db.c.aggregate([{"$count": "n"}], session=s)) == [{"n": 2}]
        s.commit_transaction()
    assert db.c.find_one({"_id": "a"}) == {"_id": "a"}
    assert db.d.find_one({"_id": "b"}) == {"_id": "b"}
    assert db.c.find_one({"_id": "pre"})["v"] == 1


def test_abort_discards(client, db):
    db.c.insert_one({"_id": 1, "v": 1})
    with client.start_session() as s:
        s.start_transaction()
        db.c.insert_one({"_id": 2}, session=s)
        db.c.delete_one({"_id": 1}, session=s)
        assert db.c.count_documents({}, session=s) == 1
        s.abort_transaction()
    assert list(db.c.find()) == [{"_id": 1, "v": 1}]


def test_write_conflict_between_transactions(client, db):
    db.c.insert_one({"_id": 1, "v": 0})
    s1, s2 = client.start_session(), client.start_session()
    s1.start_transaction()
    s2.start_transaction()
    db.c.update_one({"_id": 1}, {"$inc": {"v": 1}}, session=s1)
    with pytest.raises(OperationFailure) as e:
        db.c.update_one({"_id": 1}, {"$inc": {"v": 10}}, session=s2)
    assert e.value.code == 112 and e.value.has_error_label("TransientTransactionError")
    # the loser's transaction was aborted by the server
    with pytest.raises(OperationFailure) as e:
        db.c.insert_one({"_id": 9}, session=s2)
    assert e.value.code == 251 and e.value.has_error_label("TransientTransactionError")
    s2.abort_transaction()
    s1.commit_transaction()
    assert db.c.find_one({"_id": 1})["v"] == 1
    # committed after my snapshot -> conflict too
    s1.start_transaction()
    db.c.find_one({"_id": 1}, session=s1)  # takes the snapshot
    db.c.update_one({"_id": 1}, {"$set": {"v": 5}})
    with pytest.raises(OperationFailure) as e:
        db.c.update_one({"_id": 1}, {"$set": {"v": 6}}, session=s1)
    assert e.value.code == 112
    s1.abort_transaction()
    # two transactions inserting the same new _id / unique key
    db.u.create_index("k", unique=True)
    s1.start_transaction()
    s2.start_transaction()
    db.u.insert_one({"_id": "x", "k": 1}, session=s1)
    with pytest.raises(OperationFailure) as e:
        db.u.insert_one({"_id": "x", "k": 2}, session=s2)
    assert e.value.code == 112
    s2.abort_transaction()
    s2.start_transaction()
    with pytest.raises(OperationFailure) as e:
        db.u.insert_one({"_id": "y", "k": 1}, session=s2)
    assert e.value.code == 112
    s2.abort_transaction()
    s1.commit_transaction()
    s1.end_session()
    s2.end_session()


def test_plain_write_waits_for_transaction(client, db):
    db.c.insert_one({"_id": 1, "v": 0})
    s = client.start_session()
    s.start_transaction()
    db.c.update_one({"_id": 1}, {"$set": {"v": "txn"}}, session=s)
    done = []

    def plain():
        db.c.update_one({"_id": 1}, {"$set": {"w": "plain"}})
        done.append(time.monotonic())
    t = threading.Thread(target=plain)
    t.start()
    time.sleep(0.5)
    assert not done, "a plain write must wait for the transaction holding the document"
    t_commit = time.monotonic()
    s.commit_transaction()
    t.join(10)
    assert done and done[0] >= t_commit
    assert db.c.find_one({"_id": 1}) == {"_id": 1, "v": "txn", "w": "plain"}
    s.end_session()


def test_duplicate_key_in_transaction_aborts_it(client, db):
    db.c.insert_one({"_id": 1})
    with client.start_session() as s:
        s.start_transaction()
        db.c.insert_one({"_id": 2}, session=s)
        with pytest.raises(OperationFailure) as e:
            db.c.insert_one({"_id": 1}, session=s)
        assert e.value.code == 11000 and not e.value.has_error_label("TransientTransactionError")
        with pytest.raises(OperationFailure) as e:
            db.c.insert_one({"_id": 3}, session=s)
        assert e.value.code == 251
        with pytest.raises(OperationFailure):
            s.commit_transaction()
    assert db.c.count_documents({}) == 1


def test_state_machine_codes(raw, db):
    dbn = db.name
    lsid = W.new_lsid()
    base = {"lsid": lsid, "autocommit": False}
    r = raw.cmd(dbn, {"insert": "c", "documents": [{"_id": 1}]}, txnNumber=T(5), startTransaction=True, **base)
    assert r["ok"] == 1 and r["n"] == 1
    # readConcern / writeConcern placement rules
    r = raw.cmd(dbn, {"insert": "c", "documents": [{"_id": 2}]}, txnNumber=T(5), readConcern={"level": "snapshot"}, **base)
    assert r["code"] == 72
    r = raw.cmd(dbn, {"insert": "c", "documents": [{"_id": 2}]}, txnNumber=T(5), writeConcern={"w": 1}, **base)
    assert r["code"] == 72
    r = raw.cmd(dbn, {"count": "c"}, txnNumber=T(5), **base)
    assert r["code"] == 263
    r = raw.cmd(dbn, {"insert": "c", "documents": [{"_id": 2}]}, txnNumber=T(5), startTransaction=True, **base)
    assert r["code"] == 117
    r = raw.cmd(dbn, {"insert": "c", "documents": [{"_id": 2}]}, txnNumber=T(6), **base)
    assert r["code"] == 251 and labels(r) == ["TransientTransactionError"]
    r = raw.cmd("admin", {"commitTransaction": 1}, txnNumber=T(5), **base)
    assert r["ok"] == 1
    # commit is idempotent for the same txnNumber
    r = raw.cmd("admin", {"commitTransaction": 1}, txnNumber=T(5), writeConcern={"w": "majority", "wtimeout": 10000}, **base)
    assert r["ok"] == 1
    r = raw.cmd(dbn, {"insert": "c", "documents": [{"_id": 3}]}, txnNumber=T(5), **base)
    assert r["code"] == 256
    r = raw.cmd("admin", {"abortTransaction": 1}, txnNumber=T(5), **base)
    assert r["code"] == 256
    r = raw.cmd(dbn, {"insert": "c", "documents": [{"_id": 3}]}, txnNumber=T(4), startTransaction=True, **base)
    assert r["code"] == 225 and "errorLabels" not in r
    r = raw.cmd("admin", {"commitTransaction": 1}, txnNumber=T(7), **base)
    assert r["code"] == 251 and labels(r) == ["TransientTransactionError"]
    r = raw.cmd("admin", {"commitTransaction": 1}, lsid=lsid, txnNumber=T(7))
    assert r["code"] == 50768
    r = raw.cmd("x", {"commitTransaction": 1}, txnNumber=T(5), **base)
    assert r["code"] == 13
    # a new transaction implicitly aborts the open one
    raw.cmd(dbn, {"insert": "c", "documents": [{"_id": 10}]}, txnNumber=T(8), startTransaction=True, **base)
    r = raw.cmd(dbn, {"insert": "c", "documents": [{"_id": 11}]}, txnNumber=T(9), startTransaction=True, **base)
    assert r["ok"] == 1
    r = raw.cmd("admin", {"commitTransaction": 1}, txnNumber=T(8), **base)
    assert r["code"] == 225
    r = raw.cmd("admin", {"abortTransaction": 1}, txnNumber=T(9), **base)
    assert r["ok"] == 1
    r = raw.cmd("admin", {"commitTransaction": 1}, txnNumber=T(9), **base)
    assert r["code"] == 251
    assert sorted(d["_id"] for d in raw.cmd(dbn, {"find": "c"})["cursor"]["firstBatch"]) == [1]


def test_end_sessions_aborts(raw, db):
    lsid = W.new_lsid()
    base = {"lsid": lsid, "autocommit": False}
    raw.cmd(db.name, {"insert": "c", "documents": [{"_id": 1}]}, txnNumber=T(1), startTransaction=True, **base)
    assert raw.cmd("admin", {"endSessions": [lsid]})["ok"] == 1
    r = raw.cmd("admin", {"commitTransaction": 1}, txnNumber=T(1), **base)
    assert r["code"] == 251
    assert db.c.count_documents({}) == 0


def test_transaction_lifetime_limit(fresh):
    c = make_client(fresh.uri)
    try:
        r = c.admin.command("setParameter", 1, transactionLifetimeLimitSeconds=1)
        assert r["was"] == 60
        assert c.admin.command("getParameter", 1, transactionLifetimeLimitSeconds=1)[
            "transactionLifetimeLimitSeconds"] == 1
        db = c.x
        db.c.insert_one({"_id": 1, "v": 0})
        s = c.start_session()
        s.start_transaction()
        db.c.update_one({"_id": 1}, {"$set": {"v": 1}}, session=s)
        # the expired transaction's lock is released: a plain write gets through
        t0 = time.monotonic()
        db.c.update_one({"_id": 1}, {"$set": {"v": 2}})
        assert 0.8 < time.monotonic() - t0 < 5
        with pytest.raises(OperationFailure) as e:
            db.c.insert_one({"_id": 2}, session=s)
        assert e.value.code == 251 and e.value.has_error_label("TransientTransactionError")
        with pytest.raises(OperationFailure) as e:
            s.commit_transaction()
        assert e.value.code == 251
        assert db.c.find_one({"_id": 1})["v"] == 2 and db.c.count_documents({}) == 1
        st = c.admin.command("serverStatus")["transactions"]
        assert st["totalAborted"] >= 1 and st["currentActive"] == 0
    finally:
        c.close()


def test_commit_idempotent_across_restart(fresh):
    raw = W.Raw(fresh.port)
    lsid = W.new_lsid()
    base = {"lsid": lsid, "autocommit": False}
    raw.cmd("x", {"insert": "c", "documents": [{"_id": 1}]}, txnNumber=T(3), startTransaction=True, **base)
    raw.cmd("x", {"update": "o", "updates": [{"q": {"_id": "p"}, "u": {"$set": {"b": 1}}, "upsert": True}]},
            txnNumber=T(3), **base)
    assert raw.cmd("admin", {"commitTransaction": 1}, txnNumber=T(3), **base)["ok"] == 1
    # an open transaction is lost on restart
    lsid2 = W.new_lsid()
    raw.cmd("x", {"insert": "c", "documents": [{"_id": 2}]}, txnNumber=T(1), startTransaction=True,
            lsid=lsid2, autocommit=False)
    raw.close()
    fresh.kill9()
    fresh.start()
    raw = W.Raw(fresh.port)
    r = raw.cmd("admin", {"commitTransaction": 1}, txnNumber=T(3), writeConcern={"w": "majority"}, **base)
    assert r["ok"] == 1
    r = raw.cmd("x", {"insert": "c", "documents": [{"_id": 3}]}, txnNumber=T(2), startTransaction=True, **base)
    assert r["code"] == 225
    r = raw.cmd("admin", {"commitTransaction": 1}, txnNumber=T(1), lsid=lsid2, autocommit=False)
    assert r["code"] == 251 and labels(r) == ["TransientTransactionError"]
    assert [d["_id"] for d in raw.cmd("x", {"find": "c"})["cursor"]["firstBatch"]] == [1]
    assert raw.cmd("x", {"find": "o"})["cursor"]["firstBatch"] == [{"_id": "p", "b": 1}]
    raw.close()


def test_cursor_inside_transaction(client, db):
    db.c.insert_many([{"_id": i} for i in range(50)])
    with client.start_session() as s:
        with s.start_transaction():
            db.c.insert_one({"_id": 100}, session=s)
            got = [d["_id"] for d in db.c.find({}, session=s).batch_size(7)]
            assert got == list(range(50)) + [100]


def test_create_existing_indexes_does_not_wait_for_open_transactions(client, db):
    """As on mongod: createIndexes for indexes that all exist answers at once (note "all
    indexes already exist") even while a transaction uses the collection; building a new
    index waits until that transaction ends."""
    db.ix.create_index("k")
    db.ix.insert_one({"_id": 1, "k": 1})
    with client.start_session() as s:
        s.start_transaction()
        db.ix.insert_one({"_id": 2, "k": 2}, session=s)
        # (had it waited for the transaction, it would return only once the lifetime limit
        # aborted it, and the commit below would fail)
        r = db.command({"createIndexes": "ix", "indexes": [{"key": {"k": 1}, "name": "k_1"}]})
        assert r["note"] == "all indexes already exist" and r["numIndexesAfter"] == 2, r
        done = []
        t = threading.Thread(target=lambda: done.append(
            db.command({"createIndexes": "ix", "indexes": [{"key": {"j": 1}, "name": "j_1"}]})))
        t.start()
        time.sleep(1.0)
        assert not done  # a new index waits for the open transaction
        s.commit_transaction()
    t.join(10)
    assert done and done[0]["numIndexesAfter"] == 3, done
