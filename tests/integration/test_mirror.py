"""Mirror mode (pipeline.modes: [mirror], DESIGN.md §12): real mariadbd → sdl run → MongoDB
(tests/fakemongod, or $SDL_TEST_MONGODB_URI). The oracle is the source itself: every mirror
collection must equal `SELECT *` of its table, read with pymysql and compared through the
documented type mapping (README "Types"), never through sdl's output. Where the audit log is
written too, row_changes must still equal what oracle.py expects."""
import collections
import decimal
import random
import threading
import time

import pytest
from bson.decimal128 import Decimal128

from runlib import Daemon, check_row_changes, wait_for_offset

SCHEMA = """
CREATE DATABASE IF NOT EXISTS {db};
CREATE TABLE {db}.single (id INT PRIMARY KEY, v BIGINT, d DECIMAL(10,2), dt DATETIME,
                          s VARCHAR(40) NULL, bl BLOB NULL);
CREATE TABLE {db}.comp (a INT, b VARCHAR(8), v INT, PRIMARY KEY (b, a));
CREATE TABLE {db}.nopk (x INT, y VARCHAR(8));
CREATE TABLE {db}.trunc (id INT PRIMARY KEY, v INT);
CREATE TABLE {db}.gone (id INT PRIMARY KEY, v INT);
CREATE TABLE {db}.ren (id INT PRIMARY KEY, v INT)
"""


def create(mariadb, db):
    mariadb.sql(f"DROP DATABASE IF EXISTS {db}",
                *[s.strip().format(db=db) for s in SCHEMA.split(";") if s.strip()])


def mapped(v):
    """A MariaDB value as the documented mapping stores it (README "Types")."""
    if isinstance(v, decimal.Decimal):
        return Decimal128(str(v))
    return v


def table_rows(mariadb, db, table):
    """SELECT * of @db.@table: (column names, key columns in key order, rows as dicts)."""
    c = mariadb.root()
    try:
        with c.cursor() as cur:
            cur.execute("SET SESSION time_zone = '+00:00'")
            cur.execute(f"SELECT * FROM `{db}`.`{table}`")
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, (mapped(v) for v in r))) for r in cur.fetchall()]
            cur.execute("SELECT column_name FROM information_schema.key_column_usage WHERE "
                        "table_schema = %s AND table_name = %s AND constraint_name = 'PRIMARY' "
                        "ORDER BY ordinal_position", (db, table))
            pk = [r[0] for r in cur.fetchall()]
    finally:
        c.close()
    return names, pk, rows


def check_mirror(target, mariadb, db, table, mirror_db=None, collection=None):
    """The mirror collection of @db.@table equals SELECT * of it: every row, every column."""
    names, pk, rows = table_rows(mariadb, db, table)
    coll = target.client[mirror_db or target.database][collection or f"{db}.{table}"]
    docs = list(coll.find())
    assert len(docs) == len(rows), f"{db}.{table}: {len(docs)} documents, {len(rows)} rows"
    if not pk:
        def key(d):
            return repr(sorted((k, repr(v)) for k, v in d.items() if k != "_id"))
        want = collections.Counter(key(r) for r in rows)
        have = collections.Counter(key(d) for d in docs)
        assert want == have, f"{db}.{table}: {want - have} missing, {have - want} extra"
        return len(rows)
    by_id = {}
    for d in docs:
        i = d["_id"]
        k = tuple(i.items()) if isinstance(i, dict) else i
        assert k not in by_id
        by_id[k] = d
    for r in rows:
        k = tuple((c, r[c]) for c in pk) if len(pk) > 1 else r[pk[0]]
        assert k in by_id, f"{db}.{table}: row {r} has no document"
        d = dict(by_id[k])
        _id = d.pop("_id")
        if len(pk) > 1:
            assert list(_id.keys()) == pk, "composite _id in key order"
        assert d == r, f"{db}.{table}: document {d} != row {r}"
    return len(rows)


