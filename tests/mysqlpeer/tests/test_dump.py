"""The peer's dumps as a MySQL 8.4 source sends them (notes/mysql-replication-protocol.md §5),
checked byte for byte with a replica written for these tests (rawclient.py): the stream prefix,
whole-transaction skipping with the heartbeat after a skipped run, the choice of the start file,
MySQL's errors, position dumps, blocking dumps that stream appended events and heartbeats (v1
and v2), a second dump of the same replica killing the first, COM_REGISTER_SLAVE, and events
over 16 MiB split into packets."""
import os
import struct
import time
import zlib

import pytest

from conftest import fixture
from peerlib import workload
from peerlib.binlog import Header
from peerlib.gtidset import Gtid, GtidSet
from rawclient import EOF_MARK, Client, ServerError, header, read_lenenc

ESS = "rust_mysql_common/mysql-enum-string-set.000001"
EU = "93e95066-a2f4-11ec-9b69-9657f0ae95e2"
U = "3e11fa47-71ca-11e1-9e33-c80aa9429562"


def file_events(path):
    """(offset, bytes) of each event of a binlog file, which must end with a whole event."""
    data = open(path, "rb").read()
    off, out = 4, []
    while off + 19 <= len(data):
        size = struct.unpack_from("<I", data, off + 9)[0]
        out.append((off, data[off:off + size]))
        off += size
    assert off == len(data), f"{path}: a partial event at {off}"
    return out


def crc_ok(ev):
    return struct.unpack("<I", ev[-4:])[0] == zlib.crc32(ev[:-4]) & 0xFFFFFFFF


def gtid_of(ev):
    h = header(ev)
    if h["type"] == 33:
        import uuid
        return f"{uuid.UUID(bytes=ev[20:36])}:{struct.unpack_from('<q', ev, 36)[0]}"
    return None


def client(peer, announce="CRC32", **kw):
    c = Client(peer.port, **kw)
    if announce:
        c.query(f"SET @source_binlog_checksum = '{announce}'")
    return c


def chain(d, files=3, per_file=3):
    """binlog.000001.. with U:1-3, U:4-6, … copied from the ESS fixture (rows transactions)."""
    fx = workload.Fixture(fixture(ESS))
    txns = fx.transactions[2:5]
    pieces, gno = [], 0
    for _ in range(files):
        items = []
        for i in range(per_file):
            gno += 1
            items.append(("txn", txns[i % 3], Gtid(U, gno)))
        pieces.append((fx.fde, items))
    os.makedirs(d, exist_ok=True)
    return workload.chain(d, pieces)


def test_gtid_dump_prefix_and_events_are_byte_exact(make_peer):
    peer = make_peer(ESS, auth="mysql_native_password")
    c = client(peer)
    c.dump_gtid(GtidSet().encode(), flags=0x01)
    evs, eof = c.events()
    assert eof and c.closed()
    rot = evs[0]
    h = header(rot)
    assert (h["ts"], h["type"], h["log_pos"], h["flags"], h["server_id"]) == (0, 4, 0, 0x20, 1)
    assert rot[19:-4] == struct.pack("<Q", 4) + b"mysql-enum-string-set.000001" and crc_ok(rot)
    want = file_events(fixture(ESS))
    assert len(evs) == 1 + len(want)
    fde = bytearray(want[0][1])
    fde[17] &= 0xFE
    assert evs[1] == bytes(fde) and crc_ok(evs[1])
    assert header(evs[2])["type"] == 35 and evs[2] == want[1][1]
    assert evs[2:] == [e for _, e in want[1:]]
    # the file's FDE has the in-use flag (its server was still writing it): the only change,
    # and the stored CRC was computed with the flag clear
    assert want[0][1][17] & 1 and evs[1][:17] == want[0][1][:17]
    dumps = peer.events("dump_gtid")
    assert dumps[0]["gtid_set"] == "" and dumps[0]["flags"] == 1


