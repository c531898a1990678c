"""The Debian package: packaging/build-deb builds it from this tree (dpkg-buildpackage -b,
debhelper, meson), then:

  contents: /usr/sbin/sdl, the unit, the man page, the copyright, /etc/sdl/sdl.yaml as a
            conffile, no enablement symlinks; `sdl --version` runs from an extracted root
  man page: groff renders sdl(8) without a warning; man -l shows every section
  install:  `dpkg -i` inside a real systemd (tests/systemd/container.py, a throw-away overlay
            of the host root) installs it, and nothing is enabled or started; the installed
            unit verifies cleanly and rates <= 2.0; reinstalling and removing work too
  use:      as an operator does after the install: the two secrets into
            /etc/sdl/sdl.credentials/, host and port edited in the packaged sdl.yaml, then the
            documented `sdl check-config` (no option), `systemctl start sdl`; a row of any
            table arrives in MongoDB, and /metrics answers from the installed binary on the
            documented port
"""
import gzip
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "systemd"))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakemongod"))
from container import Container  # noqa: E402
from harness import FakeMongod, free_port  # noqa: E402

import pymongo  # noqa: E402

SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "CONFIGURATION",
            "EXIT STATUS", "SIGNALS", "FILES", "ENVIRONMENT", "SEE ALSO"]


