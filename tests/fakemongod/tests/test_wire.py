"""Wire protocol, handshake and robustness against malformed input."""
import os
import random
import socket
import struct
import time

import bson
import pytest

import rawwire as W
from conftest import make_client
from harness import start_fakemongod


def test_legacy_op_query_handshake(server):
    s = W.connect(server.port)
    rid = W.send_query(s, "admin.$cmd", {"isMaster": 1, "helloOk": True,
                                         "client": {"application": {"name": "rawtest"}}})
    op, resp_to, flags, doc, _ = W.recv_reply(s)
    assert op == W.OP_REPLY and resp_to == rid
    assert doc["ok"] == 1 and doc["ismaster"] is True and doc["helloOk"] is True
    assert doc["setName"] == "rs0"
    assert doc["hosts"] == [server.advertise] and doc["primary"] == server.advertise
    assert doc["me"] == server.advertise
    assert doc["maxWireVersion"] == 17 and doc["minWireVersion"] == 0
    assert doc["logicalSessionTimeoutMinutes"] == 30
    assert doc["secondary"] is False and "isWritablePrimary" not in doc
    assert isinstance(doc["connectionId"], int)
    # legacy OP_QUERY for anything but hello is refused like mongod 6.0
    W.send_query(s, "admin.$cmd", {"ping": 1})
    _, _, _, doc, _ = W.recv_reply(s)
    assert doc["ok"] == 0 and doc["code"] == 352
    # the libmongoc polling monitor keeps using OP_QUERY hello
    W.send_query(s, "admin.$cmd", {"hello": 1, "helloOk": True})
    _, _, _, doc, _ = W.recv_reply(s)
    assert doc["isWritablePrimary"] is True and "ismaster" not in doc
    s.close()


def test_op_msg_document_sequence_and_more_to_come(server):
    s = W.connect(server.port)
    rid = W.send_msg(s, {"insert": "seq", "$db": "wire_t", "ordered": True},
                     seqs=[("documents", [{"_id": 1}, {"_id": 2}])])
    _, resp_to, flags, doc, _ = W.recv_reply(s)
    assert resp_to == rid and doc == {**doc, "ok": 1.0, "n": 2}
    # moreToCome: fire-and-forget, no reply at all; the next reply answers the ping
    W.send_msg(s, {"insert": "seq", "$db": "wire_t", "writeConcern": {"w": 0}}, flags=2,
               seqs=[("documents", [{"_id": 3}])])
    rid = W.send_msg(s, {"find": "seq", "filter": {}, "$db": "wire_t"})
    _, resp_to, _, doc, _ = W.recv_reply(s)
    assert resp_to == rid
    assert [d["_id"] for d in doc["cursor"]["firstBatch"]] == [1, 2, 3]
    W.send_msg(s, {"dropDatabase": 1, "$db": "wire_t"})
    assert W.recv_reply(s)[3]["ok"] == 1
    s.close()


def test_exhaust_awaitable_hello_streams(server):
    s = W.connect(server.port)
    W.send_msg(s, {"hello": 1, "$db": "admin"})
    tv = W.recv_reply(s)[3]["topologyVersion"]
    t0 = time.monotonic()
    rid = W.send_msg(s, {"hello": 1, "$db": "admin", "topologyVersion": tv, "maxAwaitTimeMS": 150},
                     flags=1 << 16)
    replies = [W.recv_reply(s) for _ in range(3)]
    elapsed = time.monotonic() - t0
    assert elapsed >= 0.4, "each streamed reply waits maxAwaitTimeMS"
    prev = rid
    for op, resp_to, flags, doc, reply_id in replies:
        assert op == W.OP_MSG and flags & 2, "streamed replies carry moreToCome"
        assert resp_to == prev and doc["isWritablePrimary"] is True
        prev = reply_id
    s.close()


def test_awaitable_hello_without_exhaust_waits_once(server):
    s = W.connect(server.port)
    W.send_msg(s, {"hello": 1, "$db": "admin"})
    tv = W.recv_reply(s)[3]["topologyVersion"]
    t0 = time.monotonic()
    W.send_msg(s, {"hello": 1, "$db": "admin", "topologyVersion": tv, "maxAwaitTimeMS": 200})
    _, _, flags, doc, _ = W.recv_reply(s)
    assert time.monotonic() - t0 >= 0.19 and not flags & 2 and doc["ok"] == 1
    s.close()


def test_errors_like_mongod(server):
    s = W.connect(server.port)
    W.send_msg(s, {"noSuchCmd": 1, "$db": "admin"})
    doc = W.recv_reply(s)[3]
    assert (doc["ok"], doc["code"], doc["codeName"]) == (0, 59, "CommandNotFound")
    assert doc["errmsg"] == "no such command: 'noSuchCmd'"
    W.send_msg(s, {"ping": 1})
    assert W.recv_reply(s)[3]["code"] == 40571  # $db is required
    W.send_msg(s, {"Find": "x", "$db": "x"})  # names are case sensitive
    assert W.recv_reply(s)[3]["code"] == 59
    for probe in ("atlasVersion", "getFreeMonitoringStatus"):
        W.send_msg(s, {probe: 1, "$db": "admin"})
        assert W.recv_reply(s)[3]["code"] == 59
    s.close()


