"""sdl tail against a real mariadbd, one test per type family: SQL runs on the server, and
the JSON lines sdl prints must equal the expected row_changes documents (values as relaxed
Extended JSON), edge values included."""
import itertools

import pytest

_counter = itertools.count()


def run_rows(sdl, mariadb, ddl, inserts, session=()):
    """Creates a fresh table from @ddl (with {t} for its name), runs @inserts, and returns
    the `after` images of the insert documents sdl tail prints for that table, in order."""
    name = f"t{next(_counter)}"
    before = mariadb.gtid_binlog_pos()
    statements = ["CREATE DATABASE IF NOT EXISTS types", ddl.replace("{t}", f"types.{name}")]
    statements += list(session)
    statements += [s.replace("{t}", f"types.{name}") for s in inserts]
    mariadb.sql(*statements)
    docs = sdl.tail("--include", f"types.{name}", start=before)
    rows = [d for d in docs if d["op"] != "ddl"]
    assert rows, f"no rows decoded for {name}"
    for d in rows:
        assert d["db"] == "types" and d["table"] == name
    return rows


def afters(rows):
    return [r["after"] for r in rows]


def test_integers_all_widths_signed_and_unsigned_edges(sdl, mariadb):
    rows = run_rows(sdl, mariadb, """CREATE TABLE {t} (id INT PRIMARY KEY,
        ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED,
        mi MEDIUMINT, mu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED,
        bi BIGINT, bu BIGINT UNSIGNED)""", [
        "INSERT INTO {t} VALUES (1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, "
        "-9223372036854775808, 0)",
        "INSERT INTO {t} VALUES (2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, "
        "4294967295, 9223372036854775807, 18446744073709551615)",
        "INSERT INTO {t} VALUES (3, -1, 1, -1, 1, -1, 1, -1, 1, -1, 9223372036854775808)",
    ])
    assert afters(rows) == [
        {"id": 1, "ti": -128, "tu": 0, "si": -32768, "su": 0, "mi": -8388608, "mu": 0,
         "i": -2147483648, "iu": 0, "bi": -9223372036854775808, "bu": 0},
        {"id": 2, "ti": 127, "tu": 255, "si": 32767, "su": 65535, "mi": 8388607, "mu": 16777215,
         "i": 2147483647, "iu": 4294967295, "bi": 9223372036854775807,
         "bu": {"$numberDecimal": "18446744073709551615"}},
        {"id": 3, "ti": -1, "tu": 1, "si": -1, "su": 1, "mi": -1, "mu": 1, "i": -1, "iu": 1,
         "bi": -1, "bu": {"$numberDecimal": "9223372036854775808"}},
    ]
    assert rows[0]["pk"] == {"id": 1}
    assert rows[0]["_id"] == f"test:{rows[0]['gtid']}:1"


def test_decimal_float_double(sdl, mariadb):
    rows = run_rows(sdl, mariadb, """CREATE TABLE {t} (id INT PRIMARY KEY,
        d1 DECIMAL(10,2), d2 DECIMAL(65,30), d3 DECIMAL(34,0), d4 DECIMAL(5,5),
        f FLOAT, d DOUBLE)""", [
        "INSERT INTO {t} VALUES (1, -12345678.90, "
        "'99999999999999999999999999999999999.999999999999999999999999999999', "
        "-9999999999999999999999999999999999, -0.00001, 1.1, -2.5e-300)",
        "INSERT INTO {t} VALUES (2, 0, 0, 0, 0, 0, 0)",
        "INSERT INTO {t} VALUES (3, 0.10, '-0.000000000000000000000000000001', 1, 0.12345, "
        "-3.4e38, 1.7976931348623157e308)",
    ])
    assert afters(rows) == [
        {"id": 1, "d1": {"$numberDecimal": "-12345678.90"},
         "d2": "99999999999999999999999999999999999.999999999999999999999999999999",
         "d3": {"$numberDecimal": "-9999999999999999999999999999999999"},
         "d4": {"$numberDecimal": "-0.00001"}, "f": 1.1, "d": -2.5e-300},
        {"id": 2, "d1": {"$numberDecimal": "0.00"},
         "d2": "0.000000000000000000000000000000",
         "d3": {"$numberDecimal": "0"}, "d4": {"$numberDecimal": "0.00000"}, "f": 0.0, "d": 0.0},
        {"id": 3, "d1": {"$numberDecimal": "0.10"},
         "d2": "-0.000000000000000000000000000001",
         "d3": {"$numberDecimal": "1"}, "d4": {"$numberDecimal": "0.12345"},
         "f": -3.4e38, "d": 1.7976931348623157e308},
    ]


