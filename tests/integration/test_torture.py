"""The exactly-once torture test (torture.py) with a short seed: a randomized workload shaped
like real schemas, 30+ kill -9 of sdl, MongoDB fail points beyond the driver's retries and a
mariadbd restart; row_changes must equal the oracle. SDL_TORTURE_SEED picks another seed; the
long mode is `torture.py --seed N --minutes M [--modes audit,mirror]` (README, "What sdl
guarantees")."""
import os

from torture import Torture


def test_torture_short_seed(tmp_path):
    seed = int(os.environ.get("SDL_TORTURE_SEED", "1"))
    figures = Torture(tmp_path, seed, seconds=30, big_rows=4, bulk_txns=2).run()
    assert figures["kills"] >= 30 and figures["faults"] >= 5
    assert figures["split"] >= 40000  # the two 20,000-row transactions were split


def test_torture_audit_and_mirror(tmp_path):
    """The same torture with pipeline.modes [audit, mirror] and the audit log as one
    collection per table (target.collections.changes: "audit.{db}.{table}"): the audit
    collections together still equal the oracle, each document in its table's, and every
    mirror collection equals SELECT * of its table (mirror_oracle.py: every row, every
    column, through the documented type mapping), tt.types' type families and composite-key
    changes included."""
    seed = int(os.environ.get("SDL_TORTURE_SEED", "2"))
    figures = Torture(tmp_path, seed, seconds=30, big_rows=4, bulk_txns=2,
                      modes=("audit", "mirror"), changes="audit.{db}.{table}").run()
    assert figures["kills"] >= 30 and figures["faults"] >= 5
    assert figures["split"] >= 40000
    assert figures["workload"].get("types key change", 0) >= 5
    assert figures["mirror"]["rows"] >= 40000
