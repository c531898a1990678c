"""sdl run keeps its memory bounded while the target takes no writes (issue 10, item 6).

The writer is held back by a transient error on every attempt to stage its batch, so the
queue fills (pipeline.queue_bytes) and the reader thread stops taking events. The binlog
reader's read-ahead thread must then stop too: a backlog of rows larger than a quarter of its
ring used to go to the heap at ~40 bytes of the ring each, so the whole backlog ended up in
memory (228 MiB RSS with queue_bytes 8MiB). Peak RSS (VmHWM) must stay within
queue_bytes + 2 x batch.max_bytes + 48 MiB, and the pipeline must catch up once the target
takes writes again."""
import time

from runlib import Daemon, offset, wait_for_offset

MIB = 1024 * 1024
QUEUE_BYTES = 8 * MIB
BATCH_MAX_BYTES = 2 * MIB
BOUND_KIB = (QUEUE_BYTES + 2 * BATCH_MAX_BYTES + 48 * MIB) // 1024
ROW_BYTES = 400 * 1024  # above a quarter of the 1 MiB read-ahead ring: a heap record each
TRANSACTIONS = 30
ROWS_PER_TRANSACTION = 10  # 4 MB each: more than a batch, so batches split them too
ROWS = TRANSACTIONS * ROWS_PER_TRANSACTION  # ~120 MB of backlog


def status_kib(pid, key):
    """A "key: N kB" line of /proc/PID/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/{pid}/status")


def test_memory_stays_bounded_while_the_writer_is_blocked(sdl, mariadb, target, tmp_path):
    start = mariadb.gtid_binlog_pos()
    mariadb.sql("CREATE DATABASE IF NOT EXISTS mem",
                "CREATE TABLE mem.t (id INT PRIMARY KEY, b LONGBLOB)")
    d = Daemon(sdl, target, tmp_path, start=start,
               batch=f"max_rows: 1000, max_bytes: {BATCH_MAX_BYTES // MIB}MiB, max_delay: 50ms",
               pipeline=[f"queue_bytes: {QUEUE_BYTES // MIB}MiB"])
    d.start()
    wait_for_offset(target, mariadb.gtid_binlog_pos(), d)
    pid = d.proc.pid
    idle_kib = status_kib(pid, "VmHWM")

    # Staging a batch (an ordered bulk of upserts: an update command) is the writer's first
    # write; a transient error there every time keeps the writer retrying with its batch.
    target.fail("alwaysOn", failCommands=["update"], errorCode=91,
                errorLabels=["TransientTransactionError"])
    t0 = time.monotonic()
    for t in range(TRANSACTIONS):
        lo = t * ROWS_PER_TRANSACTION + 1
        mariadb.sql(f"INSERT INTO mem.t SELECT seq, REPEAT(CHAR(65 + seq % 26), {ROW_BYTES}) "
                    f"FROM mem.seq_{lo}_to_{lo + ROWS_PER_TRANSACTION - 1}")
    end = mariadb.gtid_binlog_pos()
    inserted_s = time.monotonic() - t0

    # The backlog is in the binlog: give the reader time to take what it may (the old
    # read-ahead read all of it within a second or two), watching the peak.
    samples = []
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        assert d.proc.poll() is None, d.output()[-3000:]
        samples.append((status_kib(pid, "VmRSS"), status_kib(pid, "VmHWM")))
        time.sleep(0.25)
    blocked_hwm = status_kib(pid, "VmHWM")
    assert "retrying in" in d.output(), d.output()[-3000:]
    stuck = offset(target)
    assert stuck["gtid"] != end, "the writer was not held back"

    target.fail_off()
    off = wait_for_offset(target, end, d, timeout=240)
    final_hwm = status_kib(pid, "VmHWM")
    assert d.stop() == 0, d.output()[-3000:]

    print(f"VmHWM: idle {idle_kib / 1024:.1f} MiB, writer blocked {blocked_hwm / 1024:.1f} MiB, "
          f"after catching up {final_hwm / 1024:.1f} MiB (bound {BOUND_KIB / 1024:.0f} MiB); "
          f"VmRSS while blocked {[round(r / 1024) for r, _ in samples[::4]]} MiB; "
          f"{ROWS} rows of {ROW_BYTES // 1024} KiB inserted in {inserted_s:.1f} s")
    assert blocked_hwm <= BOUND_KIB, f"VmHWM {blocked_hwm} kB > {BOUND_KIB} kB with the writer blocked"
    assert final_hwm <= BOUND_KIB, f"VmHWM {final_hwm} kB > {BOUND_KIB} kB while catching up"

    assert off["gtid"] == end and off["partial"] is None
    assert off["rows_applied"] == ROWS
    assert target.db.row_changes_staging.count_documents({}) == 0
    assert target.db.row_changes.count_documents({"op": "insert"}) == ROWS
    last = target.db.row_changes.find_one({"op": "insert", "after.id": ROWS})
    assert last is not None and len(last["after"]["b"]) == ROW_BYTES