def test_decimal_scales_beyond_mysqls_30(sdl, mariadb):
    # MariaDB allows a DECIMAL scale up to 38 (MySQL: 30)
    rows = run_rows(sdl, mariadb, """CREATE TABLE {t} (id INT PRIMARY KEY,
        a DECIMAL(34,34), b DECIMAL(38,38), c DECIMAL(65,38))""", [
        "INSERT INTO {t} VALUES (1, 0.1234567890123456789012345678901234, "
        "-0.12345678901234567890123456789012345678, "
        "123456789012345678901234567.12345678901234567890123456789012345678)",
    ])
    assert afters(rows) == [
        {"id": 1, "a": {"$numberDecimal": "0.1234567890123456789012345678901234"},
         "b": "-0.12345678901234567890123456789012345678",
         "c": "123456789012345678901234567.12345678901234567890123456789012345678"},
    ]


def test_bit_and_year(sdl, mariadb):
    rows = run_rows(sdl, mariadb, """CREATE TABLE {t} (id INT PRIMARY KEY,
        b1 BIT(1), b5 BIT(5), b64 BIT(64), y YEAR)""", [
        "INSERT INTO {t} VALUES (1, b'1', b'10101', b'1111111111111111111111111111111111111111111111111111111111111111', 1901)",
        "INSERT INTO {t} VALUES (2, b'0', b'0', b'0111111111111111111111111111111111111111111111111111111111111111', 2155)",
        "INSERT INTO {t} VALUES (3, NULL, NULL, b'1', 0)",
    ])
    assert afters(rows) == [
        {"id": 1, "b1": 1, "b5": 21, "b64": -1, "y": 1901},
        {"id": 2, "b1": 0, "b5": 0, "b64": 9223372036854775807, "y": 2155},
        {"id": 3, "b1": None, "b5": None, "b64": 1, "y": 0},
    ]


def test_temporal_types_with_every_fsp(sdl, mariadb):
    cols = ", ".join(f"dt{p} DATETIME({p}), ts{p} TIMESTAMP({p}) NULL, tm{p} TIME({p})"
                     for p in range(7))
    vals1 = ", ".join(f"'2024-02-29 23:59:58.123456', '2038-01-19 03:14:07.999999', "
                      f"'-838:59:59.000000'" for p in range(7))
    vals2 = ", ".join(f"'1000-01-01 00:00:00', '1970-01-01 00:00:01', '100:00:00.5'"
                      for p in range(7))
    rows = run_rows(sdl, mariadb, "CREATE TABLE {t} (id INT PRIMARY KEY, d DATE, " + cols + ")", [
        "INSERT INTO {t} VALUES (1, '2024-02-29', " + vals1 + ")",
        "INSERT INTO {t} VALUES (2, '1000-01-01', " + vals2 + ")",
    ], session=["SET SESSION time_zone='+00:00'"])
    a1, a2 = afters(rows)
    assert a1["d"] == {"$date": "2024-02-29T00:00:00Z"}
    assert a2["d"] == {"$date": {"$numberLong": str(-30610224000000)}}
    frac = ["", ".1", ".12", ".123", ".123", ".123", ".123"]
    for p in range(7):
        # DATETIME(p) keeps p digits (rounded by the server), BSON keeps milliseconds.
        ms = {0: "", 1: ".100", 2: ".120", 3: ".123", 4: ".123", 5: ".123", 6: ".123"}[p]
        sec = "58"
        if p == 0:
            sec = "58"  # MariaDB truncates fractional seconds on insert (no rounding)
        assert a1[f"dt{p}"] == {"$date": f"2024-02-29T23:59:{sec}{ms}Z"}, p
        tms = {0: "", 1: ".900", 2: ".990", 3: ".999", 4: ".999", 5: ".999", 6: ".999"}[p]
        assert a1[f"ts{p}"] == {"$date": f"2038-01-19T03:14:07{tms}Z"}, p
        assert a1[f"tm{p}"] == "-838:59:59" + ("." + "0" * p if p else ""), p
        assert a2[f"tm{p}"] == "100:00:00" + ("." + ("5" + "0" * (p - 1)) if p else ""), p
        assert a2[f"ts{p}"] == {"$date": "1970-01-01T00:00:01Z"}, p
    del frac


