/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: a TABLE_MAP body and a rows event body; every row must decode or fail
 * cleanly. Input: byte 0 = rows event type, byte 1 = is_json mask (bit i marks column i),
 * bytes 2-3 = table-map body length L (little-endian), then L bytes of TABLE_MAP body, then
 * the rows event body. Both are parsed with MariaDB 10.11's format, no checksums. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/arena.h"
#include "sdl/mysql/binlog-event.h"
#include "sdl/mysql/row-decoder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *
make_event(uint8_t type, const uint8_t *body, size_t len, size_t *ret_n)
{
    size_t n = 19 + len;
    uint8_t *raw = malloc(n);

    memset(raw, 0, 19);
    raw[4] = type;
    raw[9] = (uint8_t)n;
    raw[10] = (uint8_t)(n >> 8);
    raw[11] = (uint8_t)(n >> 16);
    raw[12] = (uint8_t)(n >> 24);
    memcpy(raw + 19, body, len);
    *ret_n = n;
    return raw;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sdl_binlog_format fmt;
    sdl_binlog_event tm_ev, rows_ev;
    sdl_error err = SDL_ERROR_INIT;
    sdl_arena arena;
    sdl_table *t;
    sdl_binlog_rows rows;
    uint8_t *tm_raw = NULL, *rows_raw = NULL;
    size_t tm_len, tm_n, rows_n;

    if (size < 4 || size > (1u << 20)) {
        return 0;
    }
    tm_len = (size_t)data[2] | (size_t)data[3] << 8;
    if (tm_len > size - 4) {
        return 0;
    }
    sdl_arena_init(&arena, 0);
    sdl_binlog_format_init(&fmt, SDL_BINLOG_FLAVOR_MARIADB, SDL_BINLOG_CHECKSUM_OFF);
    tm_raw = make_event(SDL_BINLOG_TABLE_MAP_EVENT, data + 4, tm_len, &tm_n);
    rows_raw = make_event(data[0], data + 4 + tm_len, size - 4 - tm_len, &rows_n);
    if (!sdl_binlog_event_is_rows(data[0]) ||
        !sdl_binlog_event_open(&fmt, SDL_BYTES(tm_raw, tm_n), true, &tm_ev, &err) ||
        !sdl_binlog_event_parse_table_map(&fmt, &tm_ev, &arena, &t, &err) ||
        !sdl_binlog_event_open(&fmt, SDL_BYTES(rows_raw, rows_n), true, &rows_ev, &err) ||
        !sdl_binlog_event_parse_rows(&fmt, &rows_ev, &arena, &rows, &err)) {
        goto out;
    }
    for (uint32_t i = 0; i < t->ncols && i < 8; i++) {
        t->cols[i].is_json = (data[1] >> i) & 1;
    }
    {
        sdl_row_decoder dec;
        sdl_row_change ch;
        bool more = true;

        if (!sdl_row_decoder_start(&dec, t, &rows, &arena, &err)) {
            goto out;
        }
        while (more && sdl_row_decoder_next(&dec, &ch, &more, &err)) {
            const sdl_value *imgs[2] = {ch.before, ch.after};
            if (!more) {
                break;
            }
            /* Touch every value so ASan sees any bad pointer. */
            for (int k = 0; k < 2; k++) {
                for (uint32_t i = 0; imgs[k] && i < t->ncols; i++) {
                    const sdl_value *v = &imgs[k][i];
                    volatile uint8_t sink = 0;
                    switch (v->kind) {
                    case SDL_VALUE_SET:
                        for (uint32_t s = 0; s < v->set.count; s++) {
                            sink ^= (uint8_t)v->set.names[s][0];
                        }
                        break;
                    case SDL_VALUE_DECIMAL:
                    case SDL_VALUE_STRING:
                    case SDL_VALUE_BINARY:
                    case SDL_VALUE_TEMPORAL_TEXT:
                    case SDL_VALUE_TIME:
                    case SDL_VALUE_ENUM:
                    case SDL_VALUE_JSON_TEXT:
                    case SDL_VALUE_JSON_BINARY:
                    case SDL_VALUE_GEOMETRY:
                    case SDL_VALUE_VECTOR:
                        for (size_t s = 0; s < v->str.len; s++) {
                            sink ^= (uint8_t)v->str.ptr[s];
                        }
                        break;
                    default:
                        break;
                    }
                    (void)sink;
                }
            }
        }
    }
out:
    free(tm_raw);
    free(rows_raw);
    sdl_arena_done(&arena);
    return 0;
}
