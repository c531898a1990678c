"""Command dispatch: generic arguments, failCommand, sessions/transactions, handlers."""

import copy
import datetime
import itertools
import os
import socket
import time

import bson
from bson.binary import Binary
from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.raw_bson import RawBSONDocument
from bson.timestamp import Timestamp

from .bsonutil import encode, decode, skey, is_number, num_norm, CODEC
from .engine import Txn, doc_key
from .errors import (CommandError, WriteConflictError, DuplicateKeyError, CloseConnection,
                     compute_labels)
from . import failpoint as FP
from . import query as Q

MAX_BSON = 16 * 1024 * 1024
MAX_MSG = 48000000
MAX_BATCH = 100000
VERSION = "6.0.0"

# flags: w = write command (takes writeConcern, retryable), t = allowed in a transaction,
#        a = admin database only, r = never counted/failable as a "user" command
COMMANDS = {}
ALIASES = {"ismaster": "isMaster"}


def command(name, flags=""):
    def deco(fn):
        COMMANDS[name] = (fn, flags)
        return fn
    return deco


RETRYABLE = {"insert", "update", "delete", "findAndModify"}
TXN_FIELDS = ("lsid", "txnNumber", "autocommit", "startTransaction")
WRITE_CONCERN_CMDS = {"insert", "update", "delete", "findAndModify", "commitTransaction",
                      "abortTransaction", "create", "createIndexes", "drop", "dropDatabase",
                      "dropIndexes", "renameCollection", "collMod"}


class Ctx:
    def __init__(self, server, conn, body, name, dbname):
        self.server = server
        self.engine = server.engine
        self.conn = conn
        self.body = body
        self.name = name
        self.db = dbname
        self.session = None
        self.txn = None          # the multi-document transaction, if in one
        self.in_txn = False
        self.retryable = False
        self.changes = []
        self.session_rows = []
        self.deadline = None
        mt = body.get("maxTimeMS")
        if is_number(mt) and num_norm(mt) and num_norm(mt) > 0:
            self.deadline = time.monotonic() + num_norm(mt) / 1000.0

    def ns(self, field=None):
        coll = self.body.get(field or self.name)
        if not isinstance(coll, str):
            raise CommandError(73, "collection name has invalid type %s" % type(coll).__name__)
        if coll == "" or "\0" in coll or coll.startswith("."):
            raise CommandError(73, "Invalid namespace specified '%s.%s'" % (self.db, coll))
        if coll.startswith("$"):
            raise CommandError(73, "Invalid collection name: %s" % coll)
        return "%s.%s" % (self.db, coll)

    def flush(self):
        if self.changes or self.session_rows:
            self.engine.flush(self.changes, self.session_rows)
            self.changes = []
            self.session_rows = []

    def stmt(self, fn):
        """Run one write statement: inside the transaction, or as its own implicit transaction
        (waiting for a conflicting transaction's lock to be released, as mongod does)."""
        eng = self.engine
        if self.in_txn:
            return fn(self.txn)
        while True:
            t = Txn(eng, implicit=True)
            try:
                r = fn(t)
            except WriteConflictError as e:
                eng.abort(t)
                if e.blocker is None:
                    raise
                self.flush()
                eng.wait_for(e.blocker, self.deadline)
                continue
            except BaseException:
                eng.abort(t)
                raise
            changes, apply = eng.prepare_commit(t)
            apply()
            self.changes.extend(changes)
            return r

    def write(self, t, ns, k, new, old, raw=None):
        if t.implicit and ns not in self.engine.colls:
            self.engine.create_collection(ns, {}, self.changes)
        self.engine.write(t, ns, k, new, old, raw)

    def read_txn(self):
        return self.txn if self.in_txn else None


# ================================================================ dispatch

def run_command(server, conn, body, from_op_query=False):
    """Execute a command document and return the reply document (raise CloseConnection to hang up)."""
    if not body:
        raise CommandError(59, "no such command: ''")
    name = next(iter(body))
    canonical = ALIASES.get(name, name)
    entry = COMMANDS.get(canonical)
    dbname = body.get("$db")
    if dbname is None and not from_op_query:
        return _finish(server, None, CommandError(40571, "OP_MSG requests require a $db argument"))
    if not isinstance(dbname, str) or not dbname or any(c in dbname for c in "/\\. \"$\0"):
        return _finish(server, None, CommandError(73, "Invalid database name: '%s'" % (dbname,)))
    if entry is None:
        return _finish(server, None, CommandError(59, "no such command: '%s'" % name))
    fn, flags = entry
    ctx = Ctx(server, conn, body, canonical, dbname)
    fp_data = None
    # ---- failCommand (before the session is checked out: leaves txn state untouched)
    if canonical not in ("configureFailPoint", "waitForFailPoint"):
        ns = _fp_namespace(body, name, dbname)

        def pred(data):
            if not FP.matches(data, (name, canonical), conn.app_name, ns):
                return False
            return bool(data.get("closeConnection")) or bool(data.get("blockConnection")) or "errorCode" in data
        fp_data = server.failpoint.evaluate(pred)
        if fp_data is not None:
            if fp_data.get("blockConnection"):
                ms = fp_data.get("blockTimeMS")
                if not is_number(ms) or num_norm(ms) is None or num_norm(ms) < 0:
                    return _finish(server, ctx, CommandError(2, "blockTimeMS must be a non-negative integer"))
                time.sleep(num_norm(ms) / 1000.0)
            if fp_data.get("closeConnection"):
                raise CloseConnection()
            if "errorCode" in fp_data:
                code = fp_data["errorCode"]
                err = CommandError(int(num_norm(code)) if is_number(code) else 8,
                                   "Failing command via 'failCommand' failpoint",
                                   dict(fp_data.get("errorExtraInfo") or {}))
                _classify(ctx, body)
                return _finish(server, ctx, err, fp_data)
            fp_data = None  # block only: run normally
    try:
        with server.engine.lock:
            reply = _execute(ctx, fn, flags, body)
    except CommandError as e:
        return _finish(server, ctx, e)
    # ---- writeConcernError failpoint: command ran (and committed); then report the WCE
    wce_fp = None
    if canonical in WRITE_CONCERN_CMDS and reply.get("ok") == 1:
        def wpred(data):
            return ("writeConcernError" in data and
                    FP.matches(data, (name, canonical), conn.app_name, _fp_namespace(body, name, dbname)))
        wce_fp = server.failpoint.evaluate(wpred)
        if wce_fp is not None:
            reply["writeConcernError"] = copy.deepcopy(wce_fp["writeConcernError"])
    return _finish(server, ctx, None, wce_fp, reply)


def _fp_namespace(body, name, dbname):
    v = body.get(name)
    return "%s.%s" % (dbname, v) if isinstance(v, str) else dbname


def _classify(ctx, body):
    has_txn = "txnNumber" in body
    ctx.in_txn_flag = has_txn and "autocommit" in body
    ctx.retryable_flag = has_txn and "autocommit" not in body and ctx.name in RETRYABLE


def _finish(server, ctx, err, fp_data=None, reply=None):
    if err is not None:
        reply = err.to_doc()
        code, wce_code = err.code, None
    else:
        code = None
        wce = reply.get("writeConcernError")
        wce_code = wce.get("code") if isinstance(wce, dict) else None
    if ctx is not None and (err is not None or wce_code is not None):
        if not hasattr(ctx, "in_txn_flag"):
            _classify(ctx, ctx.body)
        if fp_data is not None and isinstance(fp_data.get("errorLabels"), list):
            labels = list(fp_data["errorLabels"])
        elif err is not None and err.labels is not None:
            labels = err.labels
        else:
            labels = compute_labels(ctx.name, ctx.in_txn_flag, ctx.retryable_flag, code,
                                    int(wce_code) if is_number(wce_code) else wce_code)
        if labels:
            reply["errorLabels"] = labels
    server.decorate(reply)
    return reply


