"""Fixtures of the mysqlpeer suite: a peer over a directory of binlog files (a fixture of
tests/data/mysql-binlog, or a chain composed from them), and helpers."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from peerlib.harness import MySQLPeer  # noqa: E402

DATA = os.path.abspath(os.path.join(HERE, "..", "..", "data", "mysql-binlog"))


def fixture(rel):
    return os.path.join(DATA, rel)


@pytest.fixture
def make_peer(tmp_path):
    peers = []

    def make(*files, **kw):
        p = MySQLPeer(tmp_path / f"peer{len(peers)}", files=[fixture(f) for f in files], **kw)
        peers.append(p)
        return p.start()

    yield make
    for p in peers:
        p.stop()
        assert not p.internal_errors(), p.internal_errors()
