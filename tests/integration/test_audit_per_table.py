"""target.collections.changes as a template ({db}, {table}; docs/CONFIG.md): the audit log as
one collection per table. Real mariadbd → sdl run → MongoDB (tests/fakemongod, or
$SDL_TEST_MONGODB_URI). The union of the per-table collections must equal what oracle.py
expects for the binlog range (each document once, across kill -9 and sdl's durable-step
failpoints), each document must be in the collection its db and table name ('_' for a
missing one), and every per-table collection must carry the audit log's indexes (ts with
target.retention's TTL, {db, table, pk}, {gtid})."""
import random
import threading
import time

from oracle import Oracle, check_against_oracle
from runlib import Daemon, wait_for_offset

TEMPLATE = "audit.{db}.{table}"
RETENTION_S = 30 * 86400


def audit_collections(target):
    return sorted(n for n in target.db.list_collection_names() if n.startswith("audit."))


def expected_name(doc):
    return TEMPLATE.replace("{db}", doc.get("db") or "_").replace("{table}", doc.get("table") or "_")


def load(mariadb, db, rng, stop, errors):
    """Transactions writing both tables (inserts, updates, deletes, a key change now and
    then) until @stop."""
    c = mariadb.root()
    n = 0
    try:
        with c.cursor() as cur:
            while not stop.is_set():
                cur.execute("BEGIN")
                for _ in range(rng.randint(1, 4)):
                    n += 1
                    cur.execute(f"INSERT INTO {db}.orders VALUES (%s, %s)", (n, rng.randint(0, 99)))
                    cur.execute(f"INSERT INTO {db}.lines VALUES (%s, 1, %s), (%s, 2, %s)",
                                (n, rng.randint(1, 9), n, rng.randint(1, 9)))
                    if n > 5 and rng.random() < 0.3:
                        cur.execute(f"UPDATE {db}.orders SET v = v + 1 WHERE id = %s",
                                    (rng.randint(1, n - 1),))
                    if n > 5 and rng.random() < 0.2:
                        cur.execute(f"DELETE FROM {db}.lines WHERE o = %s", (rng.randint(1, n - 1),))
                    if n > 5 and rng.random() < 0.1:
                        cur.execute(f"UPDATE {db}.lines SET n = n + 10 WHERE o = %s AND n < 10",
                                    (rng.randint(1, n - 1),))
                cur.execute("COMMIT")
                time.sleep(0.01)
    except Exception as e:  # noqa: BLE001 - reported by the test
        errors.append(e)
    finally:
        c.close()


def test_audit_per_table_exactly_once_across_kill9(sdl, mariadb, target, tmp_path):
    db = "apt"
    start = mariadb.gtid_binlog_pos()
    mariadb.sql(f"DROP DATABASE IF EXISTS {db}", f"CREATE DATABASE {db}",
                f"CREATE TABLE {db}.orders (id INT PRIMARY KEY, v INT)",
                f"CREATE TABLE {db}.lines (o INT, n INT, q INT, PRIMARY KEY (o, n))")
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 7, max_delay: 10ms", start=start,
               extra=f"  retention: 30d\n  collections: {{changes: \"{TEMPLATE}\"}}\n")
    stop, errors = threading.Event(), []
    t = threading.Thread(target=load, args=(mariadb, db, random.Random(3), stop, errors))
    t.start()
    rng = random.Random(4)
    try:
        for fp in ("writer.after_stage", "writer.in_transaction", "writer.after_commit"):
            d.start(env={"SDL_FAILPOINT": f"{fp}:3"})
            assert d.wait(60) == 137, d.output()[-3000:]
        d.start()
        for _ in range(8):
            time.sleep(rng.uniform(0.2, 0.8))
            assert d.proc.poll() is None, d.output()[-3000:]
            d.kill9()
            d.start()
    finally:
        stop.set()
        t.join()
    assert not errors, errors
    mariadb.sql(f"ALTER TABLE {db}.orders ADD COLUMN w INT", f"INSERT INTO {db}.orders VALUES "
                f"(1000000, 1, 2)")
    end = mariadb.gtid_binlog_pos()
    wait_for_offset(target, end, d, timeout=300)
    assert d.stop() == 0, d.output()[-3000:]

    names = audit_collections(target)
    assert names == [f"audit.{db}._", f"audit.{db}.lines", f"audit.{db}.orders"], names
    got = []
    for name in names:
        docs = list(target.db[name].find({}))
        assert docs, name
        wrong = [x["_id"] for x in docs if expected_name(x) != name]
        assert not wrong, f"{name} holds documents of other tables: {wrong[:5]}"
        got += docs
        keys = {i["name"]: i for i in target.db[name].list_indexes()}
        assert keys["ts_1"].get("expireAfterSeconds") == RETENTION_S, (name, keys)
        assert dict(keys["db_1_table_1_pk_1"]["key"]) == {"db": 1, "table": 1, "pk": 1}
        assert dict(keys["gtid_1"]["key"]) == {"gtid": 1}
    expected = Oracle(mariadb).expected(start, end)
    summary = check_against_oracle(got, expected, max_rows=d.max_rows, max_bytes=d.max_bytes)
    assert summary["documents"] > 100 and summary["ddl"] >= 4, summary
    assert "row_changes" not in target.db.list_collection_names()
    assert target.db.row_changes_staging.count_documents({}) == 0


def test_audit_per_table_dead_letter_retry(sdl, mariadb, target, tmp_path):
    """`sdl dlq retry` puts a revived row into its table's audit collection (indexed), marked
    split as the rest of its transaction, whose other row is in another table's collection."""
    from test_exactly_once import run_sql

    mariadb.sql("CREATE DATABASE IF NOT EXISTS dlt", "CREATE TABLE dlt.t (id INT PRIMARY KEY, b LONGBLOB)",
                "CREATE TABLE dlt.u (id INT PRIMARY KEY, b LONGBLOB)")
    start = mariadb.gtid_binlog_pos()
    mid = run_sql(mariadb, "BEGIN", "INSERT INTO dlt.u VALUES (3, 'c')",
                  "INSERT INTO dlt.t VALUES (2, REPEAT('y', 2 * 1024 * 1024))", "COMMIT")
    end = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, start=start, batch="max_rows: 1, max_delay: 200ms",
               pipeline=["on_error: dead_letter"],
               extra=f"  max_document_bytes: 1MiB\n  collections: {{changes: \"{TEMPLATE}\"}}\n")
    d.start()
    wait_for_offset(target, end, d)
    assert [x["_id"] for x in target.db.row_changes_dlq.find({})] == [f"test:{mid}:2"]
    assert audit_collections(target) == ["audit.dlt.u"]
    text = open(d.config).read()
    open(d.config, "w").write(text.replace("  max_document_bytes: 1MiB\n", ""))
    p = sdl.run("dlq", "retry", "-c", d.config, "--id", f"test:{mid}:2")
    assert p.returncode == 0, p.stdout + p.stderr
    assert d.stop() == 0, d.output()[-3000:]
    assert audit_collections(target) == ["audit.dlt.t", "audit.dlt.u"]
    revived = target.db["audit.dlt.t"].find_one({})
    assert revived["_id"] == f"test:{mid}:2" and revived["split"] is True
    assert "ts_1" in {i["name"] for i in target.db["audit.dlt.t"].list_indexes()}
    got = [x for n in audit_collections(target) for x in target.db[n].find({})]
    check_against_oracle(got, Oracle(mariadb).expected(start, end), max_rows=d.max_rows,
                         max_bytes=d.max_bytes)
