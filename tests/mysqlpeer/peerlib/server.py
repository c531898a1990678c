"""mysqlpeer: a MySQL replication source for tests, serving the binlog files of a directory.

See tests/mysqlpeer/README.md. The behaviour follows MySQL 8.4's binlog sender as described in
shared/notes/mysql-replication-protocol.md (§3 queries, §4 commands, §5 how a source serves a
dump, §6 checksums); the files' own events, checksums and PREVIOUS_GTIDS are the truth.
"""
import argparse
import datetime
import decimal
import json
import os
import re
import select
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
import uuid as uuidlib

from . import auth, wire
from .binlog import (ALG_CRC32, ANONYMOUS_GTID, FORMAT_DESCRIPTION, GTID, GTID_TAGGED,
                     ROTATE, BinlogDir, BinlogError, fake_rotate, heartbeat_v1, heartbeat_v2,
                     patch_fde)
from .gtidset import GtidError, GtidSet
from .sqltext import QueryError
from .tables import Store, binary_value, column_def, text_value

COM_QUIT = 0x01
COM_INIT_DB = 0x02
COM_QUERY = 0x03
COM_PING = 0x0E
COM_BINLOG_DUMP = 0x12
COM_REGISTER_SLAVE = 0x15
COM_BINLOG_DUMP_GTID = 0x1E
COM_STMT_PREPARE = 0x16
COM_STMT_EXECUTE = 0x17
COM_STMT_SEND_LONG_DATA = 0x18
COM_STMT_CLOSE = 0x19
COM_STMT_RESET = 0x1A

BINLOG_DUMP_NON_BLOCK = 0x01
USE_HEARTBEAT_EVENT_V2 = 0x02

ER_SOURCE_FATAL_ERROR_READING_BINLOG = 1236
ER_UNKNOWN_COM_ERROR = 1047
ER_UNKNOWN_SYSTEM_VARIABLE = 1193
ER_UNKNOWN_ERROR = 1105
ER_NOT_SUPPORTED_YET = 1235
ER_UNKNOWN_STMT_HANDLER = 1243
ER_WRONG_ARGUMENTS = 1210

POLL_SEC = 0.05


def version_tuple(v):
    nums = []
    for part in v.split("-")[0].split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        nums.append(int(digits) if digits else 0)
    while len(nums) < 3:
        nums.append(0)
    return tuple(nums)


class Config:
    def __init__(self, a):
        self.port = a.port
        self.bind = a.bind
        self.binlog_dir = a.binlog_dir
        self.user = a.user
        self.password = ""
        if a.password_file:
            with open(a.password_file) as f:
                self.password = f.read().rstrip("\n")
        self.auth = a.auth
        self.server_version = a.server_version
        self.purged = GtidSet.parse(a.purged) if a.purged else GtidSet()
        self.tls_cert = a.tls_cert
        self.tls_key = a.tls_key
        self.require_tls = a.require_tls
        self.log = a.log
        self.server_uuid = a.server_uuid
        self.server_id = a.server_id
        self.sets = {}
        for s in a.set or []:
            k, _, v = s.partition("=")
            self.sets[k.strip().lower()] = v
        self.grants = a.grant or [f"GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO "
                                  f"`{a.user}`@`%`"]


class State:
    """What the files say, at one moment (Peer.snapshot())."""

    def __init__(self, peer, files):
        cfg = peer.cfg
        self.files = files
        self.purged = cfg.purged.copy()
        if files and files[0].previous is not None:
            self.purged.update(files[0].previous)
        self.executed = cfg.purged.copy()
        for f in files:
            if f.previous is not None:
                self.executed.update(f.previous)
            self.executed.update(f.gtids)
        has_gtid = any(f.has_gtid or (f.previous is not None and not f.previous.is_empty())
                       for f in files)
        has_anon = any(f.has_anonymous for f in files)
        self.gtid_mode = ("ON_PERMISSIVE" if has_anon else "ON") if has_gtid else "OFF"
        if cfg.server_uuid:
            self.server_uuid = cfg.server_uuid
        else:
            self.server_uuid = None
            for f in reversed(files):
                for e in reversed(f.events):
                    if e.gtid is not None:
                        self.server_uuid = e.gtid.uuid
                        break
                if self.server_uuid:
                    break
            if not self.server_uuid:
                for f in reversed(files):
                    if f.previous and not f.previous.is_empty():
                        self.server_uuid = sorted(f.previous.m)[-1][0]
                        break
            if not self.server_uuid:
                self.server_uuid = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL,
                                                     os.path.abspath(cfg.binlog_dir)))
        self.server_id = cfg.server_id or (files[-1].server_id if files else 1) or 1
        newest = files[-1] if files else None
        metadata = "MINIMAL"
        for f in reversed(files):
            if f.column_names is not None:
                metadata = "FULL" if f.column_names else "MINIMAL"
                break
        v = {
            "version": cfg.server_version,
            "version_comment": "mysqlpeer (sdl tests/mysqlpeer)",
            "server_id": str(self.server_id),
            "server_uuid": self.server_uuid,
            "gtid_mode": self.gtid_mode,
            "enforce_gtid_consistency": "ON" if self.gtid_mode == "ON" else "OFF",
            "gtid_executed": self.executed.text(",\n"),
            "gtid_purged": self.purged.text(",\n"),
            "log_bin": "1",
            "log_bin_basename": os.path.join(os.path.abspath(cfg.binlog_dir), "binlog"),
            "binlog_format": "ROW",
            "binlog_row_image": "FULL",
            "binlog_row_metadata": metadata,
            "binlog_checksum": "CRC32" if newest is None or newest.alg == ALG_CRC32 else "NONE",
            "binlog_order_commits": "1",
            "binlog_transaction_compression": "OFF",
            "max_allowed_packet": "67108864",
            "lower_case_table_names": "0",
            "character_set_server": "utf8mb4",
            "collation_server": "utf8mb4_0900_ai_ci",
            "time_zone": "SYSTEM",
            "system_time_zone": "UTC",
            "sql_mode": "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
                        "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION",
            "autocommit": "1",
            "transaction_isolation": "REPEATABLE-READ",
            "default_authentication_plugin": cfg.auth,
            "authentication_policy": "*,,",
            "have_ssl": "YES" if cfg.tls_cert else "DISABLED",
            "port": str(peer.port),
            "hostname": "mysqlpeer",
            "rpl_semi_sync_master_enabled": None,
        }
        for k, val in cfg.sets.items():
            v[k] = val
        self.vars = v
        self.gtid_mode = v["gtid_mode"].upper()  # --set gtid_mode=… changes what dumps do


