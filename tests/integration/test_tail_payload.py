"""A MySQL 8.0 compressed transaction (TRANSACTION_PAYLOAD_EVENT, zstd) that expands to more than
128 MiB is decoded by `sdl tail --file` with a peak RSS under 64 MiB: the payload is inflated
as a stream, never held whole. The binlog file is generated here (a real 8.0.32 FORMAT_DESCRIPTION
from the fixtures, then a GTID event and one payload of QUERY(BEGIN), TABLE_MAP, WRITE_ROWS...,
XID compressed with the zstd command-line tool) and never committed."""
import os
import json
import shutil
import struct
import subprocess
import sys
import threading
import zlib

import pytest

from conftest import ROOT, sdl_bin

FIXTURE = os.path.join(ROOT, "tests", "data", "mysql-binlog", "rust_mysql_common",
                       "transaction_compression.000001")
UUID = bytes.fromhex("3e11fa4771ca11e19e33c80aa9429562")
ROWS_PER_EVENT = 8
VALUE_LEN = 1000            # bytes of the VARCHAR value of each row
TARGET = 140 * 1024 * 1024  # uncompressed bytes of the inner events: more than 128 MiB


def header(etype, size, log_pos, flags=0, ts=1700000000, server_id=1):
    return struct.pack("<IBIIIH", ts, etype, server_id, size, log_pos, flags)


def inner_event(etype, body):
    """An event inside the payload: no checksum, log_pos 0."""
    return header(etype, 19 + len(body), 0) + body


def outer_event(etype, body, offset):
    size = 19 + len(body) + 4
    ev = header(etype, size, offset + size) + body
    return ev + struct.pack("<I", zlib.crc32(ev) & 0xFFFFFFFF)


def lenenc(n):
    return bytes([n]) if n < 251 else b"\xfc" + struct.pack("<H", n)


