"""Helpers for `sdl run` integration tests: a MongoDB target (tests/fakemongod, or the real
replica set named by $SDL_TEST_MONGODB_URI), a running sdl daemon, workloads, and the checks
every test ends with: row_changes holds exactly the documents the oracle (oracle.py: derived
from `mariadb-binlog -vv` and information_schema, sharing nothing with sdl) expects for the
binlog range, each once, split as the batch limits require; optionally also exactly what
`sdl tail` prints (which only proves that sdl's two paths agree); and the offset equals the
source's position."""
import os
import random
import re
import signal
import subprocess
import sys
import time

import pymongo

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fakemongod"))
from harness import FakeMongod  # noqa: E402
from bson import json_util  # noqa: E402
from oracle import Oracle, check_against_oracle  # noqa: E402


class Target:
    """A MongoDB replica set for one test, with its own database name."""

    def __init__(self, tmp_path, name):
        self.fake = None
        self.external = os.environ.get("SDL_TEST_MONGODB_URI")
        if self.external:
            self.uri = self.external
        else:
            self.fake = FakeMongod(tmp_path / "mongo").start()
            self.uri = self.fake.uri
        self.database = f"sdltest_{name}_{os.getpid()}_{random.randrange(1 << 30)}"
        self._client = None

    @property
    def client(self):
        if self._client is None:
            self._client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=10000)
        return self._client

    @property
    def db(self):
        return self.client[self.database]

    def close(self):
        if self._client is not None:
            if self.external:
                self._client.drop_database(self.database)
            self._client.close()
            self._client = None
        if self.fake:
            self.fake.stop()

    # fault injection (mongod's failCommand, also on fakemongod)
    def fail(self, mode, **data):
        self.client.admin.command({"configureFailPoint": "failCommand", "mode": mode,
                                   "data": data})

    def fail_off(self):
        self.client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})


class Daemon:
    """`sdl run` as a child process."""

    def __init__(self, sdl, target, tmp_path, batch="", extra="", start="start",
                 socket_timeout="5s", config_name="run.yaml", pipeline=()):
        """@pipeline: more keys of the pipeline section, as "key: value" lines."""
        self.sdl = sdl
        self.target = target
        urifile = tmp_path / "mongodb.uri"
        urifile.write_text(target.uri + "\n")
        more = "".join(f"  {line}\n" for line in pipeline)
        self.config = sdl.write_config(name=config_name, start=start or "start", extra=f"""  batch: {{{batch}}}
  retry: {{initial: 50ms, max: 1s, give_up_after: 2m}}
{more}target:
  uri_file: {urifile}
  database: {target.database}
  socket_timeout: {socket_timeout}
  connect_timeout: 5s
{extra}""")
        self.proc = None
        self.logs = []
        self.log_path = tmp_path / "sdl-run.log"
        # the batch limits in force (docs/CONFIG.md defaults), for the split checks
        limits = dict(kv.split(":", 1) for kv in batch.split(",") if ":" in kv)
        limits = {k.strip(): v.strip() for k, v in limits.items()}
        self.max_rows = int(limits.get("max_rows", 5000))
        self.max_bytes = parse_size(limits.get("max_bytes", "16MiB"))

    def start(self, env=None):
        e = dict(os.environ)
        e.pop("SDL_FAILPOINT", None)
        if env:
            e.update(env)
        self.log = open(self.log_path, "a")
        self.log_start = len(self.output())
        self.proc = subprocess.Popen([self.sdl.bin, "run", "-c", self.config], env=e,
                                     stdout=self.log, stderr=self.log)
        return self

    def wait_started(self, timeout=10):
        """Until this run has logged its first line (its signal handlers are installed by
        then), so a SIGTERM right after start() stops it instead of killing it."""
        deadline = time.time() + timeout
        while self.proc.poll() is None and time.time() < deadline:
            if self.output()[self.log_start:].strip():
                return
            time.sleep(0.02)

    def wait(self, timeout=60):
        rc = self.proc.wait(timeout)
        self.log.close()
        return rc

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.wait_started()
            self.proc.send_signal(signal.SIGTERM)
            rc = self.wait(timeout)
        else:
            rc = self.proc.returncode if self.proc else None
        return rc

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self.log.close()

    def output(self):
        try:
            return open(self.log_path).read()
        except OSError:
            return ""


