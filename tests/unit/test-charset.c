/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "sdl/base/arena.h"
#include "sdl/mysql/charset.h"

#include "sdltest.h"

static const char *
conv(sdl_arena *a, uint32_t coll, const char *in, size_t len)
{
    static char buf[600];
    sdl_error err = SDL_ERROR_INIT;
    const sdl_charset *cs = sdl_charset_by_collation(coll);
    sdl_bytes out;

    if (!cs) {
        return "no charset";
    }
    if (!sdl_charset_to_utf8(cs, SDL_BYTES(in, len), a, &out, &err)) {
        snprintf(buf, sizeof(buf), "ERROR %s", err.message);
        return buf;
    }
    snprintf(buf, sizeof(buf), "%.*s", (int)out.len, (const char *)out.ptr);
    return buf;
}

TEST(charset_collation_table)
{
    ASSERT_STR_EQ(sdl_charset_by_collation(8)->name, "latin1");
    ASSERT_STR_EQ(sdl_charset_by_collation(33)->name, "utf8mb3");
    ASSERT_STR_EQ(sdl_charset_by_collation(45)->name, "utf8mb4");
    ASSERT_STR_EQ(sdl_charset_by_collation(46)->name, "utf8mb4");
    ASSERT_STR_EQ(sdl_charset_by_collation(63)->name, "binary");
    ASSERT_STR_EQ(sdl_charset_by_collation(224)->name, "utf8mb4");
    ASSERT_STR_EQ(sdl_charset_by_collation(255)->name, "utf8mb4");  /* MySQL 0900 */
    ASSERT_STR_EQ(sdl_charset_by_collation(2048)->name, "utf8mb3"); /* uca1400 */
    ASSERT_STR_EQ(sdl_charset_by_collation(2304)->name, "utf8mb4");
    ASSERT_INT_EQ(sdl_charset_by_collation(4)->mbmaxlen, 1);
    ASSERT_INT_EQ(sdl_charset_by_collation(45)->mbmaxlen, 4);
    ASSERT_NULL(sdl_charset_by_collation(0));
    ASSERT_NULL(sdl_charset_by_collation(17));
    ASSERT_NULL(sdl_charset_by_collation(60000));
}

TEST(charset_latin1_is_cp1252)
{
    sdl_arena a;
    sdl_arena_init(&a, 0);
    ASSERT_STR_EQ(conv(&a, 8, "\x80", 1), "€");
    ASSERT_STR_EQ(conv(&a, 8, "caf\xe9", 4), "café");
    ASSERT_STR_EQ(conv(&a, 8, "\x81\x9f\xff", 3), "\xc2\x81\xc5\xb8\xc3\xbf");
    ASSERT_STR_EQ(conv(&a, 5, "\x99", 1), "™");
    sdl_arena_done(&a);
}

TEST(charset_utf8_validation)
{
    ASSERT_TRUE(sdl_utf8_valid((const uint8_t *)"plain ascii text here", 21, false));
    ASSERT_TRUE(sdl_utf8_valid((const uint8_t *)"\xf0\x9f\x98\x80", 4, true));
    ASSERT_FALSE(sdl_utf8_valid((const uint8_t *)"\xf0\x9f\x98\x80", 4, false));
    ASSERT_FALSE(sdl_utf8_valid((const uint8_t *)"\xc0\xaf", 2, true));     /* overlong */
    ASSERT_FALSE(sdl_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3, true)); /* surrogate */
    ASSERT_FALSE(sdl_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4, true));
    ASSERT_FALSE(sdl_utf8_valid((const uint8_t *)"abcdefgh\xe2\x82", 10, true));
    ASSERT_TRUE(sdl_utf8_valid((const uint8_t *)"abcdefgh\xe2\x82\xac", 11, true));
}

TEST(charset_iconv_and_errors)
{
    sdl_arena a;
    sdl_arena_init(&a, 0);
    ASSERT_STR_EQ(conv(&a, 51, "\xcf\xf0\xe8", 3), "При");    /* cp1251 */
    ASSERT_STR_EQ(conv(&a, 25, "\xe1\xe2", 2), "αβ");         /* greek */
    ASSERT_STR_EQ(conv(&a, 13, "\xb1", 1), "ｱ");              /* sjis half-width */
    ASSERT_STR_EQ(conv(&a, 35, "\x00\x41\x20\xac", 4), "A€"); /* ucs2 */
    ASSERT_STR_EQ(conv(&a, 11, "abc", 3), "abc");             /* ascii */
    ASSERT_STR_CONTAINS(conv(&a, 11, "ab\x80", 3), "invalid ascii text at byte 2");
    ASSERT_STR_CONTAINS(conv(&a, 45, "\xff", 1), "invalid utf8mb4 text");
    ASSERT_STR_CONTAINS(conv(&a, 3, "a", 1), "charset 'dec8' has no converter");
    ASSERT_STR_CONTAINS(conv(&a, 19, "\xb0", 1), "invalid euckr text at byte 0");
    ASSERT_STR_EQ(conv(&a, 63, "\x00\xff", 2), ""); /* binary copied (starts NUL) */
    sdl_arena_done(&a);
}

/* Byte-at-a-time reference of RFC 3629 well-formedness (allow_4byte: utf8mb4). */
static bool
utf8_reference(const uint8_t *p, size_t len, bool allow_4byte)
{
    size_t i = 0;

    while (i < len) {
        uint8_t c = p[i];
        size_t n;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 3;
            lo = c == 0xe0 ? 0xa0 : 0x80;
            hi = c == 0xed ? 0x9f : 0xbf;
        } else if (c >= 0xf0 && c <= 0xf4 && allow_4byte) {
            n = 4;
            lo = c == 0xf0 ? 0x90 : 0x80;
            hi = c == 0xf4 ? 0x8f : 0xbf;
        } else {
            return false;
        }
        if (len - i < n || p[i + 1] < lo || p[i + 1] > hi) {
            return false;
        }
        for (size_t k = 2; k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return false;
            }
        }
        i += n;
    }
    return true;
}

/* The word-at-a-time validator agrees with the reference on generated text: ASCII runs of
 * every length around the word size with valid and broken sequences at every position. */
TEST(charset_utf8_validation_matches_reference)
{
    static const char *const pieces[] = {
        "a",        "abcdefg",      "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xff", "\xc3",
        "\xe2\x82", "\xed\xa0\x80", "\xc0\xaf", "\x80",         "0123456789abcdef"};
    uint32_t seed = 12345;
    unsigned valid = 0;

    for (int iter = 0; iter < 200000; iter++) {
        uint8_t buf[64];
        size_t len = 0;
        seed = seed * 1103515245u + 12345u;
        unsigned npieces = (seed >> 16) % 6;
        for (unsigned k = 0; k < npieces; k++) {
            seed = seed * 1103515245u + 12345u;
            const char *piece = pieces[(seed >> 16) % (sizeof(pieces) / sizeof(pieces[0]))];
            size_t n = strlen(piece);
            if (len + n > sizeof(buf)) {
                break;
            }
            memcpy(buf + len, piece, n);
            len += n;
        }
        for (int four = 0; four < 2; four++) {
            bool want = utf8_reference(buf, len, four);
            bool got = sdl_utf8_valid(buf, len, four);
            if (want != got) {
                ASSERT_INT_EQ(got, want);
            }
            valid += want;
        }
    }
    ASSERT_TRUE(valid > 1000 && valid < 390000); /* both outcomes were exercised */
}
