/* SPDX-License-Identifier: Apache-2.0 */
/* row-temporal: DATE, DATETIME, TIMESTAMP and TIME values of row images (their packed binary
 * forms, fractions, zero and invalid dates as text). Part of the row decoder. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sdl/mysql/row-decoder.h"

#include "row-decoder-private.h"

/* ---- temporal ------------------------------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant, days_from_civil). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool
is_leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned
days_in_month(unsigned y, unsigned m)
{
    static const uint8_t dm[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dm[m];
}

/* ".f..." of @usec with @fsp (1..6) digits at @out (nothing for fsp 0); returns the end.
 * (Dates and times are written with sdl_row_put_digits(): snprintf cost some 1,300
 * instructions per TIME value, more than decoding the rest of its row.) */
static char *
put_frac(char *out, uint32_t usec, unsigned fsp)
{
    char frac[6];

    if (fsp == 0) {
        return out;
    }
    (void)sdl_row_put_digits(frac, usec % 1000000u, 6);
    *out++ = '.';
    memcpy(out, frac, fsp);
    return out + fsp;
}

/* "YYYY-MM-DD[ HH:MM:SS[.f...]]" into the arena. */
sdl_bytes
sdl_row_format_datetime(sdl_arena *arena, unsigned y, unsigned mo, unsigned d, bool with_time,
                        unsigned h, unsigned mi, unsigned s, uint32_t usec, unsigned fsp)
{
    char *out = sdl_arena_alloc(arena, 32);
    char *p = out;

    p = sdl_row_put_digits(p, y % 10000, 4);
    *p++ = '-';
    p = sdl_row_put_digits(p, mo % 100, 2);
    *p++ = '-';
    p = sdl_row_put_digits(p, d % 100, 2);
    if (with_time) {
        *p++ = ' ';
        p = sdl_row_put_digits(p, h % 100, 2);
        *p++ = ':';
        p = sdl_row_put_digits(p, mi % 100, 2);
        *p++ = ':';
        p = sdl_row_put_digits(p, s % 100, 2);
        p = put_frac(p, usec, fsp > 6 ? 6 : fsp);
    }
    *p = '\0';
    return SDL_BYTES(out, (size_t)(p - out));
}

/*
 * Builds a DATE/DATETIME value: a real calendar date becomes SDL_VALUE_DATE/DATETIME (usec
 * since the epoch, UTC); a zero or partial date (year, month or day 0, or a day past the end
 * of the month as ALLOW_INVALID_DATES permits) becomes SDL_VALUE_TEMPORAL_TEXT. Fields out of
 * their encodable ranges are a protocol error.
 */
bool
sdl_row_make_datetime(sdl_arena *arena, sdl_value *v, unsigned y, unsigned mo, unsigned d,
                      bool with_time, unsigned h, unsigned mi, unsigned s, uint32_t usec,
                      unsigned fsp, sdl_error *err)
{
    if (y > 9999 || mo > 12 || d > 31 || h > 23 || mi > 59 || s > 59 || usec > 999999) {
        sdl_error_set(err, SDL_E_PROTOCOL, "invalid date/time fields %u-%u-%u %u:%u:%u.%06" PRIu32,
                      y, mo, d, h, mi, s, usec);
        return false;
    }
    v->fsp = (uint8_t)fsp;
    if (y == 0 || mo == 0 || d == 0 || d > days_in_month(y, mo)) {
        sdl_bytes t = sdl_row_format_datetime(arena, y, mo, d, with_time, h, mi, s, usec, fsp);
        v->kind = SDL_VALUE_TEMPORAL_TEXT;
        v->str.ptr = (const char *)t.ptr;
        v->str.len = t.len;
        return true;
    }
    v->kind = with_time ? SDL_VALUE_DATETIME : SDL_VALUE_DATE;
    v->usec =
        ((days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + s) * 1000000) +
        usec;
    return true;
}

