"""sdl@.service: one unit instance per pipeline (sdl@NAME runs the configuration NAME.yaml with
the credentials NAME.credentials/), under a real systemd 252 as PID 1
(tests/systemd/container.py). Both units come from the build (systemd/sdl.service.in), the
configurations from the packaged packaging/sdl.yaml with only what an operator edits changed.

  two pipelines at once: sdl@alpha and sdl@beta start, each READY=1, each replicates its own
      tables into the shared target under its own pipeline name, each serves its /metrics
  status: while rows flow, `systemctl status` shows each one's lag and rows/s
  journal: each one's records carry SDL_PIPELINE=<its name>
  operator commands as root, with no option but -c: `sdl status` reads the credentials next
      to the file; `sdl check-config` and `sdl run` without -c read the default file

The test runs in scripts/test (tests/integration). Missing requirements fail; nothing skips.
"""
import json
import os
import re
import sys
import threading
import time
import urllib.request

import pymongo
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "systemd"))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakemongod"))
from container import Container  # noqa: E402
from harness import FakeMongod, free_port  # noqa: E402

from conftest import sdl_bin  # noqa: E402

DB = "sdltest_instances"
DROPIN = "[Service]\nRestartSec=1s\n"


def build_dir():
    return os.environ.get("SDL_BUILD_DIR") or os.path.join(ROOT, "build")


def built(name):
    path = os.path.join(build_dir(), "systemd", name)
    if not os.path.exists(path):
        raise RuntimeError(f"{path} is missing: build sdl with meson (systemd/meson.build)")
    return open(path).read()


def template_paths(text):
    """The binary, the configuration directory and the credentials of sdl@.service."""
    m = re.search(r"^ExecStart=(\S+) run -c (\S+)/%i\.yaml$", text, re.M)
    creds = dict(re.findall(r"^LoadCredential=([^:\n]+):(\S+)$", text, re.M))
    assert m and creds == {"source-password": f"{m.group(2)}/%i.credentials/source-password",
                           "target-uri": f"{m.group(2)}/%i.credentials/target-uri"}, text
    return m.group(1), m.group(2)


def packaged_config(db, name, server_id, port):
    """packaging/sdl.yaml, with what an operator of pipeline @name edits."""
    text = open(os.path.join(ROOT, "packaging", "sdl.yaml")).read()
    edits = [("  port: 3306\n", f"  port: {db.port}\n"),
             ("  server_id: 4242\n", f"  server_id: {server_id}\n  heartbeat_period: 1s\n"),
             ("  database: audit\n", f"  database: {DB}\n"),
             ("  name: main ", f"  name: {name} "),
             ("# tables:                       # fnmatch", "tables:                         # fnmatch"),
             ('#   include: ["shop.*"]', f'  include: ["{name}.*"]'),
             ("  listen: 127.0.0.1:9632 ", f"  listen: 127.0.0.1:{port} "),
             ("  # batch:                      # one", "  batch:                        # one"),
             ("  #   max_delay: 200ms ", "    max_delay: 20ms   ")]
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def box(mariadb, tmp_path_factory):
    fake = FakeMongod(tmp_path_factory.mktemp("mongo"), port=free_port()).start()
    binary, confdir = template_paths(built("sdl@.service"))
    ports = {"alpha": free_port(), "beta": free_port()}
    for name in ports:
        mariadb.sql(f"CREATE DATABASE IF NOT EXISTS {name}",
                    f"CREATE TABLE IF NOT EXISTS {name}.t (id INT PRIMARY KEY, v VARCHAR(20))")
    c = Container().start()
    try:
        c.put_file(binary, sdl_bin(), 0o755)
        c.put("/etc/systemd/system/sdl@.service", built("sdl@.service"))
        c.put("/etc/systemd/system/sdl.service", built("sdl.service"))
        c.put("/etc/systemd/system/sdl@.service.d/test.conf", DROPIN)
        for i, (name, port) in enumerate(ports.items()):
            c.put(f"{confdir}/{name}.yaml", packaged_config(mariadb, name, 5000 + i, port))
            c.put(f"{confdir}/{name}.credentials/source-password", mariadb.password + "\n", 0o600)
            c.put(f"{confdir}/{name}.credentials/target-uri", fake.uri + "\n", 0o600)
            c.run("chmod", "0700", f"{confdir}/{name}.credentials", check=True)
        c.run("systemctl", "daemon-reload", check=True)
        yield c, fake, confdir, ports
    finally:
        c.close()
        fake.stop()


