"""sdl.service under a real systemd 252 running as PID 1 in private namespaces
(tests/systemd/container.py; ../shared/notes/systemd-in-ci.md).

The unit (build/systemd/sdl.service) and the binary from the build are installed into a
throw-away overlay of the host root. sdl reaches this module's throwaway mariadbd and a
tests/fakemongod on the host's loopback. The tests run in order and share one container:

  offline: systemd-analyze verify prints nothing; security --offline exposure <= 2.0
  start:   `systemctl start` blocks while the target is down (no READY=1) and returns once
           sdl is replicating; a MariaDB insert reaches row_changes
  secrets: password and URI come only through LoadCredential= (root-only files on disk,
           a dynamic non-root user)
  status:  `systemctl status` shows sdl's STATUS= text
  watchdog: a SIGSTOPped sdl is killed by the watchdog and restarted, then replicates again
  reload:  `systemctl reload` applies reloadable keys (RELOADING=1 … READY=1), refuses others
  stop:    `systemctl stop` ends sdl with exit 0 after STOPPING=1, without SIGKILL
  config:  a bad configuration exits 78 and is not restarted; nor is a missing secret file
           (243, CREDENTIALS)

A drop-in shortens WatchdogSec (3 s) and RestartSec (1 s) so the test stays fast. Everything
else is the unit exactly as built. Missing requirements fail; nothing is skipped.
"""
import os
import re
import subprocess
import sys
import time

import pymongo
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "systemd"))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakemongod"))
from container import Container  # noqa: E402
from harness import FakeMongod, free_port  # noqa: E402

from conftest import sdl_bin  # noqa: E402

DB = "sdltest_systemd"
DROPIN = """[Service]
WatchdogSec=3s
RestartSec=1s
"""


def build_dir():
    return os.environ.get("SDL_BUILD_DIR") or os.path.join(ROOT, "build")


def built_unit():
    path = os.path.join(build_dir(), "systemd", "sdl.service")
    if not os.path.exists(path):
        raise RuntimeError(f"{path} is missing: build sdl with meson (systemd/meson.build makes it)")
    return path


def unit_paths(text):
    """ExecStart binary, config path and credential sources, as the unit names them."""
    exec_start = re.search(r"^ExecStart=(\S+) run -c (\S+)$", text, re.M)
    creds = dict(re.findall(r"^LoadCredential=([^:\n]+):(\S+)$", text, re.M))
    assert exec_start and set(creds) == {"source-password", "target-uri"}, text
    return exec_start.group(1), exec_start.group(2), creds


def exposure(output):
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", output)
    assert m, output
    return float(m.group(1))


# ---- offline checks (host) -------------------------------------------------------------------
def test_unit_offline_verify_and_security(tmp_path):
    text = open(built_unit()).read()
    binary, _, _ = unit_paths(text)
    # verify checks that ExecStart= is executable: point it at the build's binary.
    unit = tmp_path / "sdl.service"
    unit.write_text(text.replace(f"ExecStart={binary} ", f"ExecStart={sdl_bin()} "))
    p = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True,
                       text=True)
    # verify exits 0 on unknown or misspelled keys: any output is a failure.
    assert p.returncode == 0 and p.stdout + p.stderr == "", p.stdout + p.stderr
    p = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
                        "--threshold=20", str(unit)], capture_output=True, text=True)
    score = exposure(p.stdout)
    print(f"offline exposure {score}")
    assert p.returncode == 0 and score <= 2.0, p.stdout + p.stderr


# ---- the container ---------------------------------------------------------------------------
class Service:
    """The container with sdl installed, plus the module's servers."""

    def __init__(self, c, db, fake, binary, config, creds):
        self.c, self.db, self.fake = c, db, fake
        self.binary, self.config, self.creds = binary, config, creds
        self.mongo = pymongo.MongoClient(fake.uri, serverSelectionTimeoutMS=10000)

    def write_config(self, text):
        self.c.put(self.config, text, 0o644)

    def good_config(self):
        return f"""source:
  host: 127.0.0.1
  port: {self.db.port}
  user: repl
  server_id: 4343
  connect_timeout: 2s
  heartbeat_period: 1s
target:
  database: {DB}
  connect_timeout: 2s
  socket_timeout: 5s
pipeline:
  name: systemd
  start: now
  batch: {{max_delay: 20ms}}
  retry: {{initial: 50ms, max: 500ms, give_up_after: 2m}}
tables:
  include: ["sysd.*"]
log:
  level: info
"""

    def systemctl(self, *args, timeout=60):
        return self.c.run("systemctl", "--no-pager", *args, timeout=timeout)

    def state(self):
        return self.c.show("sdl", "ActiveState", "SubState", "Result", "MainPID", "NRestarts",
                           "ExecMainStatus", "ExecMainCode", "StatusText")

    def journal(self):
        return self.c.journal("sdl")

    def why(self):
        return f"\nstate: {self.state()}\njournal:\n{self.journal()[-6000:]}"

    def rows(self, **query):
        return list(self.mongo[DB].row_changes.find(query))

    def wait_row(self, id_, timeout=30):
        return self.c.wait_for(f"row sysd.t id={id_} in row_changes",
                               lambda: self.rows(**{"table": "t", "after.id": id_}), timeout)


