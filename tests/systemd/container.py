"""A real systemd 252 as PID 1 in private namespaces, for testing sdl.service
(../shared/notes/systemd-in-ci.md, option 1).

    with Container() as c:               # boots in about 0.5 s
        c.put("/etc/sdl/sdl.yaml", text)
        c.sh("systemctl start sdl")      # nsenter into the container
        c.show("sdl", "ActiveState")

The container's root is an overlay over the host's /, in a tmpfs, so nothing on the host is
written. Its pid, mount, cgroup, uts and ipc namespaces are private. Its network namespace
is the host's, so services inside reach the test's servers on 127.0.0.1.

Cleanup always happens: close() (or leaving the with block) powers systemd off, then kills the
namespace's PID 1 if it does not exit. Killing PID 1 kills everything in the namespace and drops
every mount. The unshare process has PR_SET_PDEATHSIG and runs with --kill-child, so even a
SIGKILLed test run takes the container with it. Missing requirements (root, overlayfs, a
writable cgroup2) raise an exception: nothing is skipped.
"""
import ctypes
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SETUP = os.path.join(HERE, "pid1-setup.sh")
CG_PREFIX = "sdl-systemd-test."
PR_SET_PDEATHSIG = 1


class ContainerError(RuntimeError):
    pass


def cgroup2_root():
    for d in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        try:
            if os.statvfs(d) and subprocess.run(["stat", "-fc", "%T", d], capture_output=True,
                                                text=True).stdout.strip() == "cgroup2fs":
                return d
        except OSError:
            pass
    raise ContainerError("no cgroup2 hierarchy mounted at /sys/fs/cgroup or /sys/fs/cgroup/unified")


def _rmdir_tree(path):
    """Removes an (empty) cgroup directory tree, deepest first."""
    for root, dirs, _ in sorted(os.walk(path), key=lambda t: -t[0].count("/")):
        try:
            os.rmdir(root)
        except OSError:
            pass


