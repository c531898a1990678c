"""CRUD, query language, cursors, indexes, catalog and admin commands through pymongo."""
import datetime
import re

import bson
import pymongo
import pytest
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from bson import SON
from bson.binary import Binary
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.max_key import MaxKey
from bson.min_key import MinKey
from bson.objectid import ObjectId
from bson.regex import Regex
from bson.timestamp import Timestamp
from pymongo.errors import DuplicateKeyError, OperationFailure


def ids(cur):
    return [d["_id"] for d in cur]


def test_types_round_trip_exactly(db):
    doc = {"_id": 1, "dec": Decimal128("1234567890.123456789012345678901234"), "dec2": Decimal128("-0E-10"),
           "nan": Decimal128("NaN"), "i32": 7, "i64": Int64(7), "big": Int64(2 ** 62), "f": 1.5,
           "negz": -0.0, "date": datetime.datetime(1970, 1, 1, 0, 0, 0, 1000),
           "old": datetime.datetime(1001, 2, 3, 4, 5, 6, 789000), "bin": b"\x00\xff",
           "uuid": Binary(b"0123456789abcdef", 4), "old_uuid": Binary(b"0123456789abcdef", 3),
           "custom": Binary(b"x", 0x80), "oid": ObjectId(), "ts": Timestamp(1, 2), "re": Regex("^a.*", "i"),
           "minkey": MinKey(), "maxkey": MaxKey(), "none": None, "nested": {"a": [1, {"b": Int64(2)}]},
           "unicode": "h\u00e9\u20ac\U0001f600"}
    db.t.insert_one(doc)
    # compare the exact BSON bytes: types (int32 vs int64, binary subtypes...) must survive
    raw = db.t.with_options(codec_options=CodecOptions(document_class=RawBSONDocument)).find_one({"_id": 1})
    assert raw.raw == bson.encode(doc)
    got = db.t.find_one({"_id": 1})
    assert type(got["i64"]) is Int64 and type(got["i32"]) is int
    # and values are found by equality with their own type
    for k in ("dec", "i64", "date", "old", "bin", "oid", "ts", "uuid", "unicode"):
        assert db.t.count_documents({k: doc[k]}) == 1, k


def test_insert_update_delete_basics(db):
    r = db.c.insert_many([{"_id": i, "n": i, "g": i % 3, "tags": ["t%d" % (i % 2)]} for i in range(10)])
    assert r.inserted_ids == list(range(10))
    with pytest.raises(DuplicateKeyError) as e:
        db.c.insert_one({"_id": 3})
    assert e.value.details["keyValue"] == {"_id": 3}
    # numerically equal _id values are the same key, as in mongod
    with pytest.raises(DuplicateKeyError):
        db.c.insert_one({"_id": 3.0})
    with pytest.raises(DuplicateKeyError):
        db.c.insert_one({"_id": Int64(3)})
    r = db.c.update_one({"_id": 1}, {"$set": {"a.b": 1}, "$inc": {"n": 5}, "$unset": {"tags": ""}})
    assert (r.matched_count, r.modified_count) == (1, 1)
    assert db.c.find_one({"_id": 1}) == {"_id": 1, "n": 6, "g": 1, "a": {"b": 1}}
    r = db.c.update_one({"_id": 1}, {"$set": {"n": 6}})
    assert (r.matched_count, r.modified_count) == (1, 0)
    r = db.c.update_many({"g": 0}, {"$inc": {"n": 100}})
    assert (r.matched_count, r.modified_count) == (4, 4)
    assert sorted(d["n"] for d in db.c.find({"g": 0})) == [100, 103, 106, 109]
    r = db.c.replace_one({"_id": 2}, {"x": "replaced"})
    assert db.c.find_one({"_id": 2}) == {"_id": 2, "x": "replaced"}
    with pytest.raises(OperationFailure) as e:
        db.c.replace_one({"_id": 2}, {"_id": 99, "x": 1})
    assert e.value.code == 66
    with pytest.raises(OperationFailure) as e:
        db.c.update_one({"_id": 2}, {"$set": {"_id": 5}})
    assert e.value.code == 66
    r = db.c.update_one({"_id": "new"}, {"$set": {"v": 1}, "$setOnInsert": {"created": True}}, upsert=True)
    assert r.upserted_id == "new" and r.matched_count == 0
    assert db.c.find_one({"_id": "new"}) == {"_id": "new", "v": 1, "created": True}
    r = db.c.update_one({"_id": "new"}, {"$set": {"v": 2}, "$setOnInsert": {"created": False}}, upsert=True)
    assert r.upserted_id is None and db.c.find_one({"_id": "new"})["created"] is True
    r = db.c.update_one({"k": "up", "z": {"$gt": 1}}, {"$inc": {"cnt": 1}}, upsert=True)
    up = db.c.find_one({"_id": r.upserted_id})
    assert isinstance(r.upserted_id, ObjectId) and up == {"_id": r.upserted_id, "k": "up", "cnt": 1}
    r = db.c.replace_one({"_id": "rep"}, {"a": 1}, upsert=True)
    assert r.upserted_id == "rep" and db.c.find_one({"_id": "rep"}) == {"_id": "rep", "a": 1}
    assert db.c.delete_one({"g": 1}).deleted_count == 1
    assert db.c.delete_many({"g": 1}).deleted_count == 2
    assert db.c.count_documents({"g": 1}) == 0
    assert db.c.delete_many({"nothing": 1}).deleted_count == 0