def workload(mariadb, db, rng, rounds=30, minimal_every=3):
    """Inserts, updates (some changing the key), deletes on single, comp and nopk; every
    @minimal_every-th transaction with binlog_row_image=MINIMAL."""
    c = mariadb.root()
    try:
        with c.cursor() as cur:
            cur.execute("SET SESSION time_zone = '+00:00'")
            cur.execute(f"SELECT COALESCE(MAX(id), 0) FROM {db}.single")
            nid = cur.fetchone()[0] + 1
            for t in range(rounds):
                image = "MINIMAL" if t % minimal_every == 1 else "FULL"
                cur.execute(f"SET SESSION binlog_row_image = {image}")
                cur.execute("BEGIN")
                for _ in range(rng.randint(1, 5)):
                    op = rng.choice(["ins", "ins", "upd", "upd", "key", "del", "comp", "ckey",
                                     "cdel", "nopk", "nopkupd", "nopkdel"])
                    if op == "ins":
                        cur.execute(f"INSERT INTO {db}.single VALUES (%s, %s, %s, %s, %s, %s)",
                                    (nid, rng.randint(-10**12, 10**12),
                                     decimal.Decimal(rng.randint(-99999, 99999)) / 100,
                                     f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)} 12:34:56",
                                     rng.choice([None, f"s{nid}", "é€"]),
                                     rng.choice([None, b"\x00\x01", b"blob"])))
                        nid += 1
                    elif op == "upd":
                        cur.execute(f"UPDATE {db}.single SET v = v + 1, s = %s WHERE id %% 3 = %s",
                                    (f"u{t}", rng.randint(0, 2)))
                    elif op == "key":
                        cur.execute(f"UPDATE {db}.single SET id = %s, d = d + 1 "
                                    f"WHERE id = (SELECT m FROM (SELECT MIN(id) AS m FROM "
                                    f"{db}.single) q)", (nid,))
                        nid += 1
                    elif op == "del":
                        cur.execute(f"DELETE FROM {db}.single WHERE id %% 7 = %s LIMIT 2",
                                    (rng.randint(0, 6),))
                    elif op == "comp":
                        cur.execute(f"INSERT INTO {db}.comp VALUES (%s, %s, %s) ON DUPLICATE KEY "
                                    f"UPDATE v = v + 1", (rng.randint(1, 20),
                                                          rng.choice(["x", "y", "z"]), t))
                    elif op == "ckey":
                        cur.execute(f"UPDATE IGNORE {db}.comp SET b = CONCAT(b, 'k') "
                                    f"WHERE a = %s AND LENGTH(b) < 6", (rng.randint(1, 20),))
                    elif op == "cdel":
                        cur.execute(f"DELETE FROM {db}.comp WHERE a = %s", (rng.randint(1, 20),))
                    elif op == "nopk":
                        cur.execute(f"INSERT INTO {db}.nopk VALUES (%s, %s)",
                                    (rng.randint(1, 5), rng.choice(["p", "q"])))
                    elif op == "nopkupd":
                        cur.execute(f"UPDATE {db}.nopk SET y = 'r' WHERE x = %s LIMIT 1",
                                    (rng.randint(1, 5),))
                    else:
                        cur.execute(f"DELETE FROM {db}.nopk WHERE x = %s LIMIT 1",
                                    (rng.randint(1, 5),))
                cur.execute("COMMIT")
            cur.execute("SET SESSION binlog_row_image = FULL")
    finally:
        c.close()


def ddl_workload(mariadb, db):
    mariadb.sql(*[f"INSERT INTO {db}.{t} VALUES ({i}, {i})" for t in ("trunc", "gone", "ren")
                  for i in range(1, 6)],
                f"TRUNCATE TABLE {db}.trunc",
                f"INSERT INTO {db}.trunc VALUES (100, 1), (101, 2)",
                f"DROP TABLE {db}.gone",
                f"UPDATE {db}.ren SET v = v * 10 WHERE id < 3",
                f"RENAME TABLE {db}.ren TO {db}.ren2",
                f"UPDATE {db}.ren2 SET v = 0 WHERE id = 5",
                f"ALTER TABLE {db}.trunc ADD COLUMN w INT NULL",
                f"INSERT INTO {db}.trunc VALUES (102, 3, 4)",
                f"UPDATE {db}.trunc SET w = 7")


def mirror_config(modes, no_pk="all_columns", on_drop="drop", extra=""):
    return dict(pipeline=(f"modes: [{modes}]",),
                extra=f"mirror:\n  no_primary_key: {no_pk}\n  on_drop: {on_drop}\n{extra}")


def test_mirror_equals_every_table_with_audit(sdl, mariadb, target, tmp_path):
    """[audit, mirror], all_columns: composite keys, key changes (FULL and MINIMAL images),
    partial images, a table without a key; the audit log exact (oracle.py)."""
    db = "mir1"
    start = mariadb.gtid_binlog_pos()
    create(mariadb, db)
    workload(mariadb, db, random.Random(1), rounds=40)
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 7, max_delay: 10ms", start=start,
               **mirror_config("audit, mirror"))
    d.start()
    workload(mariadb, db, random.Random(2), rounds=40)
    end = mariadb.gtid_binlog_pos()
    wait_for_offset(target, end, d)
    assert d.stop() == 0, d.output()[-3000:]
    for t in ("single", "comp", "nopk"):
        check_mirror(target, mariadb, db, t)
    check_row_changes(target, mariadb, start, end, daemon=d)
    assert target.db.row_changes_staging.count_documents({}) == 0


