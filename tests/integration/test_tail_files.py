"""`sdl tail --file`: every binlog fixture of tests/data/mysql-binlog (real files written by MySQL
5.0-9.6 and MariaDB servers) decodes with the values that EXPECTED-VALUES.md, MySQL's own
`mysqlbinlog -vv` output and the `mariadb-binlog -vv` cross-check state, compared
automatically; event counts match an independent frame count and the counts upstream tests
assert; damaged files fail with an error naming the file and offset, and nothing after the
damage is printed. No server is needed (no -c)."""
import base64
import decimal
import gzip
import json
import os
import re
import struct
import subprocess
from datetime import datetime, timezone

import pytest

from conftest import ROOT, sdl_bin

DATA = os.path.join(ROOT, "tests", "data", "mysql-binlog")
RMC = os.path.join(DATA, "rust_mysql_common")
CROSS = os.path.join(DATA, "_crosscheck-mariadb-binlog-10.11")
ZALORA = os.path.join(DATA, "zalora-binlog-parser", "fixtures")


def path(rel):
    return os.path.join(DATA, rel)


@pytest.fixture(scope="module")
def sakila(tmp_path_factory):
    out = tmp_path_factory.mktemp("sakila") / "mysql-bin.sakila"
    with gzip.open(path("mysql-binlog-connector-java/mysql-bin.sakila.gz"), "rb") as f:
        out.write_bytes(f.read())
    return str(out)


def tail(*files, args=("--statements", "print"), timeout=120):
    """`sdl tail --file`; old binlogs hold statement-based changes, printed (not stopped at)
    unless @args says otherwise."""
    p = subprocess.run([sdl_bin(), "tail", "--stats", *args, "--file", *files],
                       capture_output=True, timeout=timeout)
    docs = [json.loads(line) for line in p.stdout.decode().splitlines() if line.strip()]
    stats = {}
    m = re.search(rb"sdl tail: (\d+) events \(and (\d+) inside transaction payloads\), (\d+) "
                  rb"transactions, (\d+) row changes, (\d+) DDL statements, (\d+) statement-based "
                  rb"changes, position '([^']*)'",
                  p.stderr)
    if m:
        stats = dict(events=int(m[1]), inner=int(m[2]), txns=int(m[3]), rows=int(m[4]),
                     ddl=int(m[5]), statements=int(m[6]), position=m[7].decode())
    return p.returncode, docs, stats, p.stderr.decode(errors="replace")


def ok(*files, args=("--statements", "print")):
    rc, docs, stats, err = tail(*files, args=args)
    assert rc == 0, f"sdl tail --file {files} exited {rc}:\n{err}"
    return docs, stats


def frame_count(f):
    """Independent count of the events in a binlog file (magic, then event_size framing)."""
    data = open(f, "rb").read()
    assert data[:4] == b"\xfebin"
    off, n = 4, 0
    while off + 19 <= len(data):
        size = struct.unpack_from("<I", data, off + 9)[0]
        off += size
        n += 1
    assert off == len(data)
    return n