def test_update_operators(db):
    db.u.insert_one({"_id": 1, "n": 1, "f": 1.5, "arr": [3, 1], "s": "x", "o": {"p": 1}, "s2": 1})
    db.u.update_one({"_id": 1}, {"$inc": {"n": Int64(2), "f": 1, "new": 3}, "$mul": {"o.p": 10},
                                 "$push": {"arr": {"$each": [5, 4], "$sort": 1}}, "$addToSet": {"set": "a"},
                                 "$min": {"s": "a"}, "$max": {"hi": 7}, "$rename": {"s2": "s3"},
                                 "$currentDate": {"when": True}})
    d = db.u.find_one({"_id": 1})
    assert type(d["n"]) is Int64 and d["n"] == 3
    assert d["f"] == 2.5 and d["new"] == 3 and d["arr"] == [1, 3, 4, 5]
    assert d["set"] == ["a"] and d["s"] == "a" and d["hi"] == 7 and d["o"] == {"p": 10} and d["s3"] == 1
    assert "s2" not in d
    assert isinstance(d["when"], datetime.datetime)
    db.u.update_one({"_id": 1}, {"$pull": {"arr": {"$gte": 4}}, "$addToSet": {"set": {"$each": ["a", "b"]}}})
    db.u.update_one({"_id": 1}, {"$pop": {"arr": -1}})
    with pytest.raises(OperationFailure) as e:
        db.u.update_one({"_id": 1}, {"$pop": {"arr": 1}, "$push": {"arr": 1}})
    assert e.value.code == 40
    d = db.u.find_one({"_id": 1})
    assert d["arr"] == [3] and d["set"] == ["a", "b"]
    # int32 overflow promotes to int64 like mongod
    db.u.update_one({"_id": 1}, {"$set": {"i": 2 ** 31 - 1}})
    db.u.update_one({"_id": 1}, {"$inc": {"i": 1}})
    assert type(db.u.find_one({"_id": 1})["i"]) is Int64
    db.u.update_one({"_id": 1}, {"$inc": {"dec": Decimal128("0.1")}})
    db.u.update_one({"_id": 1}, {"$inc": {"dec": Decimal128("0.2")}})
    assert db.u.find_one({"_id": 1})["dec"] == Decimal128("0.3")
    with pytest.raises(OperationFailure) as e:
        db.u.update_one({"_id": 1}, {"$inc": {"s": 1}})
    assert e.value.code == 14
    with pytest.raises(OperationFailure) as e:
        db.u.update_one({"_id": 1}, {"$set": {"a": 1}, "$unset": {"a": 1}})
    assert e.value.code == 40
    with pytest.raises(OperationFailure) as e:
        db.u.update_one({"_id": 1}, {"$bogus": {"a": 1}})
    assert e.value.code == 9


