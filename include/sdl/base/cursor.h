/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * cursor: a bounds-checked reader over untrusted bytes with a sticky failure flag
 * (PgBouncer's pktbuf.failed, MySQL's Event_reader). A decoder runs straight-line reads and
 * checks cur->failed once; after the first out-of-bounds read every read returns zero or an
 * empty view and the cursor stays failed. Never reads outside [ptr, ptr+len).
 *
 * Integers are little-endian unless the name says _be. Views returned borrow the cursor's
 * underlying buffer. Inline for speed: the row decoder calls these per column.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sdl/base/bytes.h"

typedef struct sdl_cursor {
    const uint8_t *ptr; /* next unread byte */
    const uint8_t *end; /* one past the last readable byte */
    bool failed;        /* sticky: set by the first read past the end */
} sdl_cursor;

static inline sdl_cursor
sdl_cursor_make(sdl_bytes b)
{
    sdl_cursor c = {b.ptr, b.ptr + b.len, false};
    return c;
}

static inline size_t
sdl_cursor_left(const sdl_cursor *c)
{
    return (size_t)(c->end - c->ptr);
}

static inline bool
sdl_cursor_need(sdl_cursor *c, size_t n)
{
    if (SDL_UNLIKELY(c->failed || (size_t)(c->end - c->ptr) < n)) {
        c->failed = true;
        c->ptr = c->end;
        return false;
    }
    return true;
}

static inline void
sdl_cursor_fail(sdl_cursor *c)
{
    c->failed = true;
    c->ptr = c->end;
}

static inline void
sdl_cursor_skip(sdl_cursor *c, size_t n)
{
    if (sdl_cursor_need(c, n)) {
        c->ptr += n;
    }
}

static inline sdl_bytes
sdl_cursor_bytes(sdl_cursor *c, size_t n)
{
    sdl_bytes b = {NULL, 0};

    if (sdl_cursor_need(c, n)) {
        b.ptr = c->ptr;
        b.len = n;
        c->ptr += n;
    }
    return b;
}

/* The rest of the buffer. */
static inline sdl_bytes
sdl_cursor_rest(sdl_cursor *c)
{
    return sdl_cursor_bytes(c, sdl_cursor_left(c));
}

/* Reads an unsigned little-endian integer of @n bytes (1..8). */
static inline uint64_t
sdl_cursor_uint_le(sdl_cursor *c, size_t n)
{
    uint64_t v = 0;

    if (!sdl_cursor_need(c, n)) {
        return 0;
    }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* whole loads for the common widths (a byte loop costs several instructions a byte) */
    switch (n) {
    case 1:
        v = c->ptr[0];
        break;
    case 2: {
        uint16_t x;
        memcpy(&x, c->ptr, 2);
        v = x;
        break;
    }
    case 3: {
        uint16_t x;
        memcpy(&x, c->ptr, 2);
        v = x | (uint64_t)c->ptr[2] << 16;
        break;
    }
    case 4: {
        uint32_t x;
        memcpy(&x, c->ptr, 4);
        v = x;
        break;
    }
    case 8:
        memcpy(&v, c->ptr, 8);
        break;
    default:
        for (size_t i = 0; i < n; i++) {
            v |= (uint64_t)c->ptr[i] << (8 * i);
        }
        break;
    }
#else
    for (size_t i = 0; i < n; i++) {
        v |= (uint64_t)c->ptr[i] << (8 * i);
    }
#endif
    c->ptr += n;
    return v;
}

/* Reads an unsigned big-endian integer of @n bytes (1..8). */
static inline uint64_t
sdl_cursor_uint_be(sdl_cursor *c, size_t n)
{
    uint64_t v = 0;

    if (!sdl_cursor_need(c, n)) {
        return 0;
    }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n == 8 || n == 4) {
        /* whole loads for the common widths, byte-swapped */
        if (n == 8) {
            memcpy(&v, c->ptr, 8);
            v = __builtin_bswap64(v);
        } else {
            uint32_t x;
            memcpy(&x, c->ptr, 4);
            v = __builtin_bswap32(x);
        }
        c->ptr += n;
        return v;
    }
#endif
    for (size_t i = 0; i < n; i++) {
        v = (v << 8) | c->ptr[i];
    }
    c->ptr += n;
    return v;
}

static inline uint8_t
sdl_cursor_u8(sdl_cursor *c)
{
    return (uint8_t)sdl_cursor_uint_le(c, 1);
}

static inline uint16_t
sdl_cursor_u16(sdl_cursor *c)
{
    return (uint16_t)sdl_cursor_uint_le(c, 2);
}

static inline uint32_t
sdl_cursor_u24(sdl_cursor *c)
{
    return (uint32_t)sdl_cursor_uint_le(c, 3);
}

static inline uint32_t
sdl_cursor_u32(sdl_cursor *c)
{
    return (uint32_t)sdl_cursor_uint_le(c, 4);
}

static inline uint64_t
sdl_cursor_u48(sdl_cursor *c)
{
    return sdl_cursor_uint_le(c, 6);
}

static inline uint64_t
sdl_cursor_u64(sdl_cursor *c)
{
    return sdl_cursor_uint_le(c, 8);
}

/*
 * MySQL length-encoded integer (protocol "int<lenenc>"): < 0xfb one byte; 0xfc + 2 bytes;
 * 0xfd + 3 bytes; 0xfe + 8 bytes. 0xfb (NULL) and 0xff are invalid here and fail the cursor.
 */
static inline uint64_t
sdl_cursor_lenenc(sdl_cursor *c)
{
    uint8_t first = sdl_cursor_u8(c);

    if (first < 0xfb) {
        return first;
    }
    switch (first) {
    case 0xfc:
        return sdl_cursor_uint_le(c, 2);
    case 0xfd:
        return sdl_cursor_uint_le(c, 3);
    case 0xfe:
        return sdl_cursor_uint_le(c, 8);
    default:
        sdl_cursor_fail(c);
        return 0;
    }
}

/* A lenenc length followed by that many bytes. */
static inline sdl_bytes
sdl_cursor_lenenc_bytes(sdl_cursor *c)
{
    uint64_t n = sdl_cursor_lenenc(c);

    if (n > sdl_cursor_left(c)) {
        sdl_cursor_fail(c);
        return (sdl_bytes){NULL, 0};
    }
    return sdl_cursor_bytes(c, (size_t)n);
}

/* Copies @n bytes into @dst (zero-filled on failure). */
static inline void
sdl_cursor_copy(sdl_cursor *c, void *dst, size_t n)
{
    if (sdl_cursor_need(c, n)) {
        memcpy(dst, c->ptr, n);
        c->ptr += n;
    } else {
        memset(dst, 0, n);
    }
}
