"""The exactly-once torture test (torture.py) with a short seed: a randomized workload shaped
like real schemas, 30+ kill -9 of sdl, MongoDB fail points beyond the driver's retries and a
mariadbd restart; row_changes must equal the oracle. SDL_TORTURE_SEED picks another seed; the
long mode is `torture.py --seed N --minutes M` (README, "What sdl guarantees")."""
import os

from torture import Torture


def test_torture_short_seed(tmp_path):
    seed = int(os.environ.get("SDL_TORTURE_SEED", "1"))
    figures = Torture(tmp_path, seed, seconds=30, big_rows=4, bulk_txns=2).run()
    assert figures["kills"] >= 30 and figures["faults"] >= 5
    assert figures["split"] >= 40000  # the two 20,000-row transactions were split
