"""Minimal raw wire-protocol client for protocol-level tests."""
import socket
import struct

import bson
from bson.codec_options import CodecOptions

OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013
_rid = [100]


def connect(port, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return s


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def next_id():
    _rid[0] += 1
    return _rid[0]


def send_msg(s, doc, flags=0, seqs=(), req_id=None):
    req_id = req_id or next_id()
    payload = struct.pack("<I", flags) + b"\0" + bson.encode(doc)
    for ident, docs in seqs:
        body = ident.encode() + b"\0" + b"".join(bson.encode(d) for d in docs)
        payload += b"\1" + struct.pack("<i", 4 + len(body)) + body
    s.sendall(struct.pack("<iiii", 16 + len(payload), req_id, 0, OP_MSG) + payload)
    return req_id


def send_raw(s, opcode, payload, req_id=None):
    req_id = req_id or next_id()
    s.sendall(struct.pack("<iiii", 16 + len(payload), req_id, 0, opcode) + payload)
    return req_id


def send_query(s, ns, doc):
    payload = struct.pack("<i", 0) + ns.encode() + b"\0" + struct.pack("<ii", 0, -1) + bson.encode(doc)
    return send_raw(s, OP_QUERY, payload)


def recv_reply(s):
    """Returns (opcode, response_to, flags, doc) or None on EOF."""
    hdr = recv_exact(s, 16)
    if hdr is None:
        return None
    length, rid, resp_to, opcode = struct.unpack("<iiii", hdr)
    body = recv_exact(s, length - 16)
    opts = CodecOptions()
    if opcode == OP_MSG:
        flags = struct.unpack_from("<I", body)[0]
        assert body[4] == 0
        return opcode, resp_to, flags, bson.decode(body[5:], codec_options=opts), rid
    if opcode == OP_REPLY:
        flags, _, _, n = struct.unpack_from("<iqii", body)
        return opcode, resp_to, flags, bson.decode(body[20:], codec_options=opts), rid
    raise AssertionError("unexpected opcode %d" % opcode)


class Raw:
    """Send exact command documents (explicit lsid/txnNumber) and get the reply document."""

    def __init__(self, port, app_name=None):
        self.port = port
        self.app_name = app_name
        self.sock = None
        self.connect()

    def connect(self):
        if self.sock:
            self.sock.close()
        self.sock = connect(self.port, timeout=30)
        hello = {"isMaster": 1, "helloOk": True}
        if self.app_name:
            hello["client"] = {"application": {"name": self.app_name}}
        send_query(self.sock, "admin.$cmd", hello)
        assert recv_reply(self.sock)[3]["ok"] == 1

    def cmd(self, db, doc, **kw):
        d = dict(doc)
        d.update(kw)
        d["$db"] = db
        send_msg(self.sock, d)
        r = recv_reply(self.sock)
        if r is None:
            return None  # connection closed by the server
        return r[3]

    def close(self):
        self.sock.close()


def new_lsid():
    import os
    return {"id": bson.Binary(os.urandom(16), 4)}