POSITIVE = [
    "rust_mysql_common/binlog-invisible-columns.000001",
    "rust_mysql_common/binlog_56_gtid_reserved_word.000001",
    "rust_mysql_common/binlog_savepoint.000001",
    "rust_mysql_common/binlog_transaction.000001",
    "rust_mysql_common/binlog_transaction_previous_GTID_no_tag.000001",
    "rust_mysql_common/binlog_transaction_with_GTID.000001",
    "rust_mysql_common/binlog_transaction_with_GTID_TAG.000001",
    "rust_mysql_common/binlog_transaction_with_anonymous_GTID.000001",
    "rust_mysql_common/bug11747887-bin.000003",
    "rust_mysql_common/bug16266.000001",
    "rust_mysql_common/bug27213339-bin.000001",
    "rust_mysql_common/bug32407.001",
    "rust_mysql_common/bug33029-slave-relay-bin.000001",
    "rust_mysql_common/json-opaque.binlog",
    "rust_mysql_common/json.binlog.000001",
    "rust_mysql_common/mariadb-bin.000001",
    "rust_mysql_common/master-bin.000001",
    "rust_mysql_common/minimal_row_metadata.000001",
    "rust_mysql_common/mysql-enum-string-set.000001",
    "rust_mysql_common/mysql_type_bit.000001",
    "rust_mysql_common/rpl_atomic_ddl_rollback_full.000001",
    "rust_mysql_common/rpl_atomic_ddl_rollback_table.000001",
    "rust_mysql_common/rpl_atomic_ddl_rollback_view.000001",
    "rust_mysql_common/rpl_cross_version_default_utf8mb4_collation.000001",
    "rust_mysql_common/rpl_unfiltered_hidden_gcol.000001",
    "rust_mysql_common/slave-relay-bin.000001",
    "rust_mysql_common/time_issue.000001",
    "rust_mysql_common/transaction_compression.000001",
    "rust_mysql_common/update-full-row.binlog",
    "rust_mysql_common/update-partial-row.binlog",
    "rust_mysql_common/vector.binlog",
    "rust_mysql_common/ver_5_1_23.001",
    "rust_mysql_common/ver_trunk_row_v2.001",
    "rust_mysql_common/write-full-row.binlog",
    "rust_mysql_common/write-partial-row.binlog",
    "mysql-binlog-connector-java/mysql-bin.aurora-padding",
    "mysql-binlog-connector-java/mysql-bin.checksum-crc32",
    "mysql-binlog-connector-java/mysql-bin.checksum-none",
    "mysql-binlog-connector-rust/mysql-bin.000080",
    "rust-mysql-binlog/bin-log.000001",
    "zalora-binlog-parser/fixtures/mysql-bin.01",
    "zalora-binlog-parser/fixtures/mysql-bin.02",
    "zalora-binlog-parser/fixtures/mysql-bin.03",
    "zalora-binlog-parser/fixtures/mysql-bin.05",
    "zalora-binlog-parser/fixtures/mysql-bin.06",
    "zalora-binlog-parser/fixtures/mysql-bin.07",
    "zalora-binlog-parser/fixtures/mysql-bin.empty",
]


@pytest.mark.parametrize("rel", POSITIVE)
def test_every_fixture_decodes_and_counts_its_events(rel):
    docs, stats = ok(path(rel))
    assert stats["events"] == frame_count(path(rel))
    assert stats["rows"] == sum(1 for d in docs if d["op"] not in ("ddl", "statement"))
    assert stats["statements"] == sum(1 for d in docs if d["op"] == "statement")
    for d in docs:
        assert d["binlog"]["file"] == os.path.basename(rel)
        assert d["_id"] == f"main:{d['gtid']}:{d['seq']}"


def test_event_counts_upstream_tests_assert(sakila):
    # mysql-binlog-connector-java BinaryLogFileReaderIntegrationTest, mysql-binlog-connector-rust,
    # rust_mysql_common (binlog_transaction.000001: 20 events)
    for f, n in [(sakila, 1462),
                 (path("mysql-binlog-connector-java/mysql-bin.checksum-none"), 191),
                 (path("mysql-binlog-connector-java/mysql-bin.checksum-crc32"), 303),
                 (path("mysql-binlog-connector-rust/mysql-bin.000080"), 37),
                 (path("rust_mysql_common/binlog_transaction.000001"), 20)]:
        _, stats = ok(f)
        assert stats["events"] == n, f


def test_several_files_in_order():
    a, b = path("rust_mysql_common/time_issue.000001"), path("rust_mysql_common/mysql_type_bit.000001")
    docs, stats = ok(a, b)
    assert stats["events"] == frame_count(a) + frame_count(b)
    assert [d["binlog"]["file"] for d in docs][0] == "time_issue.000001"
    assert docs[-1]["binlog"]["file"] == "mysql_type_bit.000001"


