"""Wire protocol (OP_MSG, OP_QUERY/OP_REPLY), connections, hello, process lifecycle."""

import argparse
import datetime
import itertools
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
import traceback

from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.binary import Binary
from bson.timestamp import Timestamp

from .bsonutil import encode, decode, decode_all
from .commands import run_command, MAX_BSON, MAX_MSG, MAX_BATCH
from .engine import Engine
from .errors import CommandError, CloseConnection
from .failpoint import FailPoint

OP_REPLY, OP_QUERY, OP_MSG, OP_COMPRESSED = 1, 2004, 2013, 2012
FLAG_CHECKSUM, FLAG_MORE_TO_COME, FLAG_EXHAUST = 1, 2, 1 << 16
HELLO_NAMES = ("hello", "isMaster", "ismaster")
LEGACY_OK = ("hello", "isMaster", "ismaster")


class Conn:
    def __init__(self, cid, sock, peer):
        self.id = cid
        self.sock = sock
        self.peer = peer
        self.app_name = None
        self.client_meta = None
        self.send_lock = threading.Lock()


class ProtocolError(Exception):
    pass


def recv_exact(sock, n):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        r = sock.recv_into(view[got:], n - got)
        if r == 0:
            return None
        got += r
    return bytes(buf)


def parse_op_msg(body):
    """Returns (flags, command document). Raises CommandError for malformed messages."""
    if len(body) < 5:
        raise CommandError(40429, "Invalid OP_MSG: message too short")
    flags = struct.unpack_from("<I", body, 0)[0]
    unknown_required = flags & 0xFFFF & ~(FLAG_CHECKSUM | FLAG_MORE_TO_COME)
    if unknown_required:
        raise CommandError(40430, "Message contains unknown required flags: %d" % flags)
    end = len(body)
    if flags & FLAG_CHECKSUM:
        end -= 4
        if end < 5:
            raise CommandError(40429, "Invalid OP_MSG: checksum flag set but message too short")
    pos = 4
    main = None
    seqs = []
    while pos < end:
        kind = body[pos]
        pos += 1
        if pos + 4 > end:
            raise CommandError(40429, "Invalid OP_MSG: truncated section")
        size = struct.unpack_from("<i", body, pos)[0]
        if size < 5 or pos + size > end:
            raise CommandError(22, "Invalid OP_MSG: section size %d out of bounds" % size)
        if kind == 0:
            if main is not None:
                raise CommandError(40430, "Multiple body sections in message")
            try:
                main = decode(body[pos:pos + size])
            except Exception as e:  # noqa: BLE001 - untrusted input
                raise CommandError(22, "Invalid BSON in OP_MSG body: %s" % e)
            pos += size
        elif kind == 1:
            sec_end = pos + size
            nul = body.find(b"\0", pos + 4, sec_end)
            if nul < 0:
                raise CommandError(40429, "Invalid OP_MSG: unterminated document sequence identifier")
            try:
                ident = body[pos + 4:nul].decode("utf-8")
                docs = decode_all(body[nul + 1:sec_end])
            except Exception as e:  # noqa: BLE001
                raise CommandError(22, "Invalid BSON in OP_MSG document sequence: %s" % e)
            seqs.append((ident, docs))
            pos = sec_end
        else:
            raise CommandError(40432, "Unknown section kind %d" % kind)
    if main is None:
        raise CommandError(40587, "OP_MSG messages must have a body")
    for ident, docs in seqs:
        if ident in main:
            raise CommandError(40433, "Duplicate field %s" % ident)
        main[ident] = docs
    return flags, main


def parse_op_query(body):
    try:
        flags = struct.unpack_from("<i", body, 0)[0]
        nul = body.index(b"\0", 4)
        ns = body[4:nul].decode("utf-8")
        pos = nul + 1 + 8
        size = struct.unpack_from("<i", body, pos)[0]
        if size < 5 or pos + size > len(body):
            raise ValueError("bad query document size")
        q = decode(body[pos:pos + size])
    except CommandError:
        raise
    except Exception as e:  # noqa: BLE001
        raise CommandError(22, "Invalid OP_QUERY message: %s" % e)
    return flags, ns, q