def project_version():
    m = re.search(r"^project\('sdl'.*?version: '([^']+)'", open(os.path.join(ROOT, "meson.build")).read(),
                  re.S | re.M)
    return m.group(1)


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    out = tmp_path_factory.mktemp("deb")
    p = subprocess.run([os.path.join(ROOT, "packaging", "build-deb"), str(out)],
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout + p.stderr
    path = p.stdout.strip().splitlines()[-1]
    assert os.path.exists(path), p.stdout
    return path


@pytest.fixture(scope="module")
def extracted(deb, tmp_path_factory):
    root = tmp_path_factory.mktemp("root")
    subprocess.run(["dpkg-deb", "-x", deb, str(root)], check=True)
    return root


def test_package_metadata_and_contents(deb):
    info = subprocess.run(["dpkg-deb", "-f", deb, "Package", "Version", "Depends"], check=True,
                          capture_output=True, text=True).stdout
    assert "Package: sdl" in info and f"Version: {project_version()}" in info, info
    for lib in ("libmongoc-1.0-0", "libbson-1.0-0", "libmariadb3", "libsystemd0", "libyaml-0-2"):
        assert lib in info, info  # ${shlibs:Depends}
    files = subprocess.run(["dpkg-deb", "-c", deb], check=True, capture_output=True,
                           text=True).stdout
    paths = {line.split()[-1].lstrip(".") for line in files.splitlines()}
    for want in ("/usr/sbin/sdl", "/lib/systemd/system/sdl.service",
                 "/lib/systemd/system/sdl@.service", "/etc/sdl/sdl.yaml",
                 "/usr/share/man/man8/sdl.8.gz", "/usr/share/man/man5/sdl.yaml.5.gz",
                 "/usr/share/doc/sdl/copyright", "/usr/share/doc/sdl/CONFIG.md.gz",
                 "/usr/share/doc/sdl/DESIGN.md.gz", "/usr/share/doc/sdl/DOCUMENTS.md.gz",
                 "/usr/share/sdl/prometheus/sdl-alerts.yml",
                 "/usr/share/sdl/grafana/sdl-dashboard.json"):
        assert want in paths, files
    # Nothing enabled by the package's contents: no .wants/ symlinks, no presets.
    assert not [p for p in paths if ".wants/" in p or "preset" in p], files
    conffiles = subprocess.run(["dpkg-deb", "--ctrl-tarfile", deb], check=True,
                               capture_output=True).stdout
    listing = subprocess.run(["tar", "-xO", "./conffiles"], input=conffiles, check=True,
                             capture_output=True).stdout.decode()
    assert listing.split() == ["/etc/sdl/sdl.yaml"], listing


def test_extracted_binary_runs_and_files_match(extracted):
    sdl = extracted / "usr" / "sbin" / "sdl"
    p = subprocess.run([str(sdl), "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip() == f"sdl {project_version()}", p
    # The conffile is packaging/sdl.yaml as it is: no secret paths in it, every table.
    conf = (extracted / "etc" / "sdl" / "sdl.yaml").read_text()
    assert conf == open(os.path.join(ROOT, "packaging", "sdl.yaml")).read()
    unit = (extracted / "lib" / "systemd" / "system" / "sdl.service").read_text()
    assert "ExecStart=/usr/sbin/sdl run -c /etc/sdl/sdl.yaml\n" in unit, unit
    assert "LoadCredential=source-password:/etc/sdl/sdl.credentials/source-password\n" in unit
    assert "LoadCredential=target-uri:/etc/sdl/sdl.credentials/target-uri\n" in unit
    template = (extracted / "lib" / "systemd" / "system" / "sdl@.service").read_text()
    assert "ExecStart=/usr/sbin/sdl run -c /etc/sdl/%i.yaml\n" in template, template
    assert "LoadCredential=target-uri:/etc/sdl/%i.credentials/target-uri\n" in template
    copyright_ = (extracted / "usr" / "share" / "doc" / "sdl" / "copyright").read_text()
    assert "License: Apache-2.0" in copyright_


def test_man_page_renders_without_warnings(extracted, tmp_path):
    page = tmp_path / "sdl.8"
    page.write_bytes(gzip.decompress((extracted / "usr/share/man/man8/sdl.8.gz").read_bytes()))
    p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(page)], capture_output=True,
                       text=True)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    p = subprocess.run(["man", "-l", str(page)], capture_output=True, text=True,
                       env={**os.environ, "MANWIDTH": "80", "MAN_KEEP_FORMATTING": "0",
                            "PAGER": "cat"})
    assert p.returncode == 0 and p.stderr == "", p.stderr
    text = re.sub(r".\x08", "", p.stdout)
    for section in SECTIONS:
        assert re.search(rf"^{section}$", text, re.M), f"no {section} section:\n{text}"


def test_dpkg_install_in_systemd_enables_and_starts_nothing_then_replicates(deb, mariadb, tmp_path):
    fake = FakeMongod(tmp_path / "mongo", port=free_port()).start()
    try:
        installed_and_used(deb, mariadb, fake)
    finally:
        fake.stop()


def installed_and_used(deb, mariadb, fake):
    with Container() as c:
        c.put("/root/sdl.deb", open(deb, "rb").read())
        p = c.run("dpkg", "-i", "/root/sdl.deb", timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
        assert c.run("dpkg-query", "-W", "-f=${Status}", "sdl").stdout == "install ok installed"
        assert c.run("/usr/sbin/sdl", "--version").stdout.strip() == f"sdl {project_version()}"
        # Nothing starts by itself before it is configured.
        assert c.run("systemctl", "is-enabled", "sdl").stdout.strip() == "disabled"
        assert c.run("systemctl", "is-active", "sdl").stdout.strip() == "inactive"
        assert c.sh("ls /etc/systemd/system/*.wants/ 2>/dev/null | grep -c sdl").stdout.strip() == "0"
        assert "sdl.service" not in c.journal()
        # The installed unit, with the installed binary and man page, verifies without a word.
        p = c.run("systemd-analyze", "verify", "/lib/systemd/system/sdl.service")
        assert p.returncode == 0 and p.stdout + p.stderr == "", p.stdout + p.stderr
        p = c.run("systemd-analyze", "security", "--no-pager", "sdl.service")
        score = float(re.search(r"Overall exposure level for sdl.service: (\d+\.\d+)", p.stdout).group(1))
        print(f"installed unit exposure {score}")
        assert score <= 2.0, p.stdout
        p = c.sh("MANWIDTH=80 man 8 sdl | col -b")
        assert p.returncode == 0 and "EXIT STATUS" in p.stdout, p.stdout + p.stderr
        p = c.sh("MANWIDTH=80 man 5 sdl.yaml | col -b")
        assert p.returncode == 0 and "pipeline.batch.max_rows" in p.stdout, p.stdout + p.stderr
        # The credentials directory exists, root-only, and is empty.
        assert c.run("stat", "-c", "%u %a", "/etc/sdl/sdl.credentials").stdout.split() == ["0", "700"]
        # The documented check says what is missing and where to put it.
        p = c.run("sdl", "check-config")
        assert p.returncode == 78, p.stdout + p.stderr
        assert "write it to the credential file /etc/sdl/sdl.credentials/target-uri" in p.stderr, p.stderr
        # The operator's first steps (README "Running sdl as a service").
        mariadb.sql("CREATE DATABASE IF NOT EXISTS anywhere",
                    "CREATE TABLE IF NOT EXISTS anywhere.t (id INT PRIMARY KEY)")
        c.put("/etc/sdl/sdl.credentials/source-password", mariadb.password + "\n", 0o600)
        c.put("/etc/sdl/sdl.credentials/target-uri", fake.uri + "\n", 0o600)
        c.sh(f"sed -i 's/^  port: 3306$/  port: {mariadb.port}/' /etc/sdl/sdl.yaml", check=True)
        p = c.run("sdl", "check-config")
        assert p.returncode == 0, p.stdout + p.stderr
        assert "# uri: <from credential target-uri>" in p.stdout, p.stdout
        p = c.run("systemctl", "start", "sdl", timeout=120)
        assert p.returncode == 0, p.stderr + c.journal("sdl")
        mariadb.sql("INSERT INTO anywhere.t VALUES (1)")
        mongo = pymongo.MongoClient(fake.uri, serverSelectionTimeoutMS=10000)
        c.wait_for("the row in audit.row_changes",
                   lambda: mongo.audit.row_changes.find_one({"db": "anywhere", "table": "t"}), 30)
        mongo.close()
        # /metrics from the installed binary (-Dhttp=enabled), on the packaged address
        text = c.run("bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9632; "
                     "printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3", check=True).stdout
        assert "200 OK" in text and 'sdl_rows_applied_total{pipeline="main",op="insert"} 1' in text, text
        p = c.run("systemctl", "stop", "sdl", timeout=60)
        assert p.returncode == 0, p.stderr
        # Reinstalling (an upgrade to the same version) starts nothing either; removing keeps
        # the conffile, purging removes it.
        p = c.run("dpkg", "-i", "/root/sdl.deb", timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
        assert c.run("systemctl", "is-active", "sdl").stdout.strip() == "inactive"
        p = c.run("dpkg", "-r", "sdl", timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
        assert c.run("test", "-e", "/usr/sbin/sdl").returncode != 0
        assert c.run("test", "-f", "/etc/sdl/sdl.yaml").returncode == 0
        p = c.run("dpkg", "--purge", "sdl", timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
        assert c.run("test", "-e", "/etc/sdl/sdl.yaml").returncode != 0