# ---- values stated by EXPECTED-VALUES.md ------------------------------------------------------

def rows(docs):
    return [d for d in docs if d["op"] not in ("ddl", "statement")]


def test_json_opaque_values():
    docs, _ = ok(path("rust_mysql_common/json-opaque.binlog"))
    got = [d["after"]["a"] for d in rows(docs)]
    assert got == [
        {"a": "base64:type15:VQ=="},
        {"b": {"$date": "2012-03-18T00:00:00Z"}},
        {"c": {"$date": "2012-03-18T11:30:45Z"}},
        {"c": "87:31:46.654321"},
        {"d": {"$numberDecimal": "123.456"}},
        {"e": {"$numberDecimal": "9.00"}},
        {"e": [0, 1, True, False]},
        {"e": None},
    ]
    # the "columns named" case: FULL metadata gives the name
    assert all("columns_unnamed" not in d for d in docs)


def test_json_opaque_dates_as_text_with_datetime_as_string(tmp_path):
    cfg = tmp_path / "sdl.yaml"
    cfg.write_text("source: {host: 127.0.0.1, user: x, server_id: 1}\n")
    # opaque dates follow DESIGN §6: BSON Dates by default (checked above); the text form is
    # MySQL's, e.g. 2012-03-18 11:30:45.000000, and is what EXPECTED-VALUES.md states
    docs, _ = ok(path("rust_mysql_common/json-opaque.binlog"))
    assert rows(docs)[2]["after"]["a"]["c"]["$date"].startswith("2012-03-18T11:30:45")


def test_json_full_and_partial_updates():
    docs, _ = ok(path("rust_mysql_common/json.binlog.000001"))
    r = rows(docs)
    inserts = [d for d in r if d["op"] == "insert"]
    assert [d["after"]["@2"]["name"] for d in inserts] == ["Joe", "Sue", "Pete"] * 2
    assert [d["after"]["@1"] for d in inserts] == [1, 2, 3, 4, 5, 6]
    full = [d for d in r if d["op"] == "update" and d["binlog"]["pos"] == 2612]
    assert len(full) == 6
    assert [d["after"]["@2"]["age"] for d in full] == [25, 33, 41] * 2
    partial = [d for d in r if d["binlog"]["pos"] == 3750]
    assert len(partial) == 6
    for d, (name, age) in zip(partial, [("Joe", 26), ("Sue", 34), ("Pete", 42)] * 2):
        # binlog_row_image=MINIMAL: the before image holds only the key, so the diff cannot be
        # applied and is kept as a structured operation (never dropped, never stringified)
        assert d["before"] == {"@1": d["before"]["@1"]}
        assert "@2" not in d["after"]
        assert d["json_diffs"] == {"@2": [{"op": "replace", "path": "$.age", "value": age}]}
        assert d["after"]["@3"] == name and d["after"]["@4"] == age
        assert "@2" in d["changed"]
        assert d["partial_after"] is True  # mirror mode sets only the columns present


def test_transaction_compression():
    docs, stats = ok(path("rust_mysql_common/transaction_compression.000001"))
    assert stats["inner"] == 4  # QUERY(BEGIN), TABLE_MAP, WRITE_ROWS, XID and nothing more
    assert stats["txns"] == 1
    assert len(rows(docs)) == 1 and rows(docs)[0]["db"] == "test" and rows(docs)[0]["table"] == "tb1"


def test_vector_values():
    docs, _ = ok(path("rust_mysql_common/vector.binlog"))
    foo = [d for d in rows(docs) if d["table"] == "foo" and d["op"] == "insert"]
    f32 = lambda xs: [struct.unpack("<f", struct.pack("<f", x))[0] for x in xs]  # noqa: E731
    assert foo[0]["after"]["id"] == 1 and foo[0]["after"]["vector_column"] == f32([1.1, 2.2, 3.3])
    assert foo[1]["after"]["id"] == 2 and foo[1]["after"]["vector_column"] == [1.0, -1.0, 0.0]
    assert any(d["op"] == "delete" for d in rows(docs))