class Server:
    def __init__(self, args):
        self.args = args
        self.argv = list(sys.argv)
        self.replset = args.replSet
        self.dbpath = os.path.abspath(args.dbpath)
        self.bind = args.bind
        self.port = args.port
        self.advertise = None
        self.engine = Engine(self.dbpath, txn_lifetime=args.transactionLifetimeLimitSeconds)
        self.failpoint = FailPoint("failCommand")
        self.process_id = ObjectId()
        self.started = time.monotonic()
        self.conns = {}
        self.total_conns = 0
        self.conn_ids = itertools.count(1)
        self.req_ids = itertools.count(1)
        self.opcounters = {"insert": 0, "query": 0, "update": 0, "delete": 0, "getmore": 0, "command": 0}
        self.stopping = threading.Event()
        self.ct_lock = threading.Lock()
        self._ct = Timestamp(int(time.time()), 1)
        self.log = open(args.log, "a", buffering=1) if args.log else None

    # ------------------------------------------------------------ cluster time

    def tick(self):
        with self.ct_lock:
            now = int(time.time())
            if now > self._ct.time:
                self._ct = Timestamp(now, 1)
            else:
                self._ct = Timestamp(self._ct.time, self._ct.inc + 1)
            return self._ct

    def cluster_time(self):
        with self.ct_lock:
            return self._ct

    def decorate(self, reply):
        if self.replset:
            ct = self.cluster_time()
            reply["$clusterTime"] = {"clusterTime": ct,
                                     "signature": {"hash": Binary(b"\0" * 20, 0), "keyId": Int64(0)}}
            reply["operationTime"] = ct

    def parameters(self):
        return {"featureCompatibilityVersion": {"version": "6.0"},
                "transactionLifetimeLimitSeconds": self.engine.txn_lifetime,
                "maxTransactionLockRequestTimeoutMillis": 5,
                "enableTestCommands": True}

    # ------------------------------------------------------------ hello

    def hello_reply(self, conn, body, name):
        client = body.get("client")
        if isinstance(client, dict) and conn.client_meta is None:
            conn.client_meta = client
            app = client.get("application")
            if isinstance(app, dict) and isinstance(app.get("name"), str):
                conn.app_name = app["name"]
        r = {}
        if body.get("helloOk"):
            r["helloOk"] = True
        r["isWritablePrimary" if name == "hello" else "ismaster"] = True
        r["topologyVersion"] = {"processId": self.process_id, "counter": Int64(0)}
        now = datetime.datetime.utcnow()
        now = now.replace(microsecond=(now.microsecond // 1000) * 1000)
        if self.replset:
            ct = self.cluster_time()
            optime = {"ts": ct, "t": Int64(1)}
            r.update({"hosts": [self.advertise], "setName": self.replset, "setVersion": 1,
                      "secondary": False, "primary": self.advertise, "me": self.advertise,
                      "electionId": ObjectId("7fffffff0000000000000001"),
                      "lastWrite": {"opTime": optime, "lastWriteDate": now,
                                    "majorityOpTime": optime, "majorityWriteDate": now}})
        r.update({"maxBsonObjectSize": MAX_BSON, "maxMessageSizeBytes": MAX_MSG,
                  "maxWriteBatchSize": MAX_BATCH, "localTime": now, "logicalSessionTimeoutMinutes": 30,
                  "connectionId": conn.id, "minWireVersion": 0, "maxWireVersion": 17,
                  "readOnly": False, "ok": 1.0})
        return r

    def _await_hello(self, conn, body):
        """Awaitable hello: if the client's topologyVersion is current, wait maxAwaitTimeMS."""
        tv = body.get("topologyVersion")
        mat = body.get("maxAwaitTimeMS")
        if not isinstance(tv, dict) or mat is None:
            return None
        try:
            wait = max(0.0, float(mat) / 1000.0)
        except (TypeError, ValueError):
            return None
        if tv.get("processId") != self.process_id:
            return wait
        self._sleep_watching(conn, wait)
        return wait

    def _sleep_watching(self, conn, seconds):
        """Sleep, but return early on shutdown; raise CloseConnection if the peer hung up."""
        deadline = time.monotonic() + seconds
        while not self.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([conn.sock], [], [], min(left, 0.25))
            if r:
                try:
                    data = conn.sock.recv(1, socket.MSG_PEEK)
                except OSError:
                    raise CloseConnection()
                if not data:
                    raise CloseConnection()
                return  # the client sent something: stop waiting
        raise CloseConnection()

    # ------------------------------------------------------------ messages

    def send(self, conn, data):
        with conn.send_lock:
            conn.sock.sendall(data)

    def msg_reply(self, response_to, doc, flags=0):
        payload = struct.pack("<I", flags) + b"\0" + encode(doc)
        rid = next(self.req_ids)
        return rid, struct.pack("<iiii", 16 + len(payload), rid, response_to, OP_MSG) + payload

    def op_reply(self, response_to, doc, flags=8):
        payload = struct.pack("<iqii", flags, 0, 0, 1) + encode(doc)
        return struct.pack("<iiii", 16 + len(payload), next(self.req_ids), response_to, OP_REPLY) + payload

    def dispatch(self, conn, doc, legacy=False):
        t0 = time.monotonic()
        try:
            reply = run_command(self, conn, doc, from_op_query=legacy)
        except CloseConnection:
            self._log(conn, doc, "closeConnection", t0)
            raise
        except Exception as e:  # noqa: BLE001 - never let a bug kill the server
            traceback.print_exc(file=sys.stderr)
            reply = CommandError(1, "fakemongod internal error: %s: %s" % (type(e).__name__, e)).to_doc()
            self.decorate(reply)
        self.opcounters["command"] += 1
        self._log(conn, doc, reply, t0)
        return reply

    def _log(self, conn, doc, reply, t0):
        if self.log is None:
            return
        name = next(iter(doc), "?") if doc else "?"
        if isinstance(reply, dict):
            res = "ok" if reply.get("ok") == 1 else "err %s %s" % (reply.get("code"), reply.get("codeName"))
            if reply.get("writeErrors"):
                res += " writeErrors=%d" % len(reply["writeErrors"])
            if reply.get("writeConcernError"):
                res += " wce"
            if reply.get("errorLabels"):
                res += " labels=%s" % ",".join(reply["errorLabels"])
        else:
            res = str(reply)
        extra = ""
        for k in ("txnNumber", "startTransaction", "autocommit"):
            if k in doc:
                extra += " %s=%s" % (k, doc[k])
        self.log.write("%.3f c%d %s%s -> %s (%.1fms)\n" % (time.time(), conn.id, name, extra, res,
                                                          (time.monotonic() - t0) * 1000))

    def handle_msg(self, conn, req_id, body):
        try:
            flags, doc = parse_op_msg(body)
        except CommandError as e:
            # we may not know whether the client expects a reply; if the flags say moreToCome don't reply
            more = len(body) >= 4 and (struct.unpack_from("<I", body, 0)[0] & FLAG_MORE_TO_COME)
            if not more:
                reply = e.to_doc()
                self.decorate(reply)
                self.send(conn, self.msg_reply(req_id, reply)[1])
            return
        more_to_come = flags & FLAG_MORE_TO_COME
        name = next(iter(doc), None)
        awaitable = None
        if name in HELLO_NAMES:
            awaitable = self._await_hello(conn, doc)
        reply = self.dispatch(conn, doc)
        if more_to_come:
            return
        if awaitable is not None and (flags & FLAG_EXHAUST) and reply.get("ok") == 1:
            rid, data = self.msg_reply(req_id, reply, FLAG_MORE_TO_COME)
            self.send(conn, data)
            while not self.stopping.is_set():
                self._sleep_watching(conn, awaitable if awaitable > 0 else 0.5)
                r, _, _ = select.select([conn.sock], [], [], 0)
                if r:
                    return  # client sent a new request; go back to reading
                reply = self.dispatch(conn, doc)
                rid, data = self.msg_reply(rid, reply, FLAG_MORE_TO_COME if reply.get("ok") == 1 else 0)
                self.send(conn, data)
                if reply.get("ok") != 1:
                    return
            return
        self.send(conn, self.msg_reply(req_id, reply)[1])

    def handle_query(self, conn, req_id, body):
        try:
            _, ns, q = parse_op_query(body)
        except CommandError as e:
            self.send(conn, self.op_reply(req_id, {"$err": e.errmsg, "code": e.code}, flags=2))
            return
        if not ns.endswith(".$cmd"):
            self.send(conn, self.op_reply(req_id, {"$err": "OP_QUERY is no longer supported. The client "
                                                   "driver may require an upgrade.", "code": 5739101,
                                                   "ok": 0.0}, flags=2))
            return
        if "$query" in q and isinstance(q["$query"], dict):
            q = q["$query"]
        db = ns[:-5]
        name = next(iter(q), None)
        if name not in LEGACY_OK:
            err = CommandError(352, "Unsupported OP_QUERY command: %s. The client driver may require an "
                                    "upgrade. For more details see "
                                    "https://dochub.mongodb.org/core/legacy-opcode-removal" % name).to_doc()
            self.decorate(err)
            self.send(conn, self.op_reply(req_id, err))
            return
        q = dict(q)
        q["$db"] = db
        reply = self.dispatch(conn, q, legacy=True)
        self.send(conn, self.op_reply(req_id, reply))

    # ------------------------------------------------------------ connections

    def serve_conn(self, sock, peer):
        conn = Conn(next(self.conn_ids), sock, peer)
        self.conns[conn.id] = conn
        self.total_conns += 1
        try:
            while not self.stopping.is_set():
                hdr = recv_exact(sock, 16)
                if hdr is None:
                    break
                length, req_id, _, opcode = struct.unpack("<iiii", hdr)
                if length < 16 or length > MAX_MSG:
                    break  # framing is broken: hang up, like mongod
                body = recv_exact(sock, length - 16)
                if body is None:
                    break
                if opcode == OP_MSG:
                    self.handle_msg(conn, req_id, body)
                elif opcode == OP_QUERY:
                    self.handle_query(conn, req_id, body)
                else:
                    break  # OP_COMPRESSED (never negotiated) and unknown/removed opcodes
        except (CloseConnection, OSError):
            pass
        except Exception:  # noqa: BLE001
            traceback.print_exc(file=sys.stderr)
        finally:
            self.conns.pop(conn.id, None)
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def reaper(self):
        while not self.stopping.wait(0.2):
            with self.engine.lock:
                self.engine.reap()

    def run(self):
        lsock = socket.socket(socket.AF_INET6 if ":" in self.bind else socket.AF_INET, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((self.bind, self.port))
        lsock.listen(256)
        self.port = lsock.getsockname()[1]
        self.advertise = self.args.advertise or "%s:%d" % (self.bind, self.port)
        lsock.settimeout(0.25)
        threading.Thread(target=self.reaper, name="reaper", daemon=True).start()
        uri = "mongodb://%s/" % self.advertise
        if self.replset:
            uri += "?replicaSet=%s" % self.replset
        sys.stdout.write("fakemongod ready port=%d pid=%d uri=%s\n" % (self.port, os.getpid(), uri))
        sys.stdout.flush()
        try:
            while not self.stopping.is_set():
                try:
                    sock, peer = lsock.accept()
                except socket.timeout:
                    continue
                except OSError:
                    if self.stopping.is_set():
                        break
                    continue
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                threading.Thread(target=self.serve_conn, args=(sock, peer), daemon=True).start()
        finally:
            lsock.close()
            self.shutdown()

    def shutdown(self):
        self.stopping.set()
        for conn in list(self.conns.values()):
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.engine.close()  # takes the engine lock: waits for an in-flight commit
        if self.log:
            self.log.close()


def main(argv=None):
    p = argparse.ArgumentParser(prog="fakemongod", description="A MongoDB fake for tests (see README.md)")
    p.add_argument("--port", type=int, default=27017, help="TCP port (0 = pick a free one)")
    p.add_argument("--dbpath", required=True, help="directory for the sqlite database")
    p.add_argument("--replSet", default=None, help="replica set name (omit for a standalone server)")
    p.add_argument("--advertise", default=None, help="host:port reported in hello (default BIND:PORT)")
    p.add_argument("--bind", default="127.0.0.1", help="listen address (loopback only)")
    p.add_argument("--log", default=None, help="append one line per command to this file")
    p.add_argument("--transactionLifetimeLimitSeconds", type=float, default=60)
    args = p.parse_args(argv)
    server = Server(args)

    def on_term(signum, frame):
        server.stopping.set()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    server.run()
    return 0
