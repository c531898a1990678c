"""Issue 13, "Column policies, routing, retention": `columns:` (drop, redact, hash, truncate),
`tables.skip_ops` and `target.retention`, end to end: a real mariadbd → `sdl run` →
tests/fakemongod (or $SDL_TEST_MONGODB_URI), and `sdl tail`. The oracle is not sdl: expected
hashes are HMAC-SHA256 computed here with Python's hmac module from the values inserted, and
the secrets are looked for in every document of the target database, in sdl's own output
(debug level), in /metrics and in `sdl tail`'s output."""
import hashlib
import hmac
import json
import re
import signal
import time
import urllib.request

from bson import json_util

from mariadb import free_port
from runlib import Daemon, offset, wait_for_offset
from test_exactly_once import run_sql, wait_for_log

KEY = "k3y-0f-the-column-policy-test-9d1f"  # 34 bytes, written as a credential

SECRETS = ["alice.secret@example.com", "bob.secret@example.com", "SSN-111-22-3333",
           "SSN-444-55-6666", "TOPSECRET-one", "TOPSECRET-two", "carol.secret@example.com"]


def h(value):
    return hmac.new(KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def cut_utf8(text, n):
    b = text.encode()[:n]
    while True:
        try:
            return b.decode()
        except UnicodeDecodeError:
            b = b[:-1]


COLUMNS = """columns:
  - {match: "cp.users.email", action: hash}
  - {match: "cp.accounts.email", action: hash}
  - {match: "cp.*.ssn", action: redact}
  - {match: "cp.users.note", truncate: 8}
  - {match: "cp.users.avatar", truncate: 3}
  - {match: "*.*.secret", action: drop}
"""


def write_key(tmp_path, name="run"):
    creds = tmp_path / f"{name}.credentials"
    creds.mkdir(mode=0o700, exist_ok=True)
    (creds / "columns-hash-key").write_text(KEY + "\n")
    return creds


def everything_in(target):
    """Every document of every collection of the target database, as Extended JSON text."""
    out = []
    for name in target.db.list_collection_names():
        for d in target.db[name].find({}):
            out.append(json_util.dumps(d))
    return "\n".join(out)


def assert_no_secret(text, where):
    for s in SECRETS:
        assert s not in text, f"{s!r} appears in {where}"
    assert KEY not in text, f"the hash key appears in {where}"


def test_column_policies_everywhere_sdl_writes(sdl, mariadb, target, tmp_path):
    mariadb.sql("CREATE DATABASE IF NOT EXISTS cp",
                "CREATE TABLE cp.users (id INT PRIMARY KEY, email VARCHAR(100), ssn VARCHAR(20),"
                " note TEXT, avatar BLOB, secret VARCHAR(50), j JSON)",
                "CREATE TABLE cp.accounts (email VARCHAR(100) PRIMARY KEY, n INT)")
    start = mariadb.gtid_binlog_pos()
    g_ins = run_sql(mariadb, "INSERT INTO cp.users VALUES (1, 'alice.secret@example.com', "
                             "'SSN-111-22-3333', 'h\u00e9llo w\u00f6rld', 'ABCDEF', 'TOPSECRET-one', NULL)")
    g_upd = run_sql(mariadb, "UPDATE cp.users SET email = 'bob.secret@example.com', "
                             "ssn = 'SSN-444-55-6666', secret = 'TOPSECRET-two' WHERE id = 1")
    g_acc = run_sql(mariadb, "INSERT INTO cp.accounts VALUES ('carol.secret@example.com', 5)")
    # not JSON (written with the check off): a dead letter, whose images must be policied too
    g_bad = run_sql(mariadb, "INSERT INTO cp.users VALUES (2, 'alice.secret@example.com', "
                             "'SSN-111-22-3333', 'x', 'y', 'TOPSECRET-one', '{\"a\": tru')",
                    session=["SET SESSION check_constraint_checks=0"])
    g_del = run_sql(mariadb, "DELETE FROM cp.users WHERE id = 1")
    end = mariadb.gtid_binlog_pos()

    write_key(tmp_path)
    port = free_port()
    d = Daemon(sdl, target, tmp_path, start=start, batch="max_delay: 20ms",
               pipeline=["on_error: dead_letter"],
               extra=f"tables:\n  include: ['cp.*']\n{COLUMNS}"
                     f"http:\n  listen: 127.0.0.1:{port}\n  table_metrics: 10\n"
                     "log:\n  level: debug\n")
    d.start()
    wait_for_offset(target, end, d)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        metrics = r.read().decode()
    assert d.stop() == 0, d.output()[-3000:]

    docs = {(x["gtid"], x["seq"]): x for x in target.db.row_changes.find({})}
    ins = docs[(g_ins, 1)]
    assert ins["pk"] == {"id": 1}
    assert ins["after"] == {"id": 1, "email": h("alice.secret@example.com"), "ssn": "[redacted]",
                            "note": cut_utf8("h\u00e9llo w\u00f6rld", 8), "avatar": b"ABC",
                            "j": None}
    upd = docs[(g_upd, 1)]
    assert upd["before"]["email"] == h("alice.secret@example.com")
    assert upd["after"]["email"] == h("bob.secret@example.com")
    assert upd["after"]["ssn"] == "[redacted]" and "secret" not in upd["after"]
    assert upd["changed"] == ["email", "ssn"]  # the source values changed; the dropped one is never listed
    acc = docs[(g_acc, 1)]
    assert acc["pk"] == {"email": h("carol.secret@example.com")}
    assert acc["after"] == {"email": h("carol.secret@example.com"), "n": 5}
    dele = docs[(g_del, 1)]
    assert dele["before"]["email"] == h("bob.secret@example.com") and "secret" not in dele["before"]
    # equal values stay joinable: the same email hashes alike in both tables and rows
    dl = list(target.db.row_changes_dlq.find({}))
    assert [x["_id"] for x in dl] == [f"test:{g_bad}:1"]
    cols = {v["column"]: v.get("value") for v in dl[0]["after"]}
    assert cols["email"] == h("alice.secret@example.com") and cols["ssn"] == "[redacted]"
    assert "secret" not in cols and cols["note"] == "x"

    assert_no_secret(everything_in(target), "the target database")
    assert_no_secret(d.output(), "sdl run's output (debug level)")
    assert_no_secret(metrics, "/metrics")
    assert 'db="cp",table="users"' in metrics  # the per-table series are there (names only)

    # sdl tail with the same configuration (and credentials directory) prints the same values
    # (up to the row sdl cannot map: tail has no dead letters and stops there)
    p = sdl.run("tail", "-c", d.config, "--from", start, "--until", g_acc, "--stats")
    assert p.returncode == 0, p.stderr
    assert_no_secret(p.stdout + p.stderr, "sdl tail's output")
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    first = [x for x in lines if x["gtid"] == g_ins][0]
    assert first["after"]["email"] == h("alice.secret@example.com")
    assert first["after"]["avatar"] == {"$binary": {"base64": "QUJD", "subType": "00"}}


def test_check_config_validates_column_policies(sdl, tmp_path):
    cfg = sdl.write_config(name="cc.yaml", extra=COLUMNS)
    p = sdl.run("check-config", "-c", cfg, env={"SDL_COLUMNS_HASH_KEY": ""})
    assert p.returncode == 78
    assert re.search(r"cc\.yaml:11:39: a 'hash' rule in 'columns' needs the HMAC key", p.stderr), p.stderr
    write_key(tmp_path, "cc")
    p = sdl.run("check-config", "-c", cfg)
    assert p.returncode == 0, p.stderr
    assert "# columns hash key: <from credential columns-hash-key>" in p.stdout
    assert KEY not in p.stdout + p.stderr
    for bad, msg in [
        ('columns: [{match: "db.t", action: hash}]', "must contain two '.'"),
        ('columns: [{match: "a.b.c", action: shred}]', "expected drop, redact, hash or truncate"),
        ('columns: [{match: "a.b.c", truncate: 0}]', "'truncate' in 'columns'"),
        ('columns: [{match: "a.b.c", action: truncate}]', "needs the length"),
        ('columns: [{match: "a.b.c", action: drop, bytes: 3}]', "unknown key 'bytes'"),
        ('tables: {skip_ops: [purge]}', "expected insert, update or delete"),
        ('tables: {skip_ops: [{match: "shop", ops: [delete]}]}', "must contain a '.'"),
        ('tables: {skip_ops: [{match: "shop.*", ops: []}]}', "must name an operation"),
        ('target: {uri: "mongodb://h/?replicaSet=r", retention: 1500ms}', "whole seconds"),
    ]:
        cfg = sdl.write_config(name="bad.yaml", extra=bad + "\n")
        p = sdl.run("check-config", "-c", cfg)
        assert p.returncode == 78 and re.search(r"bad\.yaml:\d+:\d+: ", p.stderr) and msg in p.stderr, \
            (bad, p.stderr)


def test_a_drop_rule_on_a_key_column_stops_run_and_tail(sdl, mariadb, target, tmp_path):
    mariadb.sql("CREATE DATABASE IF NOT EXISTS cpk",
                "CREATE TABLE cpk.t (secret VARCHAR(20) PRIMARY KEY, v INT)")
    start = mariadb.gtid_binlog_pos()
    run_sql(mariadb, "INSERT INTO cpk.t VALUES ('TOPSECRET-one', 1)")
    d = Daemon(sdl, target, tmp_path, start=start, pipeline=["on_error: dead_letter"],
               extra="tables:\n  include: ['cpk.*']\ncolumns:\n  - {match: '*.*.secret', action: drop}\n")
    d.start()
    assert d.wait(60) == 78, d.output()[-3000:]
    assert "matches the primary-key column 'cpk.t.secret'" in d.output()
    assert target.db.row_changes.count_documents({}) == 0
    assert target.db.row_changes_dlq.count_documents({}) == 0  # never a dead letter
    assert_no_secret(d.output() + everything_in(target), "sdl run")
    p = sdl.run("tail", "-c", d.config, "--from", start, "--until", "now")
    assert p.returncode == 78 and "cannot be dropped" in p.stderr, p.stderr
    assert "TOPSECRET" not in p.stdout + p.stderr


def test_column_policies_reload_from_the_next_transaction(sdl, mariadb, target, tmp_path):
    mariadb.sql("CREATE DATABASE IF NOT EXISTS crl",
                "CREATE TABLE crl.t (id INT PRIMARY KEY, ssn VARCHAR(20))")
    start = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp_path, start=start, batch="max_delay: 20ms",
               extra="tables:\n  include: ['crl.*']\n")
    d.start()
    wait_for_log(d, r"Replicating after GTID position")
    g1 = run_sql(mariadb, "INSERT INTO crl.t VALUES (1, 'plain-1')")
    wait_for_offset(target, g1, d)
    with open(d.config, "a") as f:
        f.write("columns:\n  - {match: 'crl.t.ssn', action: redact}\n")
    d.proc.send_signal(signal.SIGHUP)
    wait_for_log(d, r"Configuration reloaded")
    g2 = run_sql(mariadb, "INSERT INTO crl.t VALUES (2, 'SSN-111-22-3333')")
    wait_for_offset(target, g2, d)
    assert d.stop() == 0, d.output()[-3000:]
    assert target.db.row_changes.find_one({"gtid": g1})["after"]["ssn"] == "plain-1"
    assert target.db.row_changes.find_one({"gtid": g2})["after"]["ssn"] == "[redacted]"
    assert_no_secret(everything_in(target) + d.output(), "the target and sdl's output")