/* Fraction of DATETIME2/TIMESTAMP2 (sql-common/my_time.c my_datetime_packed_from_binary,
 * my_timestamp_from_binary): (fsp+1)/2 big-endian bytes, scaled to microseconds. */
uint32_t
sdl_row_read_frac(sdl_cursor *c, unsigned fsp)
{
    switch (fsp) {
    case 1:
    case 2:
        return (uint32_t)sdl_cursor_uint_be(c, 1) * 10000u;
    case 3:
    case 4:
        return (uint32_t)sdl_cursor_uint_be(c, 2) * 100u;
    case 5:
    case 6:
        return (uint32_t)sdl_cursor_uint_be(c, 3);
    default:
        return 0;
    }
}

/* "[-]HH:MM:SS[.f...]" (hours at least two digits). */
void
sdl_row_make_time_text(sdl_arena *arena, sdl_value *v, bool neg, uint32_t h, unsigned mi,
                       unsigned s, uint32_t usec, unsigned fsp)
{
    char *out = sdl_arena_alloc(arena, 32);
    char *p = out;
    unsigned hh = h % 10000u;

    if (neg) {
        *p++ = '-';
    }
    p = sdl_row_put_digits(p, hh, hh >= 1000 ? 4 : hh >= 100 ? 3 : 2);
    *p++ = ':';
    p = sdl_row_put_digits(p, mi % 100, 2);
    *p++ = ':';
    p = sdl_row_put_digits(p, s % 100, 2);
    p = put_frac(p, usec, fsp > 6 ? 6 : fsp);
    *p = '\0';
    v->fsp = (uint8_t)fsp;
    sdl_row_set_text(v, SDL_VALUE_TIME, SDL_BYTES(out, (size_t)(p - out)));
}

/* TIME2 (sql-common/my_time.c my_time_packed_from_binary + TIME_from_longlong_time_packed). */
bool
sdl_row_decode_time2(sdl_cursor *c, unsigned fsp, sdl_arena *arena, sdl_value *v, sdl_error *err)
{
    int64_t packed, intpart, frac;
    uint64_t tmp, hms;
    bool neg;

    switch (fsp) {
    case 1:
    case 2:
        intpart = (int64_t)sdl_cursor_uint_be(c, 3) - 0x800000;
        frac = (int64_t)sdl_cursor_uint_be(c, 1);
        if (intpart < 0 && frac) {
            intpart++;
            frac -= 0x100;
        }
        packed = intpart * (1 << 24) + frac * 10000;
        break;
    case 3:
    case 4:
        intpart = (int64_t)sdl_cursor_uint_be(c, 3) - 0x800000;
        frac = (int64_t)sdl_cursor_uint_be(c, 2);
        if (intpart < 0 && frac) {
            intpart++;
            frac -= 0x10000;
        }
        packed = intpart * (1 << 24) + frac * 100;
        break;
    case 5:
    case 6:
        packed = (int64_t)sdl_cursor_uint_be(c, 6) - INT64_C(0x800000000000);
        break;
    default:
        packed = ((int64_t)sdl_cursor_uint_be(c, 3) - 0x800000) * (1 << 24);
        break;
    }
    if (c->failed) {
        return true; /* the caller reports truncation */
    }
    neg = packed < 0;
    tmp = neg ? (uint64_t)-packed : (uint64_t)packed;
    hms = tmp >> 24;
    frac = (int64_t)(tmp & 0xffffff);
    if (frac > 999999 || ((hms >> 6) & 63) > 59 || (hms & 63) > 59) {
        sdl_error_set(err, SDL_E_PROTOCOL, "invalid TIME value 0x%" PRIx64, (uint64_t)packed);
        return false;
    }
    sdl_row_make_time_text(arena, v, neg, (uint32_t)((hms >> 12) % 1024),
                           (unsigned)((hms >> 6) & 63), (unsigned)(hms & 63), (uint32_t)frac, fsp);
    return true;
}