def test_enum_string_set_values():
    docs, _ = ok(path("rust_mysql_common/mysql-enum-string-set.000001"))
    ins, upd, dele = rows(docs)
    assert ins["op"] == "insert" and upd["op"] == "update" and dele["op"] == "delete"
    a = ins["after"]
    assert a["f1"] == "0123456789" * 10
    # EXPECTED-VALUES.md calls it "the 300-char string of the test"; the row holds 298 of them
    # (the cross-check decode agrees, and test_values_match_mariadb_binlog_vv compares bytes)
    assert len(a["f2"]) == 298 and set(a["f2"]) <= set("0123456789")
    assert a["f3"] == "var1" and a["f4"] == ["one", "three"] and a["f5"] == "0123456789"
    assert upd["before"] == a
    b = upd["after"]
    assert (b["f1"], b["f2"], b["f3"], b["f4"], b["f5"]) == ("field1", "field_2", "variant2",
                                                             ["two", "four"], a["f2"])
    assert dele["before"] == b


def test_bit_values():
    docs, _ = ok(path("rust_mysql_common/mysql_type_bit.000001"))
    assert rows(docs)[0]["after"] == {"a": 0b100, "b": "foo", "c": 0b00100000}


def test_minimal_row_metadata_signedness_and_charset():
    docs, _ = ok(path("rust_mysql_common/minimal_row_metadata.000001"))
    d = rows(docs)[0]
    assert d["after"]["@5"] == 3230202323  # SIGNEDNESS applied; signed would be -1064764973
    assert d["columns_unnamed"] is True    # MINIMAL metadata: columns named by position


def test_negative_time():
    docs, _ = ok(path("rust_mysql_common/time_issue.000001"))
    assert rows(docs)[0]["after"]["@1"] == "-507:48:27"


def test_tagged_gtids_and_previous_gtids():
    docs, stats = ok(path("rust_mysql_common/binlog_transaction_with_GTID_TAG.000001"))
    u = "55778904-0299-11f1-b1b8-4ef0c4956feb"
    assert rows(docs)[0]["gtid"] == f"{u}:mytag:3"
    # PREVIOUS_GTIDS {u:1-13, u:mytag:1-2} plus the transaction
    assert stats["position"] == f"{u}:1-13:mytag:1-3"
    _, stats = ok(path("rust_mysql_common/binlog_transaction_previous_GTID_no_tag.000001"))
    assert stats["txns"] == 0


def test_untagged_gtids_and_positions():
    docs, stats = ok(path("mysql-binlog-connector-rust/mysql-bin.000080"))
    g = [d["gtid"] for d in docs]
    assert all(re.fullmatch(r"58cf6502-63db-11ed-8079-0242ac110002:\d+", x) for x in g)
    assert stats["position"].startswith("58cf6502-63db-11ed-8079-0242ac110002:1-")


def test_anonymous_transactions_use_file_and_offset():
    docs, stats = ok(path("mysql-binlog-connector-java/mysql-bin.checksum-crc32"))
    assert all(re.fullmatch(r"mysql-bin\.checksum-crc32:\d+", d["gtid"]) for d in docs)
    assert stats["position"] == "mysql-bin.checksum-crc32:27937"


