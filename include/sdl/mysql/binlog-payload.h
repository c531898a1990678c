/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * binlog-payload: MySQL 8.0's TRANSACTION_PAYLOAD_EVENT (binlog_transaction_compression=ON):
 * a whole transaction's events, compressed with zstd into one event.
 *
 * sdl_binlog_event_parse_payload() reads the event's header fields
 * (libbinlogevents/include/compression/base.h, control_events.h Transaction_payload_event:
 * a list of (type lenenc, length lenenc, value lenenc) fields — 1 payload size,
 * 2 compression type (0 zstd, 255 none), 3 uncompressed size — ended by type 0, then the
 * payload). The reader then streams the inner events out of the payload: they are ordinary
 * v4 events (19-byte header, no checksum, log_pos 0) which the caller feeds through the same
 * parsers as outer events. The payload is decompressed incrementally with
 * ZSTD_decompressStream into a window that holds only the current inner event and one
 * output chunk, so memory stays bounded by the largest inner event (rows events are split at
 * binlog_row_event_max_size, 8 KiB by default), never by the transaction.
 *
 * Never logs. Errors: SDL_E_PROTOCOL (malformed header, corrupt zstd data, a truncated or
 * over-long inner event, sizes that disagree), SDL_E_UNSUPPORTED (another compression
 * algorithm). Threading: one thread at a time per reader.
 * Lifetime: the reader borrows the payload bytes of the event from _start() until it reports
 * the end (they must stay valid meanwhile); an inner event borrows the reader's window until
 * the next _next() call.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sdl/base/bytes.h"
#include "sdl/base/error.h"
#include "sdl/base/macros.h"
#include "sdl/mysql/binlog-event.h"

#define SDL_PAYLOAD_COMPRESSION_ZSTD 0
#define SDL_PAYLOAD_COMPRESSION_NONE 255

typedef struct sdl_binlog_payload {
    uint8_t compression;        /* SDL_PAYLOAD_COMPRESSION_* */
    uint64_t uncompressed_size; /* bytes of the inner events; 0 when not given */
    sdl_bytes payload;          /* compressed bytes; borrows the event */
} sdl_binlog_payload;

SDL_MUST_CHECK bool sdl_binlog_event_parse_payload(const sdl_binlog_format *fmt,
                                                   const sdl_binlog_event *ev,
                                                   sdl_binlog_payload *ret, sdl_error *err);

typedef struct sdl_payload_reader sdl_payload_reader;

sdl_payload_reader *sdl_payload_reader_new(void);
sdl_payload_reader *sdl_payload_reader_free(sdl_payload_reader *reader);

/* Starts streaming @payload (borrowed). */
SDL_MUST_CHECK bool sdl_payload_reader_start(sdl_payload_reader *reader,
                                             const sdl_binlog_payload *payload, sdl_error *err);

/* The next inner event (raw: header + body), or *ret_end when the payload is exhausted. */
SDL_MUST_CHECK bool sdl_payload_reader_next(sdl_payload_reader *reader, sdl_bytes *ret_event,
                                            bool *ret_end, sdl_error *err);

/* True between a successful _start() and the end (or an error). */
bool sdl_payload_reader_active(const sdl_payload_reader *reader);

/* Bytes the window holds at most so far (for tests of the memory bound). */
size_t sdl_payload_reader_window_peak(const sdl_payload_reader *reader);