def test_skipped_transactions_and_the_heartbeat_after_them(make_peer):
    peer = make_peer(ESS, auth="mysql_native_password")
    c = client(peer)
    c.dump_gtid(GtidSet.parse(f"{EU}:1-3").encode(), flags=0x01)
    evs, eof = c.events()
    assert eof
    assert [g for g in map(gtid_of, evs) if g] == [f"{EU}:4", f"{EU}:5"]
    # the first GTID of the file is in the replica's set: the FDE's `created` is zeroed
    assert struct.unpack_from("<I", evs[1], 71)[0] == 0 and crc_ok(evs[1])
    starts = {e: off for off, e in file_events(fixture(ESS))}
    hb = [e for e in evs if header(e)["type"] == 27]
    assert len(hb) == 1
    first_sent = next(e for e in evs if gtid_of(e))
    assert header(hb[0])["log_pos"] == starts[first_sent]     # the end of the skipped run
    assert evs.index(hb[0]) == evs.index(first_sent) - 1
    assert hb[0][19:-4] == b"mysql-enum-string-set.000001" and crc_ok(hb[0])


def test_the_start_file_is_the_newest_whose_previous_gtids_the_replica_has(make_peer, tmp_path):
    d = tmp_path / "chain"
    chain(str(d))
    peer = make_peer(auth="mysql_native_password", binlog_dir=str(d))
    c = client(peer)
    c.dump_gtid(GtidSet.parse(f"{U}:1-4").encode(), flags=0x01)
    evs, eof = c.events()
    assert eof
    rotates = [(header(e)["flags"], e[27:-4].decode()) for e in evs if header(e)["type"] == 4]
    # fake ROTATE of 000002, its real ROTATE, the fake ROTATE of 000003
    assert rotates == [(0x20, "binlog.000002"), (0, "binlog.000003"), (0x20, "binlog.000003")]
    assert [g for g in map(gtid_of, evs) if g] == [f"{U}:{n}" for n in range(5, 10)]
    # a replica that has everything of a file starts after it, and gets only heartbeats there
    c = client(peer)
    c.dump_gtid(GtidSet.parse(f"{U}:1-9").encode(), flags=0x01)
    evs, eof = c.events()
    assert eof and not [g for g in map(gtid_of, evs) if g]
    assert [header(e)["type"] for e in evs] == [4, 15, 35, 27]


def expect_error(c, start):
    with pytest.raises(ServerError) as e:
        while True:
            c.next_event()
    assert e.value.code == 1236 and e.value.state == "HY000"
    assert e.value.message.startswith(start), e.value.message
    return e.value.message


def test_mysql_errors(make_peer, tmp_path):
    d = tmp_path / "chain"
    chain(str(d))
    peer = make_peer(auth="mysql_native_password", binlog_dir=str(d))
    c = client(peer)
    c.dump_gtid(GtidSet.parse(f"{U}:1-100").encode())
    expect_error(c, "Replica has more GTIDs than the source has, using the source's SERVER_UUID.")
    c = client(peer)
    c.dump_gtid(GtidSet().encode(), name=b"binlog.000009")
    expect_error(c, "Could not find first log file name in binary log index file")
    os.remove(d / "binlog.000001")
    c = client(peer)
    c.dump_gtid(GtidSet.parse(f"{U}:1").encode())
    m = expect_error(c, "Cannot replicate because the source purged required binary logs. ")
    assert m.endswith(f"The GTID set sent by the replica is '{U}:1', and the missing "
                      f"transactions are '{U}:2-3'.")
    # nothing announced: a fake ROTATE, then the error
    c = client(peer, announce=None)
    c.dump_gtid(GtidSet.parse(f"{U}:1-3").encode())
    assert header(c.next_event())["type"] == 4
    m = expect_error(c, "Replica can not handle replication events with the checksum that "
                        "source is configured to log; the first event '' at 4, the last event "
                        "read from './binlog.000002' at")
    c = client(peer)
    c.dump(name="binlog.000002", pos=3)
    expect_error(c, "Client requested source to start replication from position < 4.")
    c = client(peer)
    c.dump(name="binlog.000002", pos=10 ** 6)
    expect_error(c, "Client requested source to start replication from position > file size")


