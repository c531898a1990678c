"""Start/stop fakemongod from Python tests (importable helper, no pytest dependency).

    from harness import start_fakemongod
    with start_fakemongod(tmp_path) as m:        # or m = start_fakemongod(...); m.stop()
        client = pymongo.MongoClient(m.uri)
        m.kill9(); m.restart()                  # crash and come back on the same port/dbpath

Attributes: uri, port, host, advertise, dbpath, replset, pid, log (command log path).
"""

import os
import re
import signal
import socket
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# $SDL_FAKEMONGOD: another fakemongod executable (e.g. an older checkout's, for paired timings)
FAKEMONGOD = os.environ.get("SDL_FAKEMONGOD") or os.path.join(HERE, "fakemongod")
READY_RE = re.compile(r"^fakemongod ready port=(\d+) pid=(\d+) uri=(\S+)$")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeMongod:
    def __init__(self, tmpdir, port=None, replset="rs0", extra_args=(), log=True):
        self.tmpdir = str(tmpdir)
        self.dbpath = os.path.join(self.tmpdir, "db")
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.replset = replset
        self.extra_args = list(extra_args)
        self.log = os.path.join(self.tmpdir, "fakemongod.log") if log else None
        self.stderr_path = os.path.join(self.tmpdir, "fakemongod.stderr")
        self.proc = None
        self.ready_line = None

    @property
    def advertise(self):
        return "%s:%d" % (self.host, self.port)

    @property
    def uri(self):
        u = "mongodb://%s/" % self.advertise
        if self.replset:
            u += "?replicaSet=%s" % self.replset
        return u

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, timeout=15):
        args = [FAKEMONGOD, "--port", str(self.port), "--dbpath", self.dbpath,
                "--advertise", self.advertise, "--bind", self.host] + self.extra_args
        if self.replset:
            args += ["--replSet", self.replset]
        if self.log:
            args += ["--log", self.log]
        os.makedirs(self.tmpdir, exist_ok=True)
        err = open(self.stderr_path, "ab")
        deadline = time.monotonic() + timeout
        while True:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
            line = self.proc.stdout.readline().decode().strip()
            m = READY_RE.match(line)
            if m:
                self.ready_line = line
                break
            self.proc.wait()
            # the port may still be held briefly by a just-killed instance: retry until timeout
            if time.monotonic() > deadline:
                raise RuntimeError("fakemongod did not start: %r; stderr: %s" % (line, self.stderr()))
            time.sleep(0.2)
        err.close()
        return self

    def stderr(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, timeout=10):
        """SIGTERM and wait for a clean exit; returns the exit status."""
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
                raise RuntimeError("fakemongod did not exit on SIGTERM")
        p.stdout.close()
        return p.returncode

    def kill9(self):
        if self.proc is None:
            return
        p, self.proc = self.proc, None
        p.send_signal(signal.SIGKILL)
        p.wait()
        p.stdout.close()

    def restart(self):
        self.stop()
        return self.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc is not None:
            self.stop()


def start_fakemongod(tmpdir, port=None, replset="rs0", extra_args=()):
    """Start fakemongod with its dbpath under tmpdir; returns a started FakeMongod."""
    return FakeMongod(tmpdir, port=port, replset=replset, extra_args=extra_args).start()