def test_mirror_ddl_with_on_drop_drop(sdl, mariadb, target, tmp_path):
    """TRUNCATE, DROP TABLE, RENAME TABLE (on_drop: drop) and ALTER TABLE, [mirror] alone."""
    db = "mir6"
    start = mariadb.gtid_binlog_pos()
    create(mariadb, db)
    workload(mariadb, db, random.Random(6), rounds=10)
    ddl_workload(mariadb, db)
    end = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 7, max_delay: 10ms", start=start,
               **mirror_config("mirror"))
    d.start()
    wait_for_offset(target, end, d)
    assert d.stop() == 0, d.output()[-3000:]
    counts = {t: check_mirror(target, mariadb, db, t)
              for t in ("single", "comp", "nopk", "trunc", "ren2")}
    assert counts["trunc"] == 3 and counts["ren2"] == 5, counts
    names = target.db.list_collection_names()
    assert f"{db}.gone" not in names and f"{db}.ren" not in names, names
    assert target.db.row_changes.count_documents({}) == 0


def test_mirror_only_keep_and_skip(sdl, mariadb, target, tmp_path):
    """[mirror] alone, no_primary_key: skip, on_drop: keep, another database and template:
    row_changes stays empty, the table without a key has no collection (a warning says so),
    a dropped or renamed table's collection is kept (with a warning)."""
    db = "mir2"
    start = mariadb.gtid_binlog_pos()
    create(mariadb, db)
    workload(mariadb, db, random.Random(3), rounds=30)
    ddl_workload(mariadb, db)
    end = mariadb.gtid_binlog_pos()
    mdb = target.database + "_m"
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 5, max_delay: 10ms", start=start,
               **mirror_config("mirror", no_pk="skip", on_drop="keep",
                               extra=f"  database: {mdb}\n  collection: \"{{db}}_{{table}}\"\n"
                                     f"  indexes: [\"{db}.sing*: v, -dt\"]\n"))
    d.start()
    wait_for_offset(target, end, d)
    assert d.stop() == 0, d.output()[-3000:]
    for t in ("single", "comp", "trunc", "ren2"):
        check_mirror(target, mariadb, db, t, mirror_db=mdb, collection=f"{db}_{t}")
    names = target.client[mdb].list_collection_names()
    assert f"{db}_nopk" not in names
    assert target.client[mdb][f"{db}_gone"].count_documents({}) == 5  # kept as it was
    assert target.client[mdb][f"{db}_ren"].count_documents({}) == 5
    assert target.db.row_changes.count_documents({}) == 0
    keys = [dict(i["key"]) for i in target.client[mdb][f"{db}_single"].list_indexes()]
    assert {"v": 1, "dt": -1} in keys, keys  # mirror.indexes
    assert [dict(i["key"]) for i in target.client[mdb][f"{db}_comp"].list_indexes()] == \
        [{"_id": 1}]
    out = d.output()
    assert f"table '{db}.nopk' has no primary key" in out, out[-3000:]
    assert f"DROP TABLE of '{db}.gone'" in out and f"RENAME TABLE of '{db}.ren'" in out


def test_mirror_table_without_key_stops_by_default(sdl, mariadb, target, tmp_path):
    """no_primary_key: error (the default): exit 78 naming the table, its batch not staged;
    the rows before it committed."""
    db = "mir3"
    start = mariadb.gtid_binlog_pos()
    mariadb.sql(f"DROP DATABASE IF EXISTS {db}", f"CREATE DATABASE {db}",
                f"CREATE TABLE {db}.k (id INT PRIMARY KEY)", f"INSERT INTO {db}.k VALUES (1)",
                f"CREATE TABLE {db}.loose (a INT)", f"INSERT INTO {db}.loose VALUES (1)")
    d = Daemon(sdl, target, tmp_path, batch="max_delay: 10ms", start=start,
               pipeline=("modes: [mirror]",))
    d.start()
    assert d.wait(60) == 78, d.output()[-3000:]
    assert f"table '{db}.loose' has no primary key" in d.output()
    assert target.db.row_changes_staging.count_documents({}) == 0
    check_mirror(target, mariadb, db, "k")