def _execute(ctx, fn, flags, body):
    server, eng = ctx.server, ctx.engine
    _classify(ctx, body)
    name = ctx.name
    if "a" in flags and ctx.db != "admin":
        raise CommandError(13, "%s may only be run against the admin database." % name)
    lsid = body.get("lsid")
    txn_number = body.get("txnNumber")
    autocommit = body.get("autocommit")
    start = body.get("startTransaction")
    if txn_number is not None:
        if not server.replset:
            raise CommandError(20, "Transaction numbers are only allowed on a replica set member or mongos")
        if lsid is None:
            raise CommandError(72, "Transaction number requires a session ID to also be specified")
        if not is_number(txn_number) or isinstance(txn_number, float) or num_norm(txn_number) < 0:
            raise CommandError(14 if not is_number(txn_number) else 2, "txnNumber must be a non-negative integer")
        txn_number = int(txn_number)
    if autocommit is not None:
        if autocommit is not False:
            raise CommandError(72, "Specifying autocommit=true is not allowed.")
        if txn_number is None:
            raise CommandError(50768 if lsid is not None else 72,
                               "'autocommit' field requires a transaction number to also be specified")
    if start is not None:
        if start is not True:
            raise CommandError(72, "Specifying startTransaction=false is not allowed.")
        if autocommit is None:
            raise CommandError(72, "'startTransaction' field requires 'autocommit' field to also be specified")
    in_txn = autocommit is not None
    if txn_number is not None and not in_txn and name not in RETRYABLE:
        raise CommandError(50768, "txnNumber may only be provided for multi-document transactions and "
                                  "retryable write commands. autocommit:false was not provided, and %s "
                                  "is not a retryable write command." % name)
    if name in ("commitTransaction", "abortTransaction") and not in_txn:
        raise CommandError(50768, "%s must be run within a transaction" % name)
    if in_txn:
        if "t" not in flags:
            raise CommandError(263, "Cannot run '%s' in a multi-document transaction." % name)
        if "writeConcern" in body and name not in ("commitTransaction", "abortTransaction"):
            raise CommandError(72, "Cannot set write concern after starting a transaction.")
        if "readConcern" in body:
            if not start:
                raise CommandError(72, "Only the first command in a transaction may specify a readConcern")
            lvl = body["readConcern"].get("level", "local") if isinstance(body["readConcern"], dict) else None
            if lvl not in ("local", "majority", "snapshot"):
                raise CommandError(72, "The readConcern level must be either 'local' (default), 'majority' or "
                                       "'snapshot' in order to run in a transaction")
    ctx.retryable = txn_number is not None and not in_txn
    session = None
    if lsid is not None:
        session = eng.session(lsid)
        while session.checked_out:
            eng.cond.wait(0.5)
        session.checked_out = True
    try:
        ctx.session = session
        committed_retry = False
        if txn_number is not None:
            r = _begin_or_continue(ctx, session, txn_number, in_txn, bool(start), name)
            if r == "replay":
                reply = decode(session.reply)
                reply.pop("$clusterTime", None)
                reply.pop("operationTime", None)
                return reply
            committed_retry = r == "committed"
        if in_txn:
            ctx.in_txn = True
            ctx.txn = session.txn
            if committed_retry:
                return {"ok": 1.0}
        try:
            reply = fn(ctx)
        except CommandError as e:
            if ctx.in_txn and ctx.txn is not None and ctx.txn.state == "in_progress":
                eng.abort(ctx.txn)
                session.state = "aborted"
                session.abort_reason = "failed"
            ctx.flush()
            raise
        if ctx.in_txn and reply.get("writeErrors") and ctx.txn.state == "in_progress":
            eng.abort(ctx.txn)
            session.state = "aborted"
            session.abort_reason = "failed"
        if ctx.retryable:
            session.reply = encode(reply)
            ctx.session_rows.append((session.key, txn_number, "retryable", session.reply))
        ctx.flush()
        if name in WRITE_CONCERN_CMDS:
            server.tick()
        return reply
    finally:
        if session is not None:
            session.checked_out = False
            eng.cond.notify_all()


def _begin_or_continue(ctx, s, num, in_txn, start, name):
    eng = ctx.engine
    lsid_txt = _lsid_text(s)
    if num < s.txn_num:
        raise CommandError(225, "Cannot start transaction %d on session %s because a newer transaction "
                                "%d has already started." % (num, lsid_txt, s.txn_num))
    if in_txn:
        if start:
            if num == s.txn_num:
                raise CommandError(117, "Only servers in a sharded cluster can start a new transaction at "
                                        "the active transaction number")
            if s.txn is not None and s.txn.state == "in_progress":
                eng.abort(s.txn)
            s.txn_num = num
            s.txn = eng.begin_txn(s, num)
            s.state = "in_progress"
            s.reply = None
            s.abort_reason = None
            rc = ctx.body.get("readConcern")
            s.txn.read_concern = rc
            return "started"
        if num > s.txn_num or s.state in ("none", "retryable"):
            raise CommandError(251, "Given transaction number %d does not match any in-progress "
                                    "transactions. The active transaction number is %d" % (num, s.txn_num))
        if s.state == "committed":
            if name == "commitTransaction":
                return "committed"
            raise CommandError(256, "Transaction %d has been committed." % num)
        if s.state == "aborted":
            if s.abort_reason == "expired":
                raise CommandError(251, "Transaction with { txnNumber: %d } has been aborted because it "
                                        "exceeded transactionLifetimeLimitSeconds." % num)
            raise CommandError(251, "Transaction with { txnNumber: %d } has been aborted." % num)
        return "continue"
    # retryable write
    if num > s.txn_num:
        if s.txn is not None and s.txn.state == "in_progress":
            eng.abort(s.txn)
        s.txn = None
        s.txn_num = num
        s.state = "retryable"
        s.reply = None
        return "new"
    if s.state != "retryable":
        raise CommandError(217, "Cannot retry a retryable write that has been converted into a transaction")
    return "replay" if s.reply is not None else "new"


# ================================================================ helpers

def _lsid_text(s):
    import uuid
    try:
        return '{ id: UUID("%s") }' % uuid.UUID(bytes=bytes(s.key))
    except ValueError:
        return "{ id: %r }" % (s.key,)


def _check_list(ctx, field, required=True):
    v = ctx.body.get(field)
    if v is None:
        if required:
            raise CommandError(40414, "BSON field '%s.%s' is missing but a required field" % (ctx.name, field))
        return []
    if not isinstance(v, list):
        raise CommandError(14, "BSON field '%s.%s' is the wrong type '%s', expected type 'array'"
                           % (ctx.name, field, type(v).__name__))
    return v


def _int_arg(ctx, field, default=0):
    v = ctx.body.get(field, default)
    if v is None:
        return default
    if isinstance(v, bool) or not is_number(v) or num_norm(v) is None:
        raise CommandError(14, "BSON field '%s.%s' is the wrong type, expected a number" % (ctx.name, field))
    return int(num_norm(v)) if not isinstance(num_norm(v), float) else int(v)


