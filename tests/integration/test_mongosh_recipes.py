"""Every mongosh recipe of README.md ("## Inspecting with mongosh") runs against what a real
`sdl run` replicated, and prints exactly the output the README shows next to it.

The README is the single source: the workload (```sql title="workload"```), each recipe
(```js title="recipe: NAME"```) and the block after it (```text title="output"```), where
`…` stands for any text within a line. Nothing here repeats the recipes, so the README and
the test cannot drift.

mongosh is tests/fakemongod/mongosh (tests/fakemongod/setup installs the pinned version and
the Node.js that runs it; scripts/test runs it). A missing mongosh fails the test.

SDL_RECIPES_PRINT=1 prints each recipe's actual output (for writing the README)."""
import os
import re
import subprocess
import time

import pytest

from runlib import Daemon, Target

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MONGOSH = os.path.join(ROOT, "tests", "fakemongod", "mongosh")
FENCE = re.compile(r'^```(\w+)(?: title="([^"]*)")?\n(.*?)^```\n', re.S | re.M)


def readme_section():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    start = text.index("\n## Inspecting with mongosh\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def parse_readme():
    """(workload statements, [(name, code, expected)])"""
    blocks = [(m.group(1), m.group(2) or "", m.group(3)) for m in FENCE.finditer(readme_section())]
    workload = [b for b in blocks if b[1] == "workload"]
    assert len(workload) == 1, "README: one ```sql title=\"workload\"``` block expected"
    statements = [s.strip() for s in workload[0][2].split(";") if s.strip()]
    recipes = []
    for i, (lang, title, body) in enumerate(blocks):
        if not title.startswith("recipe: "):
            continue
        assert lang == "js", f"recipe {title!r} is not a js block"
        assert i + 1 < len(blocks) and blocks[i + 1][1] == "output", \
            f"README: recipe {title!r} is not followed by a ```text title=\"output\"``` block"
        recipes.append((title[len("recipe: "):], body, blocks[i + 1][2]))
    assert len(recipes) >= 8, f"only {len(recipes)} recipes found in README.md"
    return statements, recipes


def matches(expected, actual):
    """Line by line; '…' in an expected line matches any text."""
    exp = expected.rstrip("\n").split("\n")
    act = actual.rstrip("\n").split("\n")
    if len(exp) != len(act):
        return False
    for e, a in zip(exp, act):
        pattern = ".*".join(re.escape(part) for part in e.split("…"))
        if not re.fullmatch(pattern, a):
            return False
    return True


def mongosh(uri, code, tmp_path):
    if not os.path.isdir(os.path.join(ROOT, "tests", "fakemongod", "node_modules", "mongosh")):
        pytest.fail(f"mongosh not found at {MONGOSH}: run tests/fakemongod/setup (scripts/test does)")
    env = dict(os.environ, HOME=str(tmp_path), MONGOSH_FORCE_DISABLE_TELEMETRY_FOR_TESTING="1",
               NO_COLOR="1")
    p = subprocess.run([MONGOSH, "--quiet", "--norc", uri, "--eval", code], capture_output=True,
                       text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"mongosh failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p.stdout


@pytest.fixture(scope="module")
def replicated(tmp_path_factory, mariadb):
    """The README's workload, replicated by `sdl run` (pipeline "main") into fakemongod; the
    daemon is stopped before the recipes run so that nothing changes under them."""
    from conftest import Sdl
    if os.environ.get("SDL_TEST_MONGODB_URI"):
        pytest.fail("the recipes' outputs assume a fresh database: use tests/fakemongod")
    tmp = tmp_path_factory.mktemp("recipes")
    statements, recipes = parse_readme()
    target = Target(tmp, "recipes")
    sdl = Sdl(tmp, mariadb)
    start = mariadb.gtid_binlog_pos()
    d = Daemon(sdl, target, tmp, batch="max_delay: 20ms", start=start)
    cfg = open(d.config).read()
    assert "  name: test\n" in cfg
    open(d.config, "w").write(cfg.replace("  name: test\n", "  name: main\n"))
    d.start()
    try:
        # one connection, autocommit: "BEGIN; ...; COMMIT;" make one transaction
        mariadb.sql(*statements)
        end = mariadb.gtid_binlog_pos()
        deadline = time.time() + 60
        while True:
            off = target.db.binlog_offsets.find_one({"_id": "main"})
            if off and off.get("gtid") == end:
                break
            assert d.proc.poll() is None, d.output()[-3000:]
            assert time.time() < deadline, f"offset {off} did not reach {end}:\n{d.output()[-3000:]}"
            time.sleep(0.2)
    finally:
        assert d.stop() == 0, d.output()[-3000:]
    uri = target.uri.replace("/?", f"/{target.database}?")
    yield uri, recipes, tmp
    target.close()


def test_readme_has_the_recipes():
    _, recipes = parse_readme()
    names = [r[0] for r in recipes]
    for want in ("latest changes of a table", "all changes of one primary key",
                 "changes of one source transaction by gtid", "counts per op per table",
                 "the offset document", "staged batches and their age",
                 "rows applied vs row_changes count"):
        assert want in names, f"README lacks the recipe {want!r}"
    assert len(set(names)) == len(names), "two recipes share a name"


def test_every_recipe_prints_what_the_readme_shows(replicated):
    uri, recipes, tmp = replicated
    failures = []
    for name, code, expected in recipes:
        out = mongosh(uri, code, tmp)
        if os.environ.get("SDL_RECIPES_PRINT"):
            print(f"\n=== {name}\n{out}", end="")
        if not matches(expected, out):
            failures.append(f"recipe {name!r}:\n--- README\n{expected}--- mongosh\n{out}")
    assert not failures, "\n".join(failures)
