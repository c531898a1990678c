"""Composing binlog files for tests out of real MySQL-written events.

A source's binlog is a chain of files: each starts with the server's FORMAT_DESCRIPTION and a
PREVIOUS_GTIDS naming every GTID of the files before it, and ends with a ROTATE naming the
next one. The fixtures of tests/data are single files of unrelated servers, so tests that need
many transactions, several files, purged files or appended data build such chains here by
*copying* transactions of the fixtures: every event is taken byte for byte from a MySQL-written
file, and only what a server itself sets when it writes an event at another place changes —
the GTID (uuid, tag, gno) of the transaction's GTID event (an ANONYMOUS_GTID becomes a
GTID_LOG_EVENT of the same layout), each event's log_pos, and the CRC32. Big compressed
transactions re-compress copied inner events with the `zstd` tool (MySQL uses zstd too).

    src = Fixture(path)                     # the fixture's FDE and transactions
    c = Composer(src.fde, alg)              # a new file written by "that" server
    c.previous(GtidSet(...))
    c.add(src.transactions[2], Gtid(uuid, 7))
    c.add_payload(inner_events, Gtid(uuid, 8))   # a compressed transaction
    c.rotate("binlog.000002")
    data = c.bytes()

Every transaction added is recorded in c.record: (gtid text, position of its first event,
positions of its rows events or of its payload), the composer's own knowledge that tests use
as an oracle.
"""
import shutil
import struct
import subprocess
import threading
import uuid as uuidlib

from .binlog import (ALG_CRC32, ANONYMOUS_GTID, FORMAT_DESCRIPTION, GTID, GTID_TAGGED,
                     HEADER_LEN, PREVIOUS_GTIDS, QUERY, ROTATE, ROWS_TYPES, STOP, TABLE_MAP,
                     TRANSACTION_PAYLOAD, XID, Header, crc32, fde_info, make_event)
from .gtidset import GtidSet, varlen_decode, varlen_encode
from .binlog import _read_lenenc
from .wire import lenenc_int as _lenenc

MAGIC = b"\xfebin"


class Txn:
    """A transaction of a fixture: its events (raw, checksum stripped), GTID event first."""

    def __init__(self, events):
        self.events = events

    def kinds(self):
        return [Header(e).type for e in self.events]

    def has_rows(self):
        return any(t in ROWS_TYPES or t == TRANSACTION_PAYLOAD for t in self.kinds())


class Fixture:
    """A MySQL-written binlog file split into its FDE and transactions (GTID, ANONYMOUS_GTID
    or GTID_TAGGED event up to the next one)."""

    def __init__(self, path):
        data = open(path, "rb").read()
        if data[:4] != MAGIC:
            raise ValueError(f"{path}: not a binlog")
        off = 4
        self.fde = None
        self.alg = None
        self.transactions = []
        cur = None
        while off + HEADER_LEN <= len(data):
            h = Header(data, off)
            ev = data[off:off + h.size]
            off += h.size
            if h.type == FORMAT_DESCRIPTION:
                self.fde = ev
                self.alg = fde_info(ev)[1]
                continue
            body = ev[:-4] if self.alg == ALG_CRC32 else ev
            if h.type in (GTID, ANONYMOUS_GTID, GTID_TAGGED):
                cur = []
                self.transactions.append(Txn(cur))
            if h.type in (ROTATE, STOP, PREVIOUS_GTIDS) or cur is None:
                continue
            cur.append(body)

    def rows_transactions(self):
        return [t for t in self.transactions if t.has_rows()]


def gtid_event(template, gtid):
    """A GTID_LOG_EVENT for @gtid made from @template (a GTID or ANONYMOUS_GTID event of the
    same server, checksum stripped): same layout, type 33, the new uuid and gno. A tagged
    @gtid gives a GTID_TAGGED_LOG_EVENT re-serialized from a tagged template."""
    h = Header(template)
    if gtid.tag or h.type == GTID_TAGGED:
        return tagged_gtid_event(template, gtid)
    b = bytearray(template)
    b[4] = GTID
    b[HEADER_LEN + 1:HEADER_LEN + 17] = uuidlib.UUID(gtid.uuid).bytes
    struct.pack_into("<q", b, HEADER_LEN + 17, gtid.gno)
    return bytes(b)


