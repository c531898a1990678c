"""MySQL sources for sdl's live-MySQL tests: tests/mysqlpeer (a replication peer serving real
MySQL-written binlog files), or a real MySQL server when $SDL_TEST_MYSQL_HOST is set.

    SDL_TEST_MYSQL_HOST, SDL_TEST_MYSQL_PORT (3306)     the server
    SDL_TEST_MYSQL_USER, SDL_TEST_MYSQL_PASSWORD         a replication user (REPLICATION SLAVE,
                                                         REPLICATION CLIENT, SELECT)
    SDL_TEST_MYSQL_ROOT_USER, SDL_TEST_MYSQL_ROOT_PASSWORD  an account that may create
                                                         databases and tables and write rows
                                                         (root by default, same password)
    SDL_TEST_MYSQL_TLS_CA                                the CA of the server's certificate
                                                         (for the verify_identity test)

Tests that need a peer by nature (the peer serves the fixture files of tests/data; a real
server cannot be made to serve them) always use the peer.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "mysqlpeer"))

from peerlib import workload  # noqa: E402,F401
from peerlib.gtidset import Gtid, GtidSet  # noqa: E402,F401
from peerlib.harness import MySQLPeer  # noqa: E402,F401

DATA = os.path.join(ROOT, "tests", "data", "mysql-binlog")


def fixture(rel):
    return os.path.join(DATA, rel)


def real_mysql():
    """The $SDL_TEST_MYSQL_* settings as a dict, or None."""
    host = os.environ.get("SDL_TEST_MYSQL_HOST")
    if not host:
        return None
    return {
        "host": host,
        "port": int(os.environ.get("SDL_TEST_MYSQL_PORT", "3306")),
        "user": os.environ.get("SDL_TEST_MYSQL_USER", "repl"),
        "password": os.environ.get("SDL_TEST_MYSQL_PASSWORD", ""),
        "root_user": os.environ.get("SDL_TEST_MYSQL_ROOT_USER", "root"),
        "root_password": os.environ.get("SDL_TEST_MYSQL_ROOT_PASSWORD",
                                        os.environ.get("SDL_TEST_MYSQL_PASSWORD", "")),
        "tls_ca": os.environ.get("SDL_TEST_MYSQL_TLS_CA"),
    }


def sdl_config(tmp_path, host, port, user, password, server_id=4242, pipeline="test",
               start="start", source_extra="", extra="", name="sdl.yaml"):
    """An sdl configuration for a MySQL source; returns its path."""
    pw = tmp_path / (name + ".password")
    pw.write_text(password + "\n")
    cfg = tmp_path / name
    cfg.write_text(f"""source:
  host: {host}
  port: {port}
  user: {user}
  password_file: {pw}
  server_id: {server_id}
{source_extra}pipeline:
  name: {pipeline}
  start: {start}
{extra}""")
    return str(cfg)


class MySQLSdl:
    """What runlib.Daemon needs of conftest.Sdl, for a MySQL source: the binary and configs
    pointing at @source (host, port, user, password; source_extra: more `source:` keys)."""

    def __init__(self, tmp_path, source, source_extra="  tls: {mode: disabled}\n",
                 server_id=4242, pipeline="test"):
        from conftest import sdl_bin
        self.tmp = tmp_path
        self.bin = sdl_bin()
        self.source = source
        self.source_extra = source_extra
        self.server_id = server_id
        self.pipeline = pipeline

    def write_config(self, extra="", name="sdl.yaml", start="start", server_id=None):
        s = self.source
        return sdl_config(self.tmp, s.host, s.port, s.user, s.password,
                          server_id=server_id or self.server_id, start=start,
                          pipeline=self.pipeline, source_extra=self.source_extra, extra=extra,
                          name=name)


def wait_for_gtids(target, want, daemon, timeout=180):
    """Until the pipeline's offset is the GTID set @want (a MySQL source), sdl running."""
    from runlib import offset
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        if daemon.proc.poll() is not None:
            raise AssertionError(f"sdl exited with {daemon.proc.returncode}:\n"
                                 f"{daemon.output()[-4000:]}")
        last = offset(target)
        if last and not last.get("partial") and GtidSet.parse(last["gtid"]) == want:
            return last
        time.sleep(0.1)
    raise AssertionError(f"offset {last} did not reach {want}:\n{daemon.output()[-4000:]}")
