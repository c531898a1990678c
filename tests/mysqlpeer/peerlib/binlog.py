"""Binlog files as a MySQL source sees them: events framed by their header's size, the
FORMAT_DESCRIPTION_EVENT's checksum algorithm, PREVIOUS_GTIDS, GTID / tagged GTID / anonymous
GTID events, and the events a source makes up on the wire (fake ROTATE, heartbeats, EOF).

The files are the truth: nothing here rewrites an event except what MySQL's binlog sender
itself changes (sql/rpl_binlog_sender.cc): the FDE's BINLOG_IN_USE flag and `created`
timestamp (then its CRC32), and — for the workload composer, not the server — the GTID and
log_pos of copied events (workload.py).
"""
import os
import struct
import uuid as uuidlib
import zlib

from .gtidset import Gtid, GtidError, GtidSet, varlen_decode, varlen_decode_signed
from .wire import lenenc_int as _lenenc

MAGIC = b"\xfebin"
HEADER_LEN = 19

# event types (libs/mysql/binlog/event/binlog_event.h)
QUERY = 2
STOP = 3
ROTATE = 4
FORMAT_DESCRIPTION = 15
XID = 16
TABLE_MAP = 19
HEARTBEAT = 27
GTID = 33
ANONYMOUS_GTID = 34
PREVIOUS_GTIDS = 35
TRANSACTION_PAYLOAD = 40
HEARTBEAT_V2 = 41
GTID_TAGGED = 42
ROWS_TYPES = {23, 24, 25, 30, 31, 32, 39}

LOG_EVENT_BINLOG_IN_USE_F = 0x1
LOG_EVENT_ARTIFICIAL_F = 0x20

ALG_OFF = 0
ALG_CRC32 = 1
ALG_UNDEF = 255


class BinlogError(Exception):
    pass


def crc32(data):
    return zlib.crc32(data) & 0xFFFFFFFF


def with_crc(event):
    """@event (without checksum) + its CRC32."""
    return event + struct.pack("<I", crc32(event))


def fix_crc(event):
    """@event with a checksum: the last 4 bytes recomputed."""
    return event[:-4] + struct.pack("<I", crc32(event[:-4]))


class Header:
    __slots__ = ("timestamp", "type", "server_id", "size", "log_pos", "flags")

    def __init__(self, data, off=0):
        (self.timestamp, self.type, self.server_id, self.size, self.log_pos,
         self.flags) = struct.unpack_from("<IBIIIH", data, off)


def header(etype, size, log_pos, server_id, ts=0, flags=0):
    return struct.pack("<IBIIIH", ts, etype, server_id, size, log_pos, flags)


def make_event(etype, body, server_id, log_pos=0, ts=0, flags=0, checksum=False):
    size = HEADER_LEN + len(body) + (4 if checksum else 0)
    ev = header(etype, size, log_pos, server_id, ts, flags) + body
    return with_crc(ev) if checksum else ev


def fake_rotate(name, pos, server_id, checksum):
    """The ROTATE a source sends before each file: timestamp 0, log_pos 0, ARTIFICIAL."""
    return make_event(ROTATE, struct.pack("<Q", pos) + name.encode(), server_id, 0, 0,
                      LOG_EVENT_ARTIFICIAL_F, checksum)


def heartbeat_v1(name, pos, server_id, checksum):
    return make_event(HEARTBEAT, name.encode(), server_id, pos & 0xFFFFFFFF, 0, 0, checksum)


def heartbeat_v2(name, pos, server_id, checksum):
    """HEARTBEAT_LOG_EVENT_V2 (41): TLV items, lenenc type/length: 1 = file name, 2 = position
    (lenenc), 0 = end (libs/mysql/binlog/event/codecs/binary.cpp, Heartbeat)."""
    nb = name.encode()
    lp = _lenenc(pos)
    body = b"\x01" + _lenenc(len(nb)) + nb + b"\x02" + _lenenc(len(lp)) + lp + b"\x00"
    return make_event(HEARTBEAT_V2, body, server_id, pos & 0xFFFFFFFF, 0, 0, checksum)


# ---- FORMAT_DESCRIPTION ---------------------------------------------------------------------
def fde_info(ev):
    """(server_version, checksum alg) of a FORMAT_DESCRIPTION_EVENT; alg is ALG_UNDEF for
    servers before 5.6.1 (no algorithm byte)."""
    if len(ev) < HEADER_LEN + 57:
        raise BinlogError("FORMAT_DESCRIPTION_EVENT too short")
    version = ev[HEADER_LEN + 2:HEADER_LEN + 52].split(b"\0", 1)[0].decode("latin-1")
    alg = ALG_UNDEF
    if _version_tuple(version) >= (5, 6, 1):
        alg = ev[-5]
    return version, alg


