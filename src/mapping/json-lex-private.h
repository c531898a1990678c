/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * json-lex-private: the lexical layer of the JSON text parser (json-text.c): strings (a word
 * at a time over plain runs, escapes, surrogate pairs, strict UTF-8) and numbers (int32,
 * int64, or a correctly rounded double). Header-only so that the parser's loop inlines them;
 * included by json-text.c alone. No state, no allocation except a long number's copy.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sdl/base/alloc.h"
#include "sdl/base/macros.h"

#include "utf8-private.h"

/* sdl_json_scan_number()'s result types */
enum {
    SDL_JSON_NUM_INT32,
    SDL_JSON_NUM_INT64,
    SDL_JSON_NUM_DOUBLE,
};

SDL_UNUSED static int
sdl_json_hex4(const uint8_t *p)
{
    int v = 0;

    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        int d;
        if (c >= '0' && c <= '9') {
            d = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            d = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            d = c - 'A' + 10;
        } else {
            return -1;
        }
        v = v * 16 + d;
    }
    return v;
}

SDL_UNUSED static size_t
sdl_json_put_utf8(uint8_t out[4], uint32_t cp)
{
    size_t n;

    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        out[0] = (uint8_t)(0xF0 | (cp >> 18));
        out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return n;
}

/* Decodes the escape at @p (a backslash) into @out (1 to 4 UTF-8 bytes); returns the number
 * of bytes written and sets *ret_next after the escape, or 0 with *ret_why (the error is at
 * *ret_next). @is_key rejects "\u0000". */
SDL_UNUSED static size_t
sdl_json_unescape(const uint8_t *p, const uint8_t *end, bool is_key, uint8_t out[4],
                  const uint8_t **ret_next, const char **ret_why)
{
    uint32_t cp;

    *ret_next = p;
    if (end - p < 2) {
        *ret_why = "unterminated escape";
        return 0;
    }
    switch (p[1]) {
    case '"':
    case '\\':
    case '/':
        out[0] = p[1];
        break;
    case 'b':
        out[0] = '\b';
        break;
    case 'f':
        out[0] = '\f';
        break;
    case 'n':
        out[0] = '\n';
        break;
    case 'r':
        out[0] = '\r';
        break;
    case 't':
        out[0] = '\t';
        break;
    case 'u': {
        int hi = end - p >= 6 ? sdl_json_hex4(p + 2) : -1;
        if (hi < 0) {
            *ret_why = "invalid \\u escape (four hex digits expected)";
            return 0;
        }
        if (hi >= 0xDC00 && hi <= 0xDFFF) {
            *ret_why = "unpaired low surrogate in \\u escape";
            return 0;
        }
        if (hi >= 0xD800 && hi <= 0xDBFF) {
            int lo = end - p >= 12 && p[6] == '\\' && p[7] == 'u' ? sdl_json_hex4(p + 8) : -1;
            if (lo < 0xDC00 || lo > 0xDFFF) {
                *ret_why = "high surrogate not followed by a low surrogate";
                return 0;
            }
            cp = 0x10000u + (((uint32_t)hi - 0xD800u) << 10) + ((uint32_t)lo - 0xDC00u);
            p += 12;
        } else {
            cp = (uint32_t)hi;
            p += 6;
        }
        if (cp == 0 && is_key) {
            *ret_next = p - 6;
            *ret_why = "\\u0000 in an object key (not representable in BSON)";
            return 0;
        }
        *ret_next = p;
        return sdl_json_put_utf8(out, cp);
    }
    default:
        *ret_why = "invalid escape";
        return 0;
    }
    *ret_next = p + 2;
    return 1;
}

/* The high bit of each of the eight bytes of @x (little-endian: the first byte lowest) that
 * may end a plain run (see sdl_json_plain_run()): a control character, a byte >= 0x80, '"' or '\\'.
 * The lowest flagged byte is exact; flags above a flagged byte may be false positives (a
 * borrow of the subtraction), which the callers never rely on. */
static inline uint64_t
sdl_json_word_stops(uint64_t x)
{
    const uint64_t ones = UINT64_C(0x0101010101010101);
    uint64_t ctl = (x - ones * 0x20) & ~x; /* high bit where a byte is < 0x20 */
    uint64_t q = x ^ (ones * '"');
    uint64_t bs = x ^ (ones * '\\');

    return (ctl | x | ((q - ones) & ~q) | ((bs - ones) & ~bs)) & UINT64_C(0x8080808080808080);
}

/* True when one of the eight bytes of @x ends a plain run (see sdl_json_plain_run()). */
static inline bool
sdl_json_word_stops_run(uint64_t x)
{
    return sdl_json_word_stops(x) != 0;
}

/* Length of the run of plain string bytes at @p: printable ASCII other than '"' and '\\'. */
static inline size_t
sdl_json_plain_run(const uint8_t *p, const uint8_t *end)
{
    const uint8_t *s = p;

    while (end - p >= 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        if (sdl_json_word_stops_run(x)) {
            break;
        }
        p += 8;
    }
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
        p++;
    }
    return (size_t)(p - s);
}

/* A number at @s: its type (SDL_JSON_NUM_INT32, SDL_JSON_NUM_INT64 or SDL_JSON_NUM_DOUBLE) and
 * value; *ret_next after it. On error returns false with *ret_why and the error position in
 * *ret_next. */
