"""`sdl tail` from a live MySQL source (tests/mysqlpeer serving the MySQL-written fixtures of
tests/data/mysql-binlog) prints exactly what `sdl tail --file` prints for the same file: the
same documents, the same exit status. The peer answers as MySQL 8.4.3 does, with gtid_mode
derived from the file (ON when its transactions have GTIDs, else OFF), so sdl streams by GTID
set (COM_BINLOG_DUMP_GTID) or, on a source without GTIDs, by file and position
(COM_BINLOG_DUMP).

The peer says binlog_row_metadata=FULL for every fixture (sdl refuses to start otherwise): a
server whose setting is FULL today may still hold binlogs written before (MINIMAL, or by a 5.x
server before an upgrade). Where such a file lacks metadata sdl cannot do without (the charset
of a string column: servers before 8.0.1 log none) the live stream stops with a clear error at
that row, while --file keeps valid UTF-8 as text (README "Row metadata"): the documents before
it are the same.

These tests need the peer by nature (a real MySQL server cannot be made to serve the fixture
files), so SDL_TEST_MYSQL_HOST does not change them."""
import os
import subprocess

import pytest

from conftest import sdl_bin
from mysqlsource import DATA, MySQLPeer, fixture, sdl_config

# Every MySQL-written source binlog among the fixtures (MySQL 5.0 - 9.6). Left out: MariaDB
# files (not a MySQL source), gzip and non-binlog files, and the negative fixtures whose damage
# a source would refuse to serve (they are listed in NOT_SERVED with the peer's reason).
FIXTURES = [
    "mysql-binlog-connector-java/mysql-bin.checksum-crc32",
    "mysql-binlog-connector-java/mysql-bin.checksum-none",
    "mysql-binlog-connector-rust/mysql-bin.000080",
    "rust-mysql-binlog/bin-log.000001",
    "rust_mysql_common/binlog-invisible-columns.000001",
    "rust_mysql_common/binlog_56_gtid_reserved_word.000001",
    "rust_mysql_common/binlog_transaction.000001",
    "rust_mysql_common/binlog_transaction_previous_GTID_no_tag.000001",
    "rust_mysql_common/binlog_transaction_with_GTID.000001",
    "rust_mysql_common/binlog_transaction_with_GTID_TAG.000001",
    "rust_mysql_common/binlog_transaction_with_anonymous_GTID.000001",
    "rust_mysql_common/bug11747887-bin.000003",
    "rust_mysql_common/bug16266.000001",
    "rust_mysql_common/bug27213339-bin.000001",
    "rust_mysql_common/bug32407.001",
    "rust_mysql_common/json-opaque.binlog",
    "rust_mysql_common/json.binlog.000001",
    "rust_mysql_common/master-bin.000001",
    "rust_mysql_common/minimal_row_metadata.000001",
    "rust_mysql_common/mysql-enum-string-set.000001",
    "rust_mysql_common/mysql_type_bit.000001",
    "rust_mysql_common/rpl_atomic_ddl_rollback_full.000001",
    "rust_mysql_common/rpl_atomic_ddl_rollback_table.000001",
    "rust_mysql_common/rpl_atomic_ddl_rollback_view.000001",
    "rust_mysql_common/rpl_cross_version_default_utf8mb4_collation.000001",
    "rust_mysql_common/time_issue.000001",
    "rust_mysql_common/transaction_compression.000001",
    "rust_mysql_common/update-full-row.binlog",
    "rust_mysql_common/update-partial-row.binlog",
    "rust_mysql_common/vector.binlog",
    "rust_mysql_common/ver_5_1_23.001",
    "rust_mysql_common/ver_trunk_row_v2.001",
    "rust_mysql_common/write-full-row.binlog",
    "rust_mysql_common/write-partial-row.binlog",
    "zalora-binlog-parser/fixtures/mysql-bin.01",
    "zalora-binlog-parser/fixtures/mysql-bin.02",
    "zalora-binlog-parser/fixtures/mysql-bin.03",
    "zalora-binlog-parser/fixtures/mysql-bin.05",
    "zalora-binlog-parser/fixtures/mysql-bin.06",
]

# Files of servers before 8.0.1, whose string columns have no charset: the live stream stops at
# the first such row, naming the table and the setting; --file goes on (its documents say
# "columns_unnamed": true).
NO_CHARSET = {
    "mysql-binlog-connector-java/mysql-bin.checksum-crc32": "'simu_file_dev.folder'",
    "mysql-binlog-connector-java/mysql-bin.checksum-none": "'account_db.account'",
    "mysql-binlog-connector-rust/mysql-bin.000080": "'a.emoji'",
    "rust-mysql-binlog/bin-log.000001": "'bltest.foo'",
    "rust_mysql_common/update-full-row.binlog": "'mysql.ndb_apply_status'",
    "rust_mysql_common/update-partial-row.binlog": "'mysql.ndb_apply_status'",
    "rust_mysql_common/ver_5_1_23.001": "'test.t1'",
    "rust_mysql_common/ver_trunk_row_v2.001": "'test.t1'",
    "rust_mysql_common/write-full-row.binlog": "'mysql.ndb_apply_status'",
    "rust_mysql_common/write-partial-row.binlog": "'mysql.ndb_apply_status'",
    "zalora-binlog-parser/fixtures/mysql-bin.01": "'test_db.buildings'",
    "zalora-binlog-parser/fixtures/mysql-bin.02": "'test_db.employees'",
    "zalora-binlog-parser/fixtures/mysql-bin.03": "'test_db.buildings'",
    "zalora-binlog-parser/fixtures/mysql-bin.06": "'test_db.language'",
}

