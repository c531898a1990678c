"""MySQL client/server packets (notes/mysql-replication-protocol.md "Wire basics", §2):
3-byte length + sequence id framing with 16 MiB splitting, length-encoded integers and
strings, OK / ERR / EOF packets and text result sets in both EOF styles."""
import socket
import struct

MAX_CHUNK = 0xFFFFFF

# capability flags
CLIENT_LONG_PASSWORD = 0x1
CLIENT_FOUND_ROWS = 0x2
CLIENT_LONG_FLAG = 0x4
CLIENT_CONNECT_WITH_DB = 0x8
CLIENT_PROTOCOL_41 = 0x200
CLIENT_SSL = 0x800
CLIENT_TRANSACTIONS = 0x2000
CLIENT_SECURE_CONNECTION = 0x8000
CLIENT_MULTI_STATEMENTS = 0x10000
CLIENT_MULTI_RESULTS = 0x20000
CLIENT_PLUGIN_AUTH = 0x80000
CLIENT_CONNECT_ATTRS = 0x100000
CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA = 0x200000
CLIENT_SESSION_TRACK = 0x800000
CLIENT_DEPRECATE_EOF = 0x1000000

SERVER_STATUS_AUTOCOMMIT = 0x0002

TYPE_VAR_STRING = 0xFD
TYPE_LONGLONG = 0x08


class ProtocolError(Exception):
    """The client sent something malformed: the connection is closed."""


class Closed(Exception):
    """The client closed the connection."""


def lenenc_int(n):
    if n < 251:
        return bytes([n])
    if n < 1 << 16:
        return b"\xfc" + struct.pack("<H", n)
    if n < 1 << 24:
        return b"\xfd" + struct.pack("<I", n)[:3]
    return b"\xfe" + struct.pack("<Q", n)


def lenenc_str(b):
    if isinstance(b, str):
        b = b.encode()
    return lenenc_int(len(b)) + b


class Reader:
    """Bounds-checked reads from a packet payload; every overrun is a ProtocolError."""

    def __init__(self, data, what="packet"):
        self.data = data
        self.off = 0
        self.what = what

    def left(self):
        return len(self.data) - self.off

    def take(self, n):
        if n < 0 or self.off + n > len(self.data):
            raise ProtocolError(f"{self.what} truncated (wanted {n} bytes at {self.off}, "
                                f"have {len(self.data)})")
        b = self.data[self.off:self.off + n]
        self.off += n
        return b

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack("<H", self.take(2))[0]

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def lenenc(self):
        c = self.u8()
        if c < 251:
            return c
        if c == 0xFC:
            return self.u16()
        if c == 0xFD:
            return int.from_bytes(self.take(3), "little")
        if c == 0xFE:
            return self.u64()
        raise ProtocolError(f"{self.what}: invalid length-encoded integer 0x{c:02x}")

    def nul_str(self):
        end = self.data.find(b"\0", self.off)
        if end < 0:
            raise ProtocolError(f"{self.what}: string without NUL terminator")
        b = self.data[self.off:end]
        self.off = end + 1
        return b

    def rest(self):
        b = self.data[self.off:]
        self.off = len(self.data)
        return b


class PacketIO:
    """Packets over a socket (plain or TLS). seq is the next sequence id to send/expect."""

    def __init__(self, sock):
        self.sock = sock
        self.seq = 0

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except (ConnectionError, OSError) as e:
                raise Closed(str(e)) from None
            if not chunk:
                raise Closed("end of stream")
            buf += chunk
        return bytes(buf)

    def read(self, max_len=64 << 20):
        payload = bytearray()
        while True:
            head = self._recv_exact(4)
            n = int.from_bytes(head[:3], "little")
            seq = head[3]
            if seq != self.seq:
                raise ProtocolError(f"packet sequence id {seq}, expected {self.seq}")
            self.seq = (self.seq + 1) & 0xFF
            if len(payload) + n > max_len:
                raise ProtocolError(f"packet larger than {max_len} bytes")
            payload += self._recv_exact(n)
            if n < MAX_CHUNK:
                return bytes(payload)

    def write(self, payload, flush=True):
        out = bytearray()
        off = 0
        while True:
            chunk = payload[off:off + MAX_CHUNK]
            out += len(chunk).to_bytes(3, "little") + bytes([self.seq]) + chunk
            self.seq = (self.seq + 1) & 0xFF
            off += len(chunk)
            if len(chunk) < MAX_CHUNK:
                break
        self.sock.sendall(bytes(out))

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def ok_packet(affected=0, insert_id=0, status=SERVER_STATUS_AUTOCOMMIT, warnings=0,
              header=0x00):
    # No info string: Connector/C reads it as lenenc whatever the caps (notes §2).
    return (bytes([header]) + lenenc_int(affected) + lenenc_int(insert_id)
            + struct.pack("<HH", status, warnings))


def err_packet(code, state, message):
    return (b"\xff" + struct.pack("<H", code) + b"#" + state.encode()[:5]
            + message.encode("utf-8", "replace"))


def eof_packet(status=SERVER_STATUS_AUTOCOMMIT, warnings=0):
    return b"\xfe" + struct.pack("<HH", warnings, status)


def column_def(name, ctype=TYPE_VAR_STRING, charset=255, length=1024, flags=0, decimals=0,
               schema="", table="", org_name=None):
    """Protocol::ColumnDefinition41 (a table's column: @schema, @table, @org_name)."""
    return (lenenc_str("def") + lenenc_str(schema) + lenenc_str(table) + lenenc_str(table)
            + lenenc_str(name) + lenenc_str(org_name if org_name is not None else name)
            + b"\x0c" + struct.pack("<HIBHB", charset, min(length, 0xFFFFFFFF), ctype, flags,
                                    decimals) + b"\x00\x00")


def send_result(io, columns, rows, deprecate_eof):
    """A text result set; values are str, bytes, int or None (NULL)."""
    io.write(lenenc_int(len(columns)))
    for c in columns:
        io.write(column_def(c))
    if not deprecate_eof:
        io.write(eof_packet())
    for row in rows:
        out = bytearray()
        for v in row:
            if v is None:
                out += b"\xfb"
            else:
                out += lenenc_str(str(v) if not isinstance(v, (bytes, str)) else v)
        io.write(bytes(out))
    if deprecate_eof:
        io.write(ok_packet(header=0xFE))
    else:
        io.write(eof_packet())