def test_gtid_dumps_need_gtid_mode_on(make_peer):
    peer = make_peer("mysql-binlog-connector-java/mysql-bin.checksum-crc32",
                     auth="mysql_native_password")
    c = client(peer)
    c.dump_gtid(GtidSet().encode())
    expect_error(c, "The replication sender thread cannot start in AUTO_POSITION mode: this "
                    "server has GTID_MODE = OFF instead of ON.")
    # anonymous transactions next to GTIDs (ON_PERMISSIVE): a GTID dump cannot send them
    peer = make_peer("rust_mysql_common/transaction_compression.000001",
                     auth="mysql_native_password", sets={"gtid_mode": "ON"})
    c = client(peer)
    c.dump_gtid(GtidSet.parse("357df524-4139-11ee-9979-b033ee13919e:1").encode())
    expect_error(c, "Cannot replicate anonymous transaction when AUTO_POSITION = 1, at file "
                    "'./transaction_compression.000001', position 197.")


def test_position_dump_from_the_middle_of_a_file(make_peer):
    peer = make_peer(ESS, auth="mysql_native_password")
    want = file_events(fixture(ESS))
    start = next(off for off, e in want if gtid_of(e) == f"{EU}:4")
    c = client(peer, announce="NONE")     # what go-mysql announces: events keep their CRC
    c.dump(name="mysql-enum-string-set.000001", pos=start, flags=0x01)
    evs, eof = c.events()
    assert eof
    rot = evs[0]
    assert rot[19:] == struct.pack("<Q", start) + b"mysql-enum-string-set.000001"  # no CRC
    assert struct.unpack_from("<I", evs[1], 71)[0] == 0 and header(evs[1])["log_pos"] == 0
    assert crc_ok(evs[1])
    assert evs[2:] == [e for off, e in want if off >= start]


def append_txn(path, txn, gtid, fde):
    """Appends a copy of @txn as @gtid to the binlog file at @path (one write)."""
    c = workload.Composer(fde)
    size = os.path.getsize(path)
    c.data = bytearray(b"\0" * size)      # place the events at the end of the file
    c.add(txn, gtid)
    with open(path, "ab") as f:
        f.write(bytes(c.data[size:]))


def test_blocking_dump_streams_what_is_appended_with_v2_heartbeats_while_idle(make_peer,
                                                                             tmp_path):
    d = tmp_path / "chain"
    names = chain(str(d), files=1)
    peer = make_peer(auth="mysql_native_password", binlog_dir=str(d))
    c = client(peer)
    c.query("SET @source_heartbeat_period = 200000000")      # 0.2 s in nanoseconds
    c.dump_gtid(GtidSet.parse(f"{U}:1-3").encode(), flags=0x02)
    evs = [c.next_event() for _ in range(4)]                  # ROTATE FDE PREVIOUS heartbeat
    assert [header(e)["type"] for e in evs] == [4, 15, 35, 41]
    size = os.path.getsize(d / "binlog.000001")
    t0 = time.time()
    beats = [c.next_event() for _ in range(3)]
    assert time.time() - t0 > 0.35
    for b in beats:
        h = header(b)
        assert h["type"] == 41 and h["log_pos"] == size and crc_ok(b)
        # TLV, lenenc type and length: 1 = file name, 2 = position (lenenc), 0 = end
        body, items, off = b[19:-4], {}, 0
        while body[off] != 0:
            t = body[off]
            n, off = read_lenenc(body, off + 1)
            items[t] = body[off:off + n]
            off += n
        assert off == len(body) - 1
        assert items[1] == b"binlog.000001" and read_lenenc(items[2], 0) == (size, len(items[2]))
    fx = workload.Fixture(fixture(ESS))
    append_txn(str(d / "binlog.000001"), fx.transactions[2], Gtid(U, 4), fx.fde)
    got = []
    while len(got) < 5:
        e = c.next_event()
        if header(e)["type"] != 41:
            got.append(e)
    assert gtid_of(got[0]) == f"{U}:4"
    assert [header(e)["type"] for e in got] == [33, 2, 19, 30, 16]
    c.close()
    assert len(names) == 1