def _alive(server):
    c = make_client(server.uri, serverSelectionTimeoutMS=5000)
    try:
        return c.admin.command("ping")["ok"] == 1
    finally:
        c.close()


def _send_and_drain(port, data):
    s = W.connect(port, timeout=2)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
    except OSError:
        pass
    finally:
        s.close()


def test_malformed_messages_get_error_or_close(server):
    s = W.connect(server.port)
    # body that is not valid BSON -> error reply (InvalidBSON), connection stays usable
    bad = struct.pack("<I", 0) + b"\0" + struct.pack("<i", 12) + b"\x02a\0\xff\xff\xff\x7f\0\0"
    W.send_raw(s, W.OP_MSG, bad)
    doc = W.recv_reply(s)[3]
    assert doc["ok"] == 0 and doc["code"] == 22
    # unknown section kind
    W.send_raw(s, W.OP_MSG, struct.pack("<I", 0) + b"\x07" + bson.encode({"ping": 1}))
    assert W.recv_reply(s)[3]["ok"] == 0
    # two body sections
    W.send_raw(s, W.OP_MSG, struct.pack("<I", 0) + (b"\0" + bson.encode({"ping": 1, "$db": "a"})) * 2)
    assert W.recv_reply(s)[3]["code"] == 40430
    # unknown required flag bit
    W.send_raw(s, W.OP_MSG, struct.pack("<I", 1 << 4) + b"\0" + bson.encode({"ping": 1, "$db": "a"}))
    assert W.recv_reply(s)[3]["ok"] == 0
    W.send_msg(s, {"ping": 1, "$db": "admin"})
    assert W.recv_reply(s)[3]["ok"] == 1
    # unknown opcode -> connection closed
    W.send_raw(s, 9999, b"abc")
    assert W.recv_reply(s) is None
    s.close()
    # absurd lengths -> closed
    for length in (3, -5, 10 ** 9):
        _send_and_drain(server.port, struct.pack("<iiii", length, 1, 0, W.OP_MSG) + b"x" * 32)
    assert _alive(server)


def test_random_garbage_never_kills_server(server):
    rng = random.Random(1234)
    valid = struct.pack("<I", 0) + b"\0" + bson.encode({"insert": "g", "$db": "garbage",
                                                        "documents": [{"a": 1, "b": [1, {"c": "x"}]}]})
    for i in range(300):
        body = bytearray(valid)
        for _ in range(rng.randint(1, 6)):
            body[rng.randrange(len(body))] = rng.randrange(256)
        if rng.random() < 0.3:
            body = body[:rng.randrange(len(body))]
        opcode = W.OP_MSG if rng.random() < 0.9 else W.OP_QUERY
        _send_and_drain(server.port, struct.pack("<iiii", 16 + len(body), i, 0, opcode) + bytes(body))
    for i in range(50):
        _send_and_drain(server.port, os.urandom(rng.randint(0, 200)))
    assert _alive(server)
    assert "Traceback" not in server.stderr()


def test_standalone_mode(tmp_path):
    m = start_fakemongod(tmp_path, replset=None)
    try:
        c = make_client(m.uri)
        h = c.admin.command("hello")
        assert "setName" not in h and "hosts" not in h and h["isWritablePrimary"] is True
        c.x.c.insert_one({"_id": 1})
        assert c.x.c.find_one() == {"_id": 1}
        s = W.connect(m.port)
        W.send_msg(s, {"insert": "c", "$db": "x", "documents": [{"_id": 2}],
                       "lsid": {"id": bson.Binary(os.urandom(16), 4)}, "txnNumber": bson.Int64(1)})
        doc = W.recv_reply(s)[3]
        assert doc["code"] == 20  # transaction numbers need a replica set
        s.close()
        c.close()
    finally:
        assert m.stop() == 0


def test_sigterm_clean_exit_and_ready_line(tmp_path):
    m = start_fakemongod(tmp_path)
    assert m.ready_line == "fakemongod ready port=%d pid=%d uri=%s" % (m.port, m.pid, m.uri)
    c = make_client(m.uri)
    c.x.c.insert_one({"a": 1})
    c.close()  # (closing a pymongo client after the server is gone waits for server selection)
    assert m.stop() == 0
    assert m.restart().ready_line
    c = make_client(m.uri)
    assert c.x.c.find_one({}, {"_id": 0}) == {"a": 1}
    c.close()
    assert m.stop() == 0