class Dump:
    """A running dump, for zombie detection (notes §5.5)."""

    def __init__(self, session, server_id, replica_uuid):
        self.session = session
        self.server_id = server_id
        self.uuid = replica_uuid
        self.killed = threading.Event()
        self.done = threading.Event()


class Peer:
    def __init__(self, cfg):
        self.cfg = cfg
        self.dir = BinlogDir(cfg.binlog_dir)
        self.lock = threading.RLock()
        self.log_lock = threading.Lock()
        self.logf = open(cfg.log, "a", buffering=1) if cfg.log else None
        self.dumps = []
        self.replicas = {}
        self.sha2_cache = set()
        self.rsa = auth.RsaKey() if cfg.auth == auth.CACHING_SHA2 else None
        self.tls_context = None
        if cfg.tls_cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
            self.tls_context = ctx
        self.conn_ids = 0
        self.port = cfg.port
        self.stopping = False
        self.store = Store(cfg.binlog_dir, server_uuid=cfg.server_uuid,
                           server_id=cfg.server_id or 1, log=self.log)

    def log(self, conn, ev, **kw):
        if not self.logf:
            return
        rec = {"t": round(time.time(), 3), "conn": conn, "ev": ev}
        rec.update(kw)
        line = json.dumps(rec, default=str)
        with self.log_lock:
            self.logf.write(line + "\n")

    def snapshot(self):
        with self.lock:
            files = self.dir.scan()
            return State(self, files)

    def next_conn_id(self):
        with self.lock:
            self.conn_ids += 1
            return self.conn_ids

    def serve(self):
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((self.cfg.bind, self.cfg.port))
        srv.listen(64)
        self.port = srv.getsockname()[1]
        self.snapshot()  # a directory the peer cannot read fails here, before "ready"
        print(f"mysqlpeer ready port={self.port} pid={os.getpid()}", flush=True)
        self.log(0, "ready", port=self.port, dir=self.cfg.binlog_dir)

        def stop(_sig, _frm):
            self.stopping = True
            srv.close()
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while not self.stopping:
            try:
                conn, addr = srv.accept()
            except OSError:
                break
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s = Session(self, conn, addr)
            threading.Thread(target=s.run, daemon=True).start()
        self.log(0, "stop")
        return 0


class DumpError(Exception):
    def __init__(self, code, message, state="HY000"):
        super().__init__(message)
        self.code = code
        self.message = message
        self.state = state