def test_a_second_dump_of_the_same_replica_kills_the_first(make_peer):
    peer = make_peer(ESS, auth="mysql_native_password")
    uuid = "11111111-2222-4333-8444-555555555555"

    def dumping(uuid=None, server_id=77):
        c = client(peer)
        if uuid:
            c.query(f"SET @replica_uuid = '{uuid}', @slave_uuid = '{uuid}'")
        c.dump_gtid(GtidSet().encode(), server_id=server_id)
        n = 0
        while n < 22:             # every event of the file: the dump now waits
            c.next_event()
            n += 1
        return c

    old = dumping(uuid)
    other = dumping("99999999-2222-4333-8444-555555555555")   # another uuid: stays
    new = dumping(uuid, server_id=78)
    m = expect_error(old, "A replica with the same server_uuid/server_id as this replica has "
                          "connected to the source; the first event '' at 4, the last event read "
                          "from './mysql-enum-string-set.000001' at 3331")
    assert m.endswith("the last byte read from './mysql-enum-string-set.000001' at 3331.")
    assert old.closed()
    # without uuids the server_id decides; server_id 0 (mysqlbinlog) kills nothing
    a = dumping(server_id=5)
    dumping(server_id=0)
    dumping(server_id=5)
    expect_error(a, "A replica with the same server_uuid/server_id")
    kills = peer.events("zombie_kill")
    assert len(kills) == 2
    for c in (other, new):
        c.sock.settimeout(0.3)
        with pytest.raises(OSError):
            c.next_event()      # still waiting for events, not dropped


def test_register_replica(make_peer):
    peer = make_peer(ESS, auth="mysql_native_password")
    c = client(peer)
    c.query("SET @replica_uuid = '11111111-2222-4333-8444-555555555555'")
    assert c.register(server_id=4242, host="sdl-host", port=0)[0] == 0
    assert c.query("SHOW REPLICAS") == [["4242", "sdl-host", "0", "0",
                                         "11111111-2222-4333-8444-555555555555"]]
    with pytest.raises(ServerError) as e:
        c.register(raw=struct.pack("<I", 5) + b"\0\0\0" + b"\0" * 4)
    assert (e.value.code, e.value.message) == (1105, "Wrong parameters when registering replica")


def test_an_event_over_16_mib_is_split_into_packets(make_peer, tmp_path):
    """A ROWS_QUERY event (the statement text MySQL logs with binlog_rows_query_log_events)
    of 17 MiB: one packet of 0xFFFFFF bytes and the rest."""
    fx = workload.Fixture(fixture(ESS))
    txn = fx.transactions[2]
    text = b"INSERT INTO t VALUES " + b"('x')," * (17 * 1024 * 1024 // 6) + b"('x')"
    rq = workload.make_event(29, b"\xff" + text, 1, 0, Header(txn.events[2]).timestamp, 0x80)
    big = workload.Txn(txn.events[:2] + [rq] + txn.events[2:])
    d = tmp_path / "big"
    d.mkdir()
    workload.chain(str(d), [(fx.fde, [("txn", big, Gtid(U, 1))])])
    peer = make_peer(auth="mysql_native_password", binlog_dir=str(d))
    c = client(peer)
    c.dump_gtid(GtidSet().encode(), flags=0x01)
    evs = []
    while True:
        e = c.next_event()
        if e == EOF_MARK:
            break
        if header(e)["type"] == 29:
            assert c.chunks == [0xFFFFFF, len(e) + 1 - 0xFFFFFF]
        evs.append(e)
    want = [e for _, e in file_events(str(d / "binlog.000001"))]
    assert evs[1:] == want and any(len(e) > 17 * 1024 * 1024 for e in evs)