def tagged_gtid_event(template, gtid):
    """Re-serializes a GTID_TAGGED_LOG_EVENT (mysql::serialization: version, varlen size,
    varlen last non-ignorable field id, then (id, value) fields) with fields 1 (sid), 2 (gno,
    zig-zag signed varlen) and 3 (tag) replaced and the size recomputed."""
    h = Header(template)
    if h.type != GTID_TAGGED:
        raise ValueError("a tagged GTID needs a GTID_TAGGED_LOG_EVENT template")
    body = template[HEADER_LEN:]
    size, off = varlen_decode(body, 1)
    lnif, off = varlen_decode(body, off)
    fields = []
    end = min(size, len(body))
    while off < end:
        fid, off2 = varlen_decode(body, off)
        start = off2
        if fid == 1:
            for _ in range(16):
                _, off2 = varlen_decode(body, off2)
        elif fid == 3:
            n, off2 = varlen_decode(body, off2)
            off2 += n
        elif fid <= 11:
            _, off2 = varlen_decode(body, off2)
        else:
            raise ValueError(f"tagged GTID template has field {fid}")
        fields.append((fid, body[start:off2]))
        off = off2
    out = []
    for fid, raw in fields:
        if fid == 1:
            raw = b"".join(varlen_encode(x) for x in uuidlib.UUID(gtid.uuid).bytes)
        elif fid == 2:
            raw = varlen_encode(gtid.gno << 1)
        elif fid == 3:
            t = gtid.tag.encode()
            raw = varlen_encode(len(t)) + t
        out.append(varlen_encode(fid) + raw)
    rest = b"".join(out)
    head_rest = varlen_encode(lnif)
    # size counts the whole serialized data: version byte, size field, lnif, fields
    total = 1 + len(head_rest) + len(rest)
    for _ in range(3):
        total_new = 1 + len(varlen_encode(total)) + len(head_rest) + len(rest)
        if total_new == total:
            break
        total = total_new
    new_body = bytes([2]) + varlen_encode(total) + head_rest + rest + body[end:]
    return template[:HEADER_LEN] + new_body


class Composer:
    """Writes one binlog file: the FDE of the server that wrote the copied events, then
    PREVIOUS_GTIDS, transactions, and a closing ROTATE."""

    def __init__(self, fde, server_id=None):
        self.alg = fde_info(fde)[1]
        self.crc = self.alg == ALG_CRC32
        self.server_id = server_id if server_id is not None else Header(fde).server_id
        b = bytearray(fde)
        struct.pack_into("<H", b, 17, 0)  # not in use (a closed file)
        struct.pack_into("<I", b, 13, 4 + len(b))
        if self.crc:
            b[-4:] = struct.pack("<I", crc32(bytes(b[:-4])))
        self.data = bytearray(MAGIC) + b
        self.record = []

    def _put(self, event_no_crc):
        """Appends an event (checksum stripped) with its log_pos and CRC for this place."""
        b = bytearray(event_no_crc)
        size = len(b) + (4 if self.crc else 0)
        struct.pack_into("<I", b, 9, size)
        struct.pack_into("<I", b, 13, len(self.data) + size)
        pos = len(self.data)
        if self.crc:
            b += struct.pack("<I", crc32(bytes(b)))
        self.data += b
        return pos

    def previous(self, gtids):
        ev = make_event(PREVIOUS_GTIDS, gtids.encode(), self.server_id, 0, 0, 0x80)
        self._put(ev)

    def add(self, txn, gtid, ts=None):
        """Appends a copy of @txn as transaction @gtid (None: keep it anonymous)."""
        rec = {"gtid": str(gtid) if gtid else None, "pos": len(self.data), "rows_events": [],
               "payloads": []}
        for i, ev in enumerate(txn.events):
            h = Header(ev)
            if i == 0 and gtid is not None:
                ev = gtid_event(ev, gtid)
            if ts is not None:
                ev = struct.pack("<I", ts) + ev[4:]
            pos = self._put(ev)
            if h.type in ROWS_TYPES:
                rec["rows_events"].append(pos)
            elif h.type == TRANSACTION_PAYLOAD:
                rec["payloads"].append(pos)
        rec["end"] = len(self.data)
        self.record.append(rec)
        return rec

    def add_payload(self, gtid_template, inner, gtid, ts=None):
        """Appends a compressed transaction: @gtid_template's GTID event set to @gtid, then one
        TRANSACTION_PAYLOAD_EVENT holding @inner (events without checksums, as MySQL keeps
        them inside a payload) compressed with zstd."""
        raw = b"".join(inner)
        z = zstd_compress(raw)
        # fields (lenenc type, lenenc length, lenenc value): 2 compression type (0 = zstd),
        # 3 uncompressed size, 1 payload size, 0 end (control_events.h, Transaction_payload)
        def field(t, v):
            enc = _lenenc(v)
            return _lenenc(t) + _lenenc(len(enc)) + enc
        body = field(2, 0) + field(3, len(raw)) + field(1, len(z)) + b"\x00" + z
        stamp = ts if ts is not None else Header(gtid_template).timestamp
        payload = make_event(TRANSACTION_PAYLOAD, body, self.server_id, 0, stamp)
        txn = Txn([gtid_template, payload])
        rec = self.add(txn, gtid, ts)
        rec["inner"] = len(inner)
        return rec

    def rotate(self, next_name):
        ev = make_event(ROTATE, struct.pack("<Q", 4) + next_name.encode(), self.server_id, 0)
        self._put(ev)

    def bytes(self):
        return bytes(self.data)

    def write(self, path):
        with open(path, "wb") as f:
            f.write(self.data)


