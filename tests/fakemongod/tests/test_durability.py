"""Durability: kill -9 during a write load loses nothing acknowledged and shows nothing unsent."""
import threading
import time

from pymongo.errors import PyMongoError

from conftest import make_client


def test_kill9_during_write_load(fresh):
    c = make_client(fresh.uri, serverSelectionTimeoutMS=2000, socketTimeoutMS=2000, retryWrites=False)
    db = c.dur
    db.plain.insert_one({"_id": "warm"})
    db.create_collection("txn")
    acked_plain, acked_txn = [], []
    sent_plain, sent_txn = [], []
    stop = threading.Event()

    def plain_writer():
        i = 0
        while not stop.is_set():
            i += 1
            sent_plain.append(i)
            try:
                db.plain.insert_one({"_id": i, "pad": "x" * 200})
            except PyMongoError:
                return
            acked_plain.append(i)

    def txn_writer():
        b = 0
        while not stop.is_set():
            b += 1
            sent_txn.append(b)
            try:
                with c.start_session() as s:
                    with s.start_transaction():
                        db.txn.insert_many([{"_id": "%d-%d" % (b, k), "b": b} for k in range(20)], session=s)
                        db.off.update_one({"_id": "p"}, {"$set": {"batch": b}}, upsert=True, session=s)
            except PyMongoError:
                return
            acked_txn.append(b)

    ths = [threading.Thread(target=plain_writer), threading.Thread(target=txn_writer)]
    for t in ths:
        t.start()
    time.sleep(1.5)
    fresh.kill9()
    stop.set()
    for t in ths:
        t.join(30)
    c.close()
    assert len(acked_plain) > 20 and len(acked_txn) > 5, "the load must have been running"

    fresh.start()
    c = make_client(fresh.uri)
    db = c.dur
    present = {d["_id"] for d in db.plain.find({"_id": {"$ne": "warm"}})}
    assert set(acked_plain) <= present, "acknowledged plain inserts lost"
    assert present <= set(sent_plain), "documents that were never sent appeared"
    assert len(present - set(acked_plain)) <= 1, "at most the one in-flight write may be present"
    batches = {}
    for d in db.txn.find():
        batches.setdefault(d["b"], 0)
        batches[d["b"]] += 1
    assert all(n == 20 for n in batches.values()), "transactions must be all-or-nothing"
    assert set(acked_txn) <= set(batches), "acknowledged transactions lost"
    assert set(batches) <= set(sent_txn) and len(set(batches) - set(acked_txn)) <= 1
    assert db.off.find_one({"_id": "p"})["batch"] == max(batches)
    # the server is fully usable after recovery
    db.plain.insert_one({"_id": "after"})
    c.close()


def test_restart_keeps_catalog_and_indexes(fresh):
    c = make_client(fresh.uri)
    c.x.c.create_index("k", unique=True)
    c.x.c.create_index("t", expireAfterSeconds=60)
    c.x.c.insert_many([{"_id": i, "k": i} for i in range(5)])
    c.x.c.update_one({"_id": 2}, {"$set": {"u": 1}})
    c.x.c.delete_one({"_id": 3})
    c.x.empty.insert_one({})
    c.x.empty.delete_many({})
    c.close()
    assert fresh.stop() == 0
    fresh.start()
    c = make_client(fresh.uri)
    assert [d["_id"] for d in c.x.c.find()] == [0, 1, 2, 4]  # natural order preserved
    assert c.x.c.find_one({"_id": 2}) == {"_id": 2, "k": 2, "u": 1}
    ix = {d["name"]: d for d in c.x.c.list_indexes()}
    assert ix["k_1"]["unique"] is True and ix["t_1"]["expireAfterSeconds"] == 60
    assert sorted(c.x.list_collection_names()) == ["c", "empty"]
    import pytest
    from pymongo.errors import DuplicateKeyError
    with pytest.raises(DuplicateKeyError):
        c.x.c.insert_one({"k": 1})
    c.close()
