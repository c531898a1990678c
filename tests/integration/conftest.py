"""pytest fixtures for sdl's integration tests: a throwaway mariadbd per test module (the
source), the sdl binary ($SDL_BIN, built by scripts/test), and helpers to write configs and
run `sdl tail`. A missing component fails the test loudly; nothing is skipped."""
import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from mariadb import MariaDB  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def sdl_bin():
    path = os.environ.get("SDL_BIN") or os.path.join(ROOT, "build", "src", "daemon", "sdl")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"sdl binary not found at {path}: build it (scripts/test does) or set SDL_BIN")
    return path


@pytest.fixture(scope="session", autouse=True)
def no_stale_mongoc_counters():
    """libmongoc's counters of processes killed before sdl forgot them at start-up
    (/dev/shm/mongoc-<pid>) make a later process with that pid warn on stderr: remove the
    ones whose process is gone."""
    try:
        names = os.listdir("/dev/shm")
    except OSError:
        names = []
    for name in names:
        if name.startswith("mongoc-") and name[7:].isdigit() and \
                not os.path.exists(f"/proc/{name[7:]}"):
            try:
                os.unlink(os.path.join("/dev/shm", name))
            except OSError:
                pass
    yield


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory):
    db = MariaDB(basedir=str(tmp_path_factory.mktemp("mariadb")))
    db.start()
    db.create_repl_user()
    yield db
    db.remove()


class Sdl:
    def __init__(self, tmp_path, db):
        self.tmp = tmp_path
        self.db = db
        self.bin = sdl_bin()

    def write_config(self, extra="", name="sdl.yaml", user="repl", password="replpw",
                     server_id=4242, start="start"):
        pw = self.tmp / "mysql.password"
        pw.write_text(password + "\n")
        cfg = self.tmp / name
        cfg.write_text(f"""source:
  host: 127.0.0.1
  port: {self.db.port}
  user: {user}
  password_file: {pw}
  server_id: {server_id}
pipeline:
  name: test
  start: {start}
{extra}""")
        return str(cfg)

    def run(self, *args, timeout=120, env=None, check=False):
        e = dict(os.environ)
        e.pop("SDL_SOURCE_PASSWORD", None)
        if env:
            e.update(env)
        p = subprocess.run([self.bin, *args], capture_output=True, text=True, timeout=timeout,
                           env=e)
        if check and p.returncode != 0:
            raise AssertionError(f"sdl {' '.join(args)} exited {p.returncode}:\n{p.stderr}")
        return p

    def tail(self, *args, config=None, until="now", start="start", extra_config="", timeout=120):
        """Runs `sdl tail` to the server's current position; returns the parsed JSON lines."""
        config = config or self.write_config(extra=extra_config)
        argv = ["tail", "-c", config]
        if start is not None:
            argv += ["--from", start]
        if until is not None:
            argv += ["--until", until]
        p = self.run(*argv, *args, timeout=timeout)
        if p.returncode != 0:
            raise AssertionError(f"sdl tail exited {p.returncode}:\n{p.stderr}")
        return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


@pytest.fixture
def sdl(tmp_path, mariadb):
    return Sdl(tmp_path, mariadb)


@pytest.fixture
def target(tmp_path, request):
    """A MongoDB target with a database of its own (runlib.Target): tests/fakemongod, or the
    replica set of $SDL_TEST_MONGODB_URI."""
    from runlib import Target
    t = Target(tmp_path, request.node.name[:20].replace("[", "_").replace("]", "_"))
    yield t
    t.close()
