/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: a TRANSACTION_PAYLOAD_EVENT body (header fields, then zstd or raw data); every
 * inner event the stream yields is opened and parsed as the change stream would (MySQL 8.0
 * format, inner events without checksums). Must never crash or read out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/arena.h"
#include "sdl/mysql/binlog-event.h"
#include "sdl/mysql/binlog-payload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sdl_payload_reader *r;
    sdl_binlog_format fmt;
    sdl_binlog_event ev = {{0, SDL_BINLOG_TRANSACTION_PAYLOAD_EVENT, 1, 0, 0, 0}, {data, size}};
    sdl_binlog_payload pl;
    sdl_error err = SDL_ERROR_INIT;
    sdl_arena arena;

    if (size > (1u << 20)) {
        return 0;
    }
    if (!r) {
        r = sdl_payload_reader_new();
    }
    sdl_binlog_format_init(&fmt, SDL_BINLOG_FLAVOR_MYSQL, SDL_BINLOG_CHECKSUM_OFF);
    if (!sdl_binlog_event_parse_payload(&fmt, &ev, &pl, &err) ||
        !sdl_payload_reader_start(r, &pl, &err)) {
        return 0;
    }
    sdl_arena_init(&arena, 0);
    for (int n = 0; n < 10000; n++) {
        sdl_bytes raw;
        bool end = false;
        sdl_binlog_event inner;
        if (!sdl_payload_reader_next(r, &raw, &end, &err) || end) {
            break;
        }
        if (!sdl_binlog_event_open(&fmt, raw, true, &inner, &err)) {
            continue;
        }
        sdl_arena_reset(&arena);
        switch (inner.header.type) {
        case SDL_BINLOG_QUERY_EVENT: {
            sdl_binlog_query q;
            if (!sdl_binlog_event_parse_query(&fmt, &inner, &arena, &q, &err)) {
                err.code = SDL_E_OK; /* failing cleanly is fine */
            }
            break;
        }
        case SDL_BINLOG_TABLE_MAP_EVENT: {
            sdl_table *t;
            if (!sdl_binlog_event_parse_table_map(&fmt, &inner, &arena, &t, &err)) {
                err.code = SDL_E_OK; /* failing cleanly is fine */
            }
            break;
        }
        case SDL_BINLOG_MYSQL_GTID_EVENT:
        case SDL_BINLOG_MYSQL_GTID_TAGGED_EVENT:
        case SDL_BINLOG_MYSQL_ANONYMOUS_GTID_EVENT: {
            sdl_binlog_mysql_gtid g;
            if (!sdl_binlog_event_parse_mysql_gtid(&fmt, &inner, &g, &err)) {
                err.code = SDL_E_OK; /* failing cleanly is fine */
            }
            break;
        }
        default:
            if (sdl_binlog_event_is_rows(inner.header.type)) {
                sdl_binlog_rows rows;
                if (!sdl_binlog_event_parse_rows(&fmt, &inner, &arena, &rows, &err)) {
                    err.code = SDL_E_OK; /* failing cleanly is fine */
                }
            }
            break;
        }
    }
    sdl_arena_done(&arena);
    return 0;
}
