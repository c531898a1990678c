/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * binlog-reader: the replication transport. Opens its own connection to the source,
 * prepares the session (@master_binlog_checksum, @mariadb_slave_capability=4,
 * @slave_connect_state, heartbeat period), sends COM_BINLOG_DUMP (MySQL: COM_BINLOG_DUMP_GTID
 * with the executed GTID set, or COM_BINLOG_DUMP by file and position on a source without
 * GTIDs) and returns the raw events the server sends, one at a time: header + body +
 * checksum, exactly as in the binlog file.
 *
 * It neither verifies nor strips checksums nor decodes events (binlog-event.h, change-stream.h
 * do); it maps the server's replication errors (1236 purged / diverged / ahead / a replica
 * with the same server_id or uuid, 4052 duplicate server_id, lost connection) to clear
 * sdl_errors; err->transient says whether reconnecting can help. Connector/C's own event
 * parser (mariadb_rpl_fetch) is not used: the packets are read with mysql_net_read_packet(),
 * so every byte goes through sdl's parsers.
 *
 * Never logs. Threading: one thread at a time per reader (with read-ahead the reader runs
 * its own thread, signals blocked, which owns the connection until sdl_binlog_reader_free()
 * shuts its socket down and joins it).
 * Lifetime: an event borrows the connection's receive buffer (with read-ahead: the ring);
 * valid until the next sdl_binlog_reader_next() or sdl_binlog_reader_free().
 */

#include <stdbool.h>
#include <stdint.h>

#include "sdl/base/bytes.h"
#include "sdl/base/error.h"
#include "sdl/base/macros.h"
#include "sdl/config/config.h"

typedef struct sdl_binlog_reader sdl_binlog_reader;

typedef struct sdl_binlog_request {
    const char *connect_state; /* MariaDB GTID position to resume after, or for a MySQL server
                                * the executed GTID set (COM_BINLOG_DUMP_GTID); "" = the
                                * oldest binlog */
    const char *file;          /* MySQL source without GTIDs: stream by file and position
                                * (COM_BINLOG_DUMP) from @file at @pos instead; NULL: by
                                * connect_state */
    uint64_t pos;              /* with @file: offset of the first event to send (>= 4) */
    bool non_blocking;         /* the server ends the stream at the end of its binlog */
    size_t read_ahead_bytes;   /* > 0: a thread of the reader reads the connection ahead of
                                * the caller into a ring of this many bytes, so receiving
                                * overlaps with decoding (SDL_BINLOG_READ_AHEAD is a good
                                * size); it holds at most this many bytes of events, or one
                                * larger event; 0: sdl_binlog_reader_next() reads itself */
    const volatile int *stop;  /* with read-ahead: when non-zero, a wait for the next event
                                * ends with SDL_E_CANCELLED (checked every 100 ms) */
} sdl_binlog_request;

/* Big enough for several maximum-size (8 KiB) rows events and for the batching of the ring
 * (ring.h) to pay off; small enough to stay in a per-core L2 cache. */
#define SDL_BINLOG_READ_AHEAD ((size_t)1024 * 1024)

SDL_MUST_CHECK bool sdl_binlog_reader_open(const sdl_source_config *cfg,
                                           const sdl_binlog_request *req,
                                           sdl_binlog_reader **ret_reader, sdl_error *err);

/* Waits for the next event. On success either *ret_eof is true (non-blocking stream reached
 * the end of the binlog) or *ret_event holds the raw event (borrowed). */
SDL_MUST_CHECK bool sdl_binlog_reader_next(sdl_binlog_reader *reader, sdl_bytes *ret_event,
                                           bool *ret_eof, sdl_error *err);

/* True when the event returned last ends with the CRC32 of its other bytes, as the
 * read-ahead thread found (false without read-ahead: not looked at). A caller may then skip
 * its own check of that event's checksum. */
bool sdl_binlog_reader_crc_ok(const sdl_binlog_reader *reader);

/* True when the server was told to send CRC32 checksums (events carry 4 trailing bytes). */
bool sdl_binlog_reader_has_checksum(const sdl_binlog_reader *reader);

const char *sdl_binlog_reader_server_version(const sdl_binlog_reader *reader);

/* NULL-safe; returns NULL. */
sdl_binlog_reader *sdl_binlog_reader_free(sdl_binlog_reader *reader);