def test_query_operators_and_paths(db):
    docs = [
        {"_id": 1, "a": 5, "s": "apple", "arr": [1, 2, 3], "sub": {"x": 1, "y": [{"z": 1}, {"z": 2}]}},
        {"_id": 2, "a": 10, "s": "banana", "arr": [4], "sub": {"x": 2}},
        {"_id": 3, "a": "5", "s": "Cherry", "arr": [], "n": None},
        {"_id": 4, "a": 7.5, "sub": {"x": 1}},
        {"_id": 5, "a": Decimal128("10"), "arr": [[1, 2]]},
    ]
    db.q.insert_many(docs)
    q = lambda f: sorted(ids(db.q.find(f)), key=str)  # noqa: E731
    assert q({"a": 10}) == [2, 5]  # numeric equality across types
    assert q({"a": {"$gt": 5}}) == [2, 4, 5]  # comparison stays within the type bracket
    assert q({"a": {"$gte": 5, "$lt": 10}}) == [1, 4]
    assert q({"a": {"$lte": "5"}}) == [3]
    assert q({"a": {"$ne": 5}}) == [2, 3, 4, 5]
    assert q({"a": {"$in": [5, "5"]}}) == [1, 3]
    assert q({"a": {"$nin": [5, 10]}}) == [3, 4]
    assert q({"n": None}) == [1, 2, 3, 4, 5]
    assert q({"n": {"$exists": True}}) == [3]
    assert q({"sub": {"$exists": False}}) == [3, 5]
    assert q({"sub.x": 1}) == [1, 4]
    assert q({"sub.y.z": 2}) == [1]
    assert q({"arr": 2}) == [1]
    assert q({"arr": [4]}) == [2]
    assert q({"arr": [1, 2]}) == [5]
    assert q({"arr.1": 2}) == [1]
    assert q({"arr": {"$size": 0}}) == [3]
    assert q({"arr": {"$all": [1, 3]}}) == [1]
    assert q({"sub.y": {"$elemMatch": {"z": {"$gt": 1}}}}) == [1]
    assert q({"s": {"$regex": "^b"}}) == [2]
    assert q({"s": re.compile("^c", re.I)}) == [3]
    assert q({"s": {"$regex": "^C", "$options": "i"}}) == [3]
    assert q({"a": {"$type": "string"}}) == [3]
    assert q({"a": {"$type": "number"}}) == [1, 2, 4, 5]
    assert q({"$or": [{"a": 5}, {"s": "banana"}]}) == [1, 2]
    assert q({"$and": [{"a": {"$gt": 1}}, {"a": {"$lt": 8}}]}) == [1, 4]
    assert q({"$nor": [{"a": 5}, {"a": 10}]}) == [3, 4]
    assert q({"a": {"$not": {"$gt": 6}}}) == [1, 3]
    assert q({"$expr": {"$gt": ["$a", 6]}}) == [2, 3, 4, 5]  # $expr compares across brackets
    with pytest.raises(OperationFailure) as e:
        list(db.q.find({"a": {"$foo": 1}}))
    assert e.value.code == 2


def test_sort_follows_bson_type_order(db):
    vals = [MaxKey(), True, "b", 3, None, MinKey(), {"a": 1}, [0], b"\x01", ObjectId("0" * 24),
            datetime.datetime(2020, 1, 1), Timestamp(5, 1), Regex("x"), 2.5, Decimal128("2.7"), "a", False]
    db.s.insert_many([{"_id": i, "v": v} for i, v in enumerate(vals)])
    db.s.insert_one({"_id": 100})  # missing sorts like null
    got = [d["_id"] for d in db.s.find({}, {"v": 1}).sort([("v", 1), ("_id", 1)])]
    # MinKey < null/missing < numbers < strings < objects < arrays(by min element: 0 -> numbers) ...
    expected = [5, 4, 100, 7, 13, 14, 3, 15, 2, 6, 8, 9, 16, 1, 10, 11, 12, 0]
    assert got == expected
    got_desc = [d["_id"] for d in db.s.find().sort([("v", -1), ("_id", -1)])]
    assert got_desc[0] == 0 and got_desc[-1] == 5


