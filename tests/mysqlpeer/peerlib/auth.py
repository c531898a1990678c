"""Connection phase of a MySQL 8 server (notes/mysql-replication-protocol.md §1): Handshake v10,
SSLRequest and TLS, HandshakeResponse41, AuthSwitchRequest, and the two authentication
plugins a replica meets: mysql_native_password and caching_sha2_password (fast path from the
server's cache, full authentication in clear over TLS or RSA-OAEP-encrypted without it).
Wrong credentials get MySQL's ERR 1045 / 28000."""
import hashlib
import os
import struct

from . import wire
from .wire import Reader

NATIVE = "mysql_native_password"
CACHING_SHA2 = "caching_sha2_password"
PLUGINS = (NATIVE, CACHING_SHA2)

SERVER_CAPS = (wire.CLIENT_LONG_PASSWORD | wire.CLIENT_FOUND_ROWS | wire.CLIENT_LONG_FLAG
               | wire.CLIENT_CONNECT_WITH_DB | wire.CLIENT_PROTOCOL_41
               | wire.CLIENT_TRANSACTIONS | wire.CLIENT_SECURE_CONNECTION
               | wire.CLIENT_MULTI_STATEMENTS | wire.CLIENT_MULTI_RESULTS
               | wire.CLIENT_PLUGIN_AUTH | wire.CLIENT_CONNECT_ATTRS
               | wire.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | wire.CLIENT_DEPRECATE_EOF)


class AuthFailed(Exception):
    pass


def nonce():
    """20 bytes without NUL or '$' (MySQL's generator avoids both)."""
    out = bytearray()
    while len(out) < 20:
        for b in os.urandom(32):
            if b not in (0, ord("$")) and b < 128 and len(out) < 20:
                out.append(b)
    return bytes(out)


def xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def native_scramble(password, salt):
    if not password:
        return b""
    h1 = hashlib.sha1(password.encode()).digest()
    h2 = hashlib.sha1(h1).digest()
    return xor(h1, hashlib.sha1(salt + h2).digest())


def sha2_scramble(password, salt):
    if not password:
        return b""
    h1 = hashlib.sha256(password.encode()).digest()
    h2 = hashlib.sha256(h1).digest()
    return xor(h1, hashlib.sha256(h2 + salt).digest())


class RsaKey:
    """The server's RSA key pair for caching_sha2_password without TLS."""

    def __init__(self):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def decrypt(self, data):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        return self.key.decrypt(data, padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()),
                                                   algorithm=hashes.SHA1(), label=None))


class ClientHello:
    __slots__ = ("caps", "charset", "user", "auth", "db", "plugin", "attrs", "tls")


def handshake_packet(version, conn_id, salt, plugin, tls):
    caps = SERVER_CAPS | (wire.CLIENT_SSL if tls else 0)
    return (b"\x0a" + version.encode() + b"\0" + struct.pack("<I", conn_id) + salt[:8] + b"\0"
            + struct.pack("<H", caps & 0xFFFF) + bytes([255])
            + struct.pack("<H", wire.SERVER_STATUS_AUTOCOMMIT)
            + struct.pack("<H", caps >> 16) + bytes([21]) + b"\0" * 10 + salt[8:] + b"\0"
            + plugin.encode() + b"\0")


def parse_response(data, server_caps):
    """HandshakeResponse41, laid out by the effective (client & server) capabilities."""
    r = Reader(data, "HandshakeResponse41")
    h = ClientHello()
    h.caps = r.u32()
    caps = h.caps & server_caps
    if not caps & wire.CLIENT_PROTOCOL_41:
        raise wire.ProtocolError("client does not speak protocol 4.1")
    r.u32()  # max packet
    h.charset = r.u8()
    r.take(23)
    h.user = r.nul_str().decode("utf-8", "replace")
    if caps & wire.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA:
        h.auth = r.take(r.lenenc())
    elif caps & wire.CLIENT_SECURE_CONNECTION:
        h.auth = r.take(r.u8())
    else:
        h.auth = r.nul_str()
    h.db = None
    if caps & wire.CLIENT_CONNECT_WITH_DB and r.left():
        h.db = r.nul_str().decode("utf-8", "replace")
    h.plugin = None
    if caps & wire.CLIENT_PLUGIN_AUTH and r.left():
        h.plugin = r.nul_str().decode("latin-1")
    h.attrs = {}
    if caps & wire.CLIENT_CONNECT_ATTRS and r.left():
        total = r.lenenc()
        a = Reader(r.take(total), "connection attributes")
        while a.left():
            k = a.take(a.lenenc()).decode("utf-8", "replace")
            v = a.take(a.lenenc()).decode("utf-8", "replace")
            h.attrs[k] = v
    return h