def _version_tuple(v):
    nums = []
    for part in v.split("-")[0].split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        nums.append(int(digits) if digits else 0)
    while len(nums) < 3:
        nums.append(0)
    return tuple(nums)


def patch_fde(ev, alg, zero_created=False, zero_log_pos=False):
    """What the binlog sender changes in an FDE before sending it: the in-use flag cleared,
    optionally `created` (event offset 71) and log_pos zeroed; the CRC recomputed only when a
    byte changed and the file's algorithm is CRC32."""
    b = bytearray(ev)
    flags = struct.unpack_from("<H", b, 17)[0]
    struct.pack_into("<H", b, 17, flags & ~LOG_EVENT_BINLOG_IN_USE_F)
    if zero_created:
        struct.pack_into("<I", b, 71, 0)
    if zero_log_pos:
        struct.pack_into("<I", b, 13, 0)
    out = bytes(b)
    if out != ev and alg == ALG_CRC32:
        out = fix_crc(out)
    return out


# ---- GTID events ----------------------------------------------------------------------------
def parse_gtid_event(ev):
    """The Gtid of a GTID_LOG_EVENT (33) or GTID_TAGGED_LOG_EVENT (42); None for
    ANONYMOUS_GTID (34)."""
    h = Header(ev)
    body = ev[HEADER_LEN:]
    if h.type == ANONYMOUS_GTID:
        return None
    if h.type == GTID:
        if len(body) < 25:
            raise BinlogError("GTID_LOG_EVENT too short")
        sid = str(uuidlib.UUID(bytes=bytes(body[1:17])))
        (gno,) = struct.unpack_from("<q", body, 17)
        if gno < 1:
            raise BinlogError(f"GTID_LOG_EVENT with gno {gno}")
        return Gtid(sid, gno)
    if h.type == GTID_TAGGED:
        return parse_tagged_gtid(body)
    raise BinlogError(f"event type {h.type} is not a GTID event")


def parse_tagged_gtid(body):
    """GTID_TAGGED_LOG_EVENT body (mysql::serialization, format version 2): version byte,
    varlen payload size, varlen last non-ignorable field id, then (field id, value) pairs:
    0 flags, 1 sid (16 varlens), 2 gno (signed varlen), 3 tag (varlen length + bytes), …"""
    try:
        if not body or body[0] != 2:
            raise BinlogError("GTID_TAGGED_LOG_EVENT: unknown serialization version")
        size, off = varlen_decode(body, 1)
        _lnif, off = varlen_decode(body, off)
        end = min(size, len(body))
        sid = gno = tag = None
        while off < end:
            fid, off = varlen_decode(body, off)
            if fid == 0:
                _, off = varlen_decode(body, off)
            elif fid == 1:
                raw = []
                for _ in range(16):
                    v, off = varlen_decode(body, off)
                    raw.append(v)
                sid = str(uuidlib.UUID(bytes=bytes(raw)))
            elif fid == 2:
                gno, off = varlen_decode_signed(body, off)
            elif fid == 3:
                n, off = varlen_decode(body, off)
                tag = bytes(body[off:off + n]).decode().lower()
                off += n
            else:
                break  # the rest does not matter to a source
        if sid is None or gno is None or tag is None:
            raise BinlogError("GTID_TAGGED_LOG_EVENT lacks its sid, gno or tag")
        return Gtid(sid, gno, tag)
    except GtidError as e:
        raise BinlogError(f"GTID_TAGGED_LOG_EVENT: {e}") from None


def event_body(ev, alg):
    """The event's body without header and checksum."""
    return ev[HEADER_LEN:len(ev) - (4 if alg == ALG_CRC32 else 0)]


# ---- TABLE_MAP optional metadata (only whether column names are logged) ---------------------
def table_map_has_column_names(ev, alg, post_header_len=8):
    body = event_body(ev, alg)
    try:
        off = post_header_len
        off += 1 + body[off] + 1  # db
        off += 1 + body[off] + 1  # table
        ncols, off = _read_lenenc(body, off)
        off += ncols
        mlen, off = _read_lenenc(body, off)
        off += mlen
        off += (ncols + 7) // 8
        while off < len(body):
            t = body[off]
            ln, off = _read_lenenc(body, off + 1)
            if t == 4:  # COLUMN_NAME
                return True
            off += ln
    except (IndexError, struct.error):
        return False
    return False


def _read_lenenc(b, off):
    c = b[off]
    if c < 251:
        return c, off + 1
    if c == 0xFC:
        return struct.unpack_from("<H", b, off + 1)[0], off + 3
    if c == 0xFD:
        return int.from_bytes(b[off + 1:off + 4], "little"), off + 4
    return struct.unpack_from("<Q", b, off + 1)[0], off + 9


