"""MySQL GTID sets: text form (as @@gtid_executed prints it) and binary form (Gtid_set::encode,
as PREVIOUS_GTIDS_LOG_EVENT and COM_BINLOG_DUMP_GTID carry it), with tags (8.4+).

Written from the protocol notes (shared/notes/mysql-replication-protocol.md §4) and MySQL's
documented text form, not from sdl's code: the peer is the other side of sdl's parser.

A set maps (uuid, tag) to sorted, disjoint, non-adjacent closed intervals [first, last].
uuid is the lower-case 36-character text; tag is "" or a lower-case tag.
"""
import re
import struct
import uuid as uuidlib

TAG_RE = re.compile(r"^[a-z_][a-z0-9_]{0,31}$")
GNO_MAX = (1 << 63) - 1


class GtidError(ValueError):
    pass


def norm_uuid(text):
    try:
        return str(uuidlib.UUID(text.strip()))
    except ValueError:
        raise GtidError(f"invalid uuid {text!r}") from None


def norm_tag(text):
    t = text.strip().lower()
    if not TAG_RE.match(t):
        raise GtidError(f"invalid GTID tag {text!r}")
    return t


class Gtid:
    """One GTID: uuid, tag ("" untagged), gno."""
    __slots__ = ("uuid", "tag", "gno")

    def __init__(self, uuid, gno, tag=""):
        self.uuid = uuid
        self.tag = tag
        self.gno = gno

    def __str__(self):
        return f"{self.uuid}:{self.tag}:{self.gno}" if self.tag else f"{self.uuid}:{self.gno}"

    def __repr__(self):
        return f"Gtid({self})"

    def __eq__(self, other):
        return (self.uuid, self.tag, self.gno) == (other.uuid, other.tag, other.gno)

    def __hash__(self):
        return hash((self.uuid, self.tag, self.gno))

    @classmethod
    def parse(cls, text):
        parts = text.strip().split(":")
        if len(parts) == 2:
            return cls(norm_uuid(parts[0]), _gno(parts[1]))
        if len(parts) == 3:
            return cls(norm_uuid(parts[0]), _gno(parts[2]), norm_tag(parts[1]))
        raise GtidError(f"invalid GTID {text!r}")


def _gno(text):
    if not text.strip().isdigit():
        raise GtidError(f"invalid GTID number {text!r}")
    n = int(text)
    if n < 1 or n > GNO_MAX:
        raise GtidError(f"GTID number {text!r} out of range")
    return n