def test_skip_ops_drops_deletes_and_still_moves_the_offset(sdl, mariadb, target, tmp_path):
    mariadb.sql("CREATE DATABASE IF NOT EXISTS sk",
                "CREATE TABLE sk.keep (id INT PRIMARY KEY)", "CREATE TABLE sk.other (id INT PRIMARY KEY)")
    start = mariadb.gtid_binlog_pos()
    run_sql(mariadb, "INSERT INTO sk.keep VALUES (1), (2)")
    run_sql(mariadb, "INSERT INTO sk.other VALUES (1), (2)")
    g_upd = run_sql(mariadb, "UPDATE sk.keep SET id = 3 WHERE id = 2")
    only_deletes = run_sql(mariadb, "DELETE FROM sk.keep WHERE id = 1")  # a transaction of skipped rows
    g_other = run_sql(mariadb, "DELETE FROM sk.other WHERE id = 1")
    end = mariadb.gtid_binlog_pos()
    extra = ("tables:\n  include: ['sk.*']\n"
             "  skip_ops:\n    - {match: 'sk.keep', ops: [delete]}\n")
    d = Daemon(sdl, target, tmp_path, start=start, batch="max_delay: 20ms", extra=extra)
    d.start()
    off = wait_for_offset(target, end, d)
    assert d.stop() == 0, d.output()[-3000:]
    ops = sorted((x["table"], x["op"]) for x in target.db.row_changes.find({}))
    assert ops == [("keep", "insert"), ("keep", "insert"), ("keep", "update"),
                   ("other", "delete"), ("other", "insert"), ("other", "insert")], ops
    assert target.db.row_changes.count_documents({"gtid": only_deletes}) == 0
    assert target.db.row_changes.count_documents({"gtid": g_other}) == 1
    assert target.db.row_changes.count_documents({"gtid": g_upd}) == 1
    assert off["gtid"] == end  # past the transaction that had only skipped rows
    # sdl tail, bare op names: every table
    lines = sdl.tail(start=start, until=end,
                     extra_config="tables:\n  include: ['sk.*']\n  skip_ops: [delete, update]\n")
    assert sorted(x["op"] for x in lines) == ["insert"] * 4


