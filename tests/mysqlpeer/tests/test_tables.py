"""The peer's tables (peerlib/tables.py) through pymysql, as a test or sdl's snapshot uses
them: DDL, INSERT (… ON DUPLICATE KEY UPDATE, IGNORE), UPDATE, DELETE, SELECT with typed
results, information_schema, MySQL's errors, FLUSH TABLES WITH READ LOCK holding off other
sessions' writes, and a consistent snapshot that does not see later writes. The expected
values are written here by hand from MySQL 8.4's documented behaviour."""
import datetime
import decimal
import json
import threading
import time

import pymysql
import pytest

U = "3e11fa47-71ca-11e1-9e33-c80aa9429562"


@pytest.fixture
def peer(make_peer):
    return make_peer(server_uuid=U)


def connect(p):
    return pymysql.connect(host=p.host, port=p.port, user=p.user, password=p.password,
                           autocommit=True, charset="utf8mb4")


def make_table(c):
    with c.cursor() as cur:
        cur.execute("CREATE DATABASE app")
        cur.execute("CREATE TABLE app.t (id INT NOT NULL, v INT NOT NULL DEFAULT 0, "
                    "s VARCHAR(8), de DECIMAL(8,2), dt DATETIME(3), bl VARBINARY(4), "
                    "db DOUBLE, u BIGINT UNSIGNED, PRIMARY KEY (id)) ENGINE=InnoDB")


def test_writes_and_typed_reads(peer):
    c = connect(peer)
    make_table(c)
    with c.cursor() as cur:
        n = cur.execute("INSERT INTO app.t (id, s, de, dt, bl, db, u) VALUES (%s, %s, %s, %s, "
                        "%s, %s, %s), (2, NULL, -1.005, '2024-01-02 03:04:05.1239', "
                        "X'00ff', -0.5, 0)",
                        (1, "héllo", decimal.Decimal("12.345"), "2024-05-06 07:08:09.5",
                         b"\x01'\\", 1.5e10, 18446744073709551615))
        assert n == 2
        cur.execute("UPDATE app.t SET v = v + 5, s = 'x' WHERE id = 2")
        cur.execute("SELECT * FROM app.t ORDER BY id")
        rows = cur.fetchall()
        names = [d[0] for d in cur.description]
    assert names == ["id", "v", "s", "de", "dt", "bl", "db", "u"]
    assert rows == (
        (1, 0, "héllo", decimal.Decimal("12.35"),
         datetime.datetime(2024, 5, 6, 7, 8, 9, 500000), b"\x01'\\", 1.5e10,
         18446744073709551615),
        (2, 5, "x", decimal.Decimal("-1.01"), datetime.datetime(2024, 1, 2, 3, 4, 5, 124000),
         b"\x00\xff", -0.5, 0))
    with c.cursor() as cur:
        assert cur.execute("DELETE FROM app.t WHERE id BETWEEN 0 AND 1") == 1
        cur.execute("SELECT id FROM app.t")
        assert cur.fetchall() == ((2,),)


def test_errors_are_mysqls(peer):
    c = connect(peer)
    make_table(c)
    cases = [
        ("INSERT INTO app.t (id) VALUES (1), (1)", 1062, "Duplicate entry '1' for key 't.PRIMARY'"),
        ("INSERT INTO app.t (id, s) VALUES (3, 'too long!')", 1406,
         "Data too long for column 's' at row 1"),
        ("INSERT INTO app.t (s) VALUES ('x')", 1364, "Field 'id' doesn't have a default value"),
        ("INSERT INTO app.t (id, u) VALUES (4, -1)", 1264, "Out of range value for column 'u'"),
        ("SELECT * FROM app.nope", 1146, "Table 'app.nope' doesn't exist"),
        ("SELECT nope FROM app.t", 1054, "Unknown column 'nope'"),
        ("CREATE DATABASE app", 1007, "database exists"),
        ("BEGIN", 1235, "transactions of several statements"),
        ("SELECT id FROM app.t GROUP BY id", 1064, "syntax"),
    ]
    with c.cursor() as cur:
        for sql, code, text in cases:
            with pytest.raises(pymysql.MySQLError) as ei:
                cur.execute(sql)
            assert ei.value.args[0] == code, (sql, ei.value.args)
            assert text in ei.value.args[1], (sql, ei.value.args)
        cur.execute("SELECT id FROM app.t")
        assert cur.fetchall() == ()  # the failed statements wrote nothing