def _write_error(i, e):
    d = {"index": i, "code": e.code, "errmsg": e.errmsg}
    if e.code == 11000:
        d["keyPattern"] = e.extra.get("keyPattern")
        d["keyValue"] = e.extra.get("keyValue")
    return d


def _is_top_level_in_txn(ctx, e):
    """Inside a transaction, transient errors are thrown as top-level errors (not writeErrors)."""
    from .errors import is_transient
    return ctx.in_txn and is_transient(e.code, False, False) or e.code in (50, 20, 263)


def _fix_id(doc):
    if not isinstance(doc, dict):
        raise CommandError(14, "document to insert must be an object")
    if "_id" not in doc:
        d = {"_id": ObjectId()}
        d.update(doc)
        return d
    v = doc["_id"]
    if isinstance(v, list):
        raise CommandError(53, "The '_id' value cannot be of type array")
    if hasattr(v, "pattern") and hasattr(v, "flags"):
        raise CommandError(53, "can't use a regex for _id")
    if next(iter(doc)) != "_id":
        d = {"_id": v}
        for k, x in doc.items():
            if k != "_id":
                d[k] = x
        return d
    return doc


def _check_storable(doc, raw=None):
    """The document's BSON (@raw when the caller has already encoded it), after mongod's
    storage checks: no $-prefixed top-level or _id field names, at most 16 MiB."""
    for k in doc:
        if k.startswith("$"):
            raise CommandError(52, "Document can't have $ prefixed field names: %s" % k)
    if isinstance(doc.get("_id"), dict):
        for k in doc["_id"]:
            if k.startswith("$"):
                raise CommandError(52, "_id fields may not contain '$'-prefixed fields: %s is not valid "
                                       "for storage." % k)
    if raw is None:
        raw = encode(doc)
    if len(raw) > MAX_BSON:
        raise CommandError(10334, "object to insert too large")
    return raw


def _make_batch(docs, limit):
    """Take up to `limit` docs (0 = no limit) under the 16 MiB reply budget."""
    out = []
    size = 0
    n = 0
    for d in docs:
        raw = d if isinstance(d, RawBSONDocument) else RawBSONDocument(encode(d))
        ln = len(raw.raw)
        if out and size + ln > MAX_BSON - 16 * 1024:
            break
        out.append(raw)
        size += ln
        n += 1
        if limit and n >= limit:
            break
    return out


def _cursor_reply(ctx, ns, docs, batch_size, single_batch=False, first=True):
    batch = _make_batch(docs, batch_size if batch_size else (101 if first else 0))
    rest = docs[len(batch):]
    cid = 0
    if rest and not single_batch:
        c = ctx.engine.new_cursor(ns, rest, ctx.session.key if ctx.session else None, ctx.read_txn())
        cid = c.id
    return {"cursor": {"firstBatch": batch, "id": Int64(cid), "ns": ns}, "ok": 1.0}


# ================================================================ handshake / admin

@command("hello", "t")
def cmd_hello(ctx):
    return ctx.server.hello_reply(ctx.conn, ctx.body, "hello")


@command("isMaster", "t")
def cmd_ismaster(ctx):
    return ctx.server.hello_reply(ctx.conn, ctx.body, "isMaster")


@command("ping", "t")
def cmd_ping(ctx):
    return {"ok": 1.0}


@command("buildInfo", "t")
def cmd_buildinfo(ctx):
    return {"version": VERSION, "gitVersion": "fakemongod", "modules": [], "allocator": "system",
            "javascriptEngine": "none", "sysInfo": "deprecated", "versionArray": [6, 0, 0, 0],
            "openssl": {"running": "disabled", "compiled": "disabled"},
            "buildEnvironment": {"distmod": "fakemongod", "target_os": "linux"},
            "bits": 64, "debug": False, "maxBsonObjectSize": MAX_BSON,
            "storageEngines": ["fakemongod-sqlite"], "fakemongod": True, "ok": 1.0}


@command("getLog")
def cmd_getlog(ctx):
    v = ctx.body.get("getLog")
    if v == "*":
        return {"names": ["global", "startupWarnings"], "ok": 1.0}
    return {"totalLinesWritten": 0, "log": [], "ok": 1.0}


@command("connectionStatus")
def cmd_connstatus(ctx):
    return {"authInfo": {"authenticatedUsers": [], "authenticatedUserRoles": []}, "ok": 1.0}


@command("whatsmyuri")
def cmd_whatsmyuri(ctx):
    return {"you": "%s:%d" % ctx.conn.peer[:2], "ok": 1.0}


@command("hostInfo")
def cmd_hostinfo(ctx):
    return {"system": {"currentTime": _now(), "hostname": socket.gethostname(), "numCores": os.cpu_count()},
            "os": {"type": "Linux"}, "extra": {}, "ok": 1.0}


@command("getCmdLineOpts", "a")
def cmd_cmdline(ctx):
    s = ctx.server
    return {"argv": s.argv, "parsed": {"net": {"port": s.port}, "storage": {"dbPath": s.dbpath},
                                       "replication": {"replSet": s.replset} if s.replset else {}},
            "ok": 1.0}


@command("getParameter", "a")
def cmd_getparameter(ctx):
    b = ctx.body
    params = ctx.server.parameters()
    v = b.get("getParameter")
    out = {}
    if v == "*" or (isinstance(v, dict) and v.get("allParameters")):
        out.update(params)
    else:
        for k in b:
            if k in ("getParameter", "$db", "lsid", "$clusterTime", "$readPreference", "comment"):
                continue
            if k in params:
                out[k] = params[k]
        if not out:
            raise CommandError(72, "no option found to get")
    out["ok"] = 1.0
    return out


@command("setParameter", "a")
def cmd_setparameter(ctx):
    out = {}
    for k, v in ctx.body.items():
        if k in ("setParameter", "$db", "lsid", "$clusterTime", "$readPreference", "comment"):
            continue
        if k == "transactionLifetimeLimitSeconds":
            if not is_number(v) or num_norm(v) is None or num_norm(v) < 1:
                raise CommandError(2, "transactionLifetimeLimitSeconds must be greater than or equal to 1s")
            out["was"] = ctx.engine.txn_lifetime
            ctx.engine.txn_lifetime = num_norm(v)
        else:
            raise CommandError(72, "attempted to set unrecognized parameter [%s], use help:true to see "
                                   "options " % k)
    if "was" not in out:
        raise CommandError(72, "no option found to set, use help:true to see options ")
    out["ok"] = 1.0
    return out


@command("serverStatus")
def cmd_serverstatus(ctx):
    s = ctx.server
    up = time.monotonic() - s.started
    active = sum(1 for t in ctx.engine.active_txns if t.state == "in_progress")
    st = {"host": s.advertise, "version": VERSION, "process": "mongod", "pid": Int64(os.getpid()),
          "uptime": float(int(up)), "uptimeMillis": Int64(int(up * 1000)), "uptimeEstimate": Int64(int(up)),
          "localTime": _now(),
          "connections": {"current": len(s.conns), "available": 10000, "totalCreated": s.total_conns,
                          "active": 1},
          "opcounters": dict((k, Int64(v)) for k, v in s.opcounters.items()),
          "transactions": {"currentActive": Int64(active), "currentInactive": Int64(0),
                           "currentOpen": Int64(active),
                           "totalStarted": Int64(ctx.engine.stats["totalStarted"]),
                           "totalCommitted": Int64(ctx.engine.stats["totalCommitted"]),
                           "totalAborted": Int64(ctx.engine.stats["totalAborted"])},
          "storageEngine": {"name": "fakemongod-sqlite", "supportsCommittedReads": True,
                            "persistent": True, "dbPath": s.dbpath},
          "ok": 1.0}
    if s.replset:
        st["repl"] = {"setName": s.replset, "isWritablePrimary": True, "secondary": False,
                      "hosts": [s.advertise], "primary": s.advertise, "me": s.advertise}
    return st