def zstd_compress(raw):
    if not shutil.which("zstd"):
        raise RuntimeError("the zstd command-line tool is needed (scripts/install-deps)")
    p = subprocess.Popen(["zstd", "-3", "-q", "-c"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)
    out = []
    t = threading.Thread(target=lambda: out.append(p.stdout.read()))
    t.start()
    p.stdin.write(raw)
    p.stdin.close()
    t.join()
    if p.wait() != 0:
        raise RuntimeError("zstd failed")
    return out[0]


def zstd_decompress(data):
    p = subprocess.run(["zstd", "-d", "-q", "-c"], input=data, capture_output=True)
    if p.returncode != 0:
        raise RuntimeError(f"zstd -d failed: {p.stderr!r}")
    return p.stdout


def payload_inner_events(payload_event, alg):
    """The inner events of a TRANSACTION_PAYLOAD_EVENT (with or without its checksum)."""
    body = payload_event[HEADER_LEN:len(payload_event) - (4 if alg == ALG_CRC32 else 0)]
    off = 0
    size = comp = None
    while True:
        t, off = _read_lenenc(body, off)
        if t == 0:
            break
        n, off = _read_lenenc(body, off)
        v, _ = _read_lenenc(body, off)
        off += n
        if t == 1:
            size = v
        elif t == 2:
            comp = v
    data = body[off:off + size]
    raw = zstd_decompress(data) if comp == 0 else data
    out = []
    o = 0
    while o + HEADER_LEN <= len(raw):
        h = Header(raw, o)
        out.append(raw[o:o + h.size])
        o += h.size
    return out




def kinds_named(events):
    names = {QUERY: "QUERY", TABLE_MAP: "TABLE_MAP", XID: "XID", 30: "WRITE_ROWS",
             31: "UPDATE_ROWS", 32: "DELETE_ROWS"}
    return [names.get(Header(e).type, str(Header(e).type)) for e in events]


def chain(directory, pieces, first=1, basename="binlog", prefix_gtids=None):
    """Writes a chain of files binlog.00000N into @directory. @pieces is a list of
    (fde, [("txn", txn, gtid) | ("payload", template, inner, gtid)]) per file; PREVIOUS_GTIDS
    of each file is @prefix_gtids plus every GTID of the files before it. Returns the list of
    (file name, Composer)."""
    out = []
    seen = GtidSet() if prefix_gtids is None else prefix_gtids.copy()
    for i, (fde, items) in enumerate(pieces):
        name = f"{basename}.{first + i:06d}"
        c = Composer(fde)
        c.previous(seen)
        for item in items:
            if item[0] == "txn":
                c.add(item[1], item[2])
                if item[2] is not None:
                    seen.add(item[2])
            else:
                c.add_payload(item[1], item[2], item[3])
                seen.add(item[3])
        if i + 1 < len(pieces):
            c.rotate(f"{basename}.{first + i + 1:06d}")
        c.write(f"{directory}/{name}")
        out.append((name, c))
    return out
