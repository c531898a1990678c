"""Real clients against the peer: the `mariadb` command-line client and Python's pymysql log in
with mysql_native_password and caching_sha2_password (fast path, full authentication over TLS
and with the RSA key exchange), are refused with MySQL's 1045 on a wrong password, and get the
server variables derived from the files; a query the peer does not know is an error."""
import shutil
import subprocess

import pymysql
import pytest

from conftest import fixture  # noqa: F401
from peerlib.binlog import BinlogFile

ESS = "rust_mysql_common/mysql-enum-string-set.000001"
U = "93e95066-a2f4-11ec-9b69-9657f0ae95e2"


def mariadb(peer, *args, password=None, sql="SELECT 1"):
    assert shutil.which("mariadb"), "the mariadb client is needed (mariadb-client)"
    return subprocess.run(["mariadb", "--no-defaults", "-h127.0.0.1", f"-P{peer.port}",
                           f"-u{peer.user}", f"-p{peer.password if password is None else password}",
                           "--batch", "--skip-column-names", *args, "-e", sql],
                          capture_output=True, text=True, timeout=30)


def connect(peer, password=None, **kw):
    return pymysql.connect(host="127.0.0.1", port=peer.port, user=peer.user,
                           password=peer.password if password is None else password, **kw)


def make_tls(d):
    def run(*a):
        subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        "/CN=ca", "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout",
        f"{d}/server.key", "-out", f"{d}/server.csr")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.pem", "-CAkey",
        f"{d}/ca.key", "-CAcreateserial", "-days", "2", "-extfile", f"{d}/ext.cnf", "-out",
        f"{d}/server.pem")
    return str(d / "server.pem"), str(d / "server.key"), str(d / "ca.pem")


def test_native_password_with_the_mariadb_client(make_peer):
    peer = make_peer(ESS, auth="mysql_native_password")
    p = mariadb(peer, sql="SELECT @@version, @@GLOBAL.server_uuid, @@gtid_mode, "
                          "@@GLOBAL.binlog_checksum, @@binlog_row_metadata")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\t") == ["8.4.3", U, "ON", "CRC32", "FULL\n"]
    p = mariadb(peer, sql="SHOW BINARY LOGS")
    assert p.stdout == "mysql-enum-string-set.000001\t3331\tNo\n"
    p = mariadb(peer, password="wrong")
    assert p.returncode == 1
    assert ("ERROR 1045 (28000): Access denied for user 'repl'@'127.0.0.1' (using password: YES)"
            in p.stderr)
    p = mariadb(peer, password="")
    assert "(using password: NO)" in p.stderr
    p = mariadb(peer, sql="SELECT * FROM mysql.user")
    assert p.returncode == 1 and "mysqlpeer does not answer this query" in p.stderr
    p = mariadb(peer, sql="SELECT @@no_such_variable")
    assert "ERROR 1193" in p.stderr and "Unknown system variable 'no_such_variable'" in p.stderr


def test_caching_sha2_full_authentication_with_rsa_then_the_fast_path(make_peer):
    peer = make_peer(ESS)   # caching_sha2_password, no TLS
    # The mariadb client sends the password in clear without TLS, which a MySQL server
    # refuses outside TLS; so does the peer (its cache is empty: full authentication).
    p = mariadb(peer)
    assert "ERROR 1045 (28000)" in p.stderr
    c = connect(peer)       # pymysql fetches the RSA key (python3-cryptography)
    with c.cursor() as cur:
        cur.execute("SELECT @@gtid_executed, @@gtid_purged")
        assert cur.fetchall() == ((f"{U}:1-5", ""),)
    c.close()
    connect(peer).close()
    auths = peer.events("auth")
    assert [(a["ok"], a["how"].split("-undecryptable")[0]) for a in auths] == [
        (False, "full-rsa"), (True, "full-rsa"), (True, "fast")]
    with pytest.raises(pymysql.err.OperationalError) as e:
        connect(peer, password="wrong")
    assert e.value.args == (1045, "Access denied for user 'repl'@'127.0.0.1' (using password: "
                                  "YES)")
    # once the cache knows the user, the fast path needs no secure connection
    assert mariadb(peer).returncode == 0


def test_caching_sha2_full_authentication_over_tls(make_peer, tmp_path):
    assert shutil.which("openssl"), "openssl is needed"
    cert, key, ca = make_tls(tmp_path)
    peer = make_peer(ESS, tls_cert=cert, tls_key=key, require_tls=True)
    p = mariadb(peer, f"--ssl-ca={ca}", "--ssl-verify-server-cert", sql="SELECT @@have_ssl")
    assert p.returncode == 0 and p.stdout == "YES\n", p.stderr
    c = connect(peer, ssl={"ca": ca})
    c.close()
    assert [a["how"] for a in peer.events("auth")] == ["full-tls", "fast"]
    assert all(a["tls"] for a in peer.events("auth"))
    with pytest.raises(pymysql.err.OperationalError) as e:
        connect(peer)       # no TLS: refused, as for a user created REQUIRE SSL
    assert e.value.args[0] == 1045


def test_auth_switch_when_the_client_starts_with_another_plugin(make_peer):
    peer = make_peer(ESS, auth="mysql_native_password")
    c = connect(peer, auth_plugin_map={}, program_name="x")
    c.close()
    p = mariadb(peer, "--default-auth=caching_sha2_password")
    assert p.returncode == 0, p.stderr
    assert any(a["ev"] == "auth_switch" for a in peer.events())


def test_server_variables_come_from_the_files(make_peer):
    peer = make_peer("mysql-binlog-connector-java/mysql-bin.checksum-none",
                     server_version="5.7.20-log")
    c = connect(peer)
    with c.cursor() as cur:
        cur.execute("SELECT @@version, @@gtid_mode, @@binlog_checksum, @@GLOBAL.SERVER_ID, "
                    "@@binlog_row_metadata")
        assert cur.fetchall() == (("5.7.20-log", "OFF", "NONE", "1", "MINIMAL"),)
        cur.execute("SHOW MASTER STATUS")
        assert cur.fetchall() == (("mysql-bin.checksum-none", "37643", "", "", ""),)
        cur.execute("SHOW GLOBAL VARIABLES LIKE 'binlog_check%'")
        assert cur.fetchall() == (("binlog_checksum", "NONE"),)
        cur.execute("SET @master_binlog_checksum = @@global.binlog_checksum, @x := 'y'")
        cur.execute("SELECT @master_binlog_checksum, @x, @unset")
        assert cur.fetchall() == (("NONE", "y", None),)
    c.close()
    f = BinlogFile(fixture("rust_mysql_common/binlog_transaction_with_GTID_TAG.000001"))
    peer = make_peer("rust_mysql_common/binlog_transaction_with_GTID_TAG.000001",
                     sets={"binlog_row_metadata": "FULL"}, server_version="9.6.0")
    c = connect(peer)
    with c.cursor() as cur:
        cur.execute("SELECT @@gtid_executed, @@gtid_purged, @@server_uuid, @@binlog_row_metadata")
        want = f.previous.union(f.gtids).text()
        assert cur.fetchall() == ((want, f.previous.text(), f.first_gtid().uuid, "FULL"),)
        # 8.4 removed SHOW MASTER STATUS; SHOW BINARY LOG STATUS replaces it
        cur.execute("SHOW BINARY LOG STATUS")
        assert cur.fetchall()[0][4] == want
        with pytest.raises(pymysql.err.MySQLError):
            cur.execute("SHOW MASTER STATUS")
    c.close()