@command("replSetGetStatus", "a")
def cmd_rsstatus(ctx):
    s = ctx.server
    if not s.replset:
        raise CommandError(76, "not running with --replSet")
    return {"set": s.replset, "date": _now(), "myState": 1, "term": Int64(1),
            "members": [{"_id": 0, "name": s.advertise, "health": 1.0, "state": 1, "stateStr": "PRIMARY",
                         "uptime": int(time.monotonic() - s.started), "self": True,
                         "optime": {"ts": s.cluster_time(), "t": Int64(1)}}],
            "ok": 1.0}


@command("replSetInitiate", "a")
def cmd_rsinitiate(ctx):
    raise CommandError(23, "already initialized")


@command("replSetGetConfig", "a")
def cmd_rsconfig(ctx):
    s = ctx.server
    return {"config": {"_id": s.replset, "version": 1, "term": 1,
                       "members": [{"_id": 0, "host": s.advertise, "priority": 1.0, "votes": 1}]},
            "ok": 1.0}


@command("fsync", "a")
def cmd_fsync(ctx):
    ctx.engine.sql.execute("PRAGMA wal_checkpoint(FULL)")
    return {"numFiles": 1, "ok": 1.0}


@command("listCommands")
def cmd_listcommands(ctx):
    return {"commands": {n: {"help": "", "adminOnly": "a" in f, "requiresAuth": False}
                         for n, (_, f) in sorted(COMMANDS.items())}, "ok": 1.0}


@command("configureFailPoint", "a")
def cmd_configure_failpoint(ctx):
    name = ctx.body.get("configureFailPoint")
    if name != "failCommand":
        raise CommandError(2, "Cannot configure fail point: %s is not supported by fakemongod" % name
                           if isinstance(name, str) else "configureFailPoint must be a string")
    if "mode" not in ctx.body:
        raise CommandError(40414, "BSON field 'configureFailPoint.mode' is missing but a required field")
    data = ctx.body.get("data", {})
    if not isinstance(data, dict):
        raise CommandError(14, "the 'data' option must be a BSON object")
    if data.get("blockConnection") and not is_number(data.get("blockTimeMS")):
        raise CommandError(2, "blockTimeMS is required when blockConnection is true")
    count = ctx.server.failpoint.configure(ctx.body["mode"], data)
    return {"count": count, "ok": 1.0}


@command("waitForFailPoint", "a")
def cmd_wait_failpoint(ctx):
    if ctx.body.get("waitForFailPoint") != "failCommand":
        raise CommandError(2, "unknown fail point")
    n = _int_arg(ctx, "timesEntered", 1)
    mt = ctx.body.get("maxTimeMS")
    timeout = num_norm(mt) / 1000.0 if is_number(mt) and num_norm(mt) else None
    ctx.engine.lock.release()
    try:
        ctx.server.failpoint.wait_entered(n, timeout)
    finally:
        ctx.engine.lock.acquire()
    return {"ok": 1.0}


# ================================================================ sessions / transactions

@command("startSession")
def cmd_startsession(ctx):
    import uuid
    return {"id": {"id": Binary(uuid.uuid4().bytes, 4)}, "timeoutMinutes": 30, "ok": 1.0}


@command("endSessions")
def cmd_endsessions(ctx):
    ids = ctx.body.get("endSessions")
    if not isinstance(ids, list):
        raise CommandError(14, "BSON field 'endSessions.endSessions' is the wrong type, expected array")
    _end_sessions(ctx, ids)
    return {"ok": 1.0}


@command("killSessions")
def cmd_killsessions(ctx):
    ids = ctx.body.get("killSessions")
    if not isinstance(ids, list):
        raise CommandError(14, "killSessions expects an array")
    _end_sessions(ctx, ids)
    return {"ok": 1.0}


@command("killAllSessions")
def cmd_killallsessions(ctx):
    _end_sessions(ctx, [s.lsid for s in ctx.engine.sessions.values()])
    return {"ok": 1.0}


@command("refreshSessions")
def cmd_refreshsessions(ctx):
    return {"ok": 1.0}


def _end_sessions(ctx, ids):
    eng = ctx.engine
    for lsid in ids:
        if not isinstance(lsid, dict) or not isinstance(lsid.get("id"), (Binary, bytes)):
            continue
        s = eng.sessions.get(bytes(lsid["id"]))
        if s is None:
            continue
        if s.txn is not None and s.txn.state == "in_progress":
            eng.abort(s.txn)
            s.state = "aborted"
            s.abort_reason = "ended"
        for cid, c in list(eng.cursors.items()):
            if c.session_key == s.key:
                del eng.cursors[cid]


@command("commitTransaction", "wta")
def cmd_commit(ctx):
    s, t = ctx.session, ctx.txn
    eng = ctx.engine
    changes, apply = eng.prepare_commit(t)
    eng.flush(changes, [(s.key, t.number, "committed", None)])
    apply()
    s.state = "committed"
    s.txn = None
    return {"ok": 1.0}


@command("abortTransaction", "wta")
def cmd_abort(ctx):
    s, t = ctx.session, ctx.txn
    ctx.engine.abort(t)
    s.state = "aborted"
    s.abort_reason = "aborted"
    s.txn = None
    return {"ok": 1.0}


# ================================================================ writes

@command("insert", "wt")
def cmd_insert(ctx):
    ns = ctx.ns()
    docs = _check_list(ctx, "documents")
    if len(docs) > MAX_BATCH:
        raise CommandError(10334, "Write batch sizes must be between 1 and 100000. Got %d operations." % len(docs))
    if not docs:
        raise CommandError(10334, "Write batch sizes must be between 1 and 100000. Got 0 operations.")
    ordered = ctx.body.get("ordered", True) is not False
    eng = ctx.engine
    n = 0
    errors = []
    ctx.server.opcounters["insert"] += len(docs)
    for i, doc in enumerate(docs):
        try:
            doc = _fix_id(doc)
            raw = _check_storable(doc)
            k = doc_key(doc["_id"])

            def fn(t, doc=doc, k=k, raw=raw):
                if eng.lookup(ns, k, t) is not None:
                    raise DuplicateKeyError(ns, "_id_", {"_id": 1}, {"_id": doc["_id"]})
                ctx.write(t, ns, k, doc, None, raw)
            ctx.stmt(fn)
            n += 1
        except CommandError as e:
            if _is_top_level_in_txn(ctx, e):
                raise
            errors.append(_write_error(i, e))
            if ordered or ctx.in_txn:
                break
    r = {"n": n, "ok": 1.0}
    if errors:
        r["writeErrors"] = errors
    return r


def _replacement(old, u):
    new = {"_id": old["_id"]}
    for k, v in u.items():
        if k == "_id":
            if skey(v) != skey(old["_id"]):
                raise CommandError(66, "After applying the update, the (immutable) field '_id' was found to "
                                       "have been altered to _id: %r" % (v,))
            continue
        new[k] = v  # @u was decoded for this one statement: no copy needed (a big staged
    return new      # batch part is 8 MiB of nested documents)


def _apply_one(old, u, op_update, is_insert=False):
    if op_update:
        new = Q.apply_update(old, u, is_insert)
        if "_id" in old and skey(new.get("_id", None)) != skey(old["_id"]) or ("_id" in old and "_id" not in new):
            raise CommandError(66, "Performing an update on the path '_id' would modify the immutable field '_id'")
        return new
    return _replacement(old, u)


