"""The documents a user reads without the source:

  design:    docs/DESIGN.md covers guarantees, commit protocol, fencing, recovery, positions,
             batches and splitting; every "DESIGN.md §N" cited anywhere resolves to a section
  documents: docs/DOCUMENTS.md lists every field sdl writes into row_changes, binlog_offsets
             and row_changes_staging (found in real documents: a live pipeline left with a
             staged batch, a split transaction, DDL, and binlog files with partial JSON
             updates and without column names)
  sdl.yaml(5): generated from the key tables; renders without warnings; names every key
             `sdl check-config --list-keys` prints with its type, default and reload rule
  sdl(8):    covers every command and every option the commands' --help lists, the http
             section and the metrics; the top-level usage lists every option too
"""
import glob
import json
import os
import re
import subprocess

import pytest

from conftest import ROOT, sdl_bin
from runlib import Daemon, wait_for_offset

DOCS = os.path.join(ROOT, "docs")


def build_dir():
    return os.environ.get("SDL_BUILD_DIR") or os.path.join(ROOT, "build")


def man(path):
    p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", path], capture_output=True,
                       text=True)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    p = subprocess.run(["man", "-l", path], capture_output=True, text=True,
                       env={**os.environ, "MANWIDTH": "200", "MAN_KEEP_FORMATTING": "0",
                            "PAGER": "cat"})
    assert p.returncode == 0, p.stderr
    return re.sub(r".\x08", "", p.stdout)


# ---- DESIGN.md -------------------------------------------------------------------------------
def test_design_exists_and_every_citation_resolves():
    design = open(os.path.join(DOCS, "DESIGN.md")).read()
    sections = set(re.findall(r"^##+ (\d+(?:\.\d+)?)\.? ", design, re.M))
    for topic in ("Guarantees", "commit protocol", "Fencing", "Recovery", "Positions",
                  "Batches and large transactions", "split"):
        assert re.search(rf"^##+ .*{topic}", design, re.M | re.I) or topic == "split", topic
    assert "split" in design and "partial" in design
    cited = []
    files = [os.path.join(ROOT, "README.md"), os.path.join(ROOT, "CONTRIBUTING.md")]
    files += glob.glob(os.path.join(DOCS, "*.md")) + glob.glob(os.path.join(DOCS, "*.8"))
    files += glob.glob(os.path.join(ROOT, "src", "*", "*.[ch]"))
    files += glob.glob(os.path.join(ROOT, "include", "sdl", "*", "*.h"))
    for f in files:
        text = open(f, errors="replace").read()
        for m in re.finditer(r"DESIGN(?:\.md)?\)? *(?:§|section )(\d+(?:\.\d+)?)((?:, *§\d+(?:\.\d+)?)*)", text):
            for n in [m.group(1)] + re.findall(r"§(\d+(?:\.\d+)?)", m.group(2)):
                cited.append(n)
                assert n in sections, f"{os.path.relpath(f, ROOT)} cites DESIGN.md §{n}, which does not exist"
    assert len(cited) > 10, cited
    # the documents the README names are in the tree
    readme = open(os.path.join(ROOT, "README.md")).read()
    for link in re.findall(r"\]\((docs/[A-Za-z.]+)\)", readme):
        assert os.path.exists(os.path.join(ROOT, link)), link


# ---- DOCUMENTS.md ----------------------------------------------------------------------------
def documented_fields():
    """{collection: set of field names} from the tables of docs/DOCUMENTS.md."""
    text = open(os.path.join(DOCS, "DOCUMENTS.md")).read()
    out = {}
    for m in re.finditer(r"^## `(\w+)`\n(.*?)(?=^## |\Z)", text, re.M | re.S):
        out[m.group(1)] = set(re.findall(r"^\| `(\w+)` \|", m.group(2), re.M))
    return out