def test_zero_and_partial_dates_are_text_never_wrong_dates(sdl, mariadb):
    rows = run_rows(sdl, mariadb, """CREATE TABLE {t} (id INT PRIMARY KEY, d DATE,
        dt DATETIME(2), ts TIMESTAMP NULL)""", [
        "INSERT INTO {t} VALUES (1, '0000-00-00', '0000-00-00 00:00:00.00', '0000-00-00 00:00:00')",
        "INSERT INTO {t} VALUES (2, '2024-00-15', '2024-05-00 10:11:12.50', NULL)",
    ], session=["SET SESSION sql_mode=''"])
    assert afters(rows) == [
        {"id": 1, "d": "0000-00-00", "dt": "0000-00-00 00:00:00.00", "ts": "0000-00-00 00:00:00"},
        {"id": 2, "d": "2024-00-15", "dt": "2024-05-00 10:11:12.50", "ts": None},
    ]


def test_strings_in_every_charset(sdl, mariadb):
    rows = run_rows(sdl, mariadb, """CREATE TABLE {t} (id INT PRIMARY KEY,
        u4 VARCHAR(20) CHARACTER SET utf8mb4, u3 VARCHAR(20) CHARACTER SET utf8mb3,
        l1 VARCHAR(20) CHARACTER SET latin1, c4 CHAR(3) CHARACTER SET utf8mb4,
        cl CHAR(200) CHARACTER SET utf8mb4, bin VARCHAR(10) CHARACTER SET binary,
        tx TEXT CHARACTER SET utf8mb4, mt MEDIUMTEXT CHARACTER SET latin1,
        lt LONGTEXT) DEFAULT CHARSET=utf8mb4""", [
        "INSERT INTO {t} VALUES (1, 'Zoë 😀', 'Ünïcödé', 'Grüße €', 'ab', REPEAT('é', 200), "
        "'a\\0b', 'tëxt', 'latin ½', 'long')",
        "INSERT INTO {t} VALUES (2, '', '', '', '', '', '', '', '', '')",
    ])
    assert afters(rows) == [
        {"id": 1, "u4": "Zoë 😀", "u3": "Ünïcödé", "l1": "Grüße €", "c4": "ab",
         "cl": "é" * 200, "bin": {"$binary": {"base64": "YQBi", "subType": "00"}},
         "tx": "tëxt", "mt": "latin ½", "lt": "long"},
        {"id": 2, "u4": "", "u3": "", "l1": "", "c4": "", "cl": "",
         "bin": {"$binary": {"base64": "", "subType": "00"}}, "tx": "", "mt": "", "lt": ""},
    ]


def test_binary_types(sdl, mariadb):
    rows = run_rows(sdl, mariadb, """CREATE TABLE {t} (id INT PRIMARY KEY, b BINARY(4),
        vb VARBINARY(300), tb TINYBLOB, bl BLOB, mb MEDIUMBLOB, lb LONGBLOB)""", [
        "INSERT INTO {t} VALUES (1, x'0102', REPEAT(x'ff', 300), x'', x'00ff', x'41', x'4243')",
    ])
    b64 = lambda s: {"$binary": {"base64": s, "subType": "00"}}  # noqa: E731
    import base64
    assert afters(rows) == [{
        "id": 1, "b": b64("AQIAAA=="), "vb": b64(base64.b64encode(b"\xff" * 300).decode()),
        "tb": b64(""), "bl": b64("AP8="), "mb": b64("QQ=="), "lb": b64("QkM=")}]


def test_enum_and_set(sdl, mariadb):
    members = ",".join(f"'m{i}'" for i in range(64))
    enum300 = ",".join(f"'e{i}'" for i in range(300))
    rows = run_rows(sdl, mariadb, f"""CREATE TABLE {{t}} (id INT PRIMARY KEY,
        e ENUM('a','b','c'), e2 ENUM({enum300}), s SET('x','y','z'), s64 SET({members}))""", [
        "INSERT INTO {t} VALUES (1, 'b', 'e299', 'x,z', 'm0,m63')",
        "INSERT INTO {t} VALUES (2, NULL, 'e0', '', '')",
    ])
    assert afters(rows) == [
        {"id": 1, "e": "b", "e2": "e299", "s": ["x", "z"], "s64": ["m0", "m63"]},
        {"id": 2, "e": None, "e2": "e0", "s": [], "s64": []},
    ]


def test_json_columns_become_native_bson(sdl, mariadb):
    rows = run_rows(sdl, mariadb, """CREATE TABLE {t} (id INT PRIMARY KEY, j JSON,
        notjson LONGTEXT)""", [
        """INSERT INTO {t} VALUES (1, '{"a": [1, 2.5, "x", true, null, {"b": {}}], "big": 12345678901}', '{"a":1}')""",
        """INSERT INTO {t} VALUES (2, '"just a string"', NULL)""",
        """INSERT INTO {t} VALUES (3, '[]', '[]')""",
        """INSERT INTO {t} VALUES (4, NULL, 'x')""",
    ])
    assert afters(rows) == [
        {"id": 1, "j": {"a": [1, 2.5, "x", True, None, {"b": {}}], "big": 12345678901},
         "notjson": '{"a":1}'},
        {"id": 2, "j": "just a string", "notjson": None},
        {"id": 3, "j": [], "notjson": "[]"},
        {"id": 4, "j": None, "notjson": "x"},
    ]