def _remove_stale(cgroot):
    """What a SIGKILLed test run leaves: its cgroup (empty once its processes died) and its
    work directory. Both are named after the test process's pid."""
    for d in glob.glob(os.path.join(cgroot, CG_PREFIX + "*")):
        pid = d.rsplit(".", 1)[-1]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            _rmdir_tree(d)
    for d in glob.glob(os.path.join(tempfile.gettempdir(), CG_PREFIX + "*.*")):
        pid = os.path.basename(d)[len(CG_PREFIX):].split(".")[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            shutil.rmtree(d, ignore_errors=True)


class Container:
    def __init__(self, boot_timeout=30):
        if os.geteuid() != 0:
            raise ContainerError("the systemd test needs root (unshare, mount, cgroups)")
        with open("/proc/filesystems") as f:
            if "overlay" not in f.read():
                raise ContainerError("overlayfs is not available")
        for tool in ("unshare", "nsenter", "/lib/systemd/systemd", "systemctl", "journalctl"):
            if not shutil.which(tool):
                raise ContainerError(f"{tool} is missing (util-linux, systemd)")
        self.boot_timeout = boot_timeout
        self.cgroot = cgroup2_root()
        self.work = None
        self.cg = None
        self.proc = None
        self.init = None
        self.console = None

    # ---- lifecycle ---------------------------------------------------------------------------
    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def start(self):
        _remove_stale(self.cgroot)
        self.work = tempfile.mkdtemp(prefix=f"{CG_PREFIX}{os.getpid()}.")
        self.cg = os.path.join(self.cgroot, f"{CG_PREFIX}{os.getpid()}")
        os.makedirs(self.cg, exist_ok=True)
        self.console = open(os.path.join(self.work, "console.log"), "wb")
        cg_procs = os.path.join(self.cg, "cgroup.procs")
        libc = ctypes.CDLL(None, use_errno=True)

        def preexec():
            # Into our own cgroup, so the container's cgroup namespace is rooted there and
            # systemd creates nothing in the host's hierarchy; die with the test process.
            with open(cg_procs, "w") as f:
                f.write(str(os.getpid()))
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

        try:
            self.proc = subprocess.Popen(
                ["unshare", "--pid", "--fork", "--kill-child=SIGKILL", "--mount", "--cgroup",
                 "--uts", "--ipc", "--propagation", "private", SETUP, self.work],
                stdin=subprocess.DEVNULL, stdout=self.console, stderr=subprocess.STDOUT,
                preexec_fn=preexec)
            self._wait_boot()
        except BaseException:
            self.close()
            raise
        return self

    def _wait_boot(self):
        deadline = time.monotonic() + self.boot_timeout
        while self.init is None:
            if self.proc.poll() is not None:
                raise ContainerError(f"container setup exited {self.proc.returncode}:\n{self.console_log()}")
            try:
                with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                    kids = f.read().split()
                if kids:
                    self.init = int(kids[0])
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ContainerError("unshare started no PID 1")
            time.sleep(0.02)
        state = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ContainerError(f"systemd exited {self.proc.returncode}:\n{self.console_log()}")
            if self._comm(self.init) == "systemd":
                state = self.run("systemctl", "is-system-running").stdout.strip()
                if state in ("running", "degraded"):
                    break
            time.sleep(0.05)
        if state != "running":
            failed = self.run("systemctl", "--failed", "--no-pager").stdout
            raise ContainerError(f"systemd did not reach 'running' (state '{state}'):\n{failed}\n"
                                 f"{self.console_log()}")

    @staticmethod
    def _comm(pid):
        try:
            with open(f"/proc/{pid}/comm") as f:
                return f.read().strip()
        except OSError:
            return ""

    def close(self):
        if self.proc is not None:
            if self.proc.poll() is None and self.init:
                try:
                    os.kill(self.init, signal.SIGRTMIN + 4)  # systemd: power off
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    pass
            if self.proc.poll() is None:
                # PID 1 dies, and the kernel kills the rest of the namespace with it.
                for pid in (self.init, self.proc.pid):
                    if pid:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                self.proc.wait(10)
            self.proc = None
        if self.console:
            self.console.close()
            self.console = None
        if self.cg:
            deadline = time.monotonic() + 5
            while os.path.exists(self.cg) and time.monotonic() < deadline:
                _rmdir_tree(self.cg)
                if os.path.exists(self.cg):
                    time.sleep(0.05)
            if os.path.exists(self.cg):
                raise ContainerError(f"cgroup {self.cg} could not be removed")
            self.cg = None
        if self.work:
            shutil.rmtree(self.work, ignore_errors=True)
            self.work = None

    def console_log(self):
        try:
            with open(os.path.join(self.work, "console.log"), errors="replace") as f:
                return f.read()[-4000:]
        except (OSError, TypeError):
            return "(no console log)"

    # ---- driving it ----------------------------------------------------------------------------
    # nsenter --root: the container's PID 1 pivoted into its own root. Entering its mount
    # namespace alone gives the namespace's original root, which is the container's only when
    # the test itself runs at the real root; inside a chroot (scripts/fresh-debian-check) it
    # is the host's. --root takes PID 1's root directory in both cases.
    def run(self, *argv, input=None, timeout=60, check=False):
        """Runs a command inside the container (its mount, pid, uts, ipc and cgroup
        namespaces); returns the CompletedProcess (text)."""
        p = subprocess.run(["nsenter", "-t", str(self.init), "-m", "-p", "-u", "-i", "-C",
                            "--root", "--wd=/", *argv], input=input, capture_output=True, text=True,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise ContainerError(f"{' '.join(argv)} exited {p.returncode}:\n{p.stdout}{p.stderr}")
        return p

    def popen(self, *argv):
        return subprocess.Popen(["nsenter", "-t", str(self.init), "-m", "-p", "-u", "-i", "-C",
                                 "--root", "--wd=/", *argv], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def sh(self, script, **kw):
        return self.run("/bin/sh", "-c", script, **kw)

    def put(self, path, data, mode=0o644):
        """Writes a file inside the container (parents created, root-owned)."""
        if isinstance(data, str):
            data = data.encode()
        p = subprocess.run(["nsenter", "-t", str(self.init), "-m", "--root", "--wd=/", "/bin/sh", "-c",
                            'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"', "put",
                            path, "%o" % mode], input=data, capture_output=True, timeout=60)
        if p.returncode != 0:
            raise ContainerError(f"writing {path} failed: {p.stderr.decode(errors='replace')}")

    def put_file(self, path, host_path, mode=None):
        with open(host_path, "rb") as f:
            data = f.read()
        self.put(path, data, mode if mode is not None else os.stat(host_path).st_mode & 0o7777)

    def read(self, path):
        return self.run("cat", path, check=True).stdout

    def show(self, unit, *props):
        """systemctl show -p ... as a dict."""
        out = self.run("systemctl", "show", unit, *[f"--property={p}" for p in props],
                       check=True).stdout
        d = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        return d if len(props) != 1 else d.get(props[0], "")

    def journal(self, unit=None, *extra):
        argv = ["journalctl", "-b", "--no-pager", "-o", "cat"]
        if unit:
            argv += ["-u", unit]
        return self.run(*argv, *extra).stdout

    def wait_for(self, what, predicate, timeout=30, interval=0.1):
        """Polls predicate() until it returns a true value; returns it or raises."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