def keys(doc, prefix=""):
    """Top-level fields, and the fields of the sub-documents this page specifies."""
    out = set()
    for k, v in doc.items():
        out.add(prefix + k)
        if k in ("binlog", "partial", "_id", "offset_after", "lease", "set_by", "error") and isinstance(v, dict):
            out |= {f"{k}.{kk}" for kk in v}
    return out


def test_documents_md_lists_every_field_sdl_writes(sdl, mariadb, target, tmp_path):
    documented = documented_fields()
    assert set(documented) == {"row_changes", "binlog_offsets", "row_changes_staging",
                               "row_changes_dlq"}, documented
    text = open(os.path.join(DOCS, "DOCUMENTS.md")).read()

    # A live pipeline: DDL, inserts, updates, deletes, a table without a key, a split
    # transaction, rows too large for target.max_document_bytes (dead letters); an offset moved
    # by `sdl offset set`; then a batch left staged (the process dies between staging and
    # commit), with a dead letter in it.
    mariadb.sql("CREATE DATABASE IF NOT EXISTS docs")
    start = mariadb.gtid_binlog_pos()
    mariadb.sql("CREATE TABLE docs.t (id INT PRIMARY KEY, v VARCHAR(20))",
                "CREATE TABLE docs.nokey (v INT)",
                "INSERT INTO docs.t VALUES (1, 'a'), (2, 'b')", "UPDATE docs.t SET v = 'c' WHERE id = 1",
                "DELETE FROM docs.t WHERE id = 2", "INSERT INTO docs.nokey VALUES (1)",
                "INSERT INTO docs.t SELECT seq, 'bulk' FROM docs.seq_10_to_40",
                "CREATE TABLE docs.big (id INT PRIMARY KEY, b TEXT)",
                "INSERT INTO docs.big VALUES (1, REPEAT('x', 5000))")
    d = Daemon(sdl, target, tmp_path, batch="max_rows: 10, max_delay: 20ms", start=start,
               pipeline=["on_error: dead_letter"], extra="  max_document_bytes: 4KiB\n")
    d.start()
    try:
        wait_for_offset(target, mariadb.gtid_binlog_pos(), d)
    finally:
        assert d.stop() == 0, d.output()[-3000:]
    row_docs = list(target.db.row_changes.find())
    assert any(x.get("split") for x in row_docs) and any(x["op"] == "ddl" for x in row_docs)
    p = sdl.run("offset", "set", "-c", d.config, "--to", "now", "--yes")
    assert p.returncode == 0, p.stderr
    mariadb.sql("INSERT INTO docs.t VALUES (100, 'staged')", "INSERT INTO docs.big VALUES (2, REPEAT('y', 5000))")
    d.start(env={"SDL_FAILPOINT": "writer.after_stage"})
    assert d.wait(60) == 137, d.output()[-3000:]
    staged = list(target.db.row_changes_staging.find())
    offsets = list(target.db.binlog_offsets.find())
    assert staged and offsets and any("set_by" in x for x in offsets)
    assert any("dead" in x for x in staged), staged
    dead = list(target.db.row_changes_dlq.find())
    assert dead

    # Binlog files: MySQL partial JSON updates with MINIMAL metadata (json_diffs,
    # columns_unnamed), and a statement (sdl tail --statements print)
    files = [os.path.join(ROOT, "tests", "data", "mysql-binlog", "rust_mysql_common",
                          "json.binlog.000001")]
    p = subprocess.run([sdl_bin(), "tail", "--statements", "print", "--file", *files],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    tailed = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    assert any("json_diffs" in x for x in tailed) and any("columns_unnamed" in x for x in tailed)

    seen = {"row_changes": set(), "binlog_offsets": set(), "row_changes_staging": set(),
            "row_changes_dlq": set()}
    for x in dead:
        seen["row_changes_dlq"] |= keys(x)
    for x in row_docs + tailed:
        seen["row_changes"] |= keys(x)
    for x in offsets:
        seen["binlog_offsets"] |= keys(x)
    for x in staged:
        seen["row_changes_staging"] |= keys(x)
        for i, c in enumerate(x["changes"]):
            seen["row_changes_dlq" if i in x.get("dead", []) else "row_changes"] |= keys(c)
    for coll, fields in seen.items():
        top = {f for f in fields if "." not in f}
        missing = top - documented[coll]
        assert not missing, f"{coll}: fields sdl writes that docs/DOCUMENTS.md does not list: {missing}"
        for sub in fields - top:
            parent, child = sub.split(".")
            assert f"{child}" in text, f"{coll}.{sub} is not described"
    print({c: sorted(f) for c, f in seen.items()})


# ---- sdl.yaml(5) -----------------------------------------------------------------------------
def test_sdl_yaml_5_is_generated_from_the_key_table():
    page = os.path.join(build_dir(), "docs", "sdl.yaml.5")
    assert os.path.exists(page), "build/docs/sdl.yaml.5 is missing: meson builds it (docs/meson.build)"
    text = man(page)
    p = subprocess.run([sdl_bin(), "check-config", "--list-keys"], capture_output=True, text=True)
    assert p.returncode == 0
    keys_ = [line.split("\t") for line in p.stdout.splitlines()]
    assert len(keys_) > 40
    body = text[text.index("KEYS"):text.index("SECRETS")]
    for path, typ, default, reload in keys_:
        if "." not in path:  # a top-level section: its own subsection
            assert re.search(rf"^   {re.escape(path)}$", body, re.M), path
            continue
        m = re.search(rf"^       {re.escape(path)}\n(.*?)(?=^       \S|\Z)", body, re.M | re.S)
        assert m, f"sdl.yaml(5) does not document {path}"
        entry = " ".join(m.group(1).split())
        if typ in ("section", "rejected"):
            continue
        shown = typ[typ.index("(") + 1:typ.index(")")] if "(" in typ and typ.startswith("enum") \
            else typ
        assert entry.startswith(shown), (path, shown, entry)
        if default not in ("-", "(required)"):
            assert f"default {default};" in entry, (path, entry)
        if default == "(required)":
            assert "; required;" in entry, (path, entry)
        assert ("reloadable (SIGHUP)" in entry) == (reload == "reloadable"), (path, entry)


# ---- sdl(8) ----------------------------------------------------------------------------------
COMMANDS = ("run", "check-config", "status", "tail", "offset", "dlq")


def help_options(*argv):
    p = subprocess.run([sdl_bin(), *argv], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout, set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+|-[a-z])\b", p.stdout))


def test_sdl_8_covers_every_command_and_option():
    text = man(os.path.join(DOCS, "sdl.8"))
    usage, _ = help_options("--help")
    for cmd in COMMANDS:
        assert re.search(rf"^       sdl {cmd}\b", text, re.M), f"sdl(8) SYNOPSIS lacks sdl {cmd}"
        assert re.search(rf"^       {cmd}\b", text, re.M) or re.search(rf"^   {cmd}\b", text, re.M), \
            f"sdl(8) COMMANDS lacks {cmd}"
        _, opts = help_options(cmd, "--help")
        assert opts, cmd
        for opt in opts - {"-h"}:
            assert opt in text, f"sdl(8) does not document `sdl {cmd} {opt}`"
            assert opt in usage, f"`sdl --help` does not list `sdl {cmd} {opt}`"
    for must in ("/metrics", "/health/live", "/health/ready", "http.listen", "9632",
                 "sdl_rows_applied_total", "sdl_lag_seconds", "process_cpu_seconds_total",
                 "sdl@", "sdl.credentials", "--server-id", "--credentials", "log.format",
                 "sdl.yaml(5)"):
        assert must in text, f"sdl(8) does not mention {must}"
    # every metric sdl exports is in sdl(8)
    prom = open(os.path.join(ROOT, "tests", "data", "metrics", "known-state.prom")).read()
    for name in set(re.findall(r"^# TYPE (\S+) ", prom, re.M)):
        assert name in text, f"sdl(8) does not list the metric {name}"
