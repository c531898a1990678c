/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * row-decoder-private: what the files of the row decoder share: row-decoder.c (images, one
 * value per column type) and row-temporal.c (DATE, DATETIME, TIMESTAMP, TIME). Not for other
 * modules: include/sdl/mysql/row-decoder.h is the interface.
 */

#include <stdbool.h>
#include <stdint.h>

#include "sdl/base/arena.h"
#include "sdl/base/bytes.h"
#include "sdl/base/cursor.h"
#include "sdl/base/error.h"
#include "sdl/base/macros.h"
#include "sdl/model/change.h"

/* @v as text of @kind: a view of @b (not yet checked as UTF-8). */
static inline void
sdl_row_set_text(sdl_value *v, sdl_value_kind kind, sdl_bytes b)
{
    v->kind = kind;
    v->utf8_checked = false;
    v->str.ptr = (const char *)b.ptr;
    v->str.len = b.len;
}

/* "YYYY-MM-DD[ HH:MM:SS[.f...]]" into the arena. */
sdl_bytes sdl_row_format_datetime(sdl_arena *arena, unsigned y, unsigned mo, unsigned d,
                                  bool with_time, unsigned h, unsigned mi, unsigned s,
                                  uint32_t usec, unsigned fsp);

/*
 * Builds a DATE/DATETIME value: a real calendar date becomes SDL_VALUE_DATE/DATETIME (usec
 * since the epoch, UTC); a zero or partial date (year, month or day 0, or a day past the end
 * of the month as ALLOW_INVALID_DATES permits) becomes SDL_VALUE_TEMPORAL_TEXT. Fields out of
 * their encodable ranges are a protocol error.
 */
SDL_MUST_CHECK bool sdl_row_make_datetime(sdl_arena *arena, sdl_value *v, unsigned y, unsigned mo,
                                          unsigned d, bool with_time, unsigned h, unsigned mi,
                                          unsigned s, uint32_t usec, unsigned fsp, sdl_error *err);

/* Fraction of DATETIME2/TIMESTAMP2 (sql-common/my_time.c my_datetime_packed_from_binary,
 * my_timestamp_from_binary): (fsp+1)/2 big-endian bytes, scaled to microseconds. */
uint32_t sdl_row_read_frac(sdl_cursor *c, unsigned fsp);

/* "[-]HH:MM:SS[.f...]" (hours at least two digits). */
void sdl_row_make_time_text(sdl_arena *arena, sdl_value *v, bool neg, uint32_t h, unsigned mi,
                            unsigned s, uint32_t usec, unsigned fsp);

/* TIME2 (sql-common/my_time.c my_time_packed_from_binary + TIME_from_longlong_time_packed).
 * A short cursor is left for the caller to report (true, c->failed). */
SDL_MUST_CHECK bool sdl_row_decode_time2(sdl_cursor *c, unsigned fsp, sdl_arena *arena,
                                         sdl_value *v, sdl_error *err);

/* Appends @v as exactly @ndig decimal digits at @o; returns the end (DECIMAL digit groups,
 * dates and times: snprintf cost some 1,300 instructions per TIME value). */
static inline char *
sdl_row_put_digits(char *o, uint32_t v, unsigned ndig)
{
    for (unsigned i = ndig; i > 0; i--) {
        o[i - 1] = (char)('0' + v % 10);
        v /= 10;
    }
    return o + ndig;
}