def test_find_options_and_projection(db):
    db.p.insert_many([{"_id": i, "a": i % 4, "b": {"c": i, "d": "x"}, "arr": [{"k": 1, "v": 2}]}
                      for i in range(20)])
    assert ids(db.p.find().sort([("a", -1), ("_id", 1)]).skip(2).limit(3)) == [11, 15, 19]
    assert list(db.p.find({"_id": 1}, {"b.c": 1, "_id": 0})) == [{"b": {"c": 1}}]
    assert list(db.p.find({"_id": 1}, {"b": 0, "arr": 0})) == [{"_id": 1, "a": 1}]
    assert list(db.p.find({"_id": 1}, {"arr.k": 1})) == [{"_id": 1, "arr": [{"k": 1}]}]
    assert list(db.p.find({"_id": 1}, {"x": "$b.c", "_id": 0})) == [{"x": 1}]
    with pytest.raises(OperationFailure) as e:
        list(db.p.find({}, {"a": 1, "b": 0}))
    assert e.value.code == 31254
    assert db.p.find_one(sort=[("_id", -1)])["_id"] == 19
    assert ids(db.p.find().limit(-3)) == [0, 1, 2]


def test_cursors_getmore_killcursors(db):
    db.k.insert_many([{"_id": i, "pad": "x" * 100} for i in range(1000)])
    cur = db.k.find().batch_size(100)
    assert ids(cur) == list(range(1000))
    res = db.command("find", "k", batchSize=10)
    cid = res["cursor"]["id"]
    assert cid != 0 and len(res["cursor"]["firstBatch"]) == 10
    more = db.command("getMore", cid, collection="k", batchSize=5)
    assert [d["_id"] for d in more["cursor"]["nextBatch"]] == [10, 11, 12, 13, 14]
    r = db.command("killCursors", "k", cursors=[cid, Int64(12345)])
    assert r["cursorsKilled"] == [cid] and r["cursorsNotFound"] == [12345]
    with pytest.raises(OperationFailure) as e:
        db.command("getMore", cid, collection="k")
    assert e.value.code == 43
    # default first batch is 101 documents; the rest come with getMore until exhausted
    res = db.command("find", "k")
    assert len(res["cursor"]["firstBatch"]) == 101
    n, cid = 101, res["cursor"]["id"]
    while cid:
        more = db.command("getMore", cid, collection="k")
        n += len(more["cursor"]["nextBatch"])
        cid = more["cursor"]["id"]
    assert n == 1000
    # large results are split under the 16 MiB reply limit
    db.big.insert_many([{"_id": i, "blob": b"x" * (1024 * 1024)} for i in range(40)])
    assert len(list(db.big.find())) == 40


def test_count_distinct_aggregate(db):
    db.a.insert_many([{"_id": i, "t": "t%d" % (i % 3), "v": i, "arr": [i % 2, 5]} for i in range(30)])
    assert db.command("count", "a")["n"] == 30
    assert db.command("count", "a", query={"t": "t1"})["n"] == 10
    assert db.command("count", "a", query={}, skip=25, limit=10)["n"] == 5
    assert db.a.estimated_document_count() == 30
    assert db.a.distinct("t") == ["t0", "t1", "t2"]
    assert db.a.distinct("arr", {"v": {"$lt": 4}}) == [0, 1, 5]
    out = list(db.a.aggregate([{"$match": {"v": {"$gte": 3}}},
                               {"$group": {"_id": "$t", "n": {"$sum": 1}, "tot": {"$sum": "$v"},
                                           "mx": {"$max": "$v"}, "mn": {"$min": "$v"}}},
                               {"$sort": {"_id": -1}}, {"$limit": 2},
                               {"$project": {"n": 1, "tot": 1, "range": ["$mn", "$mx"]}}]))
    assert out == [{"_id": "t2", "n": 9, "tot": 9 * 17, "range": [5, 29]},
                   {"_id": "t1", "n": 9, "tot": 9 * 16, "range": [4, 28]}]
    assert list(db.a.aggregate([{"$match": {"t": "t0"}}, {"$count": "c"}])) == [{"c": 10}]
    assert list(db.a.aggregate([{"$match": {"t": "none"}}, {"$count": "c"}])) == []
    assert list(db.a.aggregate([{"$group": {"_id": None, "s": {"$sum": Int64(1)}}}])) == [{"_id": None, "s": 30}]
    assert type(list(db.a.aggregate([{"$group": {"_id": None, "s": {"$sum": Int64(1)}}}]))[0]["s"]) is Int64
    r = list(db.a.aggregate([{"$unwind": "$arr"}, {"$group": {"_id": "$arr", "n": {"$sum": 1}}},
                             {"$sort": {"_id": 1}}]))
    assert r == [{"_id": 0, "n": 15}, {"_id": 1, "n": 15}, {"_id": 5, "n": 30}]
    with pytest.raises(OperationFailure) as e:
        list(db.a.aggregate([{"$bogus": {}}]))
    assert e.value.code == 40324
    assert db.a.count_documents({"v": {"$lt": 10}}, skip=2, limit=3) == 3


