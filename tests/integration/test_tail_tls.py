"""TLS to the source: a mariadbd with a certificate from a throwaway CA, a replication user
that REQUIRES SSL, and each source.tls.mode."""
import subprocess

import pytest

from conftest import Sdl
from mariadb import MariaDB


def make_ca(d, name):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={name}", "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.pem"],
                   check=True, capture_output=True)


@pytest.fixture(scope="module")
def tls_db(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    make_ca(d, "ca")
    make_ca(d, "otherca")
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                    "-keyout", f"{d}/server.key", "-out", f"{d}/server.csr"],
                   check=True, capture_output=True)
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    subprocess.run(["openssl", "x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.pem",
                    "-CAkey", f"{d}/ca.key", "-CAcreateserial", "-days", "2",
                    "-extfile", f"{d}/ext.cnf", "-out", f"{d}/server.pem"],
                   check=True, capture_output=True)
    db = MariaDB(basedir=str(d / "db"), extra_args=[
        f"--ssl-ca={d}/ca.pem", f"--ssl-cert={d}/server.pem", f"--ssl-key={d}/server.key"])
    db.start()
    db.sql("CREATE USER 'repl'@'%' IDENTIFIED BY 'replpw' REQUIRE SSL",
           "GRANT REPLICATION SLAVE, BINLOG MONITOR, SELECT ON *.* TO 'repl'@'%'",
           "CREATE DATABASE tls", "CREATE TABLE tls.t (id INT PRIMARY KEY)",
           "INSERT INTO tls.t VALUES (1)")
    yield db, d
    db.remove()


def tls_config(sdl, d, mode, ca=None, name="tls.yaml"):
    extra = f"  tls:\n    mode: {mode}\n" + (f"    ca: {d}/{ca}.pem\n" if ca else "")
    cfg = sdl.write_config(name=name)
    text = open(cfg).read().replace("pipeline:", extra + "pipeline:", 1)
    open(cfg, "w").write(text)
    return cfg


@pytest.mark.parametrize("mode,ca", [("preferred", None), ("required", None),
                                     ("verify_ca", "ca"), ("verify_identity", "ca")])
def test_tls_modes_that_connect(tls_db, tmp_path, mode, ca):
    db, d = tls_db
    sdl = Sdl(tmp_path, db)
    docs = sdl.tail("--include", "tls.*", config=tls_config(sdl, d, mode, ca))
    assert [x["after"]["id"] for x in docs if x["op"] == "insert"] == [1]


def test_tls_disabled_is_refused_by_a_user_that_requires_ssl(tls_db, tmp_path):
    db, d = tls_db
    sdl = Sdl(tmp_path, db)
    p = sdl.run("tail", "-c", tls_config(sdl, d, "disabled"), "--from", "start", "--until", "now")
    assert p.returncode != 0 and "Access denied" in p.stderr


def test_tls_verify_ca_with_the_wrong_ca_fails(tls_db, tmp_path):
    db, d = tls_db
    sdl = Sdl(tmp_path, db)
    p = sdl.run("tail", "-c", tls_config(sdl, d, "verify_ca", "otherca"), "--from", "start",
                "--until", "now")
    assert p.returncode != 0
    assert "connecting to '127.0.0.1:" in p.stderr
    assert "certificate" in p.stderr.lower() or "ssl" in p.stderr.lower() or "tls" in p.stderr.lower()