@pytest.fixture(scope="module")
def svc(mariadb, tmp_path_factory):
    text = open(built_unit()).read()
    binary, config, creds = unit_paths(text)
    man = os.path.join(ROOT, "docs", "sdl.8")
    fake = FakeMongod(tmp_path_factory.mktemp("mongo"), port=free_port())  # started by a test
    mariadb.sql("CREATE DATABASE IF NOT EXISTS sysd",
                "CREATE TABLE IF NOT EXISTS sysd.t (id INT PRIMARY KEY, v VARCHAR(20))")
    c = Container().start()
    try:
        c.put_file(binary, sdl_bin(), 0o755)
        c.put("/etc/systemd/system/sdl.service", text)
        c.put("/etc/systemd/system/sdl.service.d/test.conf", DROPIN)
        c.put_file("/usr/local/share/man/man8/sdl.8", man, 0o644)
        # the unit's Documentation= names sdl.yaml(5) too, generated by the build
        c.put_file("/usr/local/share/man/man5/sdl.yaml.5",
                   os.path.join(build_dir(), "docs", "sdl.yaml.5"), 0o644)
        # The secrets: root-only files, readable by the service only as credentials.
        c.put(creds["source-password"], mariadb.password + "\n", 0o600)
        c.put(creds["target-uri"], fake.uri + "\n", 0o600)
        c.run("systemctl", "daemon-reload", check=True)
        s = Service(c, mariadb, fake, binary, config, creds)
        s.write_config(s.good_config())
        yield s
    finally:
        c.close()
        if fake.proc:
            fake.stop()


def test_unit_verifies_inside_with_binary_and_man_page(svc):
    p = svc.c.run("systemd-analyze", "verify", "/etc/systemd/system/sdl.service")
    assert p.returncode == 0 and p.stdout + p.stderr == "", p.stdout + p.stderr
    p = svc.c.run("systemd-analyze", "security", "--no-pager", "sdl.service")
    score = exposure(p.stdout)
    print(f"live exposure {score}")
    assert score <= 2.0, p.stdout


def test_start_returns_after_ready_and_replicates(svc):
    c = svc.c
    t0 = time.monotonic()
    start = c.popen("systemctl", "start", "sdl")
    # fakemongod is not running yet: sdl retries, sends no READY=1, and start blocks.
    c.wait_for("sdl activating", lambda: svc.state()["ActiveState"] == "activating", 10)
    time.sleep(2)
    st = svc.state()
    assert start.poll() is None and st["ActiveState"] == "activating", svc.why()
    assert "connecting to the target failed, retrying" in svc.journal(), svc.why()
    # ... and says why in `systemctl status` while it waits (STATUS= before READY=1).
    assert st["StatusText"].startswith("Waiting: connecting to the target failed"), svc.why()
    svc.fake.start()
    t_up = time.monotonic()
    out, _ = start.communicate(timeout=60)
    assert start.returncode == 0, out + svc.why()
    st = svc.state()
    assert (st["ActiveState"], st["SubState"]) == ("active", "running"), svc.why()
    timing = c.show("sdl", "ExecMainStartTimestampMonotonic", "ActiveEnterTimestampMonotonic")
    ready_after = (int(timing["ActiveEnterTimestampMonotonic"])
                   - int(timing["ExecMainStartTimestampMonotonic"])) / 1e6
    assert ready_after >= t_up - t0 - 0.5, (ready_after, t_up - t0)
    print(f"READY {ready_after:.1f}s after exec; target came up at {t_up - t0:.1f}s")
    svc.db.sql("INSERT INTO sysd.t VALUES (1, 'one')")
    doc = svc.wait_row(1)
    assert doc[0]["op"] == "insert" and doc[0]["after"]["v"] == "one", doc