def test_find_and_modify(db):
    db.f.insert_many([{"_id": i, "q": i} for i in range(3)])
    d = db.f.find_one_and_update({"q": {"$gte": 1}}, {"$inc": {"q": 10}}, sort=[("q", -1)],
                                 return_document=pymongo.ReturnDocument.AFTER)
    assert d == {"_id": 2, "q": 12}
    d = db.f.find_one_and_delete({"_id": 0})
    assert d == {"_id": 0, "q": 0} and db.f.count_documents({}) == 2
    d = db.f.find_one_and_replace({"_id": 7}, {"r": 1}, upsert=True,
                                  return_document=pymongo.ReturnDocument.AFTER)
    assert d == {"_id": 7, "r": 1}


def test_unique_and_ttl_indexes(db):
    db.i.insert_many([{"_id": 1, "k": "a", "x": 1}, {"_id": 2, "k": "b", "x": 1}])
    assert db.i.create_index([("k", 1)], unique=True) == "k_1"
    assert db.i.create_index([("k", 1)], unique=True) == "k_1"  # idempotent
    with pytest.raises(DuplicateKeyError) as e:
        db.i.insert_one({"_id": 3, "k": "a"})
    assert e.value.details["keyPattern"] == {"k": 1} and e.value.details["keyValue"] == {"k": "a"}
    with pytest.raises(DuplicateKeyError):
        db.i.update_one({"_id": 2}, {"$set": {"k": "a"}})
    db.i.update_one({"_id": 2}, {"$set": {"k": "c"}})
    db.i.insert_one({"_id": 3, "k": "b"})  # freed by the update
    with pytest.raises(DuplicateKeyError):
        db.i.create_index("x", unique=True)  # existing duplicates
    # compound unique, multikey, ordered vs unordered bulk
    db.i.create_index([("p", 1), ("q", 1)], unique=True, name="pq",
                      partialFilterExpression={"p": {"$exists": True}})
    db.i.insert_one({"_id": 10, "k": 10, "p": 1, "q": [1, 2]})
    with pytest.raises(DuplicateKeyError):
        db.i.insert_one({"_id": 11, "k": 11, "p": 1, "q": 2})
    db.i.insert_one({"_id": 12, "k": 12, "p": 2, "q": 2})
    with pytest.raises(pymongo.errors.BulkWriteError) as e:
        db.i.insert_many([{"_id": 20, "k": "z"}, {"_id": 21, "k": "z"}, {"_id": 22, "k": "y"}], ordered=False)
    assert e.value.details["nInserted"] == 2 and e.value.details["writeErrors"][0]["index"] == 1
    db.i.create_index("created", expireAfterSeconds=3600)
    ix = {d["name"]: d for d in db.i.list_indexes()}
    assert set(ix) == {"_id_", "k_1", "pq", "created_1"}
    assert ix["created_1"]["expireAfterSeconds"] == 3600
    assert ix["k_1"]["unique"] is True and ix["pq"]["partialFilterExpression"] == {"p": {"$exists": True}}
    with pytest.raises(OperationFailure) as e:
        db.i.create_index("k", name="k_1", unique=False)
    assert e.value.code == 85
    db.i.drop_index("k_1")
    db.i.insert_one({"_id": 30, "k": "a"})
    with pytest.raises(OperationFailure) as e:
        db.command("listIndexes", "nothere")
    assert e.value.code == 26


