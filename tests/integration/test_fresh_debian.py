"""A stock Debian 12 has everything the README's commands need, from Debian's packages and
the npm registry only: scripts/fresh-debian-check --quick makes a clean Debian 12 root with
mmdebstrap, clones this repository's HEAD into it, and there runs scripts/install-deps'
npm part, tests/fakemongod/setup and mongosh (the part that once depended on a newer Node.js
installed by hand). The full proof, scripts/demo and scripts/test in such a root, takes about
25 minutes and is a documented command (`scripts/fresh-debian-check`, README "Quick start").
"""
import os
import subprocess
import time

from conftest import ROOT


def test_a_clean_debian_12_root_installs_and_runs_mongosh():
    t0 = time.monotonic()
    p = subprocess.run([os.path.join(ROOT, "scripts", "fresh-debian-check"), "--quick"],
                       capture_output=True, text=True, timeout=900)
    print(f"fresh-debian-check --quick took {time.monotonic() - t0:.0f}s")
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-5000:]
    assert "== the Debian node (too old for mongosh 2.12): v18." in out, out[-3000:]
    assert "mongosh runs: 42" in out, out[-3000:]
    assert "quick run in a clean Debian 12 root exited 0" in out, out[-3000:]
