/* SPDX-License-Identifier: Apache-2.0 */
#include "sdl/mysql/row-decoder.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sdl/mysql/charset.h"

/*
 * Row image layout (MariaDB sql/log_event_server.cc Rows_log_event::write_row /
 * unpack_row in sql/rpl_record.cc; MySQL sql/rpl_record.cc): for each row, a null bitmap of
 * (number of present columns + 7) / 8 bytes, bit j (LSB first) for the j-th present column,
 * then each present non-NULL column in Field::pack() form. UPDATE rows hold a before image
 * (columns of the first bitmap) followed by an after image (columns of the second).
 */

static const char *
type_name(uint8_t t)
{
    switch (t) {
    case SDL_MYSQL_TYPE_DECIMAL:
        return "DECIMAL(old)";
    case SDL_MYSQL_TYPE_TINY:
        return "TINYINT";
    case SDL_MYSQL_TYPE_SHORT:
        return "SMALLINT";
    case SDL_MYSQL_TYPE_LONG:
        return "INT";
    case SDL_MYSQL_TYPE_FLOAT:
        return "FLOAT";
    case SDL_MYSQL_TYPE_DOUBLE:
        return "DOUBLE";
    case SDL_MYSQL_TYPE_NULL:
        return "NULL";
    case SDL_MYSQL_TYPE_TIMESTAMP:
        return "TIMESTAMP(old)";
    case SDL_MYSQL_TYPE_LONGLONG:
        return "BIGINT";
    case SDL_MYSQL_TYPE_INT24:
        return "MEDIUMINT";
    case SDL_MYSQL_TYPE_DATE:
        return "DATE";
    case SDL_MYSQL_TYPE_TIME:
        return "TIME(old)";
    case SDL_MYSQL_TYPE_DATETIME:
        return "DATETIME(old)";
    case SDL_MYSQL_TYPE_YEAR:
        return "YEAR";
    case SDL_MYSQL_TYPE_NEWDATE:
        return "DATE(newdate)";
    case SDL_MYSQL_TYPE_VARCHAR:
        return "VARCHAR";
    case SDL_MYSQL_TYPE_BIT:
        return "BIT";
    case SDL_MYSQL_TYPE_TIMESTAMP2:
        return "TIMESTAMP";
    case SDL_MYSQL_TYPE_DATETIME2:
        return "DATETIME";
    case SDL_MYSQL_TYPE_TIME2:
        return "TIME";
    case SDL_MYSQL_TYPE_BLOB_COMPRESSED:
        return "BLOB COMPRESSED";
    case SDL_MYSQL_TYPE_VARCHAR_COMPRESSED:
        return "VARCHAR COMPRESSED";
    case SDL_MYSQL_TYPE_VECTOR:
        return "VECTOR";
    case SDL_MYSQL_TYPE_JSON:
        return "JSON";
    case SDL_MYSQL_TYPE_NEWDECIMAL:
        return "DECIMAL";
    case SDL_MYSQL_TYPE_ENUM:
        return "ENUM";
    case SDL_MYSQL_TYPE_SET:
        return "SET";
    case SDL_MYSQL_TYPE_BLOB:
        return "BLOB/TEXT";
    case SDL_MYSQL_TYPE_VAR_STRING:
        return "VAR_STRING";
    case SDL_MYSQL_TYPE_STRING:
        return "CHAR";
    case SDL_MYSQL_TYPE_GEOMETRY:
        return "GEOMETRY";
    default:
        return "unknown type";
    }
}

/* ---- DECIMAL ------------------------------------------------------------------------------ */

/* strings/decimal.c: bytes needed for 0..9 leftover digits. */
static const uint8_t dig2bytes[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};
static const uint32_t pow10_u32[10] = {1,      10,      100,      1000,      10000,
                                       100000, 1000000, 10000000, 100000000, 1000000000};

size_t
sdl_decimal_bin_size(unsigned precision, unsigned scale)
{
    unsigned intg = precision - scale;

    if (precision < 1 || precision > 65 || scale > 38 || scale > precision) {
        return 0;
    }
    return (intg / 9) * 4 + dig2bytes[intg % 9] + (scale / 9) * 4 + dig2bytes[scale % 9];
}

static inline uint32_t
be_uint(const uint8_t *p, size_t n)
{
    switch (n) {
    case 1:
        return p[0];
    case 2:
        return (uint32_t)p[0] << 8 | p[1];
    case 3:
        return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
    case 4:
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    default:
        return 0;
    }
}

/* Appends @v as exactly @ndig digits. */
static char *
put_digits(char *o, uint32_t v, unsigned ndig)
{
    for (unsigned i = ndig; i > 0; i--) {
        o[i - 1] = (char)('0' + v % 10);
        v /= 10;
    }
    return o + ndig;
}