def ts_index(target):
    return [ix for ix in target.db.row_changes.list_indexes() if dict(ix["key"]) == {"ts": 1}]


def test_retention_puts_a_ttl_on_the_ts_index(sdl, mariadb, target, tmp_path):
    mariadb.sql("CREATE DATABASE IF NOT EXISTS rt", "CREATE TABLE rt.t (id INT PRIMARY KEY)")
    start = mariadb.gtid_binlog_pos()
    g = run_sql(mariadb, "INSERT INTO rt.t VALUES (1)")

    def run(extra):
        d = Daemon(sdl, target, tmp_path, start=start, batch="max_delay: 20ms",
                   extra=extra + "tables:\n  include: ['rt.*']\n")
        d.start()
        wait_for_offset(target, g, d)
        assert d.stop() == 0, d.output()[-3000:]
        return d.output()[d.log_start:]

    # an operator's own TTL index on ts, under another name: no conflict, a warning
    target.db.row_changes.create_index("ts", name="my_ttl", expireAfterSeconds=100)
    out = run("")
    assert "Index 'my_ttl' (ts) of" in out and "has a TTL of 100 s" in out, out
    assert [(ix["name"], ix.get("expireAfterSeconds")) for ix in ts_index(target)] == [("my_ttl", 100)]
    # retention set: the same index gets the TTL (collMod), logged
    out = run("  retention: 30d\n")
    assert "to 2592000 s (target.retention; it was 100 s)" in out, out
    assert [(ix["name"], ix["expireAfterSeconds"]) for ix in ts_index(target)] == [("my_ttl", 2592000)]
    # unchanged on the next start: nothing to do, nothing logged
    out = run("  retention: 30d\n")
    assert "target.retention" not in out
    # a fresh collection: sdl creates ts_1 with the TTL at once
    target.db.row_changes.drop()
    target.db.binlog_offsets.delete_many({})
    run("  retention: 12h\n")
    assert [(ix["name"], ix["expireAfterSeconds"]) for ix in ts_index(target)] == [("ts_1", 43200)]
    # and without retention a fresh collection has a plain ts_1
    target.db.row_changes.drop()
    target.db.binlog_offsets.delete_many({})
    run("")
    assert [(ix["name"], ix.get("expireAfterSeconds")) for ix in ts_index(target)] == [("ts_1", None)]
    # a plain index gets a TTL in place when retention is set
    out = run("  retention: 90s\n")
    assert "to 90 s (target.retention; it was none)" in out, out
    assert [(ix["name"], ix["expireAfterSeconds"]) for ix in ts_index(target)] == [("ts_1", 90)]
    assert offset(target)["gtid"] == g