def _upsert_doc(q, u, op_update):
    if op_update:
        seed = Q.build_upsert_seed(q)
        new = Q.apply_update(seed, u, is_insert=True)
        if "_id" in seed and skey(new.get("_id")) != skey(seed["_id"]):
            raise CommandError(66, "Performing an update on the path '_id' would modify the immutable field '_id'")
    else:
        seed = Q.equality_fields(q)
        new = dict(u)  # decoded for this statement alone, as above
        # the query's _id, a document too (MongoDB takes any equality on _id, not operators:
        # equality_fields() leaves those out)
        if "_id" not in new and "_id" in seed:
            new = dict([("_id", seed["_id"])] + list(new.items()))
    new = _fix_id(new)
    return new, _check_storable(new)


def _do_update(ctx, ns, q, u, multi, upsert, sort=None):
    """One update statement. Returns (matched, modified, upserted_id or None, old, new)."""
    eng = ctx.engine
    op_update = Q.is_operator_update(u)
    Q.validate_update(u)
    if multi and not op_update:
        raise CommandError(9, "multi update is not supported for replacement-style update")

    def fn(t):
        docs = eng.find_docs(ns, q, t)
        if sort:
            docs = Q.apply_sort(docs, Q.compile_sort(sort))
        if not multi:
            docs = docs[:1]
        modified = 0
        last_old = last_new = None
        for d in docs:
            new = _apply_one(d, u, op_update)
            raw = encode(new)
            k = doc_key(d["_id"])
            if raw != eng.raw_of(ns, k, d, t):
                _check_storable(new, raw)
                ctx.write(t, ns, k, new, d, raw)
                modified += 1
            last_old, last_new = d, new
        if not docs and upsert:
            new, raw = _upsert_doc(q, u, op_update)
            k = doc_key(new["_id"])
            if eng.lookup(ns, k, t) is not None:
                raise DuplicateKeyError(ns, "_id_", {"_id": 1}, {"_id": new["_id"]})
            ctx.write(t, ns, k, new, None, raw)
            return 0, 0, new["_id"], None, new
        return len(docs), modified, None, last_old, last_new
    return ctx.stmt(fn)


@command("update", "wt")
def cmd_update(ctx):
    ns = ctx.ns()
    updates = _check_list(ctx, "updates")
    if not updates or len(updates) > MAX_BATCH:
        raise CommandError(10334, "Write batch sizes must be between 1 and 100000. Got %d operations." % len(updates))
    ordered = ctx.body.get("ordered", True) is not False
    n = nmod = 0
    upserted = []
    errors = []
    ctx.server.opcounters["update"] += len(updates)
    for i, upd in enumerate(updates):
        try:
            if not isinstance(upd, dict) or "q" not in upd or "u" not in upd:
                raise CommandError(40414, "BSON field 'update.updates.q' is missing but a required field")
            multi = bool(upd.get("multi", False))
            if ctx.retryable and multi:
                raise CommandError(72, "Cannot use (or request) retryable writes with multi=true")
            m, mod, uid, _, _ = _do_update(ctx, ns, upd["q"], upd["u"], multi, bool(upd.get("upsert", False)))
            if uid is not None:
                upserted.append({"index": i, "_id": uid})
                n += 1
            else:
                n += m
                nmod += mod
        except CommandError as e:
            if _is_top_level_in_txn(ctx, e):
                raise
            errors.append(_write_error(i, e))
            if ordered or ctx.in_txn:
                break
    r = {"n": n, "nModified": nmod}
    if upserted:
        r["upserted"] = upserted
    if errors:
        r["writeErrors"] = errors
    r["ok"] = 1.0
    return r


@command("delete", "wt")
def cmd_delete(ctx):
    ns = ctx.ns()
    deletes = _check_list(ctx, "deletes")
    if not deletes or len(deletes) > MAX_BATCH:
        raise CommandError(10334, "Write batch sizes must be between 1 and 100000. Got %d operations." % len(deletes))
    ordered = ctx.body.get("ordered", True) is not False
    eng = ctx.engine
    n = 0
    errors = []
    ctx.server.opcounters["delete"] += len(deletes)
    for i, d in enumerate(deletes):
        try:
            if not isinstance(d, dict) or "q" not in d or "limit" not in d:
                raise CommandError(40414, "BSON field 'delete.deletes.limit' is missing but a required field")
            limit = d["limit"]
            if not is_number(limit) or num_norm(limit) not in (0, 1):
                raise CommandError(9, "The limit field in delete objects must be 0 or 1. Got %r" % (limit,))
            if ctx.retryable and num_norm(limit) == 0:
                raise CommandError(72, "Cannot use (or request) retryable writes with limit=0")
            q = d["q"]

            def fn(t, q=q, limit=num_norm(limit)):
                docs = eng.find_docs(ns, q, t)
                if limit == 1:
                    docs = docs[:1]
                for doc in docs:
                    ctx.write(t, ns, doc_key(doc["_id"]), None, doc)
                return len(docs)
            if ns in eng.colls or ctx.in_txn:
                n += ctx.stmt(fn)
        except CommandError as e:
            if _is_top_level_in_txn(ctx, e):
                raise
            errors.append(_write_error(i, e))
            if ordered or ctx.in_txn:
                break
    r = {"n": n}
    if errors:
        r["writeErrors"] = errors
    r["ok"] = 1.0
    return r


@command("findAndModify", "wt")
def cmd_findandmodify(ctx):
    ns = ctx.ns()
    b = ctx.body
    eng = ctx.engine
    q = b.get("query") or {}
    sort = b.get("sort")
    fields = Q.compile_projection(b.get("fields"))
    remove = bool(b.get("remove", False))
    if remove and ("update" in b and b["update"] is not None):
        raise CommandError(9, "Cannot specify both an update and remove=true")
    if not remove and b.get("update") is None:
        raise CommandError(9, "Either an update or remove=true must be specified")
    if remove and b.get("new"):
        raise CommandError(9, "Cannot specify both new=true and remove=true; 'remove' always returns the deleted document")
    if remove:
        def fn(t):
            docs = eng.find_docs(ns, q, t)
            docs = Q.apply_sort(docs, Q.compile_sort(sort))[:1]
            for d in docs:
                ctx.write(t, ns, doc_key(d["_id"]), None, d)
            return docs[0] if docs else None
        old = ctx.stmt(fn) if (ns in eng.colls or ctx.in_txn) else None
        value = fields(old) if (old is not None and fields) else old
        return {"lastErrorObject": {"n": 1 if old is not None else 0}, "value": value, "ok": 1.0}
    m, mod, uid, old, new = _do_update(ctx, ns, q, b["update"], False, bool(b.get("upsert")), sort)
    leo = {"n": 1 if (m or uid is not None) else 0, "updatedExisting": bool(m)}
    if uid is not None:
        leo["upserted"] = uid
    value = new if b.get("new") else old
    if value is not None and fields:
        value = fields(value)
    return {"lastErrorObject": leo, "value": value, "ok": 1.0}


# ================================================================ reads