def test_catalog_and_admin(client, db):
    db.command("create", "explicit")
    with pytest.raises(OperationFailure) as e:
        db.command("create", "explicit")
    assert e.value.code == 48
    db.implicit.insert_one({})
    assert sorted(db.list_collection_names()) == ["explicit", "implicit"]
    assert db.list_collection_names(filter={"name": "implicit"}) == ["implicit"]
    info = [c for c in db.list_collections() if c["name"] == "implicit"][0]
    assert info["type"] == "collection" and len(getattr(info["info"]["uuid"], "bytes", b"")) == 16
    assert db.name in client.list_database_names()
    dbs = client.admin.command("listDatabases")
    assert {"admin", "config", "local", db.name} <= {d["name"] for d in dbs["databases"]}
    r = db.command("drop", "implicit")
    assert r["ok"] == 1 and r["ns"] == db.name + ".implicit"
    with pytest.raises(OperationFailure) as e:
        db.command("drop", "implicit")
    assert e.value.code == 26
    client.drop_database(db.name)
    assert db.name not in client.list_database_names()
    assert client.admin.command("ping")["ok"] == 1
    bi = client.admin.command("buildInfo")
    assert bi["version"].startswith("6.0") and bi["versionArray"][0] == 6
    ss = client.admin.command("serverStatus")
    assert ss["process"] == "mongod" and ss["repl"]["setName"] == "rs0" and "transactions" in ss
    assert client.admin.command("getParameter", 1, featureCompatibilityVersion=1)[
        "featureCompatibilityVersion"] == {"version": "6.0"}
    assert client.admin.command("replSetGetStatus")["members"][0]["stateStr"] == "PRIMARY"
    with pytest.raises(OperationFailure) as e:
        db.command("listDatabases")
    assert e.value.code == 13


def test_concurrent_writers(db):
    import threading
    errs = []

    def work(t):
        try:
            for i in range(200):
                db.conc.insert_one({"_id": "%d-%d" % (t, i)})
                db.ctr.update_one({"_id": "c"}, {"$inc": {"n": 1}}, upsert=True)
        except Exception as e:  # noqa: BLE001
            errs.append(e)
    ths = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    assert not errs
    assert db.conc.count_documents({}) == 800
    assert db.ctr.find_one()["n"] == 800


def test_collmod_changes_an_index_ttl_as_mongod_does(db):
    """collMod {index: {keyPattern | name, expireAfterSeconds}} (mongod 5.1+): the TTL of an
    index is changed in place, or added to a single-field index that had none; listIndexes
    shows it; the reply names the old and new values; errors as on mongod."""
    db.t.create_index("ts")
    db.t.create_index([("a", 1), ("b", 1)])
    r = db.command({"collMod": "t", "index": {"keyPattern": {"ts": 1}, "expireAfterSeconds": 60}})
    assert r["expireAfterSeconds_new"] == 60 and "expireAfterSeconds_old" not in r
    r = db.command({"collMod": "t", "index": {"name": "ts_1", "expireAfterSeconds": 30}})
    assert r["expireAfterSeconds_old"] == 60 and r["expireAfterSeconds_new"] == 30
    r = db.command({"collMod": "t", "index": {"name": "ts_1", "expireAfterSeconds": 30}})
    assert "expireAfterSeconds_new" not in r
    ix = {d["name"]: d for d in db.t.list_indexes()}
    assert ix["ts_1"]["expireAfterSeconds"] == 30
    # the TTL index now conflicts with a plain one on the same key, as on mongod
    with pytest.raises(OperationFailure) as e:
        db.t.create_index("ts")
    assert e.value.code == 85
    with pytest.raises(OperationFailure) as e:
        db.command({"collMod": "t", "index": {"keyPattern": {"x": 1}, "expireAfterSeconds": 1}})
    assert e.value.code == 27
    with pytest.raises(OperationFailure) as e:
        db.command({"collMod": "t", "index": {"name": "a_1_b_1", "expireAfterSeconds": 1}})
    assert e.value.code == 72
    with pytest.raises(OperationFailure) as e:
        db.command({"collMod": "nothere", "index": {"name": "ts_1", "expireAfterSeconds": 1}})
    assert e.value.code == 26


