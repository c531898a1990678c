"""A throwaway MariaDB server for tests: its own datadir in a temp directory, a free loopback
port, binlog in ROW/FULL/FULL mode with GTID strict mode. Started and removed by the tests
themselves (tests/integration/conftest.py); nothing here touches a system MariaDB."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pymysql

MARIADBD = "/usr/sbin/mariadbd"
INSTALL_DB = "/usr/bin/mariadb-install-db"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MariaDB:
    """One mariadbd process. root has an empty password over the socket; a replication
    user `repl` with password `replpw` is created for sdl."""

    def __init__(self, basedir=None, server_id=1, extra_args=(), log_bin=True):
        if not os.path.exists(MARIADBD):
            raise RuntimeError(f"{MARIADBD} is missing: scripts/install-deps installs mariadb-server")
        self.base = basedir or tempfile.mkdtemp(prefix="sdl-mariadb-")
        self.datadir = os.path.join(self.base, "data")
        self.sock = os.path.join(self.base, "mysqld.sock")
        self.pidfile = os.path.join(self.base, "mysqld.pid")
        self.errlog = os.path.join(self.base, "error.log")
        self.binlog = os.path.join(self.base, "binlog")
        self.tmpdir = os.path.join(self.base, "tmp")
        self.server_id = server_id
        self.extra_args = list(extra_args)
        self.log_bin = log_bin
        self.port = free_port()
        self.proc = None
        self.user = "repl"
        self.password = "replpw"

    # ---- lifecycle -----------------------------------------------------------------------
    def install(self):
        os.makedirs(self.datadir, exist_ok=True)
        os.makedirs(self.tmpdir, exist_ok=True)
        # its own temporary directory: in the shared /tmp a bootstrap of another test run
        # (another pid namespace, the same pid) can remove this one's '#sql-temptable-<pid>-…'
        # --force: go on when the host name does not resolve (no DNS check; a fresh root)
        subprocess.run([INSTALL_DB, "--no-defaults", "--user=root", f"--datadir={self.datadir}",
                        "--force", "--auth-root-authentication-method=normal", "--skip-test-db",
                        f"--tmpdir={self.tmpdir}"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self):
        if not os.path.exists(os.path.join(self.datadir, "mysql")):
            self.install()
        os.makedirs(self.tmpdir, exist_ok=True)
        args = [MARIADBD, "--no-defaults", "--user=root", f"--datadir={self.datadir}",
                "--bind-address=127.0.0.1", f"--port={self.port}", f"--socket={self.sock}",
                f"--pid-file={self.pidfile}", f"--log-error={self.errlog}",
                # its own temporary files (information_schema queries use some): /tmp is
                # shared with every other test and tool on the machine
                f"--tmpdir={self.tmpdir}",
                *([f"--log-bin={self.binlog}"] if self.log_bin else []),
                "--binlog-format=ROW", "--binlog-row-image=FULL",
                "--binlog-row-metadata=FULL", f"--server-id={self.server_id}",
                "--gtid-strict-mode=ON", "--innodb-buffer-pool-size=64M",
                "--innodb-log-file-size=48M", "--max-allowed-packet=64M",
                "--skip-name-resolve", "--innodb-flush-log-at-trx-commit=2",
                "--sync-binlog=0"] + self.extra_args
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited with {self.proc.returncode}:\n{self.error_log()}")
            try:
                c = self.root()
                c.close()
                break
            except pymysql.err.OperationalError:
                time.sleep(0.05)
        else:
            raise RuntimeError(f"mariadbd did not start:\n{self.error_log()}")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def remove(self):
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def error_log(self):
        try:
            with open(self.errlog) as f:
                return f.read()[-4000:]
        except OSError:
            return "(no error log)"

    # ---- clients -------------------------------------------------------------------------
    def root(self, db=None):
        return pymysql.connect(unix_socket=self.sock, user="root", password="", database=db,
                               autocommit=True, charset="utf8mb4")

    def sql(self, *statements, db=None):
        """Runs statements as root; returns the rows of the last one."""
        c = self.root(db)
        try:
            with c.cursor() as cur:
                rows = None
                for st in statements:
                    cur.execute(st)
                    rows = cur.fetchall()
                return rows
        finally:
            c.close()

    def create_repl_user(self, user="repl", password="replpw", grants=None):
        grants = grants or ["REPLICATION SLAVE", "REPLICATION CLIENT", "BINLOG MONITOR", "SELECT"]
        self.sql(f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{password}'",
                 f"GRANT {', '.join(grants)} ON *.* TO '{user}'@'%'")

    def gtid_binlog_pos(self):
        return self.sql("SELECT @@gtid_binlog_pos")[0][0]