# ---- files ----------------------------------------------------------------------------------
class Event:
    __slots__ = ("pos", "end", "type", "gtid", "anonymous")

    def __init__(self, pos, end, etype):
        self.pos = pos
        self.end = end
        self.type = etype
        self.gtid = None       # GTID / GTID_TAGGED events: the Gtid
        self.anonymous = False  # ANONYMOUS_GTID


class BinlogFile:
    """One binlog file, scanned: its events (complete ones only: a file may be growing),
    format, PREVIOUS_GTIDS and GTIDs. rescan() reads what was appended since."""

    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        self.events = []
        self.size = 0          # bytes of complete events (plus the magic)
        self.fde = None        # raw FDE bytes
        self.version = ""
        self.alg = ALG_UNDEF
        self.server_id = 0
        self.previous = None   # GtidSet of PREVIOUS_GTIDS, None when the file has none
        self.gtids = GtidSet()
        self.has_anonymous = False
        self.has_gtid = False
        self.column_names = None  # last TABLE_MAP: logs column names (binlog_row_metadata)
        self.ends_with_rotate = False
        self.mtime = None
        self.rescan()

    def read(self, pos, n):
        with open(self.path, "rb") as f:
            f.seek(pos)
            return f.read(n)

    def event_bytes(self, e):
        return self.read(e.pos, e.end - e.pos)

    def rescan(self):
        """Reads the events appended since the last scan (only the new bytes)."""
        st = os.stat(self.path)
        if self.mtime == (st.st_mtime_ns, st.st_size):
            return
        base = self.size if self.events else 0
        with open(self.path, "rb") as f:
            f.seek(base)
            data = f.read()
        if not self.events:
            if len(data) < 4:
                return  # being created
            if data[:4] != MAGIC:
                raise BinlogError(f"{self.path}: not a binlog file (bad magic)")
            self.size = 4
        off = self.size - base
        while off + HEADER_LEN <= len(data):
            h = Header(data, off)
            if h.size < HEADER_LEN:
                raise BinlogError(f"{self.path}: event at {base + off} has size {h.size}")
            if off + h.size > len(data):
                break  # not written completely yet
            ev = data[off:off + h.size]
            e = Event(base + off, base + off + h.size, h.type)
            self._note(e, ev, h)
            self.events.append(e)
            off += h.size
        self.size = base + off
        self.mtime = (st.st_mtime_ns, st.st_size)

    def _note(self, e, ev, h):
        if h.type == FORMAT_DESCRIPTION:
            if self.fde is None:
                self.fde = ev
                self.version, self.alg = fde_info(ev)
                self.server_id = h.server_id
            return
        if self.fde is None:
            raise BinlogError(f"{self.path}: event type {h.type} at {e.pos} before the "
                              "FORMAT_DESCRIPTION_EVENT")
        self.ends_with_rotate = h.type == ROTATE
        if h.type == PREVIOUS_GTIDS and self.previous is None:
            try:
                self.previous = GtidSet.decode(event_body(ev, self.alg))
            except GtidError as err:
                raise BinlogError(f"{self.path}: PREVIOUS_GTIDS at {e.pos}: {err}") from None
        elif h.type in (GTID, GTID_TAGGED):
            e.gtid = parse_gtid_event(ev[:len(ev) - (4 if self.alg == ALG_CRC32 else 0)])
            self.gtids.add(e.gtid)
            self.has_gtid = True
        elif h.type == ANONYMOUS_GTID:
            e.anonymous = True
            self.has_anonymous = True
        elif h.type == TABLE_MAP:
            self.column_names = table_map_has_column_names(ev, self.alg)

    def first_gtid(self):
        for e in self.events:
            if e.gtid is not None:
                return e.gtid
        return None

    def event_at(self, pos):
        """Index of the event starting at @pos, or None."""
        lo, hi = 0, len(self.events)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.events[mid].pos < pos:
                lo = mid + 1
            else:
                hi = mid
        if lo < len(self.events) and self.events[lo].pos == pos:
            return lo
        return None


class BinlogDir:
    """The files of a binlog directory, ordered by name. Every regular file whose name does
    not start with '.' and does not end with '.index' must be a binlog."""

    def __init__(self, path):
        self.path = path
        self.files = {}

    def scan(self):
        names = sorted(n for n in os.listdir(self.path)
                       if not n.startswith(".") and not n.endswith(".index")
                       and os.path.isfile(os.path.join(self.path, n)))
        out = []
        for n in names:
            f = self.files.get(n)
            if f is None:
                f = BinlogFile(os.path.join(self.path, n))
                self.files[n] = f
            else:
                f.rescan()
            if f.fde is not None or f.size > 4:
                out.append(f)
        for n in list(self.files):
            if n not in names:
                del self.files[n]
        return out