class GtidSet:
    def __init__(self, text=None):
        self.m = {}  # (uuid, tag) -> [[first, last], ...]
        if text:
            self.update(GtidSet.parse(text))

    # ---- construction --------------------------------------------------------------------
    @classmethod
    def parse(cls, text):
        """MySQL's text form: 'uuid:1-5:7[:tag:1-3],uuid2:…', whitespace (MySQL prints ',\\n'
        between uuids) ignored; '' is the empty set."""
        s = cls()
        for entry in text.split(","):
            entry = entry.strip()
            if not entry:
                if text.strip():
                    raise GtidError(f"empty entry in GTID set {text!r}")
                continue
            parts = [p.strip() for p in entry.split(":")]
            u = norm_uuid(parts[0])
            tag = ""
            if len(parts) < 2:
                raise GtidError(f"GTID set entry {entry!r} has no interval")
            for p in parts[1:]:
                if p and (p[0].isalpha() or p[0] == "_"):
                    tag = norm_tag(p)
                    continue
                a, _, b = p.partition("-")
                first = _gno(a)
                last = _gno(b) if b else first
                if last < first:
                    raise GtidError(f"interval {p!r} ends before it starts")
                s.add_range(u, first, last, tag)
        return s

    def copy(self):
        s = GtidSet()
        s.m = {k: [list(iv) for iv in v] for k, v in self.m.items()}
        return s

    def add(self, gtid):
        self.add_range(gtid.uuid, gtid.gno, gtid.gno, gtid.tag)

    def add_range(self, uuid, first, last, tag=""):
        ivs = self.m.setdefault((uuid, tag), [])
        ivs.append([first, last])
        ivs.sort()
        merged = []
        for a, b in ivs:
            if merged and a <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        self.m[(uuid, tag)] = merged

    def update(self, other):
        for (u, t), ivs in other.m.items():
            for a, b in ivs:
                self.add_range(u, a, b, t)
        return self

    def union(self, other):
        return self.copy().update(other)

    def subtract(self, other):
        out = GtidSet()
        for key, ivs in self.m.items():
            theirs = other.m.get(key, [])
            for a, b in ivs:
                pieces = [[a, b]]
                for c, d in theirs:
                    nxt = []
                    for x, y in pieces:
                        if d < x or c > y:
                            nxt.append([x, y])
                            continue
                        if x < c:
                            nxt.append([x, c - 1])
                        if d < y:
                            nxt.append([d + 1, y])
                    pieces = nxt
                for x, y in pieces:
                    out.add_range(key[0], x, y, key[1])
        return out

    def restrict_uuid(self, uuid):
        out = GtidSet()
        for (u, t), ivs in self.m.items():
            if u == uuid:
                for a, b in ivs:
                    out.add_range(u, a, b, t)
        return out

    # ---- queries -------------------------------------------------------------------------
    def contains_gtid(self, gtid):
        for a, b in self.m.get((gtid.uuid, gtid.tag), []):
            if a <= gtid.gno <= b:
                return True
        return False

    def contains(self, other):
        """other ⊆ self"""
        return other.subtract(self).is_empty()

    def is_empty(self):
        return not any(self.m.values())

    def __eq__(self, other):
        return isinstance(other, GtidSet) and self.canonical() == other.canonical()

    def canonical(self):
        return {k: [tuple(iv) for iv in v] for k, v in self.m.items() if v}

    def count(self):
        return sum(b - a + 1 for ivs in self.m.values() for a, b in ivs)

    def gtids(self):
        for (u, t) in sorted(self.m):
            for a, b in self.m[(u, t)]:
                for g in range(a, b + 1):
                    yield Gtid(u, g, t)

    # ---- text ----------------------------------------------------------------------------
    def text(self, sep=","):
        """MySQL's form: uuids in order, untagged intervals first, then tags in order;
        @sep between uuids (MySQL's variables print ',\\n')."""
        out = []
        for u in sorted({u for (u, _), v in self.m.items() if v}):
            parts = [u]
            for t in sorted(t for (uu, t), v in self.m.items() if uu == u and v):
                if t:
                    parts.append(t)
                for a, b in self.m[(u, t)]:
                    parts.append(str(a) if a == b else f"{a}-{b}")
            out.append(":".join(parts))
        return sep.join(out)

    def __str__(self):
        return self.text()

    def __repr__(self):
        return f"GtidSet({self.text()!r})"

    # ---- binary --------------------------------------------------------------------------
    def encode(self, tagged=None):
        """Gtid_set::encode(); the tagged format (8.4) when @tagged, or by default when some
        entry has a tag."""
        keys = sorted(k for k, v in self.m.items() if v)
        if tagged is None:
            tagged = any(t for _, t in keys)
        if tagged:
            out = struct.pack("<Q", (1 << 56) | (len(keys) << 8) | 1)
        else:
            out = struct.pack("<Q", len(keys))
        for u, t in keys:
            out += uuidlib.UUID(u).bytes
            if tagged:
                tb = t.encode()
                out += varlen_encode(len(tb)) + tb
            ivs = self.m[(u, t)]
            out += struct.pack("<Q", len(ivs))
            for a, b in ivs:
                out += struct.pack("<QQ", a, b + 1)
        return out

    @classmethod
    def decode(cls, data):
        """Both formats; rejects what MySQL's decoder rejects: trailing bytes, empty or
        reversed intervals, overlapping or adjacent intervals."""
        s = cls()
        if len(data) < 8:
            raise GtidError("GTID set encoding shorter than 8 bytes")
        (head,) = struct.unpack_from("<Q", data, 0)
        tagged = (head >> 56) == 1 and (head & 0xFF) == 1
        n = ((head >> 8) & ((1 << 48) - 1)) if tagged else head
        off = 8
        for _ in range(n):
            if off + 16 > len(data):
                raise GtidError("GTID set encoding truncated in a uuid")
            u = str(uuidlib.UUID(bytes=bytes(data[off:off + 16])))
            off += 16
            tag = ""
            if tagged:
                tl, off = varlen_decode(data, off)
                if off + tl > len(data) or tl > 32:
                    raise GtidError("GTID set encoding: bad tag length")
                tag = bytes(data[off:off + tl]).decode()
                if tag:
                    tag = norm_tag(tag)
                off += tl
            if off + 8 > len(data):
                raise GtidError("GTID set encoding truncated in an interval count")
            (ni,) = struct.unpack_from("<Q", data, off)
            off += 8
            prev_end = 0
            if ni > (len(data) - off) // 16:
                raise GtidError("GTID set encoding truncated in its intervals")
            for _ in range(ni):
                a, b = struct.unpack_from("<QQ", data, off)
                off += 16
                if a <= prev_end or b <= a or a < 1:
                    raise GtidError(f"malformed GTID set encoding: interval [{a}, {b})")
                prev_end = b
                s.add_range(u, a, b - 1, tag)
        if off != len(data):
            raise GtidError(f"malformed GTID set encoding: {len(data) - off} trailing bytes")
        return s


def varlen_encode(v):
    """mysql::serialization unsigned varlen: the first byte's low bits say how many bytes
    follow (n-1 one bits then a zero), the value in the remaining bits, little-endian; 9 bytes
    (0xff + 8 bytes) for values of 57+ bits."""
    n = 1
    while n < 9 and (v >> (56 if n == 8 else 7 * n)) != 0:
        n += 1
    if n == 9:
        return b"\xff" + struct.pack("<Q", v)
    raw = (v << n) | ((1 << (n - 1)) - 1)
    return raw.to_bytes(n, "little")


def varlen_decode(data, off):
    if off >= len(data):
        raise GtidError("varlen integer truncated")
    first = data[off]
    n = 1
    while n < 9 and (first >> (n - 1)) & 1:
        n += 1
    if off + n > len(data):
        raise GtidError("varlen integer truncated")
    if n == 9:
        return struct.unpack_from("<Q", data, off + 1)[0], off + 9
    raw = int.from_bytes(bytes(data[off:off + n]), "little")
    return (raw >> 8 if n == 8 else raw >> n), off + n


def varlen_decode_signed(data, off):
    u, off = varlen_decode(data, off)
    return (-(u >> 1) - 1 if u & 1 else u >> 1), off