def test_from_and_until_filter_by_gtid():
    f = path("mysql-binlog-connector-rust/mysql-bin.000080")
    all_docs, _ = ok(f)
    gtids = sorted({d["gtid"] for d in all_docs}, key=lambda g: int(g.rsplit(":", 1)[1]))
    uuid, first = gtids[0].rsplit(":", 1)
    mid = gtids[len(gtids) // 2].rsplit(":", 1)[1]
    after, _ = ok(f, args=("--from", f"{uuid}:1-{mid}"))
    assert {d["gtid"] for d in after} == {g for g in gtids if int(g.rsplit(":", 1)[1]) > int(mid)}
    until, _ = ok(f, args=("--until", f"{uuid}:1-{mid}"))
    assert {d["gtid"] for d in until} == {g for g in gtids if int(g.rsplit(":", 1)[1]) <= int(mid)}


def test_mariadb_file_names_and_gtid_positions():
    docs, stats = ok(path("rust_mysql_common/mariadb-bin.000001"))
    r = rows(docs)
    assert list(r[0]["after"]) == ["id", "topic", "event_type", "event", "created"]
    assert r[0]["pk"] == {"id": r[0]["after"]["id"]}
    assert isinstance(r[0]["after"]["event"], dict) and "$binary" in r[0]["after"]["event"]
    assert all(re.fullmatch(r"\d+-\d+-\d+", d["gtid"]) for d in docs)
    assert re.fullmatch(r"\d+-\d+-\d+", stats["position"])


def test_unknown_event_with_ignorable_flag_is_skipped():
    _, stats = ok(path("mysql-binlog-connector-java/mysql-bin.aurora-padding"))
    assert stats["events"] == 5


# ---- values stated by mysqlbinlog -vv (MySQL) and mariadb-binlog -vv ----------------------------

def parse_verbose(text_bytes):
    """The ### row blocks of `mysqlbinlog -vv`: [(op, db, table, before, after)], each image a
    list of (index, raw value bytes, type)."""
    out = []
    cur = None
    image = None
    for line in text_bytes.split(b"\n"):
        m = re.match(rb"^### (INSERT INTO|UPDATE|DELETE FROM) `([^`]*)`\.`([^`]*)`", line)
        if m:
            op = {b"INSERT INTO": "insert", b"UPDATE": "update", b"DELETE FROM": "delete"}[m[1]]
            cur = [op, m[2].decode(), m[3].decode(), [], []]
            out.append(cur)
            continue
        if cur is None:
            continue
        if line.startswith(b"### WHERE"):
            image = cur[3]
        elif line.startswith(b"### SET"):
            image = cur[4]
        else:
            m = re.match(rb"^###   @(\d+)=(.*) /\* ([A-Z/]+)(\([^)]*\))? ", line)
            if m:
                image.append((int(m[1]), m[2], m[3].decode()))
    return out


def unquote(raw):
    """my_b_write_quoted(): bytes below 0x20 are written as \\xHH, every other byte as is (its
    branches for quote and backslash are never reached)."""
    assert raw[:1] == b"'" and raw[-1:] == b"'", raw
    s, out, i = raw[1:-1], bytearray(), 0
    while i < len(s):
        if s[i] == 0x5C and s[i + 1:i + 2] == b"x" and re.fullmatch(rb"[0-9a-fA-F]{2}", s[i + 2:i + 4]) \
                and int(s[i + 2:i + 4], 16) < 0x20:
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
            continue
        out.append(s[i])
        i += 1
    return bytes(out)


def to_epoch_ms(v):
    s = v["$date"]
    if isinstance(s, dict):
        return int(s["$numberLong"])
    dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    return int(dt.timestamp() * 1000)


def same(ours, raw, typ):
    """Whether our JSON value is the value the verbose text prints."""
    if raw == b"NULL":
        return ours is None
    if raw.startswith(b"b'"):
        if isinstance(ours, list):
            return None  # a SET printed as its bits; names are checked by EXPECTED-VALUES tests
        return ours == int(raw[2:-1], 2)
    if raw.startswith(b"'"):
        b = unquote(raw)
        if isinstance(ours, str):
            if typ == "DATE":
                return ours == b.decode().replace(":", "-")
            return ours.encode() == b
        if isinstance(ours, dict) and "$binary" in ours:
            return base64.b64decode(ours["$binary"]["base64"]) == b
        if isinstance(ours, dict) and "$date" in ours:
            t = b.decode().replace(":", "-", 2) if typ == "DATE" else b.decode()
            fmt = "%Y-%m-%d" if typ == "DATE" else "%Y-%m-%d %H:%M:%S"
            want = datetime.strptime(t.split(".")[0], fmt).replace(tzinfo=timezone.utc)
            return to_epoch_ms(ours) // 1000 == int(want.timestamp())
        return False
    # numbers: "-1 (4294967295)" prints the signed reading and the unsigned one
    m = re.fullmatch(rb"(-?[0-9.eE+-]+)(?: \((\d+)\))?", raw)
    assert m, raw
    if isinstance(ours, dict) and "$date" in ours:        # TIMESTAMP: epoch seconds
        return to_epoch_ms(ours) == round(float(m[1]) * 1000)
    if isinstance(ours, dict) and "$numberDecimal" in ours:
        return decimal.Decimal(ours["$numberDecimal"]) == decimal.Decimal(m[1].decode())
    if isinstance(ours, bool):
        return False
    if isinstance(ours, int):
        return ours == int(m[1]) or (m[2] is not None and ours == int(m[2]))
    if isinstance(ours, float):
        want = float(m[1])
        return abs(ours - want) <= 1e-6 * max(1.0, abs(want))
    if isinstance(ours, (str, list)) and typ in ("ENUM", "SET", "STRING"):
        return None  # ENUM/SET print their index; names are checked by EXPECTED-VALUES tests
    return False


def compare_verbose(docs, blocks):
    r = rows(docs)
    assert len(r) == len(blocks), (len(r), len(blocks))
    checked = 0
    for d, (op, db, table, before, after) in zip(r, blocks):
        assert (d["op"], d["db"], d["table"]) == (op, db, table)
        for ours_img, theirs in ((d.get("before"), before), (d.get("after"), after)):
            if not theirs:
                continue
            values = list(ours_img.values())
            assert len(values) == len(theirs), (ours_img, theirs)
            if d.get("columns_unnamed"):
                assert list(ours_img) == [f"@{i}" for i, _, _ in theirs]
            for v, (i, raw, typ) in zip(values, theirs):
                res = same(v, raw, typ)
                if res is None:
                    continue
                assert res, f"{d['_id']} @{i} ({typ}): ours {v!r}, text {raw!r}"
                checked += 1
    return checked


@pytest.mark.parametrize("name", ["01", "02", "03", "05", "06"])
def test_values_match_mysqlbinlog_vv(name):
    """zalora's plaintext-mysql-bin.NN is MySQL 5.6's own mysqlbinlog -vv of mysql-bin.NN."""
    docs, _ = ok(os.path.join(ZALORA, f"mysql-bin.{name}"))
    blocks = parse_verbose(open(os.path.join(ZALORA, f"plaintext-mysql-bin.{name}"), "rb").read())
    checked = compare_verbose(docs, blocks)
    assert checked == sum(len(b[3]) + len(b[4]) for b in blocks)


CROSSCHECKED = sorted(f for f in os.listdir(CROSS) if f.endswith(".txt"))


@pytest.mark.parametrize("name", CROSSCHECKED)
def test_values_match_mariadb_binlog_vv(name):
    src = name[:-len(".mariadb-binlog-vv.txt")].replace("__", "/")
    docs, _ = ok(path(src))
    blocks = parse_verbose(open(os.path.join(CROSS, name), "rb").read())
    assert compare_verbose(docs, blocks) > 0


def test_sakila_matches_mariadb_binlog_vv(sakila):
    docs, _ = ok(sakila)
    with gzip.open(os.path.join(
            CROSS, "mysql-binlog-connector-java__mysql-bin.sakila.gz.mariadb-binlog-vv.txt.gz")) as f:
        blocks = parse_verbose(f.read())
    assert compare_verbose(docs, blocks) > 100000


# ---- damaged files ------------------------------------------------------------------------------

@pytest.mark.parametrize("rel,expect", [
    ("mysql-binlog-connector-rust/non-binlog", "is not a binlog file: bad magic at offset 0"),
    ("rust_mysql_common/binlog_truncated_event.000001",
     "is truncated: event header at offset 4 has 10 of 19 bytes"),
    ("rust_mysql_common/binlog_truncated_prev_gtid_event.000001",
     "is truncated: event header at offset 120"),
    ("rust_mysql_common/corrupt-relay-bin.000624", "QUERY_EVENT event at '{path}':91204"),
    ("rust_mysql_common/ver_5_1-wl2325_r.001", "EXECUTE_LOAD_QUERY_EVENT event at '{path}':549"),
    ("rust_mysql_common/ver_5_1-wl2325_s.001", "unknown binlog event type 20"),
    ("rust_mysql_common/bug40482-bin.000001", "INCIDENT_EVENT at '{path}':106"),
])
def test_damaged_files_fail_clearly(rel, expect):
    rc, docs, _, err = tail(path(rel))
    assert rc != 0
    assert path(rel) in err
    assert expect.format(path=path(rel)) in err
    damage = int(re.search(r"(?:offset |':)(\d+)", err)[1])
    assert all(d["binlog"]["pos"] < damage for d in docs)


def test_corrupt_event_in_the_middle_stops_at_it(tmp_path):
    src = path("rust_mysql_common/mysql_type_bit.000001")
    data = bytearray(open(src, "rb").read())
    docs_ok, _ = ok(src)
    last = rows(docs_ok)[0]["binlog"]["pos"]
    data[last + 25] ^= 0xFF  # a byte inside the WRITE_ROWS body: its CRC32 no longer matches
    bad = tmp_path / "mysql_type_bit.000001"
    bad.write_bytes(bytes(data))
    rc, docs, _, err = tail(str(bad))
    assert rc != 0
    assert f"'{bad}':{last}" in err and "checksum mismatch" in err
    assert rows(docs) == []


def test_file_cut_inside_an_event(tmp_path):
    src = path("rust_mysql_common/mysql_type_bit.000001")
    data = open(src, "rb").read()
    bad = tmp_path / "cut.000001"
    bad.write_bytes(data[:-10])
    rc, docs, _, err = tail(str(bad))
    assert rc != 0 and "is truncated: event at offset" in err and str(bad) in err


def test_file_mode_needs_no_config_but_accepts_one(tmp_path):
    cfg = tmp_path / "sdl.yaml"
    cfg.write_text("source: {host: 127.0.0.1, user: repl, server_id: 7}\n"
                   "pipeline: {name: p1}\ntables: {include: ['mysql.foo']}\n")
    p = subprocess.run([sdl_bin(), "tail", "-c", str(cfg), "--file",
                        path("rust_mysql_common/mysql_type_bit.000001")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    docs = [json.loads(x) for x in p.stdout.splitlines()]
    assert docs and all(d["_id"].startswith("p1:") for d in docs)
    assert all(d.get("table") == "foo" for d in docs)


def test_statement_based_changes_stop_tail_unless_printed():
    # bug16266.000001 (MySQL 5.0, binlog_format=STATEMENT): three DDLs, then
    # `INSERT INTO t1 VALUES(1)` at offset 426, as `mariadb-binlog` prints it
    f = path("rust_mysql_common/bug16266.000001")
    rc, docs, _, err = tail(f, args=())
    assert rc == 65, err
    assert ("QUERY_EVENT event at 'rust_mysql_common/bug16266.000001':426: transaction "
            "bug16266.000001:426: statement-based row change 'INSERT INTO t1 VALUES'") \
        in err.replace(path(""), "")
    assert [d["op"] for d in docs] == ["ddl", "ddl", "ddl"]  # what came before it
    docs, stats = ok(f)
    st = [d for d in docs if d["op"] == "statement"]
    assert [(d["statement"], d["db"], d["seq"], d["binlog"]["pos"]) for d in st] == \
        [("INSERT INTO t1 VALUES(1)", "test", 1, 426)]
    assert "table" not in st[0]
    assert stats["statements"] == 1 and stats["txns"] == 4
