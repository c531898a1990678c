"""`mariadb-binlog --read-from-remote-server`, a replication client that shares nothing with the
peer or sdl, reads the peer's files with COM_BINLOG_DUMP (by file and position) and decodes
the same rows as from the local files. It only talks to servers whose version starts with 5
(or MariaDB), so the peer announces the version of the server that wrote the files."""
import shutil
import subprocess

import pytest

from conftest import fixture
from peerlib.binlog import BinlogFile
from test_dump import chain

MB = "mariadb-binlog"


def decode(*args):
    p = subprocess.run([MB, "--no-defaults", "-vv", "--base64-output=decode-rows", *args],
                       capture_output=True, text=True, timeout=120, env={"TZ": "UTC"})
    return p.returncode, [line for line in p.stdout.splitlines() if line.startswith("###")], \
        p.stderr


def remote(peer, *files):
    return decode("--read-from-remote-server", "-h127.0.0.1", f"-P{peer.port}",
                  f"-u{peer.user}", f"-p{peer.password}", *files)


@pytest.mark.parametrize("rel", [
    "mysql-binlog-connector-java/mysql-bin.checksum-crc32",
    "mysql-binlog-connector-java/mysql-bin.checksum-none",
    "mysql-binlog-connector-rust/mysql-bin.000080",
    "rust-mysql-binlog/bin-log.000001",
    "zalora-binlog-parser/fixtures/mysql-bin.01",
])
def test_remote_rows_equal_local_rows(make_peer, rel):
    assert shutil.which(MB), "mariadb-binlog is needed (mariadb-client)"
    version = BinlogFile(fixture(rel)).version
    peer = make_peer(rel, auth="mysql_native_password", server_version=version)
    name = rel.split("/")[-1]
    rc, rows, err = remote(peer, name)
    lrc, lrows, _ = decode(fixture(rel))
    assert rc == 0, err
    assert rows == lrows and len(rows) > 0
    dump = peer.events("dump")[0]
    assert (dump["file"], dump["pos"], dump["server_id"]) == (name, 4, 0)


def test_remote_read_follows_rotations_to_the_last_file(make_peer, tmp_path):
    d = tmp_path / "chain"
    names = chain(str(d))
    peer = make_peer(auth="mysql_native_password", server_version="5.7.44-log",
                     binlog_dir=str(d))
    rc, rows, err = remote(peer, "--to-last-log", "binlog.000001")
    assert rc == 0, err
    lrc, lrows, _ = decode(*[str(d / n) for n, _ in names])
    assert rows == lrows and sum(r.startswith("### INSERT") for r in rows) == 3