def test_geometry_as_geojson_with_srid(sdl, mariadb):
    rows = run_rows(sdl, mariadb, """CREATE TABLE {t} (id INT PRIMARY KEY, g GEOMETRY,
        p POINT)""", [
        "INSERT INTO {t} VALUES (1, ST_GeomFromText('LINESTRING(0 0, 1 1.5)', 4326), POINT(3, 4))",
        "INSERT INTO {t} VALUES (2, ST_GeomFromText('POLYGON((0 0, 4 0, 4 4, 0 0))'), NULL)",
        "INSERT INTO {t} VALUES (3, ST_GeomFromText('MULTIPOINT(1 1, 2 2)'), NULL)",
    ])
    assert afters(rows) == [
        {"id": 1, "g": {"type": "LineString", "coordinates": [[0.0, 0.0], [1.0, 1.5]], "srid": 4326},
         "p": {"type": "Point", "coordinates": [3.0, 4.0], "srid": 0}},
        {"id": 2, "g": {"type": "Polygon",
                        "coordinates": [[[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 0.0]]],
                        "srid": 0}, "p": None},
        {"id": 3, "g": {"type": "MultiPoint", "coordinates": [[1.0, 1.0], [2.0, 2.0]], "srid": 0},
         "p": None},
    ]


def test_nulls_everywhere(sdl, mariadb):
    rows = run_rows(sdl, mariadb, """CREATE TABLE {t} (id INT PRIMARY KEY, a INT, b VARCHAR(5),
        c DECIMAL(5,2), d DATETIME, e BLOB, f JSON, g ENUM('x'), h SET('y'), i BIT(3),
        j DOUBLE, k TIME)""", [
        "INSERT INTO {t} (id) VALUES (1)",
    ])
    assert afters(rows) == [{"id": 1, "a": None, "b": None, "c": None, "d": None, "e": None,
                             "f": None, "g": None, "h": None, "i": None, "j": None, "k": None}]


def test_updates_deletes_and_changed_columns(sdl, mariadb):
    before = mariadb.gtid_binlog_pos()
    mariadb.sql("CREATE DATABASE IF NOT EXISTS types",
                "CREATE TABLE types.upd (a INT, b INT, v VARCHAR(10), PRIMARY KEY (b, a))",
                "INSERT INTO types.upd VALUES (1, 2, 'x'), (3, 4, 'y')",
                "UPDATE types.upd SET v = 'z' WHERE a = 1",
                "UPDATE types.upd SET a = 10 WHERE a = 3",
                "DELETE FROM types.upd")
    docs = [d for d in sdl.tail("--include", "types.upd", start=before) if d["op"] != "ddl"]
    assert [d["op"] for d in docs] == ["insert", "insert", "update", "update", "delete", "delete"]
    # composite key, in key order (b, a)
    assert docs[0]["pk"] == {"b": 2, "a": 1} and list(docs[0]["pk"]) == ["b", "a"]
    assert docs[2]["before"] == {"a": 1, "b": 2, "v": "x"}
    assert docs[2]["after"] == {"a": 1, "b": 2, "v": "z"}
    assert docs[2]["changed"] == ["v"]
    assert docs[3]["changed"] == ["a"] and docs[3]["pk"] == {"b": 4, "a": 3}
    assert "after" not in docs[4] and docs[4]["before"] == {"a": 1, "b": 2, "v": "z"}
    # one multi-row statement = one transaction: seq counts its rows
    assert docs[0]["gtid"] == docs[1]["gtid"] and [docs[0]["seq"], docs[1]["seq"]] == [1, 2]
    assert docs[4]["gtid"] == docs[5]["gtid"]
    for d in docs:
        assert d["_id"] == f"test:{d['gtid']}:{d['seq']}"
        assert d["binlog"]["file"].startswith("binlog.") and d["binlog"]["pos"] > 4
        assert "$date" in d["ts"]


def test_table_without_primary_key_has_no_pk(sdl, mariadb):
    rows = run_rows(sdl, mariadb, "CREATE TABLE {t} (a INT, b INT)", [
        "INSERT INTO {t} VALUES (1, 2)"])
    assert "pk" not in rows[0] and rows[0]["after"] == {"a": 1, "b": 2}