def test_mirror_exact_after_kill9_and_failpoints(sdl, mariadb, target, tmp_path):
    """kill -9 at random moments and at each durable step (SDL_FAILPOINT) under load: every
    mirror collection still equals its table, and the audit log is exact."""
    db = "mir4"
    start = mariadb.gtid_binlog_pos()
    create(mariadb, db)
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 20, max_delay: 10ms", start=start,
               **mirror_config("audit, mirror"))
    stop_load = threading.Event()
    errors = []

    def load():
        rng = random.Random(7)
        try:
            while not stop_load.is_set():
                workload(mariadb, db, rng, rounds=5)
                time.sleep(0.02)
        except Exception as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    t = threading.Thread(target=load)
    t.start()
    rng = random.Random(11)
    try:
        for fp in ("writer.after_stage", "writer.in_transaction", "writer.after_commit"):
            d.start(env={"SDL_FAILPOINT": f"{fp}:4"})
            assert d.wait(60) == 137, d.output()[-3000:]
        d.start()
        for _ in range(10):
            time.sleep(rng.uniform(0.2, 1.0))
            assert d.proc.poll() is None, d.output()[-3000:]
            d.kill9()
            d.start()
    finally:
        stop_load.set()
        t.join()
    assert not errors, errors
    end = mariadb.gtid_binlog_pos()
    wait_for_offset(target, end, d, timeout=300)
    assert d.stop() == 0, d.output()[-3000:]
    for tb in ("single", "comp", "nopk"):
        check_mirror(target, mariadb, db, tb)
    check_row_changes(target, mariadb, start, end, daemon=d)


@pytest.mark.parametrize("failpoint", ["recovery.before_commit"])
def test_mirror_committed_from_staging(sdl, mariadb, target, tmp_path, failpoint):
    """A batch staged before a crash is committed by recovery with its mirror writes."""
    db = "mir5"
    start = mariadb.gtid_binlog_pos()
    create(mariadb, db)
    workload(mariadb, db, random.Random(5), rounds=20)
    end = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 10", start=start,
               **mirror_config("mirror"))
    d.start(env={"SDL_FAILPOINT": "writer.after_stage:2"})
    assert d.wait(60) == 137
    assert target.db.row_changes_staging.count_documents({}) > 0
    d.start(env={"SDL_FAILPOINT": f"{failpoint}:1"})
    assert d.wait(60) == 137, d.output()[-3000:]
    d.start()
    wait_for_offset(target, end, d)
    assert d.stop() == 0, d.output()[-3000:]
    for tb in ("single", "comp", "nopk"):
        check_mirror(target, mariadb, db, tb)


def test_mirror_oracle_every_type_family_and_its_own_failures(sdl, mariadb, target, tmp_path):
    """mirror_oracle.py (the torture's mirror check) on tt.types' every type family, composite
    key changes and MINIMAL images; then the same check must fail on a mirror changed behind
    sdl's back: a value of another BSON width, a missing column, a row too many."""
    from bson.int64 import Int64

    from mirror_oracle import check_mirrors
    from torture import TYPES_TABLE, Workload

    start = mariadb.gtid_binlog_pos()
    mariadb.sql("DROP DATABASE IF EXISTS tt", "CREATE DATABASE tt", TYPES_TABLE)
    wl = Workload(mariadb, random.Random(5), 0, 0)
    for _ in range(60):
        wl.types_txn()
    end = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 9, max_delay: 10ms", start=start,
               pipeline=("modes: [audit, mirror]",), extra="tables:\n  include: ['tt.*']\n")
    d.start()
    wait_for_offset(target, end, d)
    assert d.stop() == 0, d.output()[-3000:]
    check_row_changes(target, mariadb, start, end, daemon=d, include=["tt.*"])
    summary = check_mirrors(target, mariadb, [("tt", "types")])
    assert summary["rows"] >= 20 and wl.record.get("types key change", 0) >= 3, wl.record
    for fam in ("integer", "decimal", "float", "double", "date", "string", "binary", "set",
                "json", "null"):
        assert summary["values"].get(fam, 0) > 0, (fam, summary)
    coll = target.db["tt.types"]
    doc = coll.find_one({"tu": {"$ne": None}})
    tampered = [({"$set": {"tu": Int64(doc["tu"])}}, "tu"),  # int32 -> int64
                ({"$unset": {"vc": ""}}, "column vc absent")]
    for change, what in tampered:
        coll.update_one({"_id": doc["_id"]}, change)
        with pytest.raises(AssertionError, match=what):
            check_mirrors(target, mariadb, [("tt", "types")])
        coll.replace_one({"_id": doc["_id"]}, doc)
    check_mirrors(target, mariadb, [("tt", "types")])
    coll.insert_one({"_id": {"k2": "zz", "k1": 1}})
    with pytest.raises(AssertionError, match="has no row"):
        check_mirrors(target, mariadb, [("tt", "types")])