def parse_size(text):
    units = {"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
    num = text.rstrip("BKMGi")
    return int(num) * units[text[len(num):]]


def offset(target, pipeline="test"):
    return target.db.binlog_offsets.find_one({"_id": pipeline})


def wait_for_offset(target, gtid_pos, daemon=None, timeout=120, pipeline="test"):
    """Waits until the pipeline's offset has reached @gtid_pos in every domain."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        if daemon and daemon.proc.poll() is not None:
            raise AssertionError(f"sdl exited with {daemon.proc.returncode}:\n{daemon.output()[-4000:]}")
        last = offset(target, pipeline)
        if last and covers(last.get("gtid", ""), gtid_pos) and not last.get("partial"):
            return last
        time.sleep(0.2)
    raise AssertionError(f"offset {last} did not reach {gtid_pos}; sdl log:\n"
                         + (daemon.output()[-4000:] if daemon else ""))


def covers(have, want):
    h = {}
    for p in have.split(","):
        if p:
            d, s, n = p.split("-")
            h[d] = int(n)
    for p in want.split(","):
        if p:
            d, s, n = p.split("-")
            if h.get(d, -1) < int(n):
                return False
    return True


def canonical(doc):
    """Relaxed Extended JSON, keys in stored order: int32 and int64 print alike (the tail's
    relaxed output cannot tell them apart), everything else keeps its type."""
    return json_util.dumps(doc, json_options=json_util.RELAXED_JSON_OPTIONS)


def expected_docs(sdl, start, end):
    """What `sdl tail` prints for the binlog range (start, end], parsed as Extended JSON (for
    check_against_tail)."""
    p = sdl.run("tail", "-c", sdl.write_config(name="tail.yaml"), "--from", start, "--until", end,
                timeout=600)
    assert p.returncode == 0, p.stderr
    return [json_util.loads(line) for line in p.stdout.splitlines() if line.strip()]


def audit_documents(target, changes="row_changes"):
    """The audit log's documents: the collection @changes, or, when it is a template with
    {db} and {table} (target.collections.changes, docs/CONFIG.md), every collection it names,
    each document checked to be in the one its db and table give ('_' when absent)."""
    if "{db}" not in changes and "{table}" not in changes:
        return list(target.db[changes].find({}))
    pattern = re.compile("^" + re.escape(changes).replace(re.escape("{db}"), ".+")
                         .replace(re.escape("{table}"), ".+") + "$")
    own = {"row_changes_staging", "binlog_offsets", "row_changes_dlq"}
    docs = []
    for name in target.db.list_collection_names():
        if name in own or not pattern.match(name):
            continue
        for d in target.db[name].find({}):
            want = changes.replace("{db}", d.get("db") or "_").replace("{table}",
                                                                      d.get("table") or "_")
            assert want == name, f"{d['_id']} ({d.get('db')}.{d.get('table')}) is in {name}"
            docs.append(d)
    return docs


def check_row_changes(target, source, start, end, daemon=None, pipeline="test", include=(),
                      exclude=(), tail=None, allow_extra_split=False, changes="row_changes"):
    """row_changes == what the oracle expects for the binlog range (start, end] of @source (a
    mariadb.MariaDB), document for document (oracle.check_against_oracle), with the split
    rules of @daemon's batch limits. With @tail (a conftest.Sdl), row_changes must also equal
    what `sdl tail` prints for the range (an extra: it proves only that the two agree).
    @changes: target.collections.changes, a name or a template (audit_documents()).
    Returns the oracle check's summary."""
    t0 = time.time()
    expected = Oracle(source, pipeline=pipeline, include=include,
                      exclude=exclude).expected(start, end)
    t1 = time.time()
    summary = check_against_oracle(
        audit_documents(target, changes), expected, max_rows=daemon.max_rows if daemon else None,
        max_bytes=daemon.max_bytes if daemon else None, allow_extra_split=allow_extra_split)
    t2 = time.time()
    print(f"oracle: {len(expected)} documents derived in {t1 - t0:.1f}s, compared in {t2 - t1:.1f}s")
    if tail is not None:
        check_against_tail(target, expected_docs(tail, start, end))
        print(f"sdl tail agrees too ({time.time() - t2:.1f}s)")
    return summary


def check_against_tail(target, expected, allow_split=True):
    """row_changes == what `sdl tail` printed (by _id, each once, same content, split rows
    marked); returns a summary."""
    got = list(target.db.row_changes.find({}))
    by_id = {}
    for d in got:
        assert d["_id"] not in by_id, f"duplicate {d['_id']}"
        by_id[d["_id"]] = d
    exp_ids = [d["_id"] for d in expected]
    missing = [i for i in exp_ids if i not in by_id]
    exp_set = set(exp_ids)  # once: rebuilt per element it made this O(n^2) (117k documents)
    extra = [i for i in by_id if i not in exp_set]
    assert not missing, f"{len(missing)} missing, e.g. {missing[:5]}"
    assert not extra, f"{len(extra)} unexpected, e.g. {extra[:5]}"
    split = 0
    for e in expected:
        g = dict(by_id[e["_id"]])
        if g.pop("split", False):
            assert allow_split, f"{e['_id']} marked split"
            split += 1
        assert canonical(g) == canonical(e), f"{e['_id']} differs:\n got {canonical(g)}\nwant {canonical(e)}"
    return {"documents": len(got), "split": split}