def state(c, unit):
    return c.show(unit, "ActiveState", "SubState", "MainPID", "StatusText", "ExecMainStatus")


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def test_two_pipelines_at_once(box, mariadb):
    c, fake, confdir, ports = box
    mongo = pymongo.MongoClient(fake.uri, serverSelectionTimeoutMS=10000)
    t0 = time.monotonic()
    p = c.run("systemctl", "start", "sdl@alpha", "sdl@beta", timeout=90)
    assert p.returncode == 0, p.stdout + p.stderr + c.journal()
    print(f"both started (READY=1) in {time.monotonic() - t0:.1f}s")
    for name in ports:
        st = state(c, f"sdl@{name}")
        assert (st["ActiveState"], st["SubState"]) == ("active", "running"), (name, st)
    assert state(c, "sdl@alpha")["MainPID"] != state(c, "sdl@beta")["MainPID"]

    # Rows flow into both for a while: each STATUS= shows its lag and rows/s meanwhile.
    stop = threading.Event()
    seen = {name: [] for name in ports}

    def load():
        i = 0
        while not stop.is_set():
            i += 1
            mariadb.sql(*[f"INSERT INTO {name}.t VALUES ({i}, '{name} {i}')" for name in ports])
            time.sleep(0.02)
        load.rows = i

    th = threading.Thread(target=load)
    th.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(
                any(re.search(r"[1-9]\d* rows/s", s) for s in seen[n]) for n in ports):
            for name in ports:
                seen[name].append(state(c, f"sdl@{name}")["StatusText"])
            time.sleep(0.5)
    finally:
        stop.set()
        th.join()
    for name in ports:
        moving = [s for s in seen[name] if re.search(r"[1-9]\d* rows/s", s)]
        assert moving, (name, seen[name])
        assert re.fullmatch(r"Replicating: lag \d+(\.\d+)?s, [1-9]\d* rows/s, \d+ rows applied, "
                            r"GTID \S+", moving[-1]), moving[-1]
    print("STATUS= under load:", {n: [s for s in seen[n] if "rows/s" in s][-1] for n in ports})

    # Each pipeline has its own offset and exactly its own tables' rows.
    end = mariadb.gtid_binlog_pos()
    db = mongo[DB]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        offs = {o["_id"]: o["gtid"] for o in db.binlog_offsets.find()}
        if offs == {"alpha": end, "beta": end}:
            break
        time.sleep(0.2)
    assert offs == {"alpha": end, "beta": end}, (offs, end, c.journal())
    for name in ports:
        ids = sorted(d["pk"]["id"] for d in db.row_changes.find({"db": name, "table": "t"}))
        assert ids == list(range(1, load.rows + 1)), (name, len(ids), load.rows)
        assert db.row_changes.count_documents({"_id": {"$regex": f"^{name}:"}}) == load.rows
        # its own /metrics, its own pipeline label
        text = metrics(ports[name])
        assert f'sdl_rows_applied_total{{pipeline="{name}",op="insert"}} {load.rows}\n' in text, text
        # its own journal records, with its pipeline field
        j = c.run("journalctl", "-b", "--no-pager", "-o", "cat", "-u", f"sdl@{name}",
                  f"SDL_PIPELINE={name}").stdout
        assert "Replicating after GTID position" in j, j
    mongo.close()


def test_operator_commands_find_credentials_and_the_default_file(box):
    c, fake, confdir, ports = box
    # sdl status as root, as documented: only -c; the credentials come from alpha.credentials/
    p = c.run("sdl", "status", "-c", f"{confdir}/alpha.yaml", "--json")
    assert p.returncode == 0, p.stdout + p.stderr
    assert json.loads(p.stdout)["pipeline"] == "alpha"
    # without -c: the default file (the one sdl.service runs)
    c.put(f"{confdir}/sdl.yaml", "source:\n  user: repl\n  server_id: 7\n  prot: 1\n")
    for argv in (["sdl", "check-config"], ["sdl", "run"]):
        p = c.run(*argv, timeout=30)
        assert p.returncode == 78, (argv, p.stdout, p.stderr)
        assert p.stderr.startswith(f"{confdir}/sdl.yaml:4:3: unknown key 'prot' in 'source'"), p.stderr
    c.put(f"{confdir}/sdl.yaml", "source:\n  user: repl\n  server_id: 7\n")
    p = c.run("sdl", "check-config")
    assert p.returncode == 0 and f"from {confdir}/sdl.yaml" in p.stdout, p.stdout + p.stderr


def test_stop_both(box):
    c, _, _, ports = box
    p = c.run("systemctl", "stop", "sdl@alpha", "sdl@beta", timeout=60)
    assert p.returncode == 0, p.stderr
    for name in ports:
        st = state(c, f"sdl@{name}")
        assert st["ActiveState"] == "inactive" and st["ExecMainStatus"] == "0", (name, st)
