"""Start/stop mysqlpeer from Python tests (importable, no pytest dependency).

    from peerlib.harness import MySQLPeer
    p = MySQLPeer(tmp_path, files=[fixture_path, ...]).start()   # copies files into p.binlog_dir
    p.port, p.user, p.password, p.log_path, p.events()           # events(): the JSON log
    p.kill9(); p.start()                                         # same port and directory
    p.stop()

The peer's options are keyword arguments: auth, server_version, purged, tls_cert/tls_key,
require_tls, sets {var: value}, grants [..], server_uuid, server_id.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MYSQLPEER = os.path.join(os.path.dirname(HERE), "mysqlpeer")
PYTHON = "/usr/bin/python3"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MySQLPeer:
    def __init__(self, tmpdir, files=(), binlog_dir=None, user="repl", password="replpw",
                 auth="caching_sha2_password", server_version="8.4.3", purged=None,
                 tls_cert=None, tls_key=None, require_tls=False, sets=None, grants=None,
                 server_uuid=None, server_id=None, port=None):
        self.tmp = str(tmpdir)
        os.makedirs(self.tmp, exist_ok=True)
        self.binlog_dir = binlog_dir or os.path.join(self.tmp, "binlog")
        os.makedirs(self.binlog_dir, exist_ok=True)
        for f in files:
            shutil.copy(f, self.binlog_dir)
        self.user = user
        self.password = password
        self.password_file = os.path.join(self.tmp, "peer.password")
        with open(self.password_file, "w") as fh:
            fh.write(password + "\n")
        self.auth = auth
        self.server_version = server_version
        self.purged = purged
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.require_tls = require_tls
        self.sets = dict(sets or {})
        self.grants = list(grants or [])
        self.server_uuid = server_uuid
        self.server_id = server_id
        self.port = port or free_port()
        self.log_path = os.path.join(self.tmp, "mysqlpeer.log")
        self.stderr_path = os.path.join(self.tmp, "mysqlpeer.stderr")
        self.proc = None
        self.host = "127.0.0.1"

    def argv(self):
        a = [PYTHON, MYSQLPEER, "--port", str(self.port), "--binlog-dir", self.binlog_dir,
             "--user", self.user, "--password-file", self.password_file, "--auth", self.auth,
             "--server-version", self.server_version, "--log", self.log_path]
        if self.purged:
            a += ["--purged", self.purged]
        if self.tls_cert:
            a += ["--tls-cert", self.tls_cert, "--tls-key", self.tls_key]
        if self.require_tls:
            a += ["--require-tls"]
        for k, v in self.sets.items():
            a += ["--set", f"{k}={v}"]
        for g in self.grants:
            a += ["--grant", g]
        if self.server_uuid:
            a += ["--server-uuid", self.server_uuid]
        if self.server_id:
            a += ["--server-id", str(self.server_id)]
        return a

    def start(self, timeout=20):
        if not os.path.exists(MYSQLPEER):
            raise RuntimeError(f"{MYSQLPEER} is missing")
        deadline = time.monotonic() + timeout
        while True:
            err = open(self.stderr_path, "ab")
            self.proc = subprocess.Popen(self.argv(), stdout=subprocess.PIPE, stderr=err,
                                         stdin=subprocess.DEVNULL)
            err.close()
            line = self.proc.stdout.readline().decode().strip()
            if line.startswith("mysqlpeer ready port="):
                return self
            self.proc.wait()
            self.proc.stdout.close()
            self.proc = None
            if time.monotonic() > deadline:
                raise RuntimeError(f"mysqlpeer did not start: {line!r}; stderr:\n{self.stderr()}")
            time.sleep(0.2)  # the port may still be held by a just-killed peer

    def stderr(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self, timeout=10):
        if self.proc is None:
            return None
        p, self.proc = self.proc, None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        p.stdout.close()
        return p.returncode

    def kill9(self):
        if self.proc is None:
            return
        p, self.proc = self.proc, None
        p.kill()
        p.wait()
        p.stdout.close()

    def restart(self, **changes):
        self.stop()
        for k, v in changes.items():
            setattr(self, k, v)
        return self.start()

    def events(self, ev=None):
        """The peer's log records (optionally only those of kind @ev)."""
        out = []
        try:
            with open(self.log_path) as f:
                for line in f:
                    if line.strip():
                        r = json.loads(line)
                        if ev is None or r["ev"] == ev:
                            out.append(r)
        except OSError:
            pass
        return out

    def internal_errors(self):
        return self.events("internal_error")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