def inner_events():
    """Yields the inner events and counts rows; total size just above TARGET."""
    yield inner_event(2, struct.pack("<IIBHH", 7, 0, 0, 0, 0) + b"\x00" + b"BEGIN")
    tm = (struct.pack("<Q", 42)[:6] + struct.pack("<H", 1) + b"\x04test\x00" + b"\x03big\x00"
          + lenenc(2) + bytes([8, 15]) + lenenc(2) + struct.pack("<H", 4000) + b"\x00")
    yield inner_event(19, tm)
    total, row_id = 0, 0
    while total < TARGET:
        rows = bytearray()
        for _ in range(ROWS_PER_EVENT):
            row_id += 1
            text = (b"row %012d " % row_id) * (VALUE_LEN // 17 + 1)
            text = text[:VALUE_LEN]
            rows += b"\x00" + struct.pack("<q", row_id) + struct.pack("<H", len(text)) + text
        body = (struct.pack("<Q", 42)[:6] + struct.pack("<H", 0) + struct.pack("<H", 2)
                + lenenc(2) + b"\x03" + bytes(rows))
        ev = inner_event(30, body)
        total += len(ev)
        yield ev
    inner_events.rows = row_id
    yield inner_event(16, struct.pack("<Q", 99))


def make_binlog(path):
    """Streams the inner events through `zstd -3` and writes the binlog file."""
    zstd = subprocess.Popen(["zstd", "-3", "-q", "-c"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    out = []
    reader = threading.Thread(target=lambda: out.append(zstd.stdout.read()))
    reader.start()
    uncompressed = 0
    n_inner = 0
    for ev in inner_events():
        zstd.stdin.write(ev)
        uncompressed += len(ev)
        n_inner += 1
    zstd.stdin.close()
    reader.join()
    assert zstd.wait() == 0
    compressed = out[0]

    data = open(FIXTURE, "rb").read()
    fde_size = struct.unpack_from("<I", data, 4 + 9)[0]
    f = bytearray(data[:4 + fde_size])                      # magic + 8.0.32 FDE (CRC32)
    gtid = struct.pack("<B16sqBqq", 0, UUID, 1, 2, 0, 1)     # GTID_LOG_EVENT, uuid:1
    f += outer_event(33, gtid, len(f))
    # (field type, length of the value, value) as lenenc integers; 2 compression type (0 =
    # zstd), 3 uncompressed size, 1 payload size; 0 ends the header
    fields = (bytes([2, 1, 0])
              + bytes([3, 9]) + b"\xfe" + struct.pack("<Q", uncompressed)
              + bytes([1, 9]) + b"\xfe" + struct.pack("<Q", len(compressed))
              + bytes([0]))
    f += outer_event(40, fields + compressed, len(f))
    open(path, "wb").write(f)
    return uncompressed, n_inner, inner_events.rows, len(compressed)


def peak_rss_kib(argv):
    """Runs @argv in a fresh interpreter that reports its only child's peak RSS."""
    code = ("import resource, subprocess, sys\n"
            "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
            "sys.stderr.write(p.stderr.decode())\n"
            "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    p = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                       timeout=600)
    rc, rss = p.stdout.split()
    return int(rc), int(rss), p.stderr


def test_big_compressed_transaction_streams_in_bounded_memory(tmp_path):
    # scripts/install-deps installs zstd; without it this test fails, it does not skip
    assert shutil.which("zstd"), "the zstd command-line tool is needed (scripts/install-deps)"
    path = str(tmp_path / "binlog.000001")
    uncompressed, n_inner, nrows, compressed = make_binlog(path)
    assert uncompressed > 128 * 1024 * 1024
    rc, rss, err = peak_rss_kib([sdl_bin(), "tail", "--format", "none", "--stats",
                                 "--file", path])
    assert rc == 0, err
    assert f"3 events (and {n_inner} inside transaction payloads), 1 transactions, " \
           f"{nrows} row changes" in err
    print(f"\npayload: {compressed} bytes compressed, {uncompressed} uncompressed, "
          f"{nrows} rows; sdl tail peak RSS {rss} KiB")
    assert rss < 64 * 1024, f"peak RSS {rss} KiB"


def test_payload_rows_are_printed_in_order(tmp_path):
    """A small slice of the same generator: the rows come out complete and in order."""
    global TARGET
    saved, TARGET = TARGET, 64 * 1024
    try:
        path = str(tmp_path / "binlog.000002")
        _, _, nrows, _ = make_binlog(path)
    finally:
        TARGET = saved
    p = subprocess.run([sdl_bin(), "tail", "--file", path], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    docs = [json.loads(x) for x in p.stdout.splitlines()]
    assert [d["after"]["@1"] for d in docs] == list(range(1, nrows + 1))
    assert all(d["gtid"] == "3e11fa47-71ca-11e1-9e33-c80aa9429562:1" for d in docs)
    assert docs[0]["after"]["@2"].startswith("row 000000000001 ")


@pytest.mark.parametrize("cut", [100, 1000])
def test_truncated_payload_is_an_error(tmp_path, cut):
    global TARGET
    saved, TARGET = TARGET, 64 * 1024
    try:
        path = str(tmp_path / "binlog.000003")
        make_binlog(path)
    finally:
        TARGET = saved
    data = bytearray(open(path, "rb").read())
    # corrupt the zstd data inside the payload and fix the outer CRC so only zstd can tell
    end = len(data) - 4
    data[end - cut] ^= 0x55
    size_off = None
    # the payload event is the last one: find its start from the FDE/GTID sizes
    off = 4
    while off < len(data):
        size = struct.unpack_from("<I", data, off + 9)[0]
        if off + size == len(data):
            size_off = off
        off += size
    ev = bytes(data[size_off:len(data) - 4])
    data[-4:] = struct.pack("<I", zlib.crc32(ev) & 0xFFFFFFFF)
    open(path, "wb").write(bytes(data))
    p = subprocess.run([sdl_bin(), "tail", "--file", path], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode != 0
    assert f"TRANSACTION_PAYLOAD_EVENT at '{path}':" in p.stderr