@command("find", "t")
def cmd_find(ctx):
    ns = ctx.ns()
    b = ctx.body
    flt = b.get("filter") or {}
    if not isinstance(flt, dict):
        raise CommandError(14, "BSON field 'find.filter' is the wrong type, expected type 'object'")
    sort = Q.compile_sort(b.get("sort"))
    proj = Q.compile_projection(b.get("projection"))
    skip = _int_arg(ctx, "skip")
    limit = _int_arg(ctx, "limit")
    batch = _int_arg(ctx, "batchSize", 0)
    if skip < 0:
        raise CommandError(51024, "BSON field 'skip' value must be >= 0, actual value '%d'" % skip)
    if batch < 0:
        raise CommandError(51024, "BSON field 'batchSize' value must be >= 0, actual value '%d'" % batch)
    single = bool(b.get("singleBatch"))
    if limit < 0:
        limit, single = -limit, True
    ctx.server.opcounters["query"] += 1
    raws = {} if not proj else None
    docs = ctx.engine.find_docs(ns, flt, ctx.read_txn(), raws)
    docs = Q.apply_sort(docs, sort)
    if skip:
        docs = docs[skip:]
    if limit:
        docs = docs[:limit]
    if proj:
        docs = [proj(d) for d in docs]
    elif raws:
        # the documents as stored: their BSON need not be encoded again for the reply
        docs = [RawBSONDocument(raws[id(d)]) if id(d) in raws else d for d in docs]
    if limit and (not batch or batch > limit):
        batch = limit
    return _cursor_reply(ctx, ns, docs, batch, single)


@command("getMore", "t")
def cmd_getmore(ctx):
    cid = ctx.body.get("getMore")
    if not isinstance(cid, int) or isinstance(cid, bool):
        raise CommandError(14, "BSON field 'getMore.getMore' is the wrong type, expected type 'long'")
    coll = ctx.body.get("collection")
    if not isinstance(coll, str):
        raise CommandError(40414, "BSON field 'getMore.collection' is missing but a required field")
    ns = "%s.%s" % (ctx.db, coll)
    c = ctx.engine.cursors.get(int(cid))
    if c is None:
        raise CommandError(43, "cursor id %d not found" % cid)
    if c.ns != ns and not c.ns.startswith(ctx.db + ".$cmd"):
        raise CommandError(13, "Requested getMore on namespace '%s', but cursor belongs to a different "
                               "namespace %s" % (ns, c.ns))
    batch = _int_arg(ctx, "batchSize", 0)
    ctx.server.opcounters["getmore"] += 1
    items = _make_batch(itertools.islice(c.docs, c.pos, None), batch)
    c.pos += len(items)
    c.last_use = time.monotonic()
    cid_out = c.id
    if c.pos >= len(c.docs):
        ctx.engine.cursors.pop(c.id, None)
        if c.txn is not None:
            c.txn.cursors.discard(c.id)
        cid_out = 0
    return {"cursor": {"nextBatch": items, "id": Int64(cid_out), "ns": c.ns}, "ok": 1.0}


@command("killCursors", "t")
def cmd_killcursors(ctx):
    ctx.ns()
    ids = _check_list(ctx, "cursors")
    killed, notfound = [], []
    for cid in ids:
        c = ctx.engine.cursors.pop(int(cid), None) if isinstance(cid, int) else None
        (killed if c is not None else notfound).append(Int64(cid) if isinstance(cid, int) else cid)
        if c is not None and c.txn is not None:
            c.txn.cursors.discard(c.id)
    return {"cursorsKilled": killed, "cursorsNotFound": notfound, "cursorsAlive": [],
            "cursorsUnknown": [], "ok": 1.0}


@command("count")
def cmd_count(ctx):
    ns = ctx.ns()
    q = ctx.body.get("query") or {}
    docs = ctx.engine.find_docs(ns, q, None)
    skip = _int_arg(ctx, "skip")
    limit = abs(_int_arg(ctx, "limit"))
    n = max(0, len(docs) - skip)
    if limit:
        n = min(n, limit)
    ctx.server.opcounters["command"] += 0
    return {"n": n, "ok": 1.0}


@command("distinct", "t")
def cmd_distinct(ctx):
    ns = ctx.ns()
    key = ctx.body.get("key")
    if not isinstance(key, str):
        raise CommandError(14, "BSON field 'distinct.key' is the wrong type, expected type 'string'")
    q = ctx.body.get("query") or {}
    docs = ctx.engine.find_docs(ns, q, ctx.read_txn())
    parts = Q.split_path(key)
    seen = {}
    for d in docs:
        for v in Q.path_values(d, parts):
            for x in (v if isinstance(v, list) else [v]):
                k = skey(x)
                if k not in seen:
                    seen[k] = x
    values = [seen[k] for k in sorted(seen)]
    return {"values": values, "ok": 1.0}


@command("aggregate", "t")
def cmd_aggregate(ctx):
    b = ctx.body
    target = b.get("aggregate")
    pipeline = b.get("pipeline")
    if not isinstance(pipeline, list):
        raise CommandError(14, "'pipeline' option must be specified as an array")
    if "cursor" not in b and not b.get("explain"):
        raise CommandError(9, "The 'cursor' option is required, except for aggregate with the explain argument")
    for st in pipeline:
        if isinstance(st, dict) and any(k in ("$out", "$merge") for k in st):
            if ctx.in_txn:
                raise CommandError(263, "$out/$merge cannot be used in a transaction")
            raise CommandError(2, "$out/$merge are not supported by fakemongod")
    if target == 1 or (is_number(target) and num_norm(target) == 1):
        first = pipeline[0] if pipeline else {}
        name = next(iter(first), "") if isinstance(first, dict) else ""
        if name in ("$currentOp",):
            docs = []
            pipeline = pipeline[1:]
        else:
            raise CommandError(73, "{aggregate: 1} is not valid for '%s'; a collection is required." % name)
        ns = "%s.$cmd.aggregate" % ctx.db
    else:
        ns = ctx.ns()
        docs = ctx.engine.scan(ns, ctx.read_txn())
        if pipeline and isinstance(pipeline[0], dict) and "$match" in pipeline[0]:
            docs = ctx.engine.find_docs(ns, pipeline[0]["$match"], ctx.read_txn())
            pipeline = pipeline[1:]
    out = Q.run_pipeline(docs, pipeline)
    cur = b.get("cursor") or {}
    batch = cur.get("batchSize", 0) if isinstance(cur, dict) else 0
    batch = int(num_norm(batch)) if is_number(batch) and num_norm(batch) else 0
    ctx.server.opcounters["command"] += 1
    return _cursor_reply(ctx, ns, out, batch)


# ================================================================ catalog

@command("create", "wt")
def cmd_create(ctx):
    ns = ctx.ns()
    eng = ctx.engine
    opts = {k: v for k, v in ctx.body.items()
            if k not in ("create", "$db", "lsid", "$clusterTime", "writeConcern", "txnNumber", "autocommit",
                         "startTransaction", "$readPreference", "comment", "readConcern")}
    if "viewOn" in opts or "pipeline" in opts:
        raise CommandError(2, "views are not supported by fakemongod")
    if ns in eng.colls or (ctx.in_txn and ns in ctx.txn.created):
        raise CommandError(48, "Collection %s already exists." % ns)
    if ctx.in_txn:
        ctx.txn.created[ns] = opts
        return {"ok": 1.0}
    eng.create_collection(ns, opts, ctx.changes)
    return {"ok": 1.0}


@command("drop", "w")
def cmd_drop(ctx):
    ns = ctx.ns()
    coll = ctx.engine.drop_collection(ns, ctx.changes, timeout=(ctx.deadline - time.monotonic()) if ctx.deadline else 30.0)
    if coll is None:
        raise CommandError(26, "ns not found")
    _kill_ns_cursors(ctx, ns)
    return {"nIndexesWas": len(coll.index_specs), "ns": ns, "ok": 1.0}