/* Unpacks MySQL's binary DECIMAL (strings/decimal.c decimal2bin: the sign bit is the top bit
 * of the first byte, set for non-negative values, and negative values are stored with every
 * byte inverted) into its digit groups, most significant first: groups[k] holds ndig[k]
 * digits, the integer part's groups first. */
static bool
decimal_unpack(const uint8_t *p, size_t len, unsigned precision, unsigned scale,
               uint32_t groups[16], uint8_t ndig[16], unsigned *ret_n, bool *ret_neg,
               size_t *ret_used, sdl_error *err)
{
    size_t size = sdl_decimal_bin_size(precision, scale);
    unsigned intg = precision - scale;
    unsigned intg0 = intg / 9, intg0x = intg % 9, frac0 = scale / 9, frac0x = scale % 9;
    uint8_t buf[40];
    const uint8_t *q = buf;
    unsigned n = 0;

    if (size == 0) {
        sdl_error_set(err, SDL_E_PROTOCOL, "DECIMAL(%u,%u) out of range (max 65,38)", precision,
                      scale);
        return false;
    }
    if (len < size) {
        sdl_error_set(err, SDL_E_PROTOCOL, "DECIMAL needs %zu bytes, %zu left", size, len);
        return false;
    }
    uint8_t mask = (p[0] & 0x80) ? 0 : 0xff; /* negative values are stored inverted */
    for (size_t i = 0; i < size; i++) {
        buf[i] = p[i] ^ mask;
    }
    buf[0] ^= 0x80;
    *ret_neg = mask != 0;
    if (intg0x) {
        ndig[n++] = (uint8_t)intg0x;
    }
    for (unsigned i = 0; i < intg0; i++) {
        ndig[n++] = 9;
    }
    for (unsigned i = 0; i < frac0; i++) {
        ndig[n++] = 9;
    }
    if (frac0x) {
        ndig[n++] = (uint8_t)frac0x;
    }
    for (unsigned k = 0; k < n; k++) {
        groups[k] = be_uint(q, dig2bytes[ndig[k]]);
        if (groups[k] >= pow10_u32[ndig[k]]) {
            sdl_error_set(err, SDL_E_PROTOCOL, "DECIMAL(%u,%u) digit group out of range", precision,
                          scale);
            return false;
        }
        q += dig2bytes[ndig[k]];
    }
    *ret_n = n;
    *ret_used = size;
    return true;
}

bool
sdl_decimal_to_text(const uint8_t *p, size_t len, unsigned precision, unsigned scale,
                    sdl_arena *arena, sdl_bytes *ret_text, size_t *ret_used, sdl_error *err)
{
    uint32_t groups[16];
    uint8_t ndig[16];
    unsigned n;
    char digits[80]; /* integer digits, zero-padded to intg */
    char *d = digits, *out, *o;
    bool neg, any = false;
    size_t ndig_int, start;

    if (!decimal_unpack(p, len, precision, scale, groups, ndig, &n, &neg, ret_used, err)) {
        return false;
    }
    for (unsigned k = 0; k < n; k++) {
        d = put_digits(d, groups[k], ndig[k]);
        any |= groups[k] != 0;
    }
    ndig_int = precision - scale;
    out = sdl_arena_alloc(arena, 72);
    o = out;
    if (neg && any) {
        *o++ = '-';
    }
    start = 0;
    while (start < ndig_int && digits[start] == '0') {
        start++;
    }
    if (start == ndig_int) {
        *o++ = '0';
    } else {
        memcpy(o, digits + start, ndig_int - start);
        o += ndig_int - start;
    }
    if (scale) {
        *o++ = '.';
        memcpy(o, digits + ndig_int, scale);
        o += scale;
    }
    *o = '\0';
    *ret_text = SDL_BYTES(out, (size_t)(o - out));
    return true;
}

bool
sdl_decimal_to_i64(const uint8_t *p, size_t len, unsigned precision, unsigned scale, int64_t *ret,
                   size_t *ret_used, sdl_error *err)
{
    if (precision > 18) {
        sdl_error_set(err, SDL_E_INVALID, "DECIMAL(%u,%u) does not fit 64 bits", precision, scale);
        return false;
    }
    uint32_t groups[16];
    uint8_t ndig[16];
    unsigned n;
    bool neg;
    int64_t v = 0;

    if (!decimal_unpack(p, len, precision, scale, groups, ndig, &n, &neg, ret_used, err)) {
        return false;
    }
    for (unsigned k = 0; k < n; k++) {
        v = v * (int64_t)pow10_u32[ndig[k]] + groups[k];
    }
    *ret = neg ? -v : v;
    return true;
}

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
 * (Dates and times are written with put_digits(): snprintf cost some 1,300 instructions per
 * TIME value, more than decoding the rest of its row.) */