def test_secrets_come_from_load_credential(svc):
    c = svc.c
    assert svc.state()["ActiveState"] == "active", svc.why()
    j = svc.journal()
    assert "Connecting to the target (credential target-uri)" in j, j
    creds = c.run("ls", "/run/credentials/sdl.service").stdout.split()
    assert sorted(creds) == ["source-password", "target-uri"], creds
    # On disk they are root-only, and sdl runs as a dynamic, unprivileged user: it could only
    # have read them through $CREDENTIALS_DIRECTORY.
    for path in svc.creds.values():
        assert c.run("stat", "-c", "%u %a", path).stdout.split() == ["0", "600"]
    pid = svc.state()["MainPID"]
    status = c.read(f"/proc/{pid}/status")
    uid = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
    assert uid != 0, status
    env = c.read(f"/proc/{pid}/environ").split("\0")
    assert "CREDENTIALS_DIRECTORY=/run/credentials/sdl.service" in env, env
    assert not [e for e in env if e.startswith(("SDL_SOURCE_PASSWORD=", "SDL_TARGET_URI="))]


def test_status_shows_gtid_lag_and_rate(svc):
    st = svc.c.wait_for("STATUS= with 1 row applied",
                        lambda: re.search(r"Replicating: lag \d+\.\ds, \d+ rows/s, (\d+) rows applied, "
                                          r"GTID \S+", svc.state()["StatusText"] or "")
                        and int(re.search(r"(\d+) rows applied", svc.state()["StatusText"]).group(1)) >= 1,
                        timeout=15)
    assert st
    out = svc.systemctl("status", "sdl").stdout
    assert re.search(r'Status: "Replicating: lag \d+\.\ds, \d+ rows/s, \d+ rows applied, GTID [0-9-]+"',
                     out), out


def test_watchdog_kills_a_hung_sdl_and_restarts_it(svc):
    c = svc.c
    st = svc.state()
    assert st["ActiveState"] == "active", svc.why()
    pid, restarts = st["MainPID"], int(st["NRestarts"])
    t0 = time.monotonic()
    c.run("systemctl", "kill", "--kill-who=main", "--signal=SIGSTOP", "sdl", check=True)
    c.wait_for("the watchdog to fire", lambda: "sdl.service: Watchdog timeout" in svc.journal(), 15)
    fired = time.monotonic() - t0
    c.wait_for("a restart", lambda: int(svc.state()["NRestarts"]) == restarts + 1, 15)
    c.wait_for("active again", lambda: svc.state()["ActiveState"] == "active", 30)
    st = svc.state()
    assert st["MainPID"] != pid, svc.why()
    j = svc.journal()
    assert re.search(r"Main process exited, code=(killed|dumped), status=6/ABRT", j), j
    assert "Failed with result 'watchdog'" in j, j
    print(f"watchdog fired {fired:.1f}s after SIGSTOP (WatchdogSec=3s)")
    assert 2.5 <= fired <= 8, fired
    svc.db.sql("INSERT INTO sysd.t VALUES (2, 'two')")
    svc.wait_row(2)
    ids = sorted(d["after"]["id"] for d in svc.rows(table="t"))
    assert ids == [1, 2], ids  # resumed from its offset: nothing lost, nothing twice


def test_reload_applies_reloadable_keys_without_a_restart(svc):
    c = svc.c
    st = svc.state()
    assert st["ActiveState"] == "active", svc.why()
    svc.write_config(svc.good_config().replace("max_delay: 20ms", "max_delay: 30ms"))
    p = svc.systemctl("reload", "sdl")
    assert p.returncode == 0, p.stderr + svc.why()
    c.wait_for("the reload to be logged", lambda: "Configuration reloaded" in svc.journal(), 15)
    c.wait_for("active after the reload", lambda: svc.state()["ActiveState"] == "active", 15)
    assert svc.state()["MainPID"] == st["MainPID"], svc.why()  # reloaded, not restarted
    svc.db.sql("INSERT INTO sysd.t VALUES (3, 'three')")
    svc.wait_row(3)
    # A change that needs a restart is refused; the service keeps running.
    svc.write_config(svc.good_config().replace("server_id: 4343", "server_id: 4344"))
    assert svc.systemctl("reload", "sdl").returncode == 0
    c.wait_for("the refusal to be logged",
               lambda: "'source.server_id' cannot change on reload" in svc.journal(), 15)
    c.wait_for("active after the refused reload",
               lambda: svc.state()["ActiveState"] == "active", 15)
    assert svc.state()["MainPID"] == st["MainPID"], svc.why()
    svc.write_config(svc.good_config())