class Session:
    def __init__(self, peer, sock, addr):
        self.peer = peer
        self.io = wire.PacketIO(sock)
        self.host = addr[0]
        self.id = peer.next_conn_id()
        self.uservars = {}
        self.caps = 0
        self.db = None        # COM_INIT_DB
        self.snap = None      # START TRANSACTION WITH CONSISTENT SNAPSHOT: the rows then
        self.closed = False
        self.stmts = {}       # prepared statements: id -> Stmt
        self.next_stmt = 0

    def log(self, ev, **kw):
        self.peer.log(self.id, ev, **kw)

    # ---- main loop ---------------------------------------------------------------------------
    def run(self):
        self.log("connect", host=self.host)
        try:
            hello = auth.Authenticator(self.peer).run(self.io, self.id, self.host, self.log)
            self.caps = hello.caps & (auth.SERVER_CAPS | wire.CLIENT_SSL)
            while True:
                self.io.seq = 0
                data = self.io.read()
                if not data:
                    raise wire.ProtocolError("empty command packet")
                if not self.command(data[0], data[1:]):
                    break
        except auth.AuthFailed:
            pass
        except wire.Closed:
            pass
        except wire.ProtocolError as e:
            self.log("protocol_error", error=str(e))
        except (ssl.SSLError, OSError) as e:
            self.log("socket_error", error=str(e))
        except Exception as e:  # a bug in the peer: say so loudly in its log and on stderr
            self.log("internal_error", error=repr(e), trace=traceback.format_exc())
            traceback.print_exc()
        finally:
            self.closed = True
            self.peer.store.unlock(self)
            self.io.close()
            self.log("disconnect")

    def deprecate_eof(self):
        return bool(self.caps & wire.CLIENT_DEPRECATE_EOF)

    def error(self, code, message, state="HY000"):
        self.io.write(wire.err_packet(code, state, message))
        self.log("error", code=code, message=message)

    def ok(self, affected=0):
        self.io.write(wire.ok_packet(affected))

    def command(self, cmd, body):
        if cmd == COM_QUIT:
            self.log("quit")
            return False
        if cmd == COM_PING or cmd == COM_INIT_DB:
            self.log("command", cmd=cmd)
            if cmd == COM_INIT_DB:
                self.db = body.decode("utf-8", "replace")
            self.ok()
            return True
        if cmd in (COM_STMT_PREPARE, COM_STMT_EXECUTE, COM_STMT_CLOSE, COM_STMT_RESET,
                   COM_STMT_SEND_LONG_DATA):
            self.statement(cmd, body)
            return True
        if cmd == COM_QUERY:
            self.query(body.decode("utf-8", "surrogateescape"))
            return True
        if cmd == COM_REGISTER_SLAVE:
            self.register(body)
            return True
        if cmd == COM_BINLOG_DUMP:
            self.dump_position(body)
            return False
        if cmd == COM_BINLOG_DUMP_GTID:
            self.dump_gtid(body)
            return False
        self.log("command", cmd=cmd, unknown=True)
        self.error(ER_UNKNOWN_COM_ERROR, "Unknown command", "08S01")
        return True

    # ---- queries -----------------------------------------------------------------------------
    def query(self, sql):
        self.log("query", sql=sql)
        q = sql.strip().rstrip(";").strip()
        norm = re.sub(r"\s+", " ", q).lower()
        st = self.peer.snapshot()
        try:
            if self.table_statement(q, norm):
                return
            if norm.startswith("set "):
                self.set_statement(q[4:], st)
                self.ok()
            elif norm.startswith("select "):
                self.select(q[7:], st)
            elif norm in ("show binary logs", "show master logs"):
                rows = [(f.name, f.size, "No") for f in st.files]
                wire.send_result(self.io, ["Log_name", "File_size", "Encrypted"], rows,
                                 self.deprecate_eof())
            elif self.binlog_status_query(norm):
                last = st.files[-1] if st.files else None
                rows = [(last.name, last.size, "", "", st.executed.text(",\n"))] if last else []
                wire.send_result(self.io, ["File", "Position", "Binlog_Do_DB",
                                           "Binlog_Ignore_DB", "Executed_Gtid_Set"], rows,
                                 self.deprecate_eof())
            elif re.fullmatch(r"show (global |session )?variables( like '([^']*)')?", norm):
                m = re.fullmatch(r"show (?:global |session )?variables(?: like '([^']*)')?", q,
                                 re.I | re.S)
                pat = m.group(1)
                rx = None
                if pat is not None:
                    rx = re.compile("^" + re.escape(pat).replace("%", ".*").replace("_", ".")
                                    + "$", re.I)
                rows = [(k, v) for k, v in sorted(st.vars.items())
                        if v is not None and (rx is None or rx.match(k))]
                wire.send_result(self.io, ["Variable_name", "Value"], rows,
                                 self.deprecate_eof())
            elif norm in ("show grants", "show grants for current_user()",
                          "show grants for current_user"):
                wire.send_result(self.io, [f"Grants for {self.peer.cfg.user}@%"],
                                 [(g,) for g in self.peer.cfg.grants], self.deprecate_eof())
            elif norm in ("show replicas", "show slave hosts"):
                rows = [(sid, r["host"], r["port"], r["source_id"], r.get("uuid", ""))
                        for sid, r in sorted(self.peer.replicas.items())]
                wire.send_result(self.io, ["Server_Id", "Host", "Port", "Source_Id",
                                           "Replica_UUID"], rows, self.deprecate_eof())
            else:
                raise QueryError(ER_NOT_SUPPORTED_YET,
                                 f"mysqlpeer does not answer this query: {q[:200]}", "42000")
        except QueryError as e:
            self.error(e.code, e.message, e.state)

    # ---- the tables (tables.py): reads, writes, locks and consistent snapshots ------------------
    def table_statement(self, q, norm):
        """Answers @q if it is about the tables; False when it is not."""
        store = self.peer.store
        if norm == "flush tables with read lock":
            store.read_lock(self)
            self.ok()
        elif norm == "unlock tables":
            store.unlock(self)
            self.ok()
        elif re.fullmatch(r"start transaction with consistent snapshot(, ?read only)?", norm):
            self.snap = store.copy_rows()
            self.ok()
        elif norm in ("commit", "rollback"):
            self.snap = None
            self.ok()
        elif re.fullmatch(r"set (session )?transaction (isolation level (repeatable read|read "
                          r"committed|serializable)|read only|read write)", norm):
            self.ok()
        elif norm in ("begin", "start transaction", "start transaction read write"):
            raise QueryError(ER_NOT_SUPPORTED_YET, "mysqlpeer does not answer this query "
                           "(transactions of several statements)", "42000")
        elif norm.startswith("select "):
            sel = store.prepare_select(self, q)
            if sel is None:
                return False
            if sel.nparams:
                raise QueryError(1064, "a '?' outside a prepared statement", "42000")
            self.send_rows(sel, sel.run(self), binary=False)
        else:
            n = store.execute(self, q)
            if n is None:
                return False
            self.ok(n)
        return True

    def column_defs(self, sel):
        out = []
        for c in sel.columns():
            if c[0] == "col":
                out.append(column_def(sel.s.t, c[1], c[2]))
            elif c[0] == "lit":
                out.append(wire.column_def(c[1], wire.TYPE_LONGLONG, 63, 1))
            else:
                out.append(wire.column_def(c[1]))
        return out

    def send_rows(self, sel, rows, binary):
        defs = self.column_defs(sel)
        cols = sel.columns()
        self.io.write(wire.lenenc_int(len(defs)))
        for d in defs:
            self.io.write(d)
        if not self.deprecate_eof():
            self.io.write(wire.eof_packet())
        for row in rows:
            out = bytearray()
            if binary:
                bitmap = bytearray((len(row) + 7 + 2) // 8)
                vals = bytearray()
                for i, (c, v) in enumerate(zip(cols, row)):
                    if v is None:
                        bitmap[(i + 2) // 8] |= 1 << ((i + 2) % 8)
                    elif c[0] == "col":
                        vals += binary_value(sel.s.t.columns[c[1]], v)
                    elif c[0] == "lit":
                        vals += struct.pack("<q", int(v))
                    else:
                        b = str(v).encode()
                        vals += wire.lenenc_int(len(b)) + b
                out += b"\x00" + bitmap + vals
            else:
                for c, v in zip(cols, row):
                    if c[0] == "col":
                        v = text_value(sel.s.t.columns[c[1]], v)
                    if v is None:
                        out += b"\xfb"
                    else:
                        out += wire.lenenc_str(v if isinstance(v, (bytes, str)) else str(v))
            self.io.write(bytes(out))
        if self.deprecate_eof():
            self.io.write(wire.ok_packet(header=0xFE))
        else:
            self.io.write(wire.eof_packet())

    # ---- prepared statements (COM_STMT_*): SELECTs of the tables, with binary results ----------
    def statement(self, cmd, body):
        try:
            if cmd == COM_STMT_PREPARE:
                sql = body.decode("utf-8", "replace")
                self.log("prepare", sql=sql)
                sel = self.peer.store.prepare_select(self, sql)
                if sel is None:
                    raise QueryError(ER_NOT_SUPPORTED_YET, "mysqlpeer does not answer this query "
                                   f"(it prepares only SELECTs of its tables): {sql[:200]}",
                                   "42000")
                self.next_stmt += 1
                sid = self.next_stmt
                self.stmts[sid] = [sel, None]
                defs = self.column_defs(sel)
                self.io.write(b"\x00" + struct.pack("<IHHBH", sid, len(defs), sel.nparams, 0, 0))
                for _ in range(sel.nparams):
                    self.io.write(wire.column_def("?", wire.TYPE_VAR_STRING, 63, 0))
                if sel.nparams and not self.deprecate_eof():
                    self.io.write(wire.eof_packet())
                for d in defs:
                    self.io.write(d)
                if defs and not self.deprecate_eof():
                    self.io.write(wire.eof_packet())
                return
            r = wire.Reader(body, "COM_STMT_*")
            sid = r.u32()
            if cmd == COM_STMT_CLOSE:
                self.stmts.pop(sid, None)
                return  # no reply
            if cmd == COM_STMT_SEND_LONG_DATA:
                return  # no reply; not used by sdl (its parameters fit in a packet)
            if sid not in self.stmts:
                raise QueryError(ER_UNKNOWN_STMT_HANDLER, f"Unknown prepared statement handler "
                               f"({sid}) given to mysqld_stmt_execute")
            if cmd == COM_STMT_RESET:
                self.ok()
                return
            stmt = self.stmts[sid]
            sel = stmt[0]
            r.u8()   # flags: no cursor
            r.u32()  # iteration count
            params = []
            if sel.nparams:
                nulls = r.take((sel.nparams + 7) // 8)
                if r.u8():
                    stmt[1] = [(r.u8(), r.u8()) for _ in range(sel.nparams)]
                if stmt[1] is None:
                    raise QueryError(ER_WRONG_ARGUMENTS, "Incorrect arguments to "
                                   "mysqld_stmt_execute")
                for i, (ptype, flag) in enumerate(stmt[1]):
                    if nulls[i // 8] & (1 << (i % 8)):
                        params.append(None)
                    else:
                        params.append(binary_param(r, ptype, bool(flag & 0x80)))
            self.log("execute", stmt=sid, params=[str(p) for p in params])
            self.send_rows(sel, sel.run(self, params), binary=True)
        except QueryError as e:
            self.error(e.code, e.message, e.state)

    def binlog_status_query(self, norm):
        """SHOW BINARY LOG STATUS from 8.2, SHOW MASTER STATUS until 8.4 (notes §3)."""
        v = version_tuple(self.peer.cfg.server_version)
        return ((norm == "show binary log status" and v >= (8, 2, 0))
                or (norm == "show master status" and v < (8, 4, 0)))

    def sysvar(self, name, st):
        n = name.lower()
        for prefix in ("global.", "session.", "local."):
            if n.startswith(prefix):
                n = n[len(prefix):]
        if n not in st.vars:
            raise QueryError(ER_UNKNOWN_SYSTEM_VARIABLE, f"Unknown system variable '{n}'")
        return st.vars[n]

    def value(self, expr, st):
        e = expr.strip()
        m = re.fullmatch(r"@@([A-Za-z0-9_.]+)", e)
        if m:
            return self.sysvar(m.group(1), st)
        m = re.fullmatch(r"@`?([A-Za-z0-9_]+)`?", e)
        if m:
            return self.uservars.get(m.group(1).lower())
        m = re.fullmatch(r"'((?:[^'\\]|\\.|'')*)'", e, re.S)
        if m:
            return m.group(1).replace("''", "'").replace("\\'", "'")
        m = re.fullmatch(r'"([^"]*)"', e)
        if m:
            return m.group(1)
        if re.fullmatch(r"-?\d+", e):
            return e
        fn = e.lower().replace(" ", "")
        if fn == "unix_timestamp()":
            return str(int(time.time()))
        if fn in ("now()", "current_timestamp()", "current_timestamp"):
            return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())  # sessions are in UTC
        if fn in ("version()",):
            return st.vars["version"]
        if fn in ("database()", "schema()"):
            return None
        if fn in ("user()", "current_user()", "current_user", "session_user()"):
            return f"{self.peer.cfg.user}@{self.host}"
        if fn == "connection_id()":
            return str(self.id)
        if fn == "null":
            return None
        raise QueryError(ER_NOT_SUPPORTED_YET, "mysqlpeer does not answer this query (it cannot "
                         f"evaluate '{e[:100]}')", "42000")

    def select(self, rest, st):
        m = re.fullmatch(r"(.*?)(\s+limit\s+\d+)?", rest.strip(), re.I | re.S)
        body = m.group(1)
        cols, vals = [], []
        for item in split_top(body):
            am = re.fullmatch(r"(.*?)\s+as\s+`?([A-Za-z0-9_@.]+)`?", item.strip(), re.I | re.S)
            expr, name = (am.group(1), am.group(2)) if am else (item.strip(), item.strip())
            vals.append(self.value(expr, st))
            cols.append(name)
        wire.send_result(self.io, cols, [vals], self.deprecate_eof())

    def set_statement(self, rest, st):
        for item in split_top(rest):
            item = item.strip()
            low = item.lower()
            if low.startswith("names ") or low.startswith("character set "):
                continue
            m = re.fullmatch(r"@`?([A-Za-z0-9_]+)`?\s*:?=\s*(.*)", item, re.S)
            if m:
                self.uservars[m.group(1).lower()] = self.value(m.group(2), st)
                continue
            m = re.fullmatch(r"(?:(?:global|session|local|persist)\s+|@@(?:global|session|"
                             r"local)\.)?([A-Za-z0-9_]+)\s*=\s*(.*)", item, re.S | re.I)
            if m:
                continue  # system variables of the session: accepted, no effect
            raise QueryError(ER_NOT_SUPPORTED_YET, "mysqlpeer does not answer this query (it "
                             f"cannot evaluate SET {item[:100]})", "42000")

    # ---- registration ------------------------------------------------------------------------
    def register(self, body):
        r = wire.Reader(body, "COM_REGISTER_SLAVE")
        server_id = r.u32()
        host = r.take(r.u8()).decode("utf-8", "replace")
        user = r.take(r.u8()).decode("utf-8", "replace")
        r.take(r.u8())  # password
        if r.left() < 10:
            self.error(ER_UNKNOWN_ERROR, "Wrong parameters when registering replica")
            return
        port = r.u16()
        r.u32()  # rank
        source_id = r.u32()
        with self.peer.lock:
            self.peer.replicas[server_id] = {"host": host, "port": port, "user": user,
                                             "source_id": source_id or 0,
                                             "uuid": self.replica_uuid() or ""}
        self.log("register", server_id=server_id, host=host, port=port, user=user)
        self.ok()

    def replica_uuid(self):
        for k in ("replica_uuid", "slave_uuid"):
            v = self.uservars.get(k)
            if v and len(v) == 36:
                return v
        return None

    # ---- dumps -------------------------------------------------------------------------------
    def dump_gtid(self, body):
        r = wire.Reader(body, "COM_BINLOG_DUMP_GTID")
        flags = r.u16()
        server_id = r.u32()
        name_size = r.u32()
        name = r.take(name_size).split(b"\0", 1)[0].decode("utf-8", "replace")
        pos = r.u64()
        data_size = r.u32()
        data = r.take(data_size)
        try:
            replica_set = GtidSet.decode(data)
        except GtidError as e:
            self.log("dump_gtid", flags=flags, server_id=server_id, error=str(e))
            self.error(ER_SOURCE_FATAL_ERROR_READING_BINLOG, f"Malformed GTID set encoding: {e}")
            return
        self.log("dump_gtid", flags=flags, server_id=server_id, file=name, pos=pos,
                 gtid_set=replica_set.text(), data=data.hex(),
                 tagged_encoding=len(data) >= 8 and data[0] == 1 and data[7] == 1)
        Streamer(self, flags, server_id, "gtid", name, pos, replica_set).run()

    def dump_position(self, body):
        r = wire.Reader(body, "COM_BINLOG_DUMP")
        pos = r.u32()
        flags = r.u16()
        server_id = r.u32()
        name = r.rest().split(b"\0", 1)[0].decode("utf-8", "replace")
        self.log("dump", flags=flags, server_id=server_id, file=name, pos=pos)
        Streamer(self, flags, server_id, "position", name, pos, None).run()


def binary_param(r, ptype, unsigned):
    """A COM_STMT_EXECUTE parameter value of protocol type @ptype."""
    ints = {1: 1, 2: 2, 13: 2, 3: 4, 9: 4, 8: 8}
    if ptype in ints:
        return int.from_bytes(r.take(ints[ptype]), "little", signed=not unsigned)
    if ptype == 4:
        return struct.unpack("<f", r.take(4))[0]
    if ptype == 5:
        return struct.unpack("<d", r.take(8))[0]
    if ptype in (7, 10, 12):
        n = r.u8()
        b = r.take(n)
        y, mo, d, h, mi, s, us = 0, 0, 0, 0, 0, 0, 0
        if n >= 4:
            y, mo, d = struct.unpack_from("<HBB", b)
        if n >= 7:
            h, mi, s = b[4], b[5], b[6]
        if n >= 11:
            us = struct.unpack_from("<I", b, 7)[0]
        if ptype == 10:
            return datetime.date(y, mo, d)
        return datetime.datetime(y, mo, d, h, mi, s, us)
    if ptype == 11:
        n = r.u8()
        b = r.take(n)
        if n == 0:
            return datetime.timedelta(0)
        neg, days, h, mi, s = struct.unpack_from("<BIBBB", b)
        us = struct.unpack_from("<I", b, 8)[0] if n >= 12 else 0
        t = datetime.timedelta(days=days, hours=h, minutes=mi, seconds=s, microseconds=us)
        return -t if neg else t
    if ptype == 246:
        return decimal.Decimal(r.take(r.lenenc()).decode())
    if ptype in (15, 253, 254, 249, 250, 251, 252):
        b = r.take(r.lenenc())
        return b if ptype in (249, 250, 251, 252) else b.decode("utf-8", "surrogateescape")
    raise QueryError(ER_WRONG_ARGUMENTS, f"mysqlpeer does not take a parameter of type {ptype}")


def split_top(text):
    """Splits at commas outside quotes and parentheses."""
    out, cur, depth, quote = [], [], 0, None
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            cur.append(c)
            if c == "\\" and i + 1 < len(text):
                cur.append(text[i + 1])
                i += 1
            elif c == quote:
                quote = None
        elif c in "'\"`":
            quote = c
            cur.append(c)
        elif c == "(":
            depth += 1
            cur.append(c)
        elif c == ")":
            depth -= 1
            cur.append(c)
        elif c == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    if cur or out:
        out.append("".join(cur))
    return out


class Streamer:
    """One dump: what MySQL's Binlog_sender does for COM_BINLOG_DUMP(_GTID) (notes §5)."""

    def __init__(self, session, flags, server_id, mode, name, pos, replica_set):
        self.s = session
        self.peer = session.peer
        self.io = session.io
        self.flags = flags
        self.server_id = server_id
        self.mode = mode
        self.req_name = name
        self.req_pos = pos
        self.replica_set = replica_set
        self.non_block = bool(flags & BINLOG_DUMP_NON_BLOCK) or server_id == 0
        self.hb_v2 = bool(flags & USE_HEARTBEAT_EVENT_V2)
        self.cur_name = name
        self.last_pos = pos
        self.dump = None
        self.sent_events = 0

    def log(self, ev, **kw):
        self.s.log(ev, **kw)

    def announced_alg(self):
        """@source_binlog_checksum, else @master_binlog_checksum: 'CRC32', 'NONE' or None."""
        for k in ("source_binlog_checksum", "master_binlog_checksum"):
            v = self.s.uservars.get(k)
            if v is not None:
                v = str(v).upper()
                return v if v in ("CRC32", "NONE") else None
        return None

    def heartbeat_period(self):
        for k in ("source_heartbeat_period", "master_heartbeat_period"):
            v = self.s.uservars.get(k)
            if v is not None:
                try:
                    return int(v) / 1e9
                except ValueError:
                    return 0
        return 0

    def suffix(self):
        return (f"; the first event '{self.req_name}' at {self.req_pos}, the last event read "
                f"from './{self.cur_name}' at {self.last_pos}, the last byte read from "
                f"'./{self.cur_name}' at {self.last_pos}.")

    def send(self, ev):
        self.io.write(b"\x00" + ev)
        self.sent_events += 1

    def fail(self, message, with_suffix=True):
        self.s.error(ER_SOURCE_FATAL_ERROR_READING_BINLOG,
                     message + (self.suffix() if with_suffix else ""))

    def register(self, st):
        ruuid = self.s.replica_uuid()
        me = Dump(self.s, self.server_id, ruuid)
        old = []
        with self.peer.lock:
            for d in self.peer.dumps:
                if (ruuid and d.uuid == ruuid) or (not ruuid and self.server_id != 0
                                                   and d.uuid is None
                                                   and d.server_id == self.server_id):
                    old.append(d)
            self.peer.dumps.append(me)
        for d in old:
            self.log("zombie_kill", victim=d.session.id, server_id=self.server_id, uuid=ruuid)
            d.killed.set()
        for d in old:
            d.done.wait(2)
        self.dump = me

    def unregister(self):
        if self.dump:
            with self.peer.lock:
                if self.dump in self.peer.dumps:
                    self.peer.dumps.remove(self.dump)
            self.dump.done.set()

    def check_killed(self):
        if self.dump and self.dump.killed.is_set():
            self.fail("A replica with the same server_uuid/server_id as this replica has "
                      "connected to the source")
            raise StopStream()

    def run(self):
        st = self.peer.snapshot()
        self.register(st)
        try:
            start = self.start_file(st)
            if start is None:
                return
            self.stream(st, *start)
        except StopStream:
            pass
        except DumpError as e:
            self.s.error(e.code, e.message, e.state)
        except (wire.Closed, OSError, ssl.SSLError) as e:
            self.log("dump_closed", error=str(e))
        finally:
            self.unregister()
            self.log("dump_end", events=self.sent_events)

    def start_file(self, st):
        """(file index, position, zero_created) or None after an error (§5.1)."""
        files = st.files
        names = [f.name for f in files]
        if self.mode == "gtid":
            if st.gtid_mode != "ON":
                self.fail("The replication sender thread cannot start in AUTO_POSITION mode: "
                          f"this server has GTID_MODE = {st.gtid_mode} instead of ON.", False)
                return None
            if self.req_name:
                if self.req_name not in names:
                    self.fail("Could not find first log file name in binary log index file",
                              False)
                    return None
                return names.index(self.req_name), max(self.req_pos, 4), False
            mine = self.replica_set.restrict_uuid(st.server_uuid)
            if not st.executed.contains(mine):
                self.fail("Replica has more GTIDs than the source has, using the source's "
                          "SERVER_UUID. This may indicate that the end of the binary log was "
                          "truncated or that the last binary log file was lost, e.g., after a "
                          "power or disk failure when sync_binlog != 1. The source may or may "
                          "not have rolled back transactions that were already replicated to "
                          "the replica. Suggest to replicate any transactions that source has "
                          "rolled back from replica to source, and/or commit empty transactions "
                          "on source to account for transactions that have been committed on "
                          "source but are not included in GTID_EXECUTED.", False)
                return None
            if not self.replica_set.contains(st.purged):
                self.fail_purged(st.purged.subtract(self.replica_set))
                return None
            for i in range(len(files) - 1, -1, -1):
                prev = files[i].previous or GtidSet()
                if self.replica_set.contains(prev):
                    first = files[i].first_gtid()
                    zero = first is not None and self.replica_set.contains_gtid(first)
                    return i, 4, zero
            self.fail_purged(st.purged.subtract(self.replica_set))
            return None
        # position mode
        if not files:
            self.fail("Binary log is not open", False)
            return None
        if not self.req_name:
            i = 0
            self.req_name = files[0].name
        elif self.req_name not in names:
            self.fail("Could not find first log file name in binary log index file", False)
            return None
        else:
            i = names.index(self.req_name)
        if self.req_pos < 4:
            self.fail("Client requested source to start replication from position < 4.", False)
            return None
        if self.req_pos > files[i].size:
            self.fail("Client requested source to start replication from position > file size",
                      False)
            return None
        return i, self.req_pos, False

    def fail_purged(self, missing):
        sent = self.replica_set.text()
        tail = (f" The GTID set sent by the replica is '{sent}', and the missing transactions "
                f"are '{missing.text()}'.")
        if len(tail) > 512:
            tail = (" The GTID sets and the missing purged transactions are too long to print in "
                    "this message. For more information, please see the source's error log or "
                    "the manual for GTID_SUBTRACT")
        self.fail("Cannot replicate because the source purged required binary logs. Replicate "
                  "the missing transactions from elsewhere, or provision a new replica from "
                  "backup. Consider increasing the source's binary log expiration period."
                  + tail, False)

    def stream(self, st, idx, pos, zero_created):
        server_id = st.server_id
        announced = self.announced_alg()
        first = True
        prev_alg = None
        skipping = False       # inside a transaction whose GTID the replica has
        skip_run_end = None    # set while events are being skipped: end of the run
        period = self.heartbeat_period()
        files = st.files
        while True:
            f = files[idx]
            self.cur_name = f.name
            start = pos if first else 4
            if first:
                rot_crc = announced == "CRC32"
            else:
                rot_crc = prev_alg == ALG_CRC32
            self.send(fake_rotate(f.name, start, server_id, rot_crc))
            self.log("file", name=f.name, pos=start)
            if f.alg == ALG_CRC32 and announced is None:
                self.fail("Replica can not handle replication events with the checksum that "
                          "source is configured to log")
                return
            if f.fde is None:
                raise DumpError(ER_SOURCE_FATAL_ERROR_READING_BINLOG,
                                "Could not find format_description_event in binlog file"
                                + self.suffix())
            self.send(patch_fde(f.fde, f.alg, zero_created or (self.mode == "position"
                                                               and start > 4),
                                self.mode == "position" and start > 4))
            prev_alg = f.alg
            crc = f.alg == ALG_CRC32
            k = 1 if start == 4 else f.event_at(start)
            if k is None:
                self.fail("bogus data in log event")
                return
            first = False
            fh = open(f.path, "rb")
            try:
                last_hb = time.monotonic()
                while True:
                    self.check_killed()
                    if k < len(f.events):
                        e = f.events[k]
                        k += 1
                        fh.seek(e.pos)
                        ev = fh.read(e.end - e.pos)
                        self.last_pos = e.end
                        if e.type == FORMAT_DESCRIPTION:
                            continue  # a second FDE (relay-log style): the reader has one
                        if self.mode == "gtid":
                            if e.anonymous:
                                self.fail("Cannot replicate anonymous transaction when "
                                          f"AUTO_POSITION = 1, at file './{f.name}', position "
                                          f"{e.pos}.", False)
                                return
                            if e.type in (GTID, GTID_TAGGED):
                                skipping = self.replica_set.contains_gtid(e.gtid)
                            if skipping and e.type != ROTATE:
                                skip_run_end = e.end
                                if e.gtid is not None:
                                    self.log("skip", gtid=str(e.gtid))
                                continue
                        if skip_run_end is not None:
                            self.heartbeat(f, skip_run_end, server_id, crc)
                            skip_run_end = None
                        self.send(ev)
                        if e.gtid is not None:
                            self.log("gtid", gtid=str(e.gtid), file=f.name, pos=e.pos)
                        elif e.anonymous:
                            self.log("anonymous", file=f.name, pos=e.pos)
                        last_hb = time.monotonic()
                        continue
                    # the end of this file's data
                    st2 = self.peer.snapshot()
                    names = [x.name for x in st2.files]
                    if f.name in names:
                        f = st2.files[names.index(f.name)]
                    if k < len(f.events):
                        continue
                    later = [x for x in st2.files if x.name > f.name]
                    if later:
                        if skip_run_end is not None:
                            self.heartbeat(f, skip_run_end, server_id, crc)
                            skip_run_end = None
                        files = st2.files
                        idx = files.index(later[0])
                        break
                    if skip_run_end is not None:
                        self.heartbeat(f, skip_run_end, server_id, crc)
                        skip_run_end = None
                    if self.non_block:
                        self.io.write(wire.eof_packet())
                        self.log("eof", file=f.name, pos=f.size)
                        return
                    now = time.monotonic()
                    if period > 0 and now - last_hb >= period:
                        self.heartbeat(f, f.size, server_id, crc)
                        last_hb = now
                    self.wait_for_data()
            finally:
                fh.close()

    def heartbeat(self, f, pos, server_id, crc):
        make = heartbeat_v2 if self.hb_v2 else heartbeat_v1
        self.send(make(f.name, pos, server_id, crc))
        self.log("heartbeat", file=f.name, pos=pos, v2=self.hb_v2)

    def wait_for_data(self):
        """Sleeps a little; notices a client that went away."""
        sock = self.io.sock
        try:
            r, _, _ = select.select([sock], [], [], POLL_SEC)
        except (ValueError, OSError):
            raise wire.Closed("socket closed") from None
        if r:
            try:
                data = sock.recv(4096)
            except ssl.SSLWantReadError:
                return
            except OSError:
                raise wire.Closed("socket closed") from None
            if not data:
                raise wire.Closed("the replica closed the connection")


class StopStream(Exception):
    pass


def main(argv=None):
    ap = argparse.ArgumentParser(prog="mysqlpeer", description=__doc__)
    ap.add_argument("--port", type=int, default=0, help="TCP port (0: a free one)")
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--binlog-dir", required=True)
    ap.add_argument("--user", default="repl")
    ap.add_argument("--password-file")
    ap.add_argument("--auth", choices=auth.PLUGINS, default=auth.CACHING_SHA2)
    ap.add_argument("--server-version", default="8.4.3")
    ap.add_argument("--server-uuid")
    ap.add_argument("--server-id", type=int)
    ap.add_argument("--purged", help="GTID set purged in addition to the oldest file's "
                                     "PREVIOUS_GTIDS")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--require-tls", action="store_true",
                    help="refuse logins without TLS (a user created REQUIRE SSL)")
    ap.add_argument("--set", action="append", metavar="VAR=VALUE",
                    help="override a server variable (repeatable)")
    ap.add_argument("--grant", action="append", help="a SHOW GRANTS line (repeatable)")
    ap.add_argument("--log", help="JSON lines: connections, queries, dumps, events sent")
    a = ap.parse_args(argv)
    if bool(a.tls_cert) != bool(a.tls_key):
        ap.error("--tls-cert and --tls-key go together")
    if not os.path.isdir(a.binlog_dir):
        ap.error(f"--binlog-dir {a.binlog_dir}: not a directory")
    try:
        cfg = Config(a)
        peer = Peer(cfg)
        return peer.serve()
    except (BinlogError, GtidError, OSError, ssl.SSLError) as e:
        print(f"mysqlpeer: {e}", file=sys.stderr)
        return 1
