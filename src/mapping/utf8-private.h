/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * utf8-private: strict UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF) shared by the mapping area's modules. Header-only, no state.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Length of the valid UTF-8 sequence starting at @p (a non-ASCII lead byte), or 0 when the
 * bytes at @p..@end are not a valid sequence. */
static inline size_t
sdl_utf8_seq_len(const uint8_t *p, const uint8_t *end)
{
    size_t avail = (size_t)(end - p);
    uint8_t c = p[0];

    if (c >= 0xC2 && c <= 0xDF) {
        return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (avail < 3 || (p[2] & 0xC0) != 0x80) {
            return 0;
        }
        uint8_t lo = c == 0xE0 ? 0xA0 : 0x80;
        uint8_t hi = c == 0xED ? 0x9F : 0xBF;
        return p[1] >= lo && p[1] <= hi ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (avail < 4 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) {
            return 0;
        }
        uint8_t lo = c == 0xF0 ? 0x90 : 0x80;
        uint8_t hi = c == 0xF4 ? 0x8F : 0xBF;
        return p[1] >= lo && p[1] <= hi ? 4 : 0;
    }
    return 0;
}

/* Returns the offset of the first invalid byte, or @len when all of @s is valid UTF-8. */
static inline size_t
sdl_utf8_invalid_at(const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s;
    const uint8_t *end = p + len;

    while (p < end) {
        /* ASCII fast path, eight bytes at a time. */
        while (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if (w & UINT64_C(0x8080808080808080)) {
                break;
            }
            p += 8;
        }
        if (p >= end) {
            break;
        }
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t n = sdl_utf8_seq_len(p, end);
        if (n == 0) {
            return (size_t)(p - (const uint8_t *)s);
        }
        p += n;
    }
    return len;
}

static inline bool
sdl_utf8_valid(const char *s, size_t len)
{
    return sdl_utf8_invalid_at(s, len) == len;
}
