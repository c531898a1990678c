"""mongosh (pinned npm package, installed by tests/fakemongod/setup) against fakemongod."""
import json
import os
import subprocess

import pytest

from conftest import make_client

MONGOSH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "mongosh")


def mongosh(server, tmp_path, script, db="audit"):
    if not os.access(os.path.join(os.path.dirname(MONGOSH), "node_modules", "mongosh"), os.X_OK):
        pytest.fail("mongosh is not installed: run tests/fakemongod/setup (it never skips)")
    env = dict(os.environ, HOME=str(tmp_path), MONGOSH_FORCE_DISABLE_TELEMETRY_FOR_TESTING="1")
    uri = "mongodb://%s/%s?replicaSet=rs0" % (server.advertise, db)
    p = subprocess.run([MONGOSH, uri, "--quiet", "--norc", "--eval", script], env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, "mongosh failed: %s\n%s" % (p.stdout, p.stderr)
    return p.stdout.strip()


def test_mongosh_insert_find_aggregate(server, tmp_path):
    c = make_client(server.uri)
    c.drop_database("audit")
    c.close()
    out = mongosh(server, tmp_path, r'''
        db.row_changes.insertMany([
          {_id: "main:0-1-1:0", op: "insert", db: "shop", table: "orders", pk: {id: 1}, gtid: "0-1-1", seq: 0,
           ts: ISODate("2024-05-01T10:00:00Z"), after: {id: 1, amount: NumberDecimal("12.50")}},
          {_id: "main:0-1-2:0", op: "update", db: "shop", table: "orders", pk: {id: 1}, gtid: "0-1-2", seq: 0,
           ts: ISODate("2024-05-01T10:00:01Z"), changed: ["status"]},
          {_id: "main:0-1-3:0", op: "delete", db: "shop", table: "items", pk: {id: 7}, gtid: "0-1-3", seq: 0,
           ts: ISODate("2024-05-01T10:00:02Z")}]);
        db.binlog_offsets.insertOne({_id: "main", flavor: "mariadb", gtid: "0-1-3", batch: NumberLong(3),
                                     rows_applied: NumberLong(3), updated_at: new Date()});
        db.row_changes_staging.insertOne({_id: {pipeline: "main", batch: 4, part: 0}, status: "pending",
                                          changes: [1, 2]});
        const latest = db.row_changes.find({db: "shop", table: "orders"}).sort({ts: -1}).limit(1).toArray();
        const byTable = db.row_changes.aggregate([{$group: {_id: "$table", n: {$sum: 1}, last: {$max: "$ts"}}},
                                                  {$sort: {_id: 1}}]).toArray();
        const pk = db.row_changes.find({"pk.id": 1}, {_id: 1}).sort({_id: 1}).toArray();
        const off = db.binlog_offsets.findOne({_id: "main"});
        const staged = db.row_changes_staging.find({"_id.pipeline": "main", "_id.batch": {$gt: 3}}).toArray();
        print(JSON.stringify({
          latest: latest.map(d => d._id), amount: db.row_changes.findOne({seq: 0, op: "insert"}).after.amount.toString(),
          byTable: byTable.map(g => [g._id, g.n]), pk: pk.map(d => d._id), offBatch: off.batch.toString(),
          count: db.row_changes.countDocuments({op: {$in: ["insert", "update"]}}),
          est: db.row_changes.estimatedDocumentCount(), staged: staged.length,
          staging: db.row_changes_staging.countDocuments({status: "pending"}),
          ops: db.row_changes.distinct("op")}));
    ''')
    got = json.loads(out.splitlines()[-1])
    assert got == {"latest": ["main:0-1-2:0"], "amount": "12.50", "byTable": [["items", 1], ["orders", 2]],
                   "pk": ["main:0-1-1:0", "main:0-1-2:0"], "offBatch": "3", "count": 2, "est": 3,
                   "staged": 1, "staging": 1, "ops": ["delete", "insert", "update"]}
    # what mongosh wrote is what pymongo reads, types included
    c = make_client(server.uri)
    from bson.decimal128 import Decimal128
    from bson.int64 import Int64
    d = c.audit.row_changes.find_one({"_id": "main:0-1-1:0"})
    assert d["after"]["amount"] == Decimal128("12.50")
    assert type(c.audit.binlog_offsets.find_one()["batch"]) is Int64
    c.drop_database("audit")
    c.close()


def test_mongosh_shell_helpers(server, tmp_path):
    out = mongosh(server, tmp_path, r'''
        db.s.drop(); db.s.insertOne({a: 1}); db.s.updateOne({a: 1}, {$set: {b: 2}});
        db.s.createIndex({a: 1}, {unique: true});
        let dup = "none"; try { db.s.insertOne({a: 1}); } catch (e) { dup = e.code; }
        const hello = db.hello();
        print(JSON.stringify({dup: dup, b: db.s.findOne().b, primary: hello.isWritablePrimary,
          set: hello.setName, dbs: db.adminCommand({listDatabases: 1}).databases.map(d => d.name).includes("shelltest"),
          colls: db.getCollectionNames(), ver: db.version(), ping: db.runCommand({ping: 1}).ok,
          del: db.s.deleteMany({}).deletedCount}));
    ''', db="shelltest")
    got = json.loads(out.splitlines()[-1])
    assert got == {"dup": 11000, "b": 2, "primary": True, "set": "rs0", "dbs": True, "colls": ["s"],
                   "ver": "6.0.0", "ping": 1, "del": 1}
