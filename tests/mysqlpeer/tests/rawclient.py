"""A minimal MySQL replica written for these tests from the protocol documents (not from the
peer's code): connects with mysql_native_password, runs queries, sends the dump commands and
returns what the source sends, packet by packet, so tests can check bytes."""
import hashlib
import socket
import struct

EOF_MARK = "eof"


class ServerError(Exception):
    def __init__(self, code, state, message):
        super().__init__(f"{code} ({state}): {message}")
        self.code, self.state, self.message = code, state, message


def scramble(password, salt):
    h1 = hashlib.sha1(password.encode()).digest()
    h2 = hashlib.sha1(h1).digest()
    h3 = hashlib.sha1(salt + h2).digest()
    return bytes(a ^ b for a, b in zip(h1, h3))


def lenenc(n):
    if n < 251:
        return bytes([n])
    if n < 1 << 16:
        return b"\xfc" + struct.pack("<H", n)
    return b"\xfd" + struct.pack("<I", n)[:3]


def read_lenenc(b, off):
    c = b[off]
    if c < 251:
        return c, off + 1
    if c == 0xFC:
        return struct.unpack_from("<H", b, off + 1)[0], off + 3
    if c == 0xFD:
        return int.from_bytes(b[off + 1:off + 4], "little"), off + 4
    return struct.unpack_from("<Q", b, off + 1)[0], off + 9


class Client:
    CAPS = (0x1 | 0x200 | 0x8000 | 0x80000 | 0x200000)  # LONG_PASSWORD PROTOCOL_41
    #                                   SECURE_CONNECTION PLUGIN_AUTH LENENC_DATA

    def __init__(self, port, user="repl", password="replpw", host="127.0.0.1", timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.seq = 0
        self.chunks = []       # sizes of the wire packets of the last read_packet()
        hs = self.read_packet()
        assert hs[0] == 0x0A, hs[:1]
        end = hs.index(b"\0", 1)
        self.server_version = hs[1:end].decode()
        off = end + 1 + 4
        salt = hs[off:off + 8]
        off += 8 + 1 + 2 + 1 + 2 + 2
        auth_len = hs[off]
        off += 1 + 10
        salt += hs[off:off + max(13, auth_len - 8) - 1]
        off += max(13, auth_len - 8)
        self.plugin = hs[off:hs.index(b"\0", off)].decode()
        self.salt = salt
        resp = scramble(password, salt) if password else b""
        body = (struct.pack("<IIB", self.CAPS, 1 << 24, 45) + b"\0" * 23 + user.encode() + b"\0"
                + lenenc(len(resp)) + resp + b"mysql_native_password\0")
        self.write_packet(body)
        r = self.read_packet()
        if r[0] == 0xFE:  # AuthSwitchRequest
            end = r.index(b"\0", 1)
            salt = r[end + 1:end + 21]
            self.write_packet(scramble(password, salt) if password else b"")
            r = self.read_packet()
        self.check(r)

    # ---- packets -------------------------------------------------------------------------
    def _recv(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed by the server")
            buf += chunk
        return buf

    def read_packet(self):
        out = b""
        self.chunks = []
        while True:
            head = self._recv(4)
            n = int.from_bytes(head[:3], "little")
            assert head[3] == self.seq, f"sequence id {head[3]}, expected {self.seq}"
            self.seq = (self.seq + 1) & 0xFF
            out += self._recv(n)
            self.chunks.append(n)
            if n < 0xFFFFFF:
                return out

    def write_packet(self, payload):
        self.sock.sendall(len(payload).to_bytes(3, "little") + bytes([self.seq]) + payload)
        self.seq = (self.seq + 1) & 0xFF

    def closed(self, timeout=5):
        """True when the server closes the connection within @timeout."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except socket.timeout:
            return False

    @staticmethod
    def check(r):
        if r[0] == 0xFF:
            code = struct.unpack_from("<H", r, 1)[0]
            raise ServerError(code, r[4:9].decode(), r[9:].decode("utf-8", "replace"))
        return r

    def command(self, cmd, body=b""):
        self.seq = 0
        self.write_packet(bytes([cmd]) + body)

    # ---- text protocol -------------------------------------------------------------------
    def query(self, sql):
        """Rows (lists of str/None) of a result set, or None for an OK."""
        self.command(0x03, sql.encode())
        r = self.check(self.read_packet())
        if r[0] == 0x00:
            return None
        ncols, _ = read_lenenc(r, 0)
        self.columns = []
        for _ in range(ncols):
            c = self.read_packet()
            off = 0
            parts = []
            for _ in range(6):
                n, off = read_lenenc(c, off)
                parts.append(c[off:off + n].decode())
                off += n
            self.columns.append(parts[4])
        eof = self.read_packet()
        assert eof[0] == 0xFE  # no DEPRECATE_EOF asked for
        rows = []
        while True:
            r = self.check(self.read_packet())
            if r[0] == 0xFE and len(r) < 9:
                return rows
            row, off = [], 0
            for _ in range(ncols):
                if r[off] == 0xFB:
                    row.append(None)
                    off += 1
                    continue
                n, off = read_lenenc(r, off)
                row.append(r[off:off + n].decode("utf-8", "replace"))
                off += n
            rows.append(row)

    # ---- replication ---------------------------------------------------------------------
    def dump_gtid(self, gtid_set_bytes, flags=0, server_id=77, name=b"", pos=4):
        body = (struct.pack("<HII", flags, server_id, len(name)) + name + struct.pack("<Q", pos)
                + struct.pack("<I", len(gtid_set_bytes)) + gtid_set_bytes)
        self.command(0x1E, body)

    def dump(self, name="", pos=4, flags=0, server_id=77):
        self.command(0x12, struct.pack("<IHI", pos, flags, server_id) + name.encode())

    def register(self, server_id=77, host="replica", port=3307, raw=None):
        body = raw if raw is not None else (
            struct.pack("<I", server_id) + bytes([len(host)]) + host.encode() + b"\0\0"
            + struct.pack("<HII", port, 0, 0))
        self.command(0x15, body)
        return self.check(self.read_packet())

    def next_event(self):
        """The next event (bytes, header included), or EOF_MARK; raises ServerError."""
        r = self.check(self.read_packet())
        if r[0] == 0xFE and len(r) < 8:
            return EOF_MARK
        assert r[0] == 0x00, r[:1]
        return r[1:]

    def events(self, limit=100000):
        out = []
        while len(out) < limit:
            e = self.next_event()
            if e == EOF_MARK:
                return out, True
            out.append(e)
        return out, False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def header(ev):
    ts, etype, server_id, size, log_pos, flags = struct.unpack_from("<IBIIIH", ev, 0)
    return {"ts": ts, "type": etype, "server_id": server_id, "size": size, "log_pos": log_pos,
            "flags": flags}