def test_stop_is_clean(svc):
    assert svc.state()["ActiveState"] == "active", svc.why()
    t0 = time.monotonic()
    p = svc.systemctl("stop", "sdl")
    took = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    st = svc.state()
    assert (st["ActiveState"], st["Result"]) == ("inactive", "success"), svc.why()
    assert st["ExecMainStatus"] == "0", svc.why()
    j = svc.journal()
    # sdl's own line may reach the journal just before systemd's "Stopping sdl.service"
    j = j[j.rindex("Started sdl.service"):]
    assert "Stopping sdl.service" in j, j
    assert "Stopping: finishing the current batch" in j, j   # logged when STOPPING=1 is sent
    assert "Stopped at batch" in j and "sdl.service: Deactivated successfully" in j, j
    # systemd logs "Main process exited" only for a failure (a signal or a non-zero status).
    assert "Main process exited" not in j and "SIGKILL" not in j, j
    print(f"systemctl stop took {took:.2f}s")
    assert took < 10


def test_bad_config_exits_78_and_is_not_restarted(svc):
    svc.systemctl("reset-failed", "sdl")
    svc.write_config(svc.good_config().replace("  port:", "  prot:"))
    p = svc.systemctl("start", "sdl")
    assert p.returncode != 0, svc.why()
    st = svc.state()
    assert st["ExecMainStatus"] == "78" and st["ActiveState"] == "failed", svc.why()
    time.sleep(3)  # three RestartSec= periods
    st = svc.state()
    assert st["ActiveState"] == "failed" and st["NRestarts"] == "0", svc.why()
    j = svc.journal()
    assert "unknown key 'prot' in 'source' (did you mean 'port'?)" in j, j
    assert "Main process exited, code=exited, status=78/CONFIG" in j, j
    svc.systemctl("reset-failed", "sdl")
    svc.write_config(svc.good_config())


def test_missing_secret_file_fails_without_restart(svc):
    c = svc.c
    path = svc.creds["source-password"]
    c.run("mv", path, path + ".away", check=True)
    try:
        p = svc.systemctl("start", "sdl")
        assert p.returncode != 0, svc.why()
        st = svc.state()
        assert st["ExecMainStatus"] == "243" and st["ActiveState"] == "failed", svc.why()
        time.sleep(2)  # two RestartSec= periods
        st = svc.state()
        assert st["ActiveState"] == "failed" and st["NRestarts"] == "0", svc.why()
        assert "status=243/CREDENTIALS" in svc.journal()
    finally:
        c.run("mv", path + ".away", path, check=True)
        svc.systemctl("reset-failed", "sdl")


def test_a_row_sdl_cannot_store_exits_65_and_is_not_restarted(svc):
    """A row whose document exceeds what MongoDB stores (pipeline.on_error: stop, the default)
    stops sdl with 65 (EX_DATAERR), which RestartPreventExitStatus= lists: no restart loop.
    Runs last: the source keeps that row."""
    svc.systemctl("reset-failed", "sdl")
    svc.write_config(svc.good_config())
    p = svc.systemctl("start", "sdl")
    assert p.returncode == 0, svc.why()
    svc.db.sql("CREATE TABLE IF NOT EXISTS sysd.big (id INT PRIMARY KEY, b LONGBLOB)",
               "INSERT INTO sysd.big VALUES (1, REPEAT('x', 20 * 1024 * 1024))")
    svc.c.wait_for("sdl failed", lambda: svc.state()["ActiveState"] == "failed", 60)
    st = svc.state()
    assert st["ExecMainStatus"] == "65", svc.why()
    time.sleep(3)  # three RestartSec= periods
    st = svc.state()
    assert st["ActiveState"] == "failed" and st["NRestarts"] == "0", svc.why()
    j = svc.journal()
    assert "in 'sysd.big'" in j and "maps to a document of" in j, j[-3000:]
    assert "status=65/DATAERR" in j, j[-3000:]