def test_on_duplicate_key_update_and_ignore(peer):
    c = connect(peer)
    with c.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS sdl")
        cur.execute("CREATE TABLE IF NOT EXISTS sdl.watermarks (pipeline VARCHAR(64) NOT NULL "
                    "PRIMARY KEY, token VARCHAR(64) NOT NULL) ENGINE=InnoDB")
        cur.execute("CREATE TABLE IF NOT EXISTS sdl.watermarks (pipeline VARCHAR(64) NOT NULL "
                    "PRIMARY KEY, token VARCHAR(64) NOT NULL) ENGINE=InnoDB")
        sql = ("INSERT INTO `sdl`.`watermarks` (pipeline, token) VALUES ('p', '{}') ON "
               "DUPLICATE KEY UPDATE token = VALUES(token)")
        assert cur.execute(sql.format("a")) == 1
        assert cur.execute(sql.format("b")) == 2
        assert cur.execute("INSERT IGNORE INTO sdl.watermarks VALUES ('p', 'c')") == 0
        cur.execute("SELECT pipeline, token FROM sdl.watermarks")
        assert cur.fetchall() == (("p", "b"),)


def test_information_schema(peer):
    c = connect(peer)
    make_table(c)
    with c.cursor() as cur:
        cur.execute("CREATE TABLE app.k (a INT NOT NULL, b VARCHAR(12) NOT NULL, "
                    "PRIMARY KEY (a, b), UNIQUE KEY bk (b))")
        cur.execute("INSERT INTO app.k VALUES (1, 'x'), (2, 'y')")
        cur.execute("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE "
                    "TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ('mysql', "
                    "'information_schema', 'performance_schema', 'sys')")
        assert sorted(cur.fetchall()) == [("app", "k"), ("app", "t")]
        cur.execute("SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                    "'app' AND TABLE_NAME = 'k'")
        assert cur.fetchall() == (("2",),)
        cur.execute("SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, "
                    "CHARACTER_SET_NAME, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION "
                    "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'app' AND "
                    "TABLE_NAME = 't' ORDER BY ORDINAL_POSITION")
        cols = cur.fetchall()
        assert cols[0] == ("id", "int", "int", "NO", None, "10", "0", None)
        assert cols[2] == ("s", "varchar", "varchar(8)", "YES", "utf8mb4", None, None, None)
        assert cols[3] == ("de", "decimal", "decimal(8,2)", "YES", None, "8", "2", None)
        assert cols[4] == ("dt", "datetime", "datetime(3)", "YES", None, None, None, "3")
        assert cols[5][:5] == ("bl", "varbinary", "varbinary(4)", "YES", None)  # NULL: binary
        assert cols[7][:3] == ("u", "bigint", "bigint unsigned")
        cur.execute("SELECT INDEX_NAME, COLUMN_NAME, SUB_PART FROM information_schema.STATISTICS "
                    "WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = 'k' AND NON_UNIQUE = 0")
        assert cur.fetchall() == (("PRIMARY", "a", None), ("PRIMARY", "b", None),
                                  ("bk", "b", None))


def test_read_lock_holds_off_writes_and_a_consistent_snapshot_keeps_its_rows(peer):
    a, b = connect(peer), connect(peer)
    make_table(a)
    with a.cursor() as ca, b.cursor() as cb:
        ca.execute("INSERT INTO app.t (id) VALUES (1)")
        ca.execute("FLUSH TABLES WITH READ LOCK")
        done = []
        t = threading.Thread(target=lambda: done.append(
            cb.execute("INSERT INTO app.t (id) VALUES (2)")))
        t.start()
        time.sleep(0.5)
        assert not done, "a write went through a global read lock"
        ca.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        ca.execute("UNLOCK TABLES")
        t.join(10)
        assert done == [1]
        ca.execute("SELECT id FROM app.t")
        assert ca.fetchall() == ((1,),)      # the snapshot's rows
        ca.execute("COMMIT")
        ca.execute("SELECT id FROM app.t")
        assert ca.fetchall() == ((1,), (2,))


def test_enum_set_json_and_the_column_checks(peer):
    c = connect(peer)
    with c.cursor() as cur:
        cur.execute("CREATE DATABASE app")
        cur.execute("CREATE TABLE app.e (id INT PRIMARY KEY, en ENUM('red','green'), "
                    "st SET('a','b','c'), js JSON)")
        cur.execute("INSERT INTO app.e VALUES (1, 'GREEN', 'c,a', '{\"b\": [1, 2.5], \"a\": null}')")
        cur.execute("INSERT INTO app.e VALUES (2, 1, 5, NULL)")
        cur.execute("SELECT * FROM app.e")
        rows = cur.fetchall()
        assert rows[0][:3] == (1, "green", "a,c")
        assert json.loads(rows[0][3]) == {"a": None, "b": [1, 2.5]}
        assert rows[1] == (2, "red", "a,c", None)
        for sql, code in [("INSERT INTO app.e (id, en) VALUES (3, 'blue')", 1265),
                          ("INSERT INTO app.e (id, js) VALUES (3, '{bad')", 3140)]:
            with pytest.raises(pymysql.MySQLError) as ei:
                cur.execute(sql)
            assert ei.value.args[0] == code, (sql, ei.value.args)