def access_denied(user, host, used_password):
    return wire.err_packet(1045, "28000", f"Access denied for user '{user}'@'{host}' "
                                          f"(using password: {'YES' if used_password else 'NO'})")


class Authenticator:
    """Runs the connection phase on a PacketIO; returns the ClientHello (with .tls) or raises
    AuthFailed after sending the error."""

    def __init__(self, peer):
        self.peer = peer

    def run(self, io, conn_id, host, log):
        cfg = self.peer.cfg
        salt = nonce()
        tls = self.peer.tls_context is not None
        io.seq = 0
        io.write(handshake_packet(cfg.server_version, conn_id, salt, cfg.auth, tls))
        data = io.read()
        server_caps = SERVER_CAPS | (wire.CLIENT_SSL if tls else 0)
        in_tls = False
        if len(data) == 32:
            caps = struct.unpack_from("<I", data)[0]
            if not caps & wire.CLIENT_SSL or not tls:
                raise wire.ProtocolError("32-byte handshake response without SSL")
            io.sock = self.peer.tls_context.wrap_socket(io.sock, server_side=True)
            in_tls = True
            data = io.read()
        hello = parse_response(data, server_caps)
        hello.tls = in_tls
        if cfg.require_tls and not in_tls:
            io.write(access_denied(hello.user, host, bool(hello.auth)))
            raise AuthFailed("TLS required")
        plugin = cfg.auth
        response = hello.auth
        if hello.plugin != plugin:
            # AuthSwitchRequest: 0xFE, plugin, NUL, a new nonce + NUL
            salt = nonce()
            io.write(b"\xfe" + plugin.encode() + b"\0" + salt + b"\0")
            response = io.read()
            log("auth_switch", client_plugin=hello.plugin, plugin=plugin)
        ok_user = hello.user == cfg.user
        if plugin == NATIVE:
            good = ok_user and response == native_scramble(cfg.password, salt)
            how = "native"
        else:
            good, how = self._caching_sha2(io, hello, response, salt, in_tls, ok_user)
        if not good:
            io.write(access_denied(hello.user, host, bool(response)))
            log("auth", ok=False, user=hello.user, plugin=plugin, how=how, tls=in_tls)
            raise AuthFailed(f"access denied for {hello.user!r}")
        io.write(wire.ok_packet())
        log("auth", ok=True, user=hello.user, plugin=plugin, how=how, tls=in_tls,
            attrs=hello.attrs)
        return hello

    def _caching_sha2(self, io, hello, response, salt, in_tls, ok_user):
        cfg = self.peer.cfg
        if not cfg.password and not response:
            return ok_user, "empty"
        if ok_user and hello.user in self.peer.sha2_cache and response == sha2_scramble(
                cfg.password, salt):
            io.write(b"\x01\x03")  # fast_auth_success
            return True, "fast"
        io.write(b"\x01\x04")  # perform_full_authentication
        data = io.read()
        if in_tls:
            password = data.rstrip(b"\0")
            how = "full-tls"
        else:
            if data == b"\x02":
                io.write(b"\x01" + self.peer.rsa.pem)
                data = io.read()
            how = "full-rsa"
            try:
                plain = self.peer.rsa.decrypt(data)
            except Exception:
                return False, f"{how}-undecryptable({len(data)} bytes: {data[:8].hex()})"
            pad = (salt * (len(plain) // len(salt) + 1))[:len(plain)]
            password = xor(plain, pad).rstrip(b"\0")
        good = ok_user and password == cfg.password.encode()
        if good:
            self.peer.sha2_cache.add(hello.user)
        return good, how