def test_what_the_fast_paths_answer_is_what_the_general_ones_did(client, db):
    """The shortcuts fakemongod takes for sdl's writes (a document _id looked up by key, the
    stored BSON reused for replies and for the unchanged-document test, string equality
    without sort keys) answer as mongod does."""
    rawdb = client.get_database(db.name, codec_options=CodecOptions(document_class=RawBSONDocument))
    raw = rawdb.c
    # a document _id: a literal, equal as mongod compares documents (numbers by value, field
    # order significant), also through a replace with upsert
    k = {"a": 1, "b": "x"}
    assert db.c.replace_one({"_id": k}, {"v": 1}, upsert=True).upserted_id == k
    r = db.c.replace_one({"_id": {"a": 1.0, "b": "x"}}, {"v": 2}, upsert=True)
    assert (r.matched_count, r.modified_count, r.upserted_id) == (1, 1, None)
    assert db.c.find_one({"_id": {"a": Int64(1), "b": "x"}}) == {"_id": k, "v": 2}
    assert db.c.find_one({"_id": {"b": "x", "a": 1}}) is None
    assert db.c.count_documents({"_id": {"$eq": {"a": 1, "b": "x"}}}) == 1
    # an unchanged document is not modified; the same value as another BSON type is
    assert db.c.replace_one({"_id": k}, {"v": 2}).modified_count == 0
    assert db.c.replace_one({"_id": k}, {"v": Int64(2)}).modified_count == 1
    assert db.c.update_one({"_id": k}, {"$set": {"v": Int64(2)}}).modified_count == 0
    assert raw.find_one({"_id": k}).raw == bson.encode({"_id": k, "v": Int64(2)})
    # scans answer with each document as stored, the latest version or the snapshot's
    db.d.insert_many([{"_id": i, "s": "v1", "tags": ["x", str(i)]} for i in range(3)])
    with client.start_session() as s:
        s.start_transaction()
        assert len(list(rawdb.d.find({}, session=s))) == 3  # the snapshot starts
        db.d.update_one({"_id": 1}, {"$set": {"s": "v2"}})
        db.d.update_one({"_id": 2}, {"$set": {"s": "v2"}})
        rawdb.d.update_one({"_id": 0}, {"$set": {"own": True}}, session=s)
        seen = [d.raw for d in rawdb.d.find({}, session=s)]
        assert seen == [bson.encode({"_id": 0, "s": "v1", "tags": ["x", "0"], "own": True}),
                        bson.encode({"_id": 1, "s": "v1", "tags": ["x", "1"]}),
                        bson.encode({"_id": 2, "s": "v1", "tags": ["x", "2"]})]
        s.abort_transaction()
    assert [d.raw for d in rawdb.d.find({"s": "v2"})] == \
        [bson.encode({"_id": i, "s": "v2", "tags": ["x", str(i)]}) for i in (1, 2)]
    # string equality: not a number of the same text, and any element of an array
    db.e.insert_many([{"_id": 1, "s": "1"}, {"_id": 2, "s": 1}, {"_id": 3, "s": ["0", "1"]},
                      {"_id": 4, "s": [["1"]]}, {"_id": 5}])
    assert ids(db.e.find({"s": "1"}).sort("_id", 1)) == [1, 3]
    assert ids(db.e.find({"s": {"$ne": "1"}}).sort("_id", 1)) == [2, 4, 5]
    assert ids(db.e.find({"s": {"$in": ["1", 1]}}).sort("_id", 1)) == [1, 2, 3]