SDL_UNUSED static bool
sdl_json_scan_number(const uint8_t *s, const uint8_t *end, uint8_t *ret_type, int64_t *ret_i,
                     double *ret_d, const uint8_t **ret_next, const char **ret_why)
{
    const uint8_t *p = s;
    bool neg = false;
    bool integral = true;
    uint64_t mag = 0;
    bool overflow = false;

    if (*p == '-') {
        neg = true;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9') {
        *ret_next = s;
        *ret_why = "invalid number";
        return false;
    }
    if (*p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9') {
            *ret_next = s;
            *ret_why = "leading zero in number";
            return false;
        }
    } else {
        /* No leading zero here: up to 19 digits fit in 64 bits, more are >= 10^19 and go
         * to strtod below like any value out of int64 range. */
        const uint8_t *digits = p;
        while (p < end && (unsigned)(*p - '0') <= 9u) {
            mag = mag * 10 + (uint64_t)(*p - '0');
            p++;
        }
        overflow = p - digits > 19;
    }
    if (p < end && *p == '.') {
        integral = false;
        p++;
        if (p >= end || *p < '0' || *p > '9') {
            *ret_next = p;
            *ret_why = "digit expected after '.'";
            return false;
        }
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        integral = false;
        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }
        if (p >= end || *p < '0' || *p > '9') {
            *ret_next = p;
            *ret_why = "digit expected in exponent";
            return false;
        }
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }
    *ret_next = p;
    if (integral && !overflow && (neg ? mag <= (uint64_t)INT64_MAX + 1 : mag <= INT64_MAX)) {
        int64_t v = neg ? (int64_t)(0 - mag) : (int64_t)mag;
        *ret_type = v >= INT32_MIN && v <= INT32_MAX ? SDL_JSON_NUM_INT32 : SDL_JSON_NUM_INT64;
        *ret_i = v;
        return true;
    }
    /* strtod needs a NUL-terminated copy; numbers are short except in hostile input. */
    size_t len = (size_t)(p - s);
    char local[64];
    char *copy = len < sizeof(local) ? local : sdl_xmalloc(len + 1);
    memcpy(copy, s, len);
    copy[len] = '\0';
    *ret_d = strtod(copy, NULL);
    if (copy != local) {
        free(copy);
    }
    *ret_type = SDL_JSON_NUM_DOUBLE;
    return true;
}

/* At the opening quote @p: decodes the string to @o, which has room for the rest of the text
 * and 8 bytes more (a decoded string is never longer than its text). Returns the decoded
 * length and sets *ret_next after the closing quote; (size_t)-1 when the string is invalid
 * (sdl_json_string_error() says why). */
static inline __attribute__((always_inline)) size_t
sdl_json_fast_string(const uint8_t *p, const uint8_t *end, uint8_t *restrict o, bool is_key,
                     const uint8_t **ret_next)
{
    uint8_t *start = o;

    p++;
    for (;;) {
        while (end - p >= 8) {
            uint64_t x;
            memcpy(&x, p, 8);
            memcpy(o, &x, 8);
            uint64_t stops = sdl_json_word_stops(x);
            if (stops) {
                /* the lowest flagged byte is the first that ends the run (flags above it may
                 * be false positives, it never is); the bytes before it are copied */
                size_t n = (size_t)__builtin_ctzll(stops) / 8;
                p += n;
                o += n;
                goto stop;
            }
            p += 8;
            o += 8;
        }
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
            *o++ = *p++;
        }
    stop: /* at the byte that ended the run, or at the end */
        if (p >= end) {
            return (size_t)-1;
        }
        uint8_t c = *p;
        if (c == '"') {
            break;
        }
        if (c >= 0x80) {
            size_t n = sdl_utf8_seq_len(p, end);
            if (n == 0) {
                return (size_t)-1;
            }
            memcpy(o, p, n);
            o += n;
            p += n;
        } else if (c == '\\') {
            const char *why;
            size_t n = sdl_json_unescape(p, end, is_key, o, &p, &why);
            if (n == 0) {
                return (size_t)-1;
            }
            o += n;
        } else {
            return (size_t)-1; /* control character */
        }
    }
    *ret_next = p + 1;
    return (size_t)(o - start);
}

/* Why the string at @q (its opening quote) is invalid, where sdl_json_fast_string() gave up: the
 * message and, in *ret_at, the byte it names. */
SDL_UNUSED static const char *
sdl_json_string_error(const uint8_t *q, const uint8_t *end, bool is_key, const uint8_t **ret_at)
{
    const uint8_t *p = q + 1;
    const uint8_t *s = p; /* after the quote, or after the last escape */

    for (;;) {
        p += sdl_json_plain_run(p, end);
        if (p >= end) {
            *ret_at = s - 1; /* before the last run, as the former two passes said */
            return "unterminated string";
        }
        uint8_t c = *p;
        *ret_at = p;
        if (c == '"') {
            return "invalid string"; /* not reached: sdl_json_fast_string() took it */
        }
        if (c < 0x20) {
            return "control character in string (must be escaped)";
        }
        if (c >= 0x80) {
            size_t n = sdl_utf8_seq_len(p, end);
            if (n == 0) {
                return "invalid UTF-8 in string";
            }
            p += n;
            continue;
        }
        uint8_t out[4];
        const char *why = NULL;
        if (sdl_json_unescape(p, end, is_key, out, &p, &why) == 0) {
            *ret_at = p;
            return why;
        }
        s = p;
    }
}
