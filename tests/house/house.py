#!/usr/bin/python3
"""The house rules that the compiler does not check, checked on the source tree.

  house.py layering SRC      every #include "sdl/AREA/..." of src/X and include/sdl/X names an
                             area that X may depend on (LAYERS), private headers stay in their
                             area, and the vendor client headers stay in their two areas
  house.py headers SRC CC    every public header compiles on its own (self-contained): a file
                             holding only `#include "sdl/AREA/name.h"` passes `CC -fsyntax-only`
  house.py format SRC        every C file of the tree (git ls-files) is laid out as
                             .clang-format says (clang-format 14 --dry-run --Werror)
  house.py self-test SRC CC  the checks fail on a tree that breaks them (a check that cannot
                             fail is no check)

Exit status 0 when the rule holds; otherwise each violation on its own line as
`path:line: message`, and 1.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

# What each area may include, besides itself (docs/ARCHITECTURE.md draws it): the areas form
# layers, base at the bottom, daemon (the commands, threads and supervision) at the top.
LOW = {"base"}
LAYERS = {
    "base": set(),
    "config": LOW,
    "model": LOW,
    "mysql": LOW | {"config", "model"},
    "mapping": LOW | {"config", "model"},
    "queue": LOW | {"config", "model"},
    "mongo": LOW | {"config", "model", "mysql", "mapping", "queue"},
}
LAYERS["daemon"] = set(LAYERS) | {"daemon"}

# Client libraries whose headers only one area may include (the seam to that library).
VENDOR = [
    (re.compile(r"^(mysql|mariadb/|errmsg\.h|mysqld_error\.h|ma_)"), {"mysql"}),
    (re.compile(r"^mongoc"), {"mongo"}),
    (re.compile(r"^(yaml\.h)"), {"config"}),
    (re.compile(r"^openssl/"), {"mapping"}),  # HMAC-SHA256 of columns: hash (column-policy.c)
    (re.compile(r"^(microhttpd\.h|systemd/)"), {"daemon", "base"}),
]

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def area_of(root, path):
    rel = os.path.relpath(path, root).split(os.sep)
    if rel[0] == "src" and len(rel) > 2:
        return rel[1]
    if rel[:2] == ["include", "sdl"] and len(rel) > 3:
        return rel[2]
    return None


def sources(root):
    for top in ("src", os.path.join("include", "sdl")):
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    yield os.path.join(d, f)


def layering(root):
    errors = []
    for path in sources(root):
        area = area_of(root, path)
        rel = os.path.relpath(path, root)
        if area is None:
            continue
        if area not in LAYERS:
            errors.append(f"{rel}:1: area '{area}' is not in the layer table of "
                          f"tests/house/house.py (add it where it belongs)")
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                kind, name = m.groups()
                if kind == '"' and name.startswith("sdl/"):
                    parts = name.split("/")
                    other = parts[1] if len(parts) > 2 else None
                    if other != area and other not in LAYERS[area]:
                        errors.append(f"{rel}:{n}: {area} may not include {name} "
                                      f"({area} may use: {', '.join(sorted(LAYERS[area])) or 'nothing'})")
                elif kind == '"' and name.endswith("-private.h"):
                    where = name.split("/")
                    if len(where) >= 3 and where[0] == "src" and where[1] != area:
                        errors.append(f"{rel}:{n}: {name} is private to src/{where[1]}")
                elif kind == "<":
                    for pattern, areas in VENDOR:
                        if pattern.match(name) and area not in areas:
                            errors.append(f"{rel}:{n}: <{name}> belongs in "
                                          f"{' or '.join(sorted(areas))}, not {area}")
    return errors


def cflags():
    p = subprocess.run(["pkg-config", "--cflags", "libmongoc-1.0", "libbson-1.0", "libmariadb",
                        "yaml-0.1", "libsystemd"], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"house.py: pkg-config failed: {p.stderr.strip()}")
    return p.stdout.split()


def headers(root, cc, build=None):
    errors = []
    flags = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
             "-I", os.path.join(root, "include"), "-I", root] + cflags()
    if build:
        flags += ["-I", build]
    hdrs = [p for p in sources(root) if p.endswith(".h") and
            os.path.relpath(p, root).startswith("include")]
    for path in hdrs:
        name = os.path.relpath(path, os.path.join(root, "include"))
        p = subprocess.run([cc, *flags, "-x", "c", "-"], input=f'#include "{name}"\n',
                           capture_output=True, text=True)
        if p.returncode != 0:
            first = (p.stderr.strip().splitlines() or ["?"])[0]
            errors.append(f"include/{name}:1: not self-contained: {first}")
    if len(hdrs) < 10:
        errors.append(f"include: only {len(hdrs)} headers found; wrong source root?")
    return errors


def c_files(root):
    p = subprocess.run(["git", "-C", root, "ls-files", "*.c", "*.h"], capture_output=True,
                       text=True)
    if p.returncode != 0:  # not a git checkout (a source tarball): every file on disk
        return sorted(os.path.relpath(os.path.join(d, f), root)
                      for top in ("src", "include", "tests", "bench", "docs")
                      for d, _, files in os.walk(os.path.join(root, top))
                      if "node_modules" not in d
                      for f in files if f.endswith((".c", ".h")))
    return [f for f in p.stdout.split() if "node_modules" not in f]


def layout(root, files=None):
    errors = []
    tool = shutil.which("clang-format-14") or shutil.which("clang-format")
    if not tool:
        return ["clang-format not found: scripts/install-deps installs Debian's clang-format"]
    files = files if files is not None else c_files(root)
    for i in range(0, len(files), 50):
        chunk = files[i:i + 50]
        p = subprocess.run([tool, "--dry-run", "--Werror", *chunk], cwd=root,
                           capture_output=True, text=True)
        bad = sorted({line.split(":", 1)[0] for line in p.stderr.splitlines()
                      if ": error: code should be clang-formatted" in line})
        errors += [f"{f}:1: not laid out as .clang-format says (clang-format -i {f})"
                   for f in bad]
        if p.returncode != 0 and not bad:
            errors.append(f"clang-format failed: {p.stderr.strip()[:300]}")
    if len(files) < 10:
        errors.append(f"only {len(files)} C files found; wrong source root?")
    return errors


def self_test(root, cc):
    """Copies the tree, breaks each rule once, and expects each check to say so."""
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "tree")
        shutil.copytree(os.path.join(root, "src"), os.path.join(copy, "src"))
        shutil.copytree(os.path.join(root, "include"), os.path.join(copy, "include"))
        if layering(copy) or headers(copy, cc):
            failures.append("the copy of the tree does not pass before it is broken")
        # base including the daemon: a wrong include
        victim = os.path.join(copy, "src", "base", "alloc.c")
        with open(victim, "a") as f:
            f.write('#include "sdl/daemon/stats.h"\n')
        errs = layering(copy)
        if not any("base may not include sdl/daemon/stats.h" in e for e in errs):
            failures.append(f"layering did not catch base -> daemon: {errs}")
        # a vendor header outside its area
        victim = os.path.join(copy, "src", "mapping", "geojson.c")
        with open(victim, "a") as f:
            f.write("#include <mongoc/mongoc.h>\n")
        errs = layering(copy)
        if not any("<mongoc/mongoc.h> belongs in mongo" in e for e in errs):
            failures.append(f"layering did not catch mongoc in mapping: {errs}")
        # a header that uses a type no header it includes declares
        victim = os.path.join(copy, "include", "sdl", "base", "alloc.h")
        with open(victim, "a") as f:
            f.write("\nsdl_house_undeclared_t *sdl_house_self_test(void);\n")
        errs = headers(copy, cc)
        if not any("include/sdl/base/alloc.h:1: not self-contained" in e for e in errs):
            failures.append(f"headers did not catch a header using an undeclared type: {errs}")
        # a file laid out by hand
        shutil.copy(os.path.join(root, ".clang-format"), copy)
        victim = os.path.join("src", "base", "clock.c")
        with open(os.path.join(copy, victim), "a") as f:
            f.write("static int  sdl_house_self_test( void ){return 0;}\n")
        errs = layout(copy, [victim])
        if not any(e.startswith(victim + ":1: not laid out") for e in errs):
            failures.append(f"format did not catch a badly laid out file: {errs}")
    return failures


def main(argv):
    if len(argv) < 3 or argv[1] not in ("layering", "headers", "format", "self-test"):
        sys.exit(__doc__)
    root = os.path.abspath(argv[2])
    if argv[1] == "layering":
        errors = layering(root)
    elif argv[1] == "format":
        errors = layout(root)
    elif argv[1] == "headers":
        errors = headers(root, argv[3], argv[4] if len(argv) > 4 else None)
    else:
        errors = self_test(root, argv[3])
    for e in errors:
        print(e)
    print(f"house.py {argv[1]}: {'ok' if not errors else f'{len(errors)} violation(s)'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