# Relay logs (their ROTATEs name the source's files) are not served by a source:
# binlog_savepoint.000001, bug33029-slave-relay-bin.000001, corrupt-relay-bin.000624,
# slave-relay-bin.000001, rpl_unfiltered_hidden_gcol.000001.


def tail_file(rel):
    return subprocess.run([sdl_bin(), "tail", "--statements", "print", "--file", fixture(rel)],
                          capture_output=True, text=True, timeout=60)


def tail_live(cfg, *args):
    return subprocess.run([sdl_bin(), "tail", "-c", cfg, "--statements", "print", *args],
                          capture_output=True, text=True, timeout=60)


def peer_for(tmp_path, *rels, **kw):
    sets = {"binlog_row_metadata": "FULL"}
    sets.update(kw.pop("sets", {}))
    return MySQLPeer(tmp_path / "peer", files=[fixture(r) for r in rels], sets=sets,
                     **kw).start()


def config(tmp_path, peer, **kw):
    kw.setdefault("source_extra", "  tls: {mode: disabled}\n")
    return sdl_config(tmp_path, "127.0.0.1", peer.port, peer.user, peer.password,
                      pipeline="main", **kw)


@pytest.mark.parametrize("rel", FIXTURES)
def test_live_tail_prints_what_file_tail_prints(tmp_path, rel):
    want = tail_file(rel)
    with peer_for(tmp_path, rel) as peer:
        got = tail_live(config(tmp_path, peer), "--from", "start", "--until", "now")
        assert not peer.internal_errors(), peer.internal_errors()
        dumps = peer.events("dump") + peer.events("dump_gtid")
    assert len(dumps) == 1, dumps
    mode = peer_mode(rel)
    assert dumps[0]["ev"] == ("dump_gtid" if mode == "ON" else "dump"), (mode, dumps)
    # the flags MySQL's own replica sends: BINLOG_DUMP_NON_BLOCK (0x01) for --until now, and
    # nothing else (0x04, once "the GTID set follows", means "skip tagged GTIDs" to 8.3+)
    assert dumps[0]["flags"] == 0x01, dumps
    if rel in NO_CHARSET:
        assert got.returncode != 0, got.stdout
        assert f"decoding rows of {NO_CHARSET[rel]}" in got.stderr, got.stderr
        assert "charset unknown" in got.stderr, got.stderr
        assert "binlog_row_metadata=FULL is required" in got.stderr, got.stderr
        lines, file_lines = got.stdout.splitlines(), want.stdout.splitlines()
        assert file_lines[:len(lines)] == lines
        assert '"columns_unnamed":true' in file_lines[len(lines)]
        return
    assert got.returncode == want.returncode, f"live:\n{got.stderr}\nfile:\n{want.stderr}"
    assert got.stdout.splitlines() == want.stdout.splitlines()


def peer_mode(rel):
    """gtid_mode the peer derives: ON when the file has GTIDs and no anonymous ones."""
    from peerlib.binlog import BinlogFile
    f = BinlogFile(fixture(rel))
    has = f.has_gtid or (f.previous is not None and not f.previous.is_empty())
    if not has:
        return "OFF"
    return "ON_PERMISSIVE" if f.has_anonymous else "ON"


def test_an_event_over_16_mib_arrives_whole(tmp_path):
    """A 17 MiB ROWS_QUERY event (the statement text MySQL logs with
    binlog_rows_query_log_events) in front of the rows: the source splits it into packets,
    sdl reads it whole and prints what --file prints."""
    from mysqlsource import Gtid, workload
    from peerlib.binlog import Header
    fx = workload.Fixture(fixture("rust_mysql_common/mysql-enum-string-set.000001"))
    txn = fx.transactions[2]
    text = b"INSERT INTO t VALUES " + b"('x')," * (17 * 1024 * 1024 // 6) + b"('x')"
    rq = workload.make_event(29, b"\xff" + text, 1, 0, Header(txn.events[2]).timestamp, 0x80)
    big = workload.Txn(txn.events[:2] + [rq] + txn.events[2:])
    d = tmp_path / "big"
    d.mkdir()
    uuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
    workload.chain(str(d), [(fx.fde, [("txn", txn, Gtid(uuid, 1)), ("txn", big, Gtid(uuid, 2)),
                                      ("txn", txn, Gtid(uuid, 3))])])
    with MySQLPeer(tmp_path / "peer", binlog_dir=str(d),
                   sets={"binlog_row_metadata": "FULL"}).start() as peer:
        got = tail_live(config(tmp_path, peer), "--from", "start", "--until", "now")
    want = subprocess.run([sdl_bin(), "tail", "--file", str(d / "binlog.000001")],
                          capture_output=True, text=True, timeout=60)
    assert got.returncode == 0 and want.returncode == 0, got.stderr + want.stderr
    assert got.stdout == want.stdout and len(got.stdout.splitlines()) == 3
