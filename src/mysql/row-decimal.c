/* SPDX-License-Identifier: Apache-2.0 */
/* row-decimal: DECIMAL's packed binary form (MySQL strings/decimal.c bin2decimal) as exact
 * text or a scaled int64. Part of row-decoder.h's interface. */
#include <string.h>

#include "sdl/mysql/row-decoder.h"

#include "row-decoder-private.h"

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
        d = sdl_row_put_digits(d, groups[k], ndig[k]);
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