def _kill_ns_cursors(ctx, ns):
    for cid, c in list(ctx.engine.cursors.items()):
        if c.ns == ns:
            del ctx.engine.cursors[cid]


@command("dropDatabase", "w")
def cmd_dropdatabase(ctx):
    eng = ctx.engine
    for ns in [ns for ns in eng.colls if ns.split(".", 1)[0] == ctx.db]:
        eng.drop_collection(ns, ctx.changes)
        _kill_ns_cursors(ctx, ns)
    return {"dropped": ctx.db, "ok": 1.0}


@command("renameCollection", "wa")
def cmd_rename(ctx):
    src, dst = ctx.body.get("renameCollection"), ctx.body.get("to")
    eng = ctx.engine
    if not isinstance(src, str) or not isinstance(dst, str):
        raise CommandError(14, "renameCollection and to must be strings")
    coll = eng.colls.get(src)
    if coll is None:
        raise CommandError(26, "Source collection %s does not exist" % src)
    if dst in eng.colls:
        if not ctx.body.get("dropTarget"):
            raise CommandError(48, "target namespace exists")
        eng.drop_collection(dst, ctx.changes)
    eng.drop_collection(src, ctx.changes)
    new = eng.create_collection(dst, coll.options, ctx.changes)
    for ix in coll.index_specs[1:]:
        new.add_index(dict(ix.spec))
    for ix in new.unique_indexes():
        pass
    for k, chain in coll.docs.items():
        doc = chain[-1][1]
        if doc is not None:
            raw = encode(doc)
            new.docs[k] = [(eng.ts, doc, raw)]
            ctx.changes.append(("doc", dst, k, raw))
    for ix in new.unique_indexes():
        new.rebuild_uidx(ix)
    ctx.changes.append(("coll", dst, new.info()))
    return {"ok": 1.0}


def _normalize_index_spec(spec):
    if not isinstance(spec, dict) or not isinstance(spec.get("key"), dict) or not spec["key"]:
        raise CommandError(9, "The 'key' field is required and must be a non-empty object")
    key = spec["key"]
    for f, d in key.items():
        if not (is_number(d) and num_norm(d) not in (0, None)) and d not in ("text", "2dsphere", "2d", "hashed"):
            raise CommandError(67, "Values in the index key pattern can only be numbers or strings, got %r" % (d,))
    name = spec.get("name")
    if name is None:
        name = "_".join("%s_%s" % (f, d if not is_number(d) else num_norm(d)) for f, d in key.items())
    if not isinstance(name, str) or not name:
        raise CommandError(67, "index name must be a non-empty string")
    out = {"v": 2, "key": key, "name": name}
    for k, v in spec.items():
        if k in ("key", "name", "v", "ns"):
            continue
        if k not in ("unique", "sparse", "expireAfterSeconds", "partialFilterExpression", "background",
                     "collation", "hidden", "weights", "default_language", "2dsphereIndexVersion",
                     "textIndexVersion", "language_override", "bits", "min", "max", "storageEngine",
                     "wildcardProjection"):
            raise CommandError(197, "The field '%s' is not valid for an index specification." % k)
        if k == "expireAfterSeconds" and (not is_number(v) or num_norm(v) is None or num_norm(v) < 0):
            raise CommandError(2, "TTL index 'expireAfterSeconds' option must be numeric, non-negative")
        if k == "unique" and not v:
            continue
        if k == "background":
            continue
        out[k] = v
    if "partialFilterExpression" in out:
        Q.compile_filter(out["partialFilterExpression"])
    return out


def _same_options(a, b):
    ka = {k: v for k, v in a.items() if k not in ("v", "name", "key")}
    kb = {k: v for k, v in b.items() if k not in ("v", "name", "key")}
    return skey(ka) == skey(kb)


def _missing_specs(coll, specs):
    """The specs not built yet; an existing index that conflicts with one is an error."""
    new_specs = []
    for s in specs:
        dup = None
        for ix in coll.index_specs:
            if ix.name == s["name"]:
                if skey(ix.key) != skey(s["key"]):
                    raise CommandError(86, "An existing index has the same name as the requested index. When "
                                           "index names are not specified, they are auto generated and can cause "
                                           "conflicts. Please refer to our documentation. Requested index: %r, "
                                           "existing index: %r" % (s, ix.spec))
                if not _same_options(ix.spec, s):
                    raise CommandError(85, "An equivalent index already exists with the same name but "
                                           "different options. Requested index: %r, existing index: %r" % (s, ix.spec))
                dup = ix
            elif skey(ix.key) == skey(s["key"]) and not s.get("partialFilterExpression"):
                if _same_options(ix.spec, s):
                    dup = ix
                else:
                    raise CommandError(85, "An equivalent index already exists with a different name and "
                                           "options. Requested index: %r, existing index: %r" % (s, ix.spec))
        if dup is None:
            new_specs.append(s)
    return new_specs


@command("createIndexes", "w")
def cmd_createindexes(ctx):
    ns = ctx.ns()
    eng = ctx.engine
    specs = _check_list(ctx, "indexes")
    if not specs:
        raise CommandError(2, "Must specify at least one index to create")
    specs = [_normalize_index_spec(s) for s in specs]
    created = False
    coll = eng.colls.get(ns)
    if coll is not None and not _missing_specs(coll, specs):
        # Like mongod, which finds this under an intent lock: nothing to build, so no wait
        # for the transactions using the collection.
        n = len(coll.index_specs)
        return {"numIndexesBefore": n, "numIndexesAfter": n, "createdCollectionAutomatically": False,
                "note": "all indexes already exist", "ok": 1.0}
    if coll is None:
        coll = eng.create_collection(ns, {}, ctx.changes)
        created = True
    while coll.txn_users:
        eng.cond.wait(0.5)
        coll = eng.colls.get(ns)
        if coll is None:
            coll = eng.create_collection(ns, {}, ctx.changes)
            created = True
    before = len(coll.index_specs)
    new_specs = _missing_specs(coll, specs)
    added = []
    try:
        for s in new_specs:
            ix = coll.add_index(s)
            added.append(ix)
            if ix.unique and ix.name != "_id_":
                coll.rebuild_uidx(ix, 0)
    except CommandError:
        for ix in added:
            coll.index_specs.remove(ix)
            coll.uidx.pop(ix.name, None)
        raise
    if added:
        ctx.changes.append(("coll", ns, coll.info()))
    r = {"numIndexesBefore": before, "numIndexesAfter": len(coll.index_specs),
         "createdCollectionAutomatically": created}
    if not added:
        r["note"] = "all indexes already exist"
    r["ok"] = 1.0
    return r


@command("dropIndexes", "w")
def cmd_dropindexes(ctx):
    ns = ctx.ns()
    coll = ctx.engine.colls.get(ns)
    if coll is None:
        raise CommandError(26, "ns not found %s" % ns)
    which = ctx.body.get("index")
    before = len(coll.index_specs)
    if which == "*":
        drop = coll.index_specs[1:]
    else:
        names = which if isinstance(which, list) else [which]
        drop = []
        for w in names:
            found = None
            for ix in coll.index_specs:
                if (isinstance(w, str) and ix.name == w) or (isinstance(w, dict) and skey(ix.key) == skey(w)):
                    found = ix
            if found is None:
                raise CommandError(27, "index not found with name [%s]" % (w,))
            if found.name == "_id_":
                raise CommandError(72, "cannot drop _id index")
            drop.append(found)
    for ix in drop:
        coll.index_specs.remove(ix)
        coll.uidx.pop(ix.name, None)
    ctx.changes.append(("coll", ns, coll.info()))
    return {"nIndexesWas": before, "ok": 1.0}


