/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: every event parser on arbitrary bodies must never crash or read out of bounds.
 * Input: byte 0 selects the format (bit 0: MySQL flavour, bit 1: 4-byte table ids), byte 1
 * is the event type, the rest is the event body (no checksum). The whole input is also fed
 * to the FDE parser and to sdl_binlog_event_open() as a raw event. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/arena.h"
#include "sdl/mysql/binlog-event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* gcc does not let (void) silence warn_unused_result. */
#define IGNORE(call)                                                                               \
    do {                                                                                           \
        if (call) {                                                                                \
        }                                                                                          \
    } while (0)

static void
put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sdl_binlog_format fmt;
    sdl_binlog_event ev;
    sdl_error err = SDL_ERROR_INIT;
    sdl_arena arena;
    uint8_t *raw;
    size_t n;

    if (size < 2 || size > (1u << 20)) {
        return 0;
    }
    sdl_arena_init(&arena, 0);
    IGNORE(sdl_binlog_format_parse(SDL_BYTES(data, size), &fmt, &err));
    sdl_binlog_format_init(&fmt, SDL_BINLOG_FLAVOR_MARIADB, SDL_BINLOG_CHECKSUM_CRC32);
    IGNORE(sdl_binlog_event_open(&fmt, SDL_BYTES(data, size), true, &ev, &err));

    sdl_binlog_format_init(&fmt,
                           (data[0] & 1) ? SDL_BINLOG_FLAVOR_MYSQL : SDL_BINLOG_FLAVOR_MARIADB,
                           SDL_BINLOG_CHECKSUM_OFF);
    if (data[0] & 2) {
        fmt.post_header_len[SDL_BINLOG_TABLE_MAP_EVENT] = 6;
        fmt.post_header_len[SDL_BINLOG_WRITE_ROWS_EVENT_V1] = 6;
        fmt.post_header_len[SDL_BINLOG_UPDATE_ROWS_EVENT_V1] = 6;
    }
    n = 19 + size - 2;
    raw = malloc(n);
    memset(raw, 0, 19);
    raw[4] = data[1];
    put_u32(raw + 9, (uint32_t)n);
    memcpy(raw + 19, data + 2, size - 2);
    if (sdl_binlog_event_open(&fmt, SDL_BYTES(raw, n), true, &ev, &err)) {
        sdl_binlog_rotate rot;
        sdl_binlog_query q;
        sdl_binlog_gtid g;
        sdl_binlog_gtid_list gl;
        sdl_binlog_rows rows;
        sdl_table *t;
        sdl_bytes b;
        uint64_t x;

        switch (ev.header.type) {
        case SDL_BINLOG_ROTATE_EVENT:
            IGNORE(sdl_binlog_event_parse_rotate(&fmt, &ev, &rot, &err));
            break;
        case SDL_BINLOG_QUERY_EVENT:
        case SDL_BINLOG_QUERY_COMPRESSED_EVENT:
            IGNORE(sdl_binlog_event_parse_query(&fmt, &ev, &arena, &q, &err));
            break;
        case SDL_BINLOG_XID_EVENT:
            IGNORE(sdl_binlog_event_parse_xid(&fmt, &ev, &x, &err));
            break;
        case SDL_BINLOG_GTID_EVENT:
            IGNORE(sdl_binlog_event_parse_gtid(&fmt, &ev, &g, &err));
            break;
        case SDL_BINLOG_GTID_LIST_EVENT:
            if (sdl_binlog_event_parse_gtid_list(&fmt, &ev, &gl, &err)) {
                for (uint32_t i = 0; i < gl.count; i++) {
                    uint32_t d, s;
                    uint64_t seq;
                    sdl_binlog_gtid_list_at(&gl, i, &d, &s, &seq);
                }
            }
            break;
        case SDL_BINLOG_BINLOG_CHECKPOINT_EVENT:
            IGNORE(sdl_binlog_event_parse_checkpoint(&fmt, &ev, &b, &err));
            break;
        case SDL_BINLOG_ANNOTATE_ROWS_EVENT:
        case SDL_BINLOG_ROWS_QUERY_EVENT:
            IGNORE(sdl_binlog_event_parse_annotate(&fmt, &ev, &b, &err));
            break;
        case SDL_BINLOG_HEARTBEAT_EVENT:
            IGNORE(sdl_binlog_event_parse_heartbeat(&fmt, &ev, &b, &err));
            break;
        case SDL_BINLOG_TABLE_MAP_EVENT:
            IGNORE(sdl_binlog_event_parse_table_map(&fmt, &ev, &arena, &t, &err));
            break;
        default:
            if (sdl_binlog_event_is_rows(ev.header.type)) {
                IGNORE(sdl_binlog_event_parse_rows(&fmt, &ev, &arena, &rows, &err));
            } else {
                IGNORE(sdl_binlog_event_check_known(&ev.header, &err));
            }
            break;
        }
    }
    free(raw);
    sdl_arena_done(&arena);
    return 0;
}