static char *
put_frac(char *out, uint32_t usec, unsigned fsp)
{
    char frac[6];

    if (fsp == 0) {
        return out;
    }
    (void)put_digits(frac, usec % 1000000u, 6);
    *out++ = '.';
    memcpy(out, frac, fsp);
    return out + fsp;
}

/* "YYYY-MM-DD[ HH:MM:SS[.f...]]" into the arena. */
static sdl_bytes
format_datetime(sdl_arena *arena, unsigned y, unsigned mo, unsigned d, bool with_time, unsigned h,
                unsigned mi, unsigned s, uint32_t usec, unsigned fsp)
{
    char *out = sdl_arena_alloc(arena, 32);
    char *p = out;

    p = put_digits(p, y % 10000, 4);
    *p++ = '-';
    p = put_digits(p, mo % 100, 2);
    *p++ = '-';
    p = put_digits(p, d % 100, 2);
    if (with_time) {
        *p++ = ' ';
        p = put_digits(p, h % 100, 2);
        *p++ = ':';
        p = put_digits(p, mi % 100, 2);
        *p++ = ':';
        p = put_digits(p, s % 100, 2);
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
static bool
make_datetime(sdl_arena *arena, sdl_value *v, unsigned y, unsigned mo, unsigned d, bool with_time,
              unsigned h, unsigned mi, unsigned s, uint32_t usec, unsigned fsp, sdl_error *err)
{
    if (y > 9999 || mo > 12 || d > 31 || h > 23 || mi > 59 || s > 59 || usec > 999999) {
        sdl_error_set(err, SDL_E_PROTOCOL, "invalid date/time fields %u-%u-%u %u:%u:%u.%06" PRIu32,
                      y, mo, d, h, mi, s, usec);
        return false;
    }
    v->fsp = (uint8_t)fsp;
    if (y == 0 || mo == 0 || d == 0 || d > days_in_month(y, mo)) {
        sdl_bytes t = format_datetime(arena, y, mo, d, with_time, h, mi, s, usec, fsp);
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
static uint32_t
read_frac(sdl_cursor *c, unsigned fsp)
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

static void
set_text(sdl_value *v, sdl_value_kind kind, sdl_bytes b)
{
    v->kind = kind;
    v->utf8_checked = false;
    v->str.ptr = (const char *)b.ptr;
    v->str.len = b.len;
}

/* "[-]HH:MM:SS[.f...]" (hours at least two digits). */
static void
make_time_text(sdl_arena *arena, sdl_value *v, bool neg, uint32_t h, unsigned mi, unsigned s,
               uint32_t usec, unsigned fsp)
{
    char *out = sdl_arena_alloc(arena, 32);
    char *p = out;
    unsigned hh = h % 10000u;

    if (neg) {
        *p++ = '-';
    }
    p = put_digits(p, hh, hh >= 1000 ? 4 : hh >= 100 ? 3 : 2);
    *p++ = ':';
    p = put_digits(p, mi % 100, 2);
    *p++ = ':';
    p = put_digits(p, s % 100, 2);
    p = put_frac(p, usec, fsp > 6 ? 6 : fsp);
    *p = '\0';
    v->fsp = (uint8_t)fsp;
    set_text(v, SDL_VALUE_TIME, SDL_BYTES(out, (size_t)(p - out)));
}

/* TIME2 (sql-common/my_time.c my_time_packed_from_binary + TIME_from_longlong_time_packed). */
static bool
decode_time2(sdl_cursor *c, unsigned fsp, sdl_arena *arena, sdl_value *v, sdl_error *err)
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
    make_time_text(arena, v, neg, (uint32_t)((hms >> 12) % 1024), (unsigned)((hms >> 6) & 63),
                   (unsigned)(hms & 63), (uint32_t)frac, fsp);
    return true;
}

/* ---- strings ------------------------------------------------------------------------------ */

static sdl_bytes copy_bytes(sdl_arena *arena, sdl_bytes b);

static bool
text_value(const sdl_column *col, sdl_bytes raw, sdl_arena *arena, sdl_value *v, sdl_error *err)
{
    const sdl_charset *cs;
    sdl_bytes out;

    if (col->charset == SDL_COLLATION_GUESS_UTF8) {
        /* no charset metadata (binlog files of old servers): see row-decoder.h */
        bool utf8 = raw.len == 0 || sdl_utf8_valid(raw.ptr, raw.len, true);
        set_text(v,
                 col->is_json ? SDL_VALUE_JSON_TEXT
                 : utf8       ? SDL_VALUE_STRING
                              : SDL_VALUE_BINARY,
                 copy_bytes(arena, raw));
        return true;
    }
    if (col->charset == 0) {
        sdl_error_set(err, SDL_E_SCHEMA,
                      "charset unknown (the table map has no charset metadata; "
                      "binlog_row_metadata=FULL is required)");
        return false;
    }
    cs = sdl_charset_by_collation(col->charset);
    if (!cs) {
        sdl_error_set(err, SDL_E_UNSUPPORTED, "unknown collation id %u", col->charset);
        return false;
    }
    bool checked = false;
    if (!sdl_charset_check_in_place(cs, raw, &checked, err)) {
        return false;
    }
    if (checked) {
        /* UTF-8 (checked) or binary bytes: used where they are, in the rows event */
        out = raw;
    } else if (!sdl_charset_to_utf8(cs, raw, arena, &out, err)) {
        return false;
    }
    if (cs->kind == SDL_CHARSET_BINARY) {
        set_text(v, col->is_json ? SDL_VALUE_JSON_TEXT : SDL_VALUE_BINARY, out);
    } else {
        set_text(v, col->is_json ? SDL_VALUE_JSON_TEXT : SDL_VALUE_STRING, out);
        v->utf8_checked = true; /* checked above, or converted to UTF-8 */
    }
    return true;
}

static sdl_bytes
copy_bytes(sdl_arena *arena, sdl_bytes b)
{
    uint8_t *p = sdl_arena_alloc(arena, b.len + 1);

    if (b.len) {
        memcpy(p, b.ptr, b.len);
    }
    p[b.len] = 0;
    return SDL_BYTES(p, b.len);
}

/* Reads a little-endian length of @n bytes and that many bytes. */
static bool
read_lenbytes(sdl_cursor *c, unsigned n, uint64_t max, sdl_bytes *ret, sdl_error *err)
{
    uint64_t len = sdl_cursor_uint_le(c, n);

    if (c->failed) {
        return true; /* caller reports truncation */
    }
    if (len > max) {
        sdl_error_set(err, SDL_E_PROTOCOL, "length %" PRIu64 " exceeds the column maximum %" PRIu64,
                      len, max);
        return false;
    }
    if (len > sdl_cursor_left(c)) {
        sdl_error_set(err, SDL_E_PROTOCOL, "length %" PRIu64 " exceeds the %zu bytes left", len,
                      sdl_cursor_left(c));
        return false;
    }
    *ret = sdl_cursor_bytes(c, (size_t)len);
    return true;
}

/* ---- one value ---------------------------------------------------------------------------- */

static bool
decode_value(const sdl_column *col, sdl_cursor *c, sdl_arena *arena, sdl_value *v, sdl_error *err)
{
    uint64_t u;
    sdl_bytes b = {NULL, 0};

    switch (col->type) {
    case SDL_MYSQL_TYPE_TINY:
        u = sdl_cursor_uint_le(c, 1);
        if (col->is_unsigned) {
            v->kind = SDL_VALUE_UINT;
            v->u = u;
        } else {
            v->kind = SDL_VALUE_INT;
            v->i = (int8_t)(uint8_t)u;
        }
        break;
    case SDL_MYSQL_TYPE_SHORT:
        u = sdl_cursor_uint_le(c, 2);
        if (col->is_unsigned) {
            v->kind = SDL_VALUE_UINT;
            v->u = u;
        } else {
            v->kind = SDL_VALUE_INT;
            v->i = (int16_t)(uint16_t)u;
        }
        break;
    case SDL_MYSQL_TYPE_INT24:
        u = sdl_cursor_uint_le(c, 3);
        if (col->is_unsigned) {
            v->kind = SDL_VALUE_UINT;
            v->u = u;
        } else {
            v->kind = SDL_VALUE_INT;
            v->i = (u & 0x800000) ? (int64_t)u - 0x1000000 : (int64_t)u;
        }
        break;
    case SDL_MYSQL_TYPE_LONG:
        u = sdl_cursor_uint_le(c, 4);
        if (col->is_unsigned) {
            v->kind = SDL_VALUE_UINT;
            v->u = u;
        } else {
            v->kind = SDL_VALUE_INT;
            v->i = (int32_t)(uint32_t)u;
        }
        break;
    case SDL_MYSQL_TYPE_LONGLONG:
        u = sdl_cursor_uint_le(c, 8);
        if (col->is_unsigned) {
            v->kind = SDL_VALUE_UINT;
            v->u = u;
        } else {
            v->kind = SDL_VALUE_INT;
            v->i = (int64_t)u;
        }
        break;
    case SDL_MYSQL_TYPE_FLOAT: {
        uint32_t bits = (uint32_t)sdl_cursor_uint_le(c, 4);
        float f;
        memcpy(&f, &bits, sizeof(f));
        v->kind = SDL_VALUE_FLOAT;
        v->d = (double)f;
        break;
    }
    case SDL_MYSQL_TYPE_DOUBLE: {
        uint64_t bits = sdl_cursor_uint_le(c, 8);
        memcpy(&v->d, &bits, sizeof(v->d));
        v->kind = SDL_VALUE_DOUBLE;
        break;
    }
    case SDL_MYSQL_TYPE_NEWDECIMAL: {
        unsigned p = col->meta >> 8, s = col->meta & 0xff;
        size_t used;
        if (p <= 18) {
            if (!sdl_decimal_to_i64(c->ptr, sdl_cursor_left(c), p, s, &v->i, &used, err)) {
                return false;
            }
            sdl_cursor_skip(c, used);
            v->kind = SDL_VALUE_DECIMAL64;
            v->precision = (uint8_t)p;
            v->scale = (uint8_t)s;
            break;
        }
        if (!sdl_decimal_to_text(c->ptr, sdl_cursor_left(c), p, s, arena, &b, &used, err)) {
            return false;
        }
        sdl_cursor_skip(c, used);
        v->precision = (uint8_t)p;
        v->scale = (uint8_t)s;
        set_text(v, SDL_VALUE_DECIMAL, b);
        break;
    }
    case SDL_MYSQL_TYPE_BIT: {
        unsigned nbits = (col->meta >> 8) * 8u + (col->meta & 0xffu);
        unsigned nbytes = (col->meta >> 8) + ((col->meta & 0xff) ? 1u : 0u);
        u = sdl_cursor_uint_be(c, nbytes);
        if (nbits < 64 && (u >> nbits) != 0) {
            sdl_error_set(err, SDL_E_PROTOCOL, "BIT(%u) value 0x%" PRIx64 " has extra bits", nbits,
                          u);
            return false;
        }
        v->kind = SDL_VALUE_BIT;
        v->u = u;
        break;
    }
    case SDL_MYSQL_TYPE_YEAR:
        u = sdl_cursor_uint_le(c, 1);
        v->kind = SDL_VALUE_INT;
        v->i = u == 0 ? 0 : 1900 + (int64_t)u;
        break;
    case SDL_MYSQL_TYPE_DATE:
    case SDL_MYSQL_TYPE_NEWDATE:
        /* Field_newdate: 3 bytes little-endian, day 5 bits, month 4 bits, year above. */
        u = sdl_cursor_uint_le(c, 3);
        if (c->failed) {
            break;
        }
        if (!make_datetime(arena, v, (unsigned)(u >> 9), (unsigned)(u >> 5) & 15u,
                           (unsigned)u & 31u, false, 0, 0, 0, 0, 0, err)) {
            return false;
        }
        break;
    case SDL_MYSQL_TYPE_DATETIME2: {
        /* my_datetime_packed_from_binary: 5 bytes big-endian minus 0x8000000000:
         * year*13+month (17 bits), day (5), hour (5), minute (6), second (6). */
        int64_t ip = (int64_t)sdl_cursor_uint_be(c, 5) - INT64_C(0x8000000000);
        uint32_t usec = read_frac(c, col->meta);
        uint64_t ymdhms, ymd, ym, hms;
        if (c->failed) {
            break;
        }
        if (ip < 0) {
            sdl_error_set(err, SDL_E_PROTOCOL, "negative DATETIME");
            return false;
        }
        ymdhms = (uint64_t)ip;
        ymd = ymdhms >> 17;
        ym = ymd >> 5;
        hms = ymdhms & 0x1ffff;
        if (!make_datetime(arena, v, (unsigned)(ym / 13), (unsigned)(ym % 13), (unsigned)(ymd & 31),
                           true, (unsigned)(hms >> 12), (unsigned)((hms >> 6) & 63),
                           (unsigned)(hms & 63), usec, col->meta, err)) {
            return false;
        }
        break;
    }
    case SDL_MYSQL_TYPE_TIMESTAMP2: {
        /* my_timestamp_from_binary: 4 bytes big-endian seconds, then the fraction. */
        uint64_t sec = sdl_cursor_uint_be(c, 4);
        uint32_t usec = read_frac(c, col->meta);
        if (c->failed) {
            break;
        }
        if (usec > 999999) {
            sdl_error_set(err, SDL_E_PROTOCOL, "TIMESTAMP fraction %" PRIu32 " > 999999", usec);
            return false;
        }
        v->fsp = (uint8_t)col->meta;
        if (sec == 0 && usec == 0) {
            set_text(v, SDL_VALUE_TEMPORAL_TEXT,
                     format_datetime(arena, 0, 0, 0, true, 0, 0, 0, 0, col->meta));
        } else {
            v->kind = SDL_VALUE_DATETIME;
            v->usec = (int64_t)sec * 1000000 + usec;
        }
        break;
    }
    case SDL_MYSQL_TYPE_TIME2:
        if (!decode_time2(c, col->meta, arena, v, err)) {
            return false;
        }
        break;
    case SDL_MYSQL_TYPE_TIMESTAMP:
        /* Old Field_timestamp: 4 bytes little-endian seconds. */
        u = sdl_cursor_uint_le(c, 4);
        if (c->failed) {
            break;
        }
        if (u == 0) {
            set_text(v, SDL_VALUE_TEMPORAL_TEXT,
                     format_datetime(arena, 0, 0, 0, true, 0, 0, 0, 0, 0));
        } else {
            v->kind = SDL_VALUE_DATETIME;
            v->usec = (int64_t)u * 1000000;
        }
        break;
    case SDL_MYSQL_TYPE_DATETIME: {
        /* Old Field_datetime: 8 bytes little-endian YYYYMMDDhhmmss as a decimal number. */
        uint64_t x = sdl_cursor_uint_le(c, 8);
        if (c->failed) {
            break;
        }
        if (!make_datetime(arena, v, (unsigned)(x / 10000000000ull),
                           (unsigned)(x / 100000000ull % 100), (unsigned)(x / 1000000ull % 100),
                           true, (unsigned)(x / 10000 % 100), (unsigned)(x / 100 % 100),
                           (unsigned)(x % 100), 0, 0, err)) {
            return false;
        }
        break;
    }
    case SDL_MYSQL_TYPE_TIME: {
        /* Old Field_time: 3 bytes little-endian signed [-]hhmmss as a decimal number. */
        int64_t x;
        uint64_t ax;
        u = sdl_cursor_uint_le(c, 3);
        if (c->failed) {
            break;
        }
        x = (u & 0x800000) ? (int64_t)u - 0x1000000 : (int64_t)u;
        ax = x < 0 ? (uint64_t)-x : (uint64_t)x;
        if (ax % 100 > 59 || ax / 100 % 100 > 59) {
            sdl_error_set(err, SDL_E_PROTOCOL, "invalid TIME value %" PRId64, x);
            return false;
        }
        make_time_text(arena, v, x < 0, (uint32_t)(ax / 10000), (unsigned)(ax / 100 % 100),
                       (unsigned)(ax % 100), 0, 0);
        break;
    }
    case SDL_MYSQL_TYPE_VARCHAR:
    case SDL_MYSQL_TYPE_VAR_STRING:
        if (!read_lenbytes(c, col->meta < 256 ? 1 : 2, col->meta, &b, err)) {
            return false;
        }
        if (c->failed) {
            break;
        }
        return text_value(col, b, arena, v, err);
    case SDL_MYSQL_TYPE_STRING:
        /* Field_string::unpack: 1-byte length up to 255 bytes, else 2. Trailing pad
         * characters were stripped; BINARY(n) is padded back with 0x00 as SELECT shows. */
        if (!read_lenbytes(c, col->meta > 255 ? 2 : 1, col->meta, &b, err)) {
            return false;
        }
        if (c->failed) {
            break;
        }
        if (col->charset == 63 && b.len < col->meta) {
            uint8_t *p = sdl_arena_calloc(arena, 1, (size_t)col->meta + 1);
            memcpy(p, b.ptr, b.len);
            set_text(v, SDL_VALUE_BINARY, SDL_BYTES(p, col->meta));
            break;
        }
        return text_value(col, b, arena, v, err);
    case SDL_MYSQL_TYPE_BLOB:
        if (!read_lenbytes(c, col->meta, UINT32_MAX, &b, err)) {
            return false;
        }
        if (c->failed) {
            break;
        }
        return text_value(col, b, arena, v, err);
    case SDL_MYSQL_TYPE_JSON:
        if (!read_lenbytes(c, col->meta, UINT32_MAX, &b, err)) {
            return false;
        }
        set_text(v, SDL_VALUE_JSON_BINARY, copy_bytes(arena, b));
        break;
    case SDL_MYSQL_TYPE_GEOMETRY:
        if (!read_lenbytes(c, col->meta, UINT32_MAX, &b, err)) {
            return false;
        }
        if (!c->failed && b.len < 4) {
            sdl_error_set(err, SDL_E_PROTOCOL, "GEOMETRY value of %zu bytes lacks its SRID", b.len);
            return false;
        }
        set_text(v, SDL_VALUE_GEOMETRY, copy_bytes(arena, b));
        break;
    case SDL_MYSQL_TYPE_VECTOR:
        if (!read_lenbytes(c, col->meta, UINT32_MAX, &b, err)) {
            return false;
        }
        if (!c->failed && b.len % 4 != 0) {
            sdl_error_set(err, SDL_E_PROTOCOL, "VECTOR value of %zu bytes", b.len);
            return false;
        }
        set_text(v, SDL_VALUE_VECTOR, copy_bytes(arena, b));
        break;
    case SDL_MYSQL_TYPE_ENUM:
        u = sdl_cursor_uint_le(c, col->meta);
        if (c->failed) {
            break;
        }
        if (col->nvalues == 0 && col->charset == SDL_COLLATION_GUESS_UTF8) {
            v->kind = SDL_VALUE_UINT; /* no member names in the table map: the index */
            v->u = u;
            break;
        }
        if (u > col->nvalues) {
            sdl_error_set(err, col->nvalues ? SDL_E_PROTOCOL : SDL_E_SCHEMA,
                          "ENUM index %" PRIu64 " but %" PRIu32
                          " members known (binlog_row_metadata=FULL gives them)",
                          u, col->nvalues);
            return false;
        }
        set_text(v, SDL_VALUE_ENUM,
                 u == 0 ? SDL_BYTES("", 0)
                        : SDL_BYTES(col->values[u - 1], strlen(col->values[u - 1])));
        break;
    case SDL_MYSQL_TYPE_SET: {
        const char **names;
        uint32_t n = 0;
        u = sdl_cursor_uint_le(c, col->meta);
        if (c->failed) {
            break;
        }
        if (col->nvalues == 0 && col->charset == SDL_COLLATION_GUESS_UTF8) {
            v->kind = SDL_VALUE_UINT; /* no member names in the table map: the bit mask */
            v->u = u;
            break;
        }
        if (col->nvalues < 64 && (u >> col->nvalues) != 0) {
            sdl_error_set(err, col->nvalues ? SDL_E_PROTOCOL : SDL_E_SCHEMA,
                          "SET bits 0x%" PRIx64 " but %" PRIu32
                          " members known (binlog_row_metadata=FULL gives them)",
                          u, col->nvalues);
            return false;
        }
        names = sdl_arena_alloc(arena, (size_t)__builtin_popcountll(u) * sizeof(*names) + 1);
        for (uint32_t i = 0; i < 64 && i < col->nvalues; i++) {
            if (u >> i & 1) {
                names[n++] = col->values[i];
            }
        }
        v->kind = SDL_VALUE_SET;
        v->set.count = n;
        v->set.names = names;
        break;
    }
    case SDL_MYSQL_TYPE_NULL:
        v->kind = SDL_VALUE_NULL;
        break;
    case SDL_MYSQL_TYPE_BLOB_COMPRESSED:
    case SDL_MYSQL_TYPE_VARCHAR_COMPRESSED:
        sdl_error_set(err, SDL_E_UNSUPPORTED, "MariaDB compressed columns are not supported");
        return false;
    default:
        sdl_error_set(err, SDL_E_UNSUPPORTED, "column type %u cannot be decoded", col->type);
        return false;
    }
    if (c->failed) {
        sdl_error_set(err, SDL_E_PROTOCOL, "row image truncated");
        return false;
    }
    return true;
}

/* ---- rows ------------------------------------------------------------------------------------ */

static uint32_t
count_bits(sdl_bytes bitmap, uint32_t ncols)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < ncols; i++) {
        n += (bitmap.ptr[i / 8] >> (i % 8)) & 1u;
    }
    return n;
}

bool
sdl_row_decoder_start(sdl_row_decoder *dec, const sdl_table *table, const sdl_binlog_rows *rows,
                      sdl_arena *arena, sdl_error *err)
{
    size_t nbytes = ((size_t)rows->ncols + 7) / 8;

    if (rows->ncols != table->ncols) {
        sdl_error_set(err, SDL_E_SCHEMA,
                      "table '%s.%s': rows event has %" PRIu32 " columns, table map %" PRIu32,
                      table->db, table->name, rows->ncols, table->ncols);
        return false;
    }
    if (rows->present.len != nbytes || rows->present_after.len != nbytes) {
        sdl_error_set(err, SDL_E_PROTOCOL,
                      "table '%s.%s': column bitmap of %zu bytes for %" PRIu32 " columns",
                      table->db, table->name, rows->present.len, rows->ncols);
        return false;
    }
    dec->table = table;
    dec->rows = rows;
    dec->arena = arena;
    dec->cur = rows->rows.ptr ? sdl_cursor_make(rows->rows) : (sdl_cursor){NULL, NULL, false};
    dec->npresent = count_bits(rows->present, rows->ncols);
    dec->npresent_after = count_bits(rows->present_after, rows->ncols);
    dec->row_index = 0;
    return true;
}

/* Decodes one image (null bitmap + values) over the columns of @present. @partial (may be
 * empty) is the PARTIAL_UPDATE_ROWS bitmap over the table's JSON columns present in the image:
 * a set bit means the value is a Json_diff vector, not a whole document. */
static bool
decode_image(sdl_row_decoder *dec, sdl_bytes present, uint32_t npresent, const char *which,
             sdl_bytes partial, sdl_value **ret_values, sdl_error *err)
{
    const sdl_table *t = dec->table;
    sdl_cursor *c = &dec->cur;
    sdl_value *vals = sdl_arena_calloc(dec->arena, t->ncols, sizeof(*vals));
    sdl_bytes nulls = sdl_cursor_bytes(c, (npresent + 7) / 8);
    uint32_t j = 0;  /* index among present columns */
    uint32_t jp = 0; /* index among present JSON columns (partial bits) */

    if (c->failed) {
        sdl_error_set(err, SDL_E_PROTOCOL,
                      "table '%s.%s' row %" PRIu64 " (%s image): null bitmap truncated", t->db,
                      t->name, dec->row_index, which);
        return false;
    }
    for (uint32_t i = 0; i < t->ncols; i++) {
        const sdl_column *col = &t->cols[i];

        if (!((present.ptr[i / 8] >> (i % 8)) & 1)) {
            continue; /* SDL_VALUE_ABSENT (0) from calloc */
        }
        bool is_partial = false;
        if (partial.len && col->type == SDL_MYSQL_TYPE_JSON) {
            is_partial = jp / 8 < partial.len && ((partial.ptr[jp / 8] >> (jp % 8)) & 1);
            jp++;
        }
        if ((nulls.ptr[j / 8] >> (j % 8)) & 1) {
            vals[i].kind = SDL_VALUE_NULL;
        } else if (is_partial) {
            sdl_bytes b;
            if (!read_lenbytes(c, col->meta, UINT32_MAX, &b, err) || c->failed) {
                if (c->failed) {
                    sdl_error_set(err, SDL_E_PROTOCOL, "row image truncated");
                }
                sdl_error_prefix(err,
                                 "table '%s.%s' row %" PRIu64 " (%s image) column '%s' (#%" PRIu32
                                 ", JSON diff)",
                                 t->db, t->name, dec->row_index, which, col->name, i);
                return false;
            }
            set_text(&vals[i], SDL_VALUE_JSON_DIFF, copy_bytes(dec->arena, b));
        } else if (!decode_value(col, c, dec->arena, &vals[i], err)) {
            sdl_error_prefix(
                err, "table '%s.%s' row %" PRIu64 " (%s image) column '%s' (#%" PRIu32 ", %s)",
                t->db, t->name, dec->row_index, which, col->name, i, type_name(col->type));
            return false;
        }
        j++;
    }
    *ret_values = vals;
    return true;
}

bool
sdl_row_decoder_next(sdl_row_decoder *dec, sdl_row_change *ret_change, bool *ret_more,
                     sdl_error *err)
{
    const sdl_binlog_rows *r = dec->rows;
    sdl_row_change ch;
    sdl_value *before = NULL, *after = NULL;
    const sdl_bytes none = {NULL, 0};
    sdl_bytes partial = {NULL, 0};

    if (sdl_cursor_left(&dec->cur) == 0 || dec->cur.failed) {
        *ret_more = false;
        return true;
    }
    const uint8_t *start = dec->cur.ptr;

    ch.op = r->op;
    ch.table = dec->table;
    switch (r->op) {
    case SDL_ROW_INSERT:
        if (!decode_image(dec, r->present, dec->npresent, "after", none, &after, err)) {
            return false;
        }
        break;
    case SDL_ROW_DELETE:
        if (!decode_image(dec, r->present, dec->npresent, "before", none, &before, err)) {
            return false;
        }
        break;
    case SDL_ROW_UPDATE:
        if (!decode_image(dec, r->present, dec->npresent, "before", none, &before, err)) {
            return false;
        }
        if (r->partial) {
            /* MySQL rows_event.h / rpl_record.cc: a PARTIAL_UPDATE_ROWS after image starts with
             * value_options (packed integer); with PARTIAL_JSON_UPDATES (1) a bitmap over the
             * table's JSON columns follows. */
            uint64_t value_options = sdl_cursor_lenenc(&dec->cur);
            if (value_options & 1) {
                uint32_t njson = 0;
                for (uint32_t i = 0; i < dec->table->ncols; i++) {
                    njson += dec->table->cols[i].type == SDL_MYSQL_TYPE_JSON;
                }
                partial = sdl_cursor_bytes(&dec->cur, (njson + 7) / 8);
            }
            if (dec->cur.failed) {
                sdl_error_set(err, SDL_E_PROTOCOL,
                              "table '%s.%s' row %" PRIu64 ": partial update header truncated",
                              dec->table->db, dec->table->name, dec->row_index);
                return false;
            }
        }
        if (!decode_image(dec, r->present_after, dec->npresent_after, "after", partial, &after,
                          err)) {
            return false;
        }
        break;
    }
    if (dec->cur.ptr == start) {
        /* No column present: the image consumed nothing, yet bytes are left. */
        sdl_error_set(err, SDL_E_PROTOCOL,
                      "table '%s.%s': %zu bytes of row data but no column in the image",
                      dec->table->db, dec->table->name, sdl_cursor_left(&dec->cur));
        return false;
    }
    ch.before = before;
    ch.after = after;
    dec->row_index++;
    *ret_change = ch;
    *ret_more = true;
    return true;
}