@command("collMod", "w")
def cmd_collmod(ctx):
    """collMod with the 'index' option (as on mongod 5.1+): changes expireAfterSeconds (a TTL;
    added to a single-field index that had none) or hidden of one index, found by keyPattern
    or name. Other collMod options (validators, views, clustered TTL) are not implemented."""
    ns = ctx.ns()
    coll = ctx.engine.colls.get(ns)
    opts = {k: v for k, v in ctx.body.items()
            if k not in ("collMod", "$db", "lsid", "$clusterTime", "writeConcern", "txnNumber",
                         "autocommit", "startTransaction", "$readPreference", "comment")}
    for k in opts:
        if k != "index":
            raise CommandError(2, "collMod option '%s' is not implemented by fakemongod" % k)
    if coll is None:
        raise CommandError(26, "ns does not exist: %s" % ns)
    if "index" not in opts:
        return {"ok": 1.0}
    spec = opts["index"]
    if not isinstance(spec, dict):
        raise CommandError(14, "BSON field 'collMod.index' is the wrong type '%s', expected type 'object'"
                           % type(spec).__name__)
    for k in spec:
        if k not in ("keyPattern", "name", "expireAfterSeconds", "hidden"):
            raise CommandError(40415, "BSON field 'collMod.index.%s' is an unknown field." % k)
    if ("keyPattern" in spec) == ("name" in spec):
        raise CommandError(72, "Must specify either index name or key pattern.")
    if "expireAfterSeconds" not in spec and "hidden" not in spec:
        raise CommandError(72, "no expireAfterSeconds or hidden field")
    found = None
    for ix in coll.index_specs:
        if ("name" in spec and ix.name == spec["name"]) or \
           ("keyPattern" in spec and skey(ix.key) == skey(spec["keyPattern"])):
            found = ix
    if found is None:
        raise CommandError(27, "cannot find index %s for ns %s"
                           % (spec.get("keyPattern", spec.get("name")), ns))
    r = {}
    if "expireAfterSeconds" in spec:
        v = spec["expireAfterSeconds"]
        if not is_number(v) or num_norm(v) is None or num_norm(v) < 0:
            raise CommandError(2, "TTL index 'expireAfterSeconds' option must be numeric, non-negative")
        if found.name == "_id_":
            raise CommandError(72, "The field 'expireAfterSeconds' is not valid for an _id index specification.")
        if len(found.key) != 1:
            raise CommandError(72, "TTL indexes are single-field indexes, compound indexes do not support TTL. "
                                   "Index: %r" % (found.spec,))
        old = found.spec.get("expireAfterSeconds")
        if old is None or num_norm(old) != num_norm(v):
            if old is not None:
                r["expireAfterSeconds_old"] = old
            r["expireAfterSeconds_new"] = v
            found.spec["expireAfterSeconds"] = v
    if "hidden" in spec:
        old = bool(found.spec.get("hidden", False))
        if old != bool(spec["hidden"]):
            r["hidden_old"] = old
            r["hidden_new"] = bool(spec["hidden"])
            if spec["hidden"]:
                found.spec["hidden"] = True
            else:
                found.spec.pop("hidden", None)
    if r:
        ctx.changes.append(("coll", ns, coll.info()))
    r["ok"] = 1.0
    return r


@command("listIndexes", "")
def cmd_listindexes(ctx):
    ns = ctx.ns()
    coll = ctx.engine.colls.get(ns)
    if coll is None:
        raise CommandError(26, "ns does not exist: %s" % ns)
    docs = [dict(ix.spec) for ix in coll.index_specs]
    cur = ctx.body.get("cursor") or {}
    batch = cur.get("batchSize", 0) if isinstance(cur, dict) else 0
    return _cursor_reply(ctx, ns, docs, int(num_norm(batch)) if is_number(batch) else 0)


@command("listCollections", "")
def cmd_listcollections(ctx):
    eng = ctx.engine
    flt = ctx.body.get("filter") or {}
    name_only = bool(ctx.body.get("nameOnly"))
    docs = []
    for ns, coll in sorted(eng.colls.items()):
        if coll.dbname != ctx.db:
            continue
        if name_only:
            d = {"name": coll.name, "type": "collection"}
        else:
            d = {"name": coll.name, "type": "collection", "options": coll.options,
                 "info": {"readOnly": False, "uuid": coll.uuid},
                 "idIndex": {"v": 2, "key": {"_id": 1}, "name": "_id_"}}
        docs.append(d)
    m = Q.compile_filter(flt)
    docs = [d for d in docs if m(d)]
    cur = ctx.body.get("cursor") or {}
    batch = cur.get("batchSize", 0) if isinstance(cur, dict) else 0
    return _cursor_reply(ctx, "%s.$cmd.listCollections" % ctx.db, docs,
                         int(num_norm(batch)) if is_number(batch) else 0)


@command("listDatabases", "a")
def cmd_listdatabases(ctx):
    eng = ctx.engine
    sizes = {}
    for coll in eng.colls.values():
        sz = sizes.get(coll.dbname, 0)
        for chain in coll.docs.values():
            if chain[-1][2] is not None:
                sz += len(chain[-1][2])
        sizes[coll.dbname] = sz
    for extra in ("admin", "config", "local"):
        sizes.setdefault(extra, 0)
    name_only = bool(ctx.body.get("nameOnly"))
    dbs = []
    for name in sorted(sizes):
        if name_only:
            dbs.append({"name": name})
        else:
            dbs.append({"name": name, "sizeOnDisk": Int64(max(sizes[name], 4096)), "empty": False})
    flt = ctx.body.get("filter")
    if flt:
        m = Q.compile_filter(flt)
        dbs = [d for d in dbs if m(d)]
    r = {"databases": dbs}
    if not name_only:
        total = sum(int(d.get("sizeOnDisk", 0)) for d in dbs)
        r["totalSize"] = Int64(total)
        r["totalSizeMb"] = Int64(total // (1024 * 1024))
    r["ok"] = 1.0
    return r


@command("dbStats")
def cmd_dbstats(ctx):
    eng = ctx.engine
    colls = [c for c in eng.colls.values() if c.dbname == ctx.db]
    objs = size = 0
    for c in colls:
        for chain in c.docs.values():
            if chain[-1][2] is not None:
                objs += 1
                size += len(chain[-1][2])
    return {"db": ctx.db, "collections": len(colls), "views": 0, "objects": objs,
            "avgObjSize": (size / objs) if objs else 0, "dataSize": float(size), "storageSize": float(size),
            "indexes": sum(len(c.index_specs) for c in colls), "ok": 1.0}


@command("collStats")
def cmd_collstats(ctx):
    ns = ctx.ns()
    c = ctx.engine.colls.get(ns)
    if c is None:
        raise CommandError(26, "Collection [%s] not found." % ns)
    objs = size = 0
    for chain in c.docs.values():
        if chain[-1][2] is not None:
            objs += 1
            size += len(chain[-1][2])
    return {"ns": ns, "count": objs, "size": size, "avgObjSize": (size // objs) if objs else 0,
            "storageSize": size, "nindexes": len(c.index_specs),
            "indexSizes": {ix.name: 0 for ix in c.index_specs}, "ok": 1.0}


def _now():
    ms = int(time.time() * 1000)
    return datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)
